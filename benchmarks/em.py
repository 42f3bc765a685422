"""Lecture 01 benchmark: a mixture of Bernoullis on binarized MNIST, its exact test NLL.

EM (``dgm.em.fit_bernoulli_mixture``, one pseudo-count per pixel) on the fixed binarization
of the 60,000 training digits, from ``init_bernoulli_mixture``; the test NLL is exact,
``-log sum_k pi_k prod_d p_kd^x_d (1 - p_kd)^(1 - x_d)``, on the fixed binarization of all
10,000 test digits, the same digits every likelihood of the course is measured on::

    python -m benchmarks.em bernoulli --components 10 50 100 --iterations 30
"""

from __future__ import annotations

import time

import torch

import dgm
from benchmarks import records
from dgm import em


def run(K: int, args, device) -> dict:
    x_train = dgm.data.binarized_mnist("train", seed=0, device=device)[0].flatten(1)
    x_test = dgm.data.binarized_mnist("test", seed=0, device=device)[0].flatten(1)
    g = torch.Generator().manual_seed(0)
    t0 = time.perf_counter()
    result = em.fit_bernoulli_mixture(
        x_train, em.init_bernoulli_mixture(x_train, K, g), args.iterations, alpha=args.alpha
    )
    seconds = time.perf_counter() - t0
    weights, probs = result.params[-1]
    nll = -torch.logsumexp(em.bernoulli_log_joint(x_test, weights, probs), 1).mean().item()
    return records.make_record(
        model=f"mixture of {K} Bernoullis (EM, {args.iterations} iterations)",
        metric="test NLL (nats, exact)",
        value=round(nll, 3),
        bits_per_dim=round(dgm.pixelcnn.bits_per_dim(nll), 4),
        train_nll=round(-result.log_likelihood[-1], 3),
        alpha=args.alpha,
        paper_value=None,
        paper="-",
        epochs=args.iterations,
        train_seconds=round(seconds, 1),
        device=records.device_name(device),
    )


def main(argv: list[str] | None = None) -> int:
    parser = records.parser("python -m benchmarks.em", __doc__)
    parser.add_argument("command", choices=["bernoulli"])
    parser.add_argument("--components", type=int, nargs="+", default=[10, 50, 100])
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--alpha", type=float, default=1.0)
    args = parser.parse_args(argv)
    device = dgm.device()
    recs = [run(K, args, device) for K in args.components]
    records.write("em", recs, records.results_dir(args))
    records.print_table(recs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
