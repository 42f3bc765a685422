"""Self-checks for the exercises: one harness, one module per lecture.

``harness`` holds the one ``run_check`` (exact, statistical or property comparisons), the
``CheckResult`` record, and the fallback to the reference. The lecture modules hold the
checks: ``checks.em`` (01), ``checks.wake_sleep`` (02), ``checks.vae`` (03), ``checks.gan``
(04), ``checks.unified`` (05), ``checks.energy`` (06), ``checks.mcmc`` (07),
``checks.pixelcnn`` (08), ``checks.diffusion`` (09). Every check is also importable as
``dgm.checks.<name>``, the name its notebook cell uses; a name that would mean different
things in two lectures is kept qualified (``dgm.checks.<lecture>.<name>``) instead.
"""

from .diffusion import ddpm_step, dsm_loss, ncsn_from_scratch, q_sample
from .em import bernoulli_em, bernoulli_m_step, elbo, em_fit, m_step, responsibilities
from .energy import (
    energy_gan_from_scratch,
    energy_loss,
    generator_loss,
    jsd_mi_estimate,
)
from .gan import (
    discriminator_loss,
    generator_loss_nonsaturating,
    mode_coverage,
    pacgan_from_scratch,
    training_step,
)
from .harness import CheckFailure, CheckResult, results, run_check, summary
from .mcmc import effective_sample_size, mala_log_acceptance, tuned_mala, ula_step
from .pixelcnn import bits_per_dim, causal_mask, sample_naive, train_pixelcnn
from .unified import (
    forward_kl_estimate,
    iwgan_weights,
    lemma1_gradients,
    qr_posteriors,
    reverse_kl_estimate,
    train_gaussian_generator,
)
from .vae import (
    gaussian_kl,
    iwae_bound,
    iwae_loss,
    negative_elbo,
    reparameterize,
    vae_from_scratch,
)
from .wake_sleep import (
    helmholtz_from_scratch,
    log_likelihood_estimate,
    rws_losses,
    sleep_loss,
    wake_loss,
)

__all__ = [
    "CheckFailure",
    "CheckResult",
    "results",
    "run_check",
    "summary",
    # lecture 01
    "responsibilities",
    "m_step",
    "elbo",
    "bernoulli_m_step",
    "em_fit",
    "bernoulli_em",
    # lecture 02
    "wake_loss",
    "sleep_loss",
    "log_likelihood_estimate",
    "rws_losses",
    "helmholtz_from_scratch",
    # lecture 03
    "gaussian_kl",
    "reparameterize",
    "negative_elbo",
    "iwae_bound",
    "iwae_loss",
    "vae_from_scratch",
    # lecture 04
    "discriminator_loss",
    "generator_loss_nonsaturating",
    "mode_coverage",
    "training_step",
    "pacgan_from_scratch",
    # lecture 05
    "reverse_kl_estimate",
    "forward_kl_estimate",
    "iwgan_weights",
    "qr_posteriors",
    "lemma1_gradients",
    "train_gaussian_generator",
    # lecture 06
    "energy_loss",
    "jsd_mi_estimate",
    "generator_loss",
    "energy_gan_from_scratch",
    # lecture 07
    "ula_step",
    "mala_log_acceptance",
    "effective_sample_size",
    "tuned_mala",
    # lecture 08
    "causal_mask",
    "sample_naive",
    "bits_per_dim",
    "train_pixelcnn",
    # lecture 09
    "dsm_loss",
    "q_sample",
    "ddpm_step",
    "ncsn_from_scratch",
]
