"""New tensors follow their inputs' device and dtype: every public model and objective.

Two runs catch a tensor made without ``device=`` or ``dtype=``: one with float64 inputs
and models (the output must be float64), one on PyTorch's ``meta`` device, where nothing
is computed and a stray CPU tensor mixed with meta tensors raises. No GPU is needed.
"""

import pytest
import torch

from dgm import densities, em, gan, metrics, unified, vae
from dgm import wake_sleep as ws


def small_vae():
    return vae.VAE(vae.VAEConfig(x_dim=12, hidden=(8,), z_dim=3))


def helmholtz():
    return ws.HelmholtzMachine(ws.HelmholtzConfig((12, 6, 4)))


def toy_gan():
    return gan.GAN(gan.toy_generator(2, 8, 2), gan.toy_discriminator(hidden=8, depth=2), 2)


def linear_gaussian(d, D):
    return vae.LinearGaussian(torch.ones(D, 3, **d), torch.zeros(D, **d), 0.5)


def gmm(d):
    X = torch.zeros(5, 2, **d)
    return (
        X,
        torch.full((3,), 1 / 3, **d),
        torch.zeros(3, 2, **d),
        torch.eye(2, **d).repeat(3, 1, 1),
    )


def mnist_dcgan():
    return gan.GAN(gan.DCGenerator(8, channels=4), gan.DCDiscriminator(channels=4), 8)


# name -> f(kw) returning the outputs, where kw = {"dtype": ..., "device": ...}
CASES = {
    "densities.gaussian_log_prob": lambda d: densities.gaussian_log_prob(
        torch.zeros(4, 3, **d), torch.zeros(3, **d), torch.zeros(3, **d)
    ),
    "densities.normal_log_prob": lambda d: densities.normal_log_prob(torch.zeros(5, **d), 0.0, 2.0),
    "densities.normal_mixture_log_prob": lambda d: densities.normal_mixture_log_prob(
        torch.zeros(5, **d), [0.5, 0.5], [0.0, 1.0], [1.0, 2.0]
    ),
    "densities.standard_normal_log_prob": lambda d: densities.standard_normal_log_prob(
        torch.zeros(4, 3, **d)
    ),
    "densities.bernoulli_log_prob": lambda d: densities.bernoulli_log_prob(
        torch.ones(4, 3, **d), torch.zeros(3, **d)
    ),
    "densities.mvn_log_prob": lambda d: densities.mvn_log_prob(
        torch.zeros(5, 2, **d), torch.zeros(3, 2, **d), torch.eye(2, **d).expand(3, 2, 2)
    ),
    "em.responsibilities": lambda d: em.responsibilities(*gmm(d)),
    "em.elbo": lambda d: em.elbo(gmm(d)[0], torch.full((5, 3), 1 / 3, **d), *gmm(d)[1:]),
    "em.log_likelihood": lambda d: em.log_likelihood(*gmm(d)),
    "em.posterior_kl": lambda d: em.posterior_kl(
        gmm(d)[0], torch.full((5, 3), 1 / 3, **d), *gmm(d)[1:]
    ),
    "em.bernoulli_log_joint": lambda d: em.bernoulli_log_joint(
        torch.ones(6, 4, **d), torch.full((2,), 0.5, **d), torch.full((2, 4), 0.3, **d)
    ),
    "em.m_step": lambda d: em.m_step(torch.zeros(6, 2, **d), torch.full((6, 3), 1 / 3, **d), 0.1),
    "em.bernoulli_m_step": lambda d: em.bernoulli_m_step(
        torch.ones(6, 4, **d), torch.full((6, 2), 0.5, **d)
    ),
    "vae.reparameterize": lambda d: vae.reparameterize(
        torch.zeros(4, 3, **d), torch.zeros(4, 3, **d), n_samples=2
    ),
    "vae.gaussian_kl": lambda d: vae.gaussian_kl(torch.zeros(4, 3, **d), torch.zeros(4, 3, **d)),
    "vae.negative_elbo": lambda d: vae.negative_elbo(
        torch.ones(4, 12, **d),
        torch.zeros(4, 12, **d),
        torch.zeros(4, 3, **d),
        torch.zeros(4, 3, **d),
    ),
    "vae.log_importance_weights": lambda d: vae.log_importance_weights(
        torch.ones(4, 12, **d),
        torch.zeros(2, 4, 12, **d),
        torch.zeros(2, 4, 3, **d),
        torch.zeros(4, 3, **d),
        torch.zeros(4, 3, **d),
    ),
    "LinearGaussian.elbo": lambda d: linear_gaussian(d, 4).elbo(
        torch.zeros(2, 4, **d), torch.zeros(2, 3, **d), torch.zeros(2, 3, **d)
    ),
    "HelmholtzMachine.log_weights": lambda d: (
        helmholtz().to(**d).log_weights(torch.ones(5, 12, **d), 3)
    ),
    "vae.iwae_bound": lambda d: vae.iwae_bound(torch.zeros(5, 4, **d)),
    "VAE.loss": lambda d: small_vae().to(**d).loss(torch.ones(4, 12, **d)),
    "VAE.iwae_loss": lambda d: small_vae().to(**d).iwae_loss(torch.ones(4, 12, **d), 3),
    "VAE.sample": lambda d: small_vae().to(**d).sample(5),
    "LinearGaussian.log_px": lambda d: linear_gaussian(d, 4).log_px(torch.zeros(2, 4, **d)),
    "LinearGaussian.posterior": lambda d: linear_gaussian(d, 4).posterior(torch.zeros(2, 4, **d)),
    "HelmholtzMachine.dream": lambda d: helmholtz().to(**d).dream(5)[0],
    "ws.wake_loss": lambda d: ws.wake_loss(helmholtz().to(**d), torch.ones(5, 12, **d)),
    "ws.sleep_loss": lambda d: ws.sleep_loss(helmholtz().to(**d), 5),
    "ws.rws_losses": lambda d: ws.rws_losses(helmholtz().to(**d), torch.ones(5, 12, **d), 3),
    "ws.elbo_score_surrogate": lambda d: ws.elbo_score_surrogate(
        helmholtz().to(**d), torch.ones(5, 12, **d)
    ),
    "ws.log_likelihood_estimate": lambda d: ws.log_likelihood_estimate(
        helmholtz().to(**d), torch.ones(5, 12, **d), 3
    ),
    "gan.discriminator_loss": lambda d: gan.discriminator_loss(
        torch.zeros(4, **d), torch.zeros(4, **d)
    ),
    "gan.generator_loss_nonsaturating": lambda d: gan.generator_loss_nonsaturating(
        torch.zeros(4, **d)
    ),
    "gan.generator_loss_minimax": lambda d: gan.generator_loss_minimax(torch.zeros(4, **d)),
    "gan.pack": lambda d: gan.pack(torch.zeros(8, 2, **d), 4),
    "gan.unpack": lambda d: gan.unpack(torch.zeros(2, 8, **d), 4),
    "GAN.sample": lambda d: toy_gan().to(**d).sample(6),
    "GAN.logits": lambda d: toy_gan().to(**d).logits(torch.zeros(6, 2, **d)),
    "DCGAN.generate": lambda d: mnist_dcgan().to(**d).generate(2),
    "unified.gaussian_kl_1d": lambda d: unified.gaussian_kl_1d(
        torch.zeros(3, **d), torch.ones(3, **d), 0.0, 2.0
    ),
    "unified.reverse_kl_estimate": lambda d: unified.reverse_kl_estimate(
        torch.zeros(2, **d),
        torch.zeros(2, **d),
        lambda z: densities.standard_normal_log_prob(z),
        8,
    ),
    "unified.forward_kl_estimate": lambda d: unified.forward_kl_estimate(
        torch.zeros(2, **d), torch.zeros(2, **d), torch.zeros(5, 2, **d)
    ),
    "unified.qr_posteriors": lambda d: unified.qr_posteriors(
        torch.zeros(9, **d), torch.zeros(9, **d), torch.zeros(9, **d), 0.1
    ),
    "unified.lemma1_sides": lambda d: unified.lemma1_sides(
        torch.zeros(9, **d), torch.zeros(9, **d), torch.zeros(9, **d), torch.zeros(9, **d), 0.1
    ),
    "gan.optimal_discriminator": lambda d: gan.optimal_discriminator(
        torch.ones(5, **d), torch.ones(5, **d)
    ),
    "vae.elbo_gradient_estimates": lambda d: vae.elbo_gradient_estimates(
        lambda z: densities.standard_normal_log_prob(z),
        torch.zeros(3, **d),
        torch.zeros(3, **d),
        4,
        "reparam",
    ),
    "metrics.importance_log_likelihood": lambda d: metrics.importance_log_likelihood(
        small_vae().to(**d).log_weights, torch.ones(4, 12, **d), k=6, chunk=3
    ),
    "unified.iwgan_weights": lambda d: unified.iwgan_weights(torch.zeros(4, **d)),
    "VAE2D.loss": lambda d: unified.VAE2D(hidden=8).to(**d).loss(torch.zeros(4, 2, **d)),
    "VAE2D.sample": lambda d: unified.VAE2D(hidden=8).to(**d).sample(4),
    "unified.aa_vae_loss": lambda d: unified.aa_vae_loss(
        small_vae().to(**d),
        torch.nn.Linear(12, 1).to(**d),
        torch.ones(4, 12, **d),
        torch.ones(4, 12, **d),
    ),
}

# torch.distributions.MultivariateNormal validates its arguments, a read back to the host,
# which meta tensors cannot do
HOST_READS = {"LinearGaussian.log_px"}
# a Cholesky factorisation checks positive-definiteness on the host: float64 only
HOST_READS |= {"densities.mvn_log_prob", "em.responsibilities", "em.elbo", "em.log_likelihood"}
HOST_READS |= {"em.posterior_kl"}


def tensors(out):
    if torch.is_tensor(out):
        return [out]
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in tensors(o)]
    return []


@pytest.mark.parametrize("name", sorted(CASES))
def test_outputs_follow_float64_inputs(name):
    out = tensors(CASES[name]({"dtype": torch.float64, "device": "cpu"}))
    assert out and all(t.dtype == torch.float64 for t in out), [t.dtype for t in out]


@pytest.mark.parametrize("name", sorted(set(CASES) - HOST_READS))
def test_outputs_follow_the_inputs_device(name):
    out = tensors(CASES[name]({"dtype": torch.float32, "device": "meta"}))
    assert out and all(t.device.type == "meta" for t in out), [t.device for t in out]
