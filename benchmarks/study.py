"""Throughput of the study's training: M dSprites VAEs stacked in one training step vs one after another.

Both sides use the library's own trainers on the same work: the standard dSprites conv VAE
(:func:`lecturelib.models.dsprites_conv_vae`) with the β-VAE loss of :mod:`lecturelib.study.jobs`,
per-model batch 64, Adam; batches are drawn from a pool of dSprites images already on the device,
so rendering is left out of both. Baseline: :func:`lecturelib.training.train` on each model in
turn; ours: :func:`lecturelib.study.batched.train_stacked` on all M at once. Reports aggregate
images per second (all models together).

    python benchmarks/study.py            # small: M in (1, 4), 20 steps per model; CPU friendly
    python benchmarks/study.py --full     # the issue's sizes: M in (1, 8, 32), on a GPU

Target (issue 9): on a GPU, stacked >= 5x one-after-another at per-model batch 64; on a CPU no
slower. The stacked trainer vmaps the models on CUDA and loops over them on a CPU (one optimizer step
for all), where vmap's grouped convolutions are slower; on a CPU both are timed. Each size is timed in
``--repeats`` alternating rounds and the medians are compared.

On a CPU the study's jobs train and encode in channels-last (:func:`lecturelib.study.jobs.memory_format`);
the last table times one model's training step and the encoder's forward pass (batch 1,024, as the
metrics encode) in both layouts.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from lecturelib.benchmarks import save_values
from lecturelib.config import resolve_device
from lecturelib.data.dsprites import DSprites
from lecturelib.models.dsprites_conv import dsprites_conv_vae
from lecturelib.study.batched import single_loss, train_stacked
from lecturelib.study.jobs import vae_loss
from lecturelib.training import train

BATCH = 64


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _pool(device: torch.device, size: int = 4096):
    data = DSprites()
    images = data.render(torch.as_tensor(data.sample_factors(size, 0), device=device))
    n_latents = 10

    def stream(batch_size: int, generator: torch.Generator):
        index = torch.randint(0, size, (batch_size,), generator=generator).to(device, non_blocking=True)
        eps = torch.randn(batch_size, n_latents, generator=generator).to(device, non_blocking=True)
        return images[index], eps

    return stream


def one_after_another(m: int, steps: int, stream, device: torch.device) -> float:
    """Seconds to train m models for ``steps`` steps each, one at a time."""
    loss = vae_loss("beta_vae")
    models = [dsprites_conv_vae(seed=i) for i in range(m)]
    for model in models:  # warm-up (allocator, kernels)
        train(model, single_loss(loss, {"beta": 4.0}), stream, num_steps=3, batch_size=BATCH, lr=1e-4,
              device=device, progress=False)
    _sync(device)
    start = time.perf_counter()
    for i, model in enumerate(models):
        train(model, single_loss(loss, {"beta": 4.0}), stream, num_steps=steps, batch_size=BATCH, lr=1e-4,
              seed=i, device=device, progress=False, num_logs=2)
    _sync(device)
    return time.perf_counter() - start


def stacked(m: int, steps: int, stream, device: torch.device, vectorize: bool | None = None) -> float:
    """Seconds to train m models for ``steps`` steps each, stacked (one optimizer step for all m).

    ``vectorize``: the losses in one vmap call, or in a loop; ``None`` = the trainer's choice per device.
    """
    loss = vae_loss("beta_vae")
    models = [dsprites_conv_vae(seed=i) for i in range(m)]
    kwargs = dict(hparams=[{"beta": float(1 + i % 8)} for i in range(m)], seeds=list(range(m)), batch_size=BATCH,
                  lr=1e-4, device=device, progress=False, num_logs=2, vectorize=vectorize)
    train_stacked(models, loss, stream, num_steps=3, **kwargs)  # warm-up
    _sync(device)
    start = time.perf_counter()
    train_stacked(models, loss, stream, num_steps=steps, **kwargs)
    _sync(device)
    return time.perf_counter() - start


def layouts(steps: int, stream, device: torch.device, repeats: int) -> dict[str, float]:
    """Print and return one model's training rate and the encoder's rate (images/s) in the standard and the
    channels-last layout."""
    def train_rate(layout: torch.memory_format) -> float:
        model = dsprites_conv_vae(seed=0).to(memory_format=layout)

        def batches(batch_size, generator):
            images, eps = stream(batch_size, generator)
            return images.contiguous(memory_format=layout), eps

        loss = single_loss(vae_loss("beta_vae"), {"beta": 4.0})
        train(model, loss, batches, num_steps=3, batch_size=BATCH, lr=1e-4, device=device, progress=False)
        start = time.perf_counter()
        train(model, loss, batches, num_steps=steps, batch_size=BATCH, lr=1e-4, device=device, progress=False,
              num_logs=2)
        return steps * BATCH / (time.perf_counter() - start)

    images = stream(1024, torch.Generator().manual_seed(0))[0]

    @torch.no_grad()
    def encode_rate(layout: torch.memory_format) -> float:
        encoder = dsprites_conv_vae(seed=0).encoder.eval().to(memory_format=layout)
        x = images.contiguous(memory_format=layout)
        encoder(x)
        start = time.perf_counter()
        for _ in range(3):
            encoder(x)
        return 3 * len(x) / (time.perf_counter() - start)

    rates: dict[str, list[float]] = {k: [] for k in ("train", "train_cl", "encode", "encode_cl")}
    for _ in range(repeats):  # alternating
        rates["train"].append(train_rate(torch.contiguous_format))
        rates["train_cl"].append(train_rate(torch.channels_last))
        rates["encode"].append(encode_rate(torch.contiguous_format))
        rates["encode_cl"].append(encode_rate(torch.channels_last))
    med = {k: statistics.median(v) for k, v in rates.items()}
    print(f"\nlayout (one model; images/s, median of {repeats} alternating rounds)")
    print(f"{'':<28}{'standard':>10}  {'channels-last':>13}  {'speed-up':>8}")
    print(f"{'training step, batch 64':<28}{med['train']:>10,.0f}  {med['train_cl']:>13,.0f}  "
          f"{med['train_cl'] / med['train']:>7.2f}x")
    print(f"{'encoder forward, batch 1,024':<28}{med['encode']:>10,.0f}  {med['encode_cl']:>13,.0f}  "
          f"{med['encode_cl'] / med['encode']:>7.2f}x")
    return {"train": med["train"], "train_channels_last": med["train_cl"], "encode": med["encode"],
            "encode_channels_last": med["encode_cl"]}


def check(device: torch.device, m: int = 3, steps: int = 10) -> str:
    """How far m models trained stacked are from the same models trained alone (losses and parameters).

    Adam divides by the root of the squared gradients, so a parameter whose gradient is ~0 moves by
    about ``lr`` in a direction set by rounding: a few parameters may differ by up to ``2 lr steps``.
    """
    stream = _pool(device)
    loss = vae_loss("beta_tcvae")
    hparams = [{"beta": float(1 + 3 * i)} for i in range(m)]
    together = [dsprites_conv_vae(seed=i) for i in range(m)]
    histories = train_stacked(together, loss, stream, hparams=hparams, seeds=list(range(m)), num_steps=steps,
                              batch_size=BATCH, lr=1e-4, device=device, progress=False, num_logs=steps)
    loss_gap, off, total = 0.0, 0, 0
    for i, model in enumerate(together):
        alone = dsprites_conv_vae(seed=i)
        solo = train(alone, single_loss(loss, hparams[i]), stream, num_steps=steps, batch_size=BATCH, lr=1e-4, seed=i,
                     device=device, progress=False, num_logs=steps)
        loss_gap = max(loss_gap, max(abs(a - b) / abs(b) for a, b in zip(histories[i].train["loss"], solo.train["loss"])))
        diff = torch.cat([(p - q).abs().flatten() for p, q in zip(model.parameters(), alone.parameters())])
        off, total = off + int((diff > 1e-5).sum()), total + diff.numel()
    return (f"largest relative loss difference {loss_gap:.1e}; "
            f"{100 * off / total:.2f}% of parameters differ by more than 1e-5")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--full", action="store_true", help="the issue's sizes (M up to 32, 200 steps)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--models", type=int, nargs="+", default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--check", action="store_true", help="first check stacked == alone on this device")
    parser.add_argument("--repeats", type=int, default=3, help="alternating timed rounds of each (median)")
    args = parser.parse_args()
    device = resolve_device(args.device)
    # What lecturelib.study.cost.training_time_estimate reads; rates in images/s of all models together.
    values = {"device": None, "batch_size": BATCH, "steps": None, "repeats": args.repeats, "check": None,
              "stacked_by": None, "throughput": [], "layout": None}
    if args.check:
        values["check"] = check(device)
        print(f"stacked vs alone (3 models, 10 steps): {values['check']}")
    sizes = args.models or ((1, 8, 32) if args.full else (1, 4))
    steps = args.steps or (200 if args.full else 20)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {name}; per-model batch {BATCH}; {steps} steps per model; images/s of all models together")
    cpu = device.type == "cpu"  # there the trainer loops over the models; vmap is shown beside it
    default = "stacked (loop)" if cpu else "stacked (vmap)"
    values.update(device=name, steps=steps, stacked_by="loop" if cpu else "vmap")
    print(f"{'M':>3}  {'one after another':>18}  {default:>15}" + (f"  {'stacked (vmap)':>15}" if cpu else "")
          + f"  {'speed-up':>8}")
    stream = _pool(device)
    for m in sizes:
        images = m * steps * BATCH
        rounds: dict[str, list[float]] = {"base": [], "ours": [], "vmap": []}
        for _ in range(args.repeats):  # alternating, so a change in the machine's load hits all alike
            rounds["base"].append(images / one_after_another(m, steps, stream, device))
            rounds["ours"].append(images / stacked(m, steps, stream, device))
            if cpu:
                rounds["vmap"].append(images / stacked(m, steps, stream, device, vectorize=True))
        base, ours = statistics.median(rounds["base"]), statistics.median(rounds["ours"])
        vmap = f"  {statistics.median(rounds['vmap']):>15,.0f}" if cpu else ""
        print(f"{m:>3}  {base:>18,.0f}  {ours:>15,.0f}{vmap}  {ours / base:>7.2f}x", flush=True)
        values["throughput"].append({"models": m, "alone": base, "stacked": ours,
                                     "stacked_vmap": statistics.median(rounds["vmap"]) if cpu else ours})
    print(f"images/s, median of {args.repeats} alternating rounds; speed-up = {default} / one after another")
    if cpu:
        values["layout"] = layouts(steps, stream, device, args.repeats)
    save_values(values)


if __name__ == "__main__":
    main()
