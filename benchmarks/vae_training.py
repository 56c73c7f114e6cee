"""Training throughput of the dSprites convolutional VAE: our step vs a tutorial-style reference loop.

Both train the same architecture (``lecturelib.models.dsprites_conv_vae``: 4 strided convs, dense
256, 10 latents, Bernoulli decoder) on the same random binary 64x64 images with Adam, at the same
batch size, in one run, and report images per second.

- reference: the loop the way tutorials write it (PyTorch's ``examples/vae``): eager fp32,
  ``binary_cross_entropy(..., reduction="sum")`` + the analytic KL, and ``loss.item()`` every step
  (a host sync per step).
- ours: :func:`lecturelib.training.train` with :func:`lecturelib.vae.elbo_loss`, wrapped by
  :func:`lecturelib.vae.make_fast_loss` (on CUDA: bf16 autocast, channels-last,
  ``torch.compile(mode="reduce-overhead")`` = CUDA graphs; on a CPU it is the eager loss itself),
  with the library's default optimiser, fused Adam (one kernel for all parameters, on CPU and CUDA).
  On CUDA the eager version of our step is also timed ("ours, eager").

Usage::

    python benchmarks/vae_training.py                       # CPU, and CUDA when present; batch 64
    python benchmarks/vae_training.py --device cuda --batch-size 64 1024 --steps 500
    python benchmarks/vae_training.py --full                # the issue's sizes: batch 64 and 1024, 1,000 steps

Compilation happens during the warm-up steps, which are not timed. Reference and ours are timed
in alternation, ``--repeats`` rounds each (default 5), and the medians are compared, so a change in
the machine's load during the run affects both alike.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from lecturelib.benchmarks import save_values
from lecturelib.config import resolve_device  # noqa: E402
from lecturelib.models import dsprites_conv_vae  # noqa: E402
from lecturelib.training import adam, train  # noqa: E402
from lecturelib.vae import elbo_loss, make_fast_loss  # noqa: E402


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def make_data(n: int, device: torch.device, seed: int = 0) -> torch.Tensor:
    """Random binary images ``(n, 1, 64, 64)`` (about 10% white pixels, like dSprites)."""
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 1, 64, 64, generator=g) < 0.1).float().to(device)


def reference_loop(model: torch.nn.Module, X: torch.Tensor, batch_size: int, num_steps: int,
                   optimizer: torch.optim.Optimizer, seed: int = 0) -> float:
    """The tutorial loop; returns the mean loss (read with ``.item()`` every step, as tutorials do)."""
    g = torch.Generator().manual_seed(seed)
    model.train()
    running = 0.0
    for _ in range(num_steps):
        x = X[torch.randint(len(X), (batch_size,), generator=g).to(X.device)]
        mu, log_var = model.encoder(x)
        std = torch.exp(0.5 * log_var)
        h = mu + std * torch.randn_like(std)
        logits = model.decoder(h)
        bce = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
        kld = -0.5 * torch.sum(1 + log_var - mu.pow(2) - log_var.exp())
        loss = (bce + kld) / batch_size
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        running += loss.item()
    return running / num_steps


def time_reference(device: torch.device, batch_size: int, steps: int, warmup: int, X: torch.Tensor) -> float:
    model = dsprites_conv_vae(seed=0).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    reference_loop(model, X, batch_size, warmup, optimizer)
    _sync(device)
    start = time.perf_counter()
    reference_loop(model, X, batch_size, steps, optimizer, seed=1)
    _sync(device)
    return steps * batch_size / (time.perf_counter() - start)


def time_ours(device: torch.device, batch_size: int, steps: int, warmup: int, X: torch.Tensor,
              fast: bool) -> float:
    torch._dynamo.reset()
    model = dsprites_conv_vae(seed=0).to(device)
    loss_fn = elbo_loss(beta=1.0)
    if fast:
        loss_fn = make_fast_loss(model, loss_fn, device=device)
    optimizer = adam(model.parameters(), lr=1e-4)
    kwargs = dict(batch_size=batch_size, optimizer=optimizer, num_logs=1, device=device, progress=False)
    train(model, loss_fn, X, num_steps=warmup, **kwargs)  # compiles here when fast on CUDA
    _sync(device)
    start = time.perf_counter()
    train(model, loss_fn, X, num_steps=steps, seed=1, **kwargs)  # ends with one host sync (its log)
    _sync(device)
    return steps * batch_size / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", nargs="+", default=["auto"],
                        help="cpu, cuda, or auto (= cpu, plus cuda when present)")
    parser.add_argument("--batch-size", type=int, nargs="+", default=None, help="default 64 (--full: 64 1024)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default 100 on CPU, 300 on CUDA; --full x4)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 5 CPU, 30 CUDA)")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("LECTURELIB_THREADS", "1")),
                        help="CPU threads (default 1, or LECTURELIB_THREADS)")
    parser.add_argument("--repeats", type=int, default=5, help="alternating timed rounds of each (median)")
    parser.add_argument("--full", action="store_true", help="the issue's sizes")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.set_float32_matmul_precision("high")
    devices: list[torch.device] = []
    for name in args.device:
        if name == "auto":
            devices.append(torch.device("cpu"))
            if torch.cuda.is_available():
                devices.append(torch.device("cuda"))
        else:
            devices.append(resolve_device(name))
    batch_sizes = args.batch_size or ([64, 1024] if args.full else [64])
    print(f"dSprites conv VAE (10 latents), Adam; torch {torch.__version__}, python {platform.python_version()}, "
          f"{args.threads} CPU thread(s)" + (f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""))
    header = f"{'device':<6} {'batch':>6} {'steps':>6}  {'reference (img/s)':>18} {'ours, eager':>12} {'ours (img/s)':>13} {'speed-up':>9}"
    print(header)
    print("-" * len(header))
    rows = []  # images/s; ours_eager only on CUDA (on a CPU ours is eager)
    for device in devices:
        cuda = device.type == "cuda"
        for batch_size in batch_sizes:
            steps = args.steps or ((300 if cuda else 100) * (4 if args.full else 1))
            warmup = args.warmup if args.warmup is not None else (30 if cuda else 5)
            X = make_data(max(4096, 4 * batch_size), device)
            rounds = {"reference": [], "eager": [], "ours": []}
            for _ in range(args.repeats):
                rounds["reference"].append(time_reference(device, batch_size, steps, warmup, X))
                if cuda:
                    rounds["eager"].append(time_ours(device, batch_size, steps, warmup, X, fast=False))
                rounds["ours"].append(time_ours(device, batch_size, steps, warmup, X, fast=True))
            reference, ours = statistics.median(rounds["reference"]), statistics.median(rounds["ours"])
            eager = statistics.median(rounds["eager"]) if cuda else float("nan")
            eager_text = f"{eager:>12,.0f}" if cuda else f"{'(= ours)':>12}"
            print(f"{device.type:<6} {batch_size:>6} {steps:>6}  {reference:>18,.0f} {eager_text} {ours:>13,.0f} "
                  f"{ours / reference:>8.2f}x", flush=True)
            rows.append({"device": device.type, "batch_size": batch_size, "steps": steps, "reference": reference,
                         "ours_eager": eager if cuda else None, "ours": ours})
    save_values({"threads": args.threads, "repeats": args.repeats, "rates": rows})


if __name__ == "__main__":
    main()
