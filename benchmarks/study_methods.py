"""What one model of the study costs per method: training images/s of each of the six methods' jobs.

Times :func:`lecturelib.study.jobs.training_setup`'s model, loss and batch stream (dSprites rendered
on the fly, as the study trains) with :func:`lecturelib.training.train`, for two architectures side
by side in one run: the conv VAE at batch 64 (the study's models so far) and chapter 7's fully
connected recipe at batch 1,024 (:func:`lecturelib.disentanglement.beta_sweep` at the default scale). Each (method,
architecture) is timed in ``--repeats`` alternating rounds after one warm-up round; medians are
reported. The budget of a grid follows: seconds per model = images per model / images/s.

    python benchmarks/study_methods.py                 # 1 thread, 10 steps a round
    python benchmarks/study_methods.py --threads 2
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from lecturelib.benchmarks import save_values  # noqa: E402
from lecturelib.disentanglement import beta_sweep  # noqa: E402
from lecturelib.models.regularizers import METHODS  # noqa: E402
from lecturelib.study.grid import study_grid  # noqa: E402
from lecturelib.study.jobs import training_setup  # noqa: E402
from lecturelib.training import train  # noqa: E402

_RECIPE = beta_sweep("default")[1]
SETUPS = {"conv, batch 64": {"architecture": "conv", "batch_size": 64, "lr": 5e-4, "warmup_steps": 0},
          "mlp, batch 1,024": {**{k: _RECIPE[k] for k in ("architecture", "batch_size", "lr", "warmup_steps")},
                               "discriminator_batch": None},
          "mlp, batch 1,024, discriminator 256": {**{k: _RECIPE[k] for k in ("architecture", "batch_size", "lr",
                                                                            "warmup_steps")},
                                                  "discriminator_batch": 256}}


def images_per_second(method: str, setup: dict, steps: int) -> float:
    """Training images/s of the study's middle-valued job of ``method`` with the settings ``setup``."""
    job = study_grid("default", methods=(method,), seeds=(0,))[1]
    job = replace(job, settings={**job.settings, **setup, "num_steps": steps})
    model, loss, stream, s = training_setup(job, "cpu")
    history = train(model, loss, stream, num_steps=steps, batch_size=s["batch_size"], lr=s["lr"], seed=0,
                    device="cpu", num_logs=1, progress=False)
    return steps * s["batch_size"] / history.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=10, help="training steps per timed round")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rates: dict[tuple[str, str], list[float]] = {(m, name): [] for m in METHODS for name in SETUPS}
    for round_ in range(args.repeats + 1):
        for method in METHODS:
            for name, setup in SETUPS.items():
                steps = args.steps if setup["architecture"] == "mlp" else 4 * args.steps
                rate = images_per_second(method, setup, steps)
                if round_:  # the first round warms up allocators and caches
                    rates[method, name].append(rate)
    print(f"device: CPU, {args.threads} thread(s); training images/s per model (rendering included), "
          f"median of {args.repeats} alternating rounds")
    print(f"{'method':<14}" + "".join(f"{name:>38}" for name in SETUPS))
    medians = {method: {name: statistics.median(rates[method, name]) for name in SETUPS} for method in METHODS}
    for method in METHODS:
        print(f"{method:<14}" + "".join(f"{medians[method][name]:>38,.0f}" for name in SETUPS))
    save_values({"threads": args.threads, "steps": args.steps, "repeats": args.repeats,
                 "images_per_second": medians})  # {method: {setup: median images/s}}


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"({time.perf_counter() - start:.0f} s)")
