"""Benchmark of lecturelib.metrics.evaluate_all: reference mode vs fast mode vs a naive per-sample loop.

Prints, from one run, the seconds each mode takes for one representation, per metric, and the
Spearman rank agreement of fast with reference mode on a family of synthetic representations
(the true factors rotated by an increasing angle, plus noise). Default sizes are small; ``--full``
uses the sizes of disentanglement_lib's study (10,000 train / 5,000 test, batches of 64, ...).

    PYTHONPATH=$PWD OMP_NUM_THREADS=2 .venv/bin/python benchmarks/metrics.py [--full] [--device auto]

The naive loop encodes one image at a time (``encode_batch_size=1``), as per-sample reference code
does; it is timed on a fraction of the BetaVAE/FactorVAE/pool sampling and extrapolated (labelled).
The data set is dSprites if ``lecturelib.data.dsprites`` provides it, else a synthetic 64x64 set
whose images embed the factors; the representation is a fixed random 2-layer network of the image.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.linalg
import scipy.stats
import torch

from lecturelib.config import resolve_device
from lecturelib.metrics import dci, downstream_accuracy, evaluate_all, sample_codes


class SyntheticData:
    """5 dSprites-sized factors; image = fixed random projection of the factor values (1x64x64)."""

    factor_names = ("shape", "scale", "orientation", "x", "y")
    factor_sizes = (3, 6, 40, 32, 32)

    def __init__(self, device: torch.device):
        g = torch.Generator().manual_seed(0)
        self.proj = torch.randn(5, 64 * 64, generator=g).to(device)

    def sample_factors(self, n, rng):
        rng = np.random.default_rng(rng)
        return np.stack([rng.integers(0, s, n) for s in self.factor_sizes], axis=1).astype(np.int64)

    def render(self, factors):
        is_numpy = isinstance(factors, np.ndarray)
        f = torch.as_tensor(factors, device=self.proj.device)
        v = f.float() / (torch.tensor(self.factor_sizes, device=f.device) - 1)
        images = torch.sigmoid(v @ self.proj).reshape(-1, 1, 64, 64)
        return images.cpu().numpy() if is_numpy else images


def make_data(device):
    try:
        from lecturelib.data.dsprites import DSprites  # written in parallel; used when present

        return DSprites(), "dSprites"
    except Exception:  # noqa: BLE001 - any import/constructor failure falls back to the synthetic set
        return SyntheticData(device), "synthetic 64x64"


def make_encoder(device, num_latents=10):
    g = torch.Generator().manual_seed(1)
    w1 = (torch.randn(64 * 64, 256, generator=g) / 64).to(device)
    w2 = (torch.randn(256, num_latents, generator=g) / 16).to(device)

    def encode(images):
        x = torch.as_tensor(images, device=device).reshape(len(images), -1)
        return torch.tanh(x @ w1) @ w2

    return encode


def time_modes(data, encode, sizes, device, naive_fraction):
    rows = {}
    for label, fast in (("reference", False), ("fast", True)):
        timings = {}
        start = time.perf_counter()
        evaluate_all(data, encode, random_state=0, fast=fast, device=device, timings=timings, **sizes)
        rows[label] = (time.perf_counter() - start, timings)
    # naive: one image per encode call, on a fraction of the sampling work, extrapolated
    small = dict(sizes)
    for key in ("num_train", "num_test", "num_variance_estimate"):
        small[key] = max(2, int(sizes[key] * naive_fraction))
    small["downstream_sizes"] = [s for s in sizes["downstream_sizes"] if s <= small["num_train"]] or [small["num_train"]]
    timings = {}
    evaluate_all(data, encode, random_state=0, fast=True, device=device, timings=timings,
                 metrics=["beta_vae", "factor_vae", "mig"], encode_batch_size=1, **small)
    sampling = (timings["beta_vae"] + timings["factor_vae"] + timings["encode"]) / naive_fraction
    rows["naive sampling (extrapolated)"] = (sampling, {})
    return rows


def agreement(num_train, num_test, device, seed=0):
    """Spearman correlation of fast vs reference DCI and downstream scores over a family of codes."""
    rng = np.random.default_rng(seed)
    sizes = (3, 6, 40, 32, 32)
    f_train = np.stack([rng.integers(0, s, num_train) for s in sizes], 1)
    f_test = np.stack([rng.integers(0, s, num_test) for s in sizes], 1)
    rot = scipy.stats.special_ortho_group.rvs(5, random_state=seed)
    family = []
    for angle in (0.0, 0.25, 0.5, 1.0):
        for noise in (0.02, 0.2):
            # interpolate between identity and a full rotation via the matrix logarithm
            mix = scipy.linalg.expm(angle * np.real(scipy.linalg.logm(rot)))

            def codes(f, n=noise, m=mix):
                v = f / (np.array(sizes) - 1.0)
                return (v + n * rng.normal(size=v.shape)) @ m

            family.append((codes(f_train), codes(f_test)))
    out = {}
    for name, fn in {
        "dci.disentanglement": lambda c, ct, fast: dci(c, f_train, ct, f_test,
                                                       importance="hgb_permutation" if fast else "gbt")["disentanglement"],
        "downstream_lr accuracy": lambda c, ct, fast: downstream_accuracy(c, f_train, ct, f_test, "lr", fast)["test_accuracy"].mean(),
        "downstream_gbt accuracy": lambda c, ct, fast: downstream_accuracy(c, f_train, ct, f_test, "gbt", fast)["test_accuracy"].mean(),
    }.items():
        ref = [fn(c, ct, False) for c, ct in family]
        fast = [fn(c, ct, True) for c, ct in family]
        out[name] = (scipy.stats.spearmanr(ref, fast).statistic, ref, fast)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the study's sample sizes (slow: ~10 min reference)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--skip-agreement", action="store_true")
    args = parser.parse_args()
    device = resolve_device(args.device)
    if args.full:
        sizes = dict(num_train=10_000, num_test=5_000, batch_size=64, num_variance_estimate=10_000,
                     downstream_sizes=(10, 100, 1000, 10_000))
        naive_fraction, agree = 0.01, (10_000, 5_000)
    else:
        sizes = dict(num_train=1_000, num_test=500, batch_size=64, num_variance_estimate=1_000,
                     downstream_sizes=(10, 100, 1000))
        naive_fraction, agree = 0.05, (300, 200)
    data, data_name = make_data(device)
    encode = make_encoder(device)
    print(f"device={device} torch threads={torch.get_num_threads()} data={data_name} sizes={sizes}")
    rows = time_modes(data, encode, sizes, str(device), naive_fraction)
    ref_total = rows["reference"][0]
    print(f"\n{'mode':<32}{'seconds':>10}{'speed-up vs reference':>24}")
    for label, (seconds, _) in rows.items():
        print(f"{label:<32}{seconds:>10.2f}{ref_total / seconds:>23.1f}x")
    print(f"\n{'metric':<20}{'reference s':>12}{'fast s':>10}")
    for name in rows["reference"][1]:
        print(f"{name:<20}{rows['reference'][1][name]:>12.2f}{rows['fast'][1][name]:>10.2f}")
    if not args.skip_agreement:
        print(f"\nRank agreement fast vs reference on 8 synthetic representations ({agree[0]} train / {agree[1]} test):")
        for name, (rho, ref, fast) in agreement(*agree, device).items():
            print(f"  {name:<26} Spearman {rho:+.3f}   ref {np.round(ref, 3).tolist()}   fast {np.round(fast, 3).tolist()}")


if __name__ == "__main__":
    main()
