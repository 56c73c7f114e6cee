"""Training speed of chapter 7's β-TCVAE recipe: our total-correlation estimate vs autograd through all pairs.

The β-TCVAE's minibatch-weighted-sampling estimate (Chen et al. 2018) needs the log-density of every
sample under every posterior of the batch, for every latent: ``(B, B, D)`` numbers. Written the way
most implementations write it (broadcast, then ``logsumexp``, with autograd keeping every
intermediate) this term took most of a training step at the recipe's batch of 1,024. Ours
(:func:`lecturelib.models.regularizers.total_correlation`) builds the ``(D, B, B)`` log-densities once,
in place, and has a hand-written backward of a few batched matrix products.

Both train the same model (the recipe's fully connected VAE, :func:`lecturelib.models.dsprites_vae`
``("mlp")``) with the same loss (:func:`lecturelib.disentanglement.beta_vae_loss`, β-TCVAE, β = 6)
on the same dSprites stream, in one run, timed in alternation (``--repeats`` rounds, medians), so
a change in the machine's load affects both alike. The TC term alone (forward and backward) is
timed too.

    python benchmarks/tc_estimate.py                      # 1 and 2 threads, batch 1024
    python benchmarks/tc_estimate.py --threads 2 --batch-size 256 1024
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from lecturelib.benchmarks import save_values  # noqa: E402
from lecturelib.disentanglement import beta_vae_loss, make_dsprites  # noqa: E402
from lecturelib.models import dsprites_vae  # noqa: E402
from lecturelib.models import regularizers  # noqa: E402
from lecturelib.study.jobs import make_stream  # noqa: E402
from lecturelib.training import train  # noqa: E402


def reference_total_correlation(z: torch.Tensor, mu: torch.Tensor, log_var: torch.Tensor, *,
                                dataset_size: int | None = None) -> torch.Tensor:
    """The same estimate by broadcasting and autograd (how the formula is usually written)."""
    log_q = regularizers.gaussian_log_density(z[:, None, :], mu[None, :, :], log_var[None, :, :])
    joint = torch.logsumexp(log_q.sum(dim=2), dim=1)
    marginals = torch.logsumexp(log_q, dim=1).sum(dim=1)
    return (joint - marginals).mean() + (z.shape[1] - 1) * math.log(z.shape[0] * (dataset_size or 1))


def images_per_second(batch_size: int, steps: int, reference: bool) -> float:
    """Images/s of ``steps`` recipe training steps (after 2 untimed ones)."""
    data = make_dsprites()
    patch = mock.patch.object(regularizers, "total_correlation", reference_total_correlation) if reference \
        else contextlib.nullcontext()
    with patch:
        model = dsprites_vae("mlp", 10, data.channels, seed=0)
        loss = beta_vae_loss(6.0, "beta_tcvae", warmup_steps=0)
        stream = make_stream(data, 10, torch.device("cpu"))
        train(model, loss, stream, num_steps=2, batch_size=batch_size, device="cpu", progress=False)
        history = train(model, loss, stream, num_steps=steps, batch_size=batch_size, device="cpu",
                        progress=False, num_logs=1)
    return steps * batch_size / history.seconds


def tc_seconds(batch_size: int, reference: bool, n_latents: int = 10, repeats: int = 5) -> float:
    """Median seconds of one forward and backward of the TC term alone."""
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(batch_size, n_latents, generator=g).requires_grad_()
    log_var = (0.3 * torch.randn(batch_size, n_latents, generator=g) - 1.0).requires_grad_()
    eps = torch.randn(batch_size, n_latents, generator=g)
    fn = reference_total_correlation if reference else regularizers.total_correlation
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        fn(mu + eps * (0.5 * log_var).exp(), mu, log_var).backward()
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch-size", type=int, nargs="+", default=[1024])
    parser.add_argument("--steps", type=int, default=10, help="timed training steps per round")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="CPU thread counts (default 1 2)")
    parser.add_argument("--repeats", type=int, default=3, help="alternating timed rounds of each (median)")
    args = parser.parse_args(argv)
    print(f"chapter 7's recipe (fully connected VAE, β-TCVAE β=6, 10 latents) on the CPU; torch {torch.__version__}, "
          f"python {platform.python_version()}, {os.cpu_count()} cores; reference = autograd through all pairs")
    header = (f"{'threads':>7} {'batch':>6} {'TC ref (ms)':>12} {'TC ours (ms)':>13} {'step ref (img/s)':>17} "
              f"{'step ours (img/s)':>18} {'speed-up':>9}")
    print(header)
    print("-" * len(header))
    rows = []
    for threads, batch_size in ((t, b) for t in args.threads for b in args.batch_size):
        torch.set_num_threads(threads)
        tc_ref, tc_ours = tc_seconds(batch_size, True), tc_seconds(batch_size, False)
        rounds: dict[bool, list[float]] = {True: [], False: []}
        for _ in range(args.repeats):
            for reference in (True, False):
                rounds[reference].append(images_per_second(batch_size, args.steps, reference))
        ref, ours = statistics.median(rounds[True]), statistics.median(rounds[False])
        print(f"{threads:>7} {batch_size:>6} {1e3 * tc_ref:>12.1f} {1e3 * tc_ours:>13.1f} {ref:>17,.0f} {ours:>18,.0f} "
              f"{ours / ref:>8.2f}x", flush=True)
        rows.append({"threads": threads, "batch_size": batch_size, "tc_reference_ms": 1e3 * tc_ref,
                     "tc_ours_ms": 1e3 * tc_ours, "step_reference": ref, "step_ours": ours})
    save_values({"repeats": args.repeats, "steps": args.steps, "rates": rows})  # step rates in images/s


if __name__ == "__main__":
    main()
