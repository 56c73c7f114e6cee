"""Is the procedural dSprites fast enough that training never waits on data?

Prints, per device, how many images per second the renderer produces beside how many images per
second a training step of the book's conv β-VAE consumes (:func:`lecturelib.models.dsprites_conv_vae`:
4 strided convs, dense 256, 10 latents; Higgins et al. / Locatello et al.), and their ratio; the issue asks for a ratio of at
least 10. Two renderers: drawing the shapes (binary and noisy variants), and gathering the
sprites from the table of :meth:`DSprites.cache_images` (the same images; its one-off build time
is printed), which training uses on a GPU. The ratios are of the renderer training uses there. Both are measured in the same run on the same
device and threads; the numbers quoted from NOTES.md were measured elsewhere.

    python benchmarks/dsprites.py            # small sizes, a few seconds per device
    python benchmarks/dsprites.py --full     # also renders the whole 737,280-image grid
"""

from __future__ import annotations

import argparse
import time

import torch

from lecturelib.benchmarks import save_values
from lecturelib.data.dsprites import DSprites
from lecturelib.models import dsprites_conv_vae
from lecturelib.training import adam
from lecturelib.vae import elbo_loss

QUOTED = ("measured elsewhere (NOTES.md), same β-VAE, eager, batch 64: ~1,000 images/s on a 2-core CPU; "
          "13.7k images/s on an H200 (34k with CUDA graphs, ~200k at batch 1024)")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _rate(fn, n_images: int, repeats: int, device: torch.device) -> float:
    """Images per second of ``fn`` (which processes ``n_images``), best of 3 timings of ``repeats`` calls."""
    fn()
    _sync(device)
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeats):
            fn()
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return n_images * repeats / best


def render_rate(data: DSprites, batch_size: int, repeats: int, device: torch.device) -> float:
    """Images/s of ``data.batches`` (factors drawn on the device, then rendered)."""
    stream = data.batches(batch_size, seed=0, device=device)
    return _rate(lambda: next(stream), batch_size, repeats, device)


def train_rate(batch_size: int, repeats: int, device: torch.device) -> float:
    """Images/s consumed by Adam steps of the book's conv β-VAE (β = 4, eager) on a fixed batch."""
    model = dsprites_conv_vae(seed=0).to(device)
    loss_fn = elbo_loss(beta=4.0)
    optimiser = adam(model.parameters(), lr=1e-4)  # the library's (fused) Adam, as train() uses
    x = DSprites().render(torch.as_tensor(DSprites().sample_factors(batch_size, 0), device=device))

    def step() -> None:
        optimiser.zero_grad(set_to_none=True)
        loss_fn(model, (x,))["loss"].backward()
        optimiser.step()

    return _rate(step, batch_size, repeats, device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="also render the whole grid, more repeats")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (default 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    print(f"torch {torch.__version__}, {args.threads} CPU thread(s)")
    print(QUOTED)
    header = (f"{'device':<24}{'batch':>6}{'drawn':>10}{'drawn noisy':>13}{'table':>11}{'table noisy':>13}"
              f"{'β-VAE train':>13}{'ratio':>8}{'noisy ratio':>13}")
    rows, tables_built, whole_grid = [], {}, {}  # images/s; seconds
    for device in devices:
        name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
        gpu = device.type == "cuda"
        tables = {}
        for variant in ("binary", "noisy"):
            _sync(device)
            start = time.perf_counter()
            tables[variant] = DSprites(variant=variant).cache_images(device)
            _sync(device)
            built = time.perf_counter() - start
        tables_built[name] = built
        print(f"\n{name}: image table of the {len(tables['binary']):,}-image grid built in {built:.1f} s")
        print(header)
        for batch_size in ((64, 1024) if gpu else (64, 256)):
            repeats = (200 if gpu else 20) * (5 if args.full else 1) // (1 if batch_size == 64 else 4)
            binary = render_rate(DSprites(), batch_size, repeats, device)
            noisy = render_rate(DSprites(variant="noisy"), batch_size, repeats, device)
            table = render_rate(tables["binary"], batch_size, repeats, device)
            table_noisy = render_rate(tables["noisy"], batch_size, repeats, device)
            train = train_rate(batch_size, max(repeats // (1 if gpu else 5), 2), device)
            # training draws the shapes on a CPU and gathers them from the table on a GPU
            used, used_noisy = (table, table_noisy) if gpu else (binary, noisy)
            ratio, noisy_ratio = used / train, used_noisy / train
            flag = "" if min(ratio, noisy_ratio) >= 10 else "  < 10x!"
            print(f"{name[:23]:<24}{batch_size:>6}{binary:>10,.0f}{noisy:>13,.0f}{table:>11,.0f}{table_noisy:>13,.0f}"
                  f"{train:>13,.0f}{ratio:>7.1f}x{noisy_ratio:>12.1f}x{flag}")
            rows.append({"device": name, "batch_size": batch_size, "drawn": binary, "drawn_noisy": noisy,
                         "table": table, "table_noisy": table_noisy, "train": train, "ratio": ratio,
                         "noisy_ratio": noisy_ratio})
        if args.full:
            data = DSprites()
            index = torch.arange(len(data), device=device)
            _sync(device)
            start = time.perf_counter()
            for chunk in index.split(4096):
                data.render(data.index_to_factors(chunk), validate=False)
            _sync(device)
            seconds = time.perf_counter() - start
            whole_grid[name] = seconds
            print(f"whole grid ({len(data):,} images) on {name}: {seconds:.1f} s ({len(data) / seconds:,.0f} images/s)")
    print("\nimages/s; ratio = rate of the renderer training uses (CPU: drawn, GPU: table; binary, noisy) / "
          "β-VAE training rate, same batch size and device")
    save_values({"threads": args.threads, "rates": rows, "table_built_s": tables_built, "whole_grid_s": whole_grid})


if __name__ == "__main__":
    main()
