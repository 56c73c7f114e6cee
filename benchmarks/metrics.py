"""Benchmark of lecturelib.metrics.evaluate_all: reference mode vs fast mode vs a naive per-sample loop.

Prints, from one run, the seconds each mode takes for one representation, per metric, and the
Spearman rank agreement of fast with reference mode on a family of synthetic representations
(the true factors through a nonlinearity, mixed by a rotation of increasing angle, plus noise
and noise latents). Default sizes are small (timing at 1,000 train / 500 test; agreement at 400 / 200 with coarser
factors (3, 6, 8, 8, 8)); ``--full`` times the sizes of disentanglement_lib's study (10,000
train / 5,000 test, batches of 64, ...; reference mode ~20 min on one core, skip it with
``--fast-only``) and measures agreement at 1,000 / 500 with dSprites' factor sizes. It prints as
it goes.

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 .venv/bin/python benchmarks/metrics.py [--full] [--fast-only] [--device auto]

BetaVAE and FactorVAE have no slow classifier: their cost is rendering and encoding about 3
million images at full size. Reference mode renders and encodes every one (batched); fast mode,
on deterministic data such as binary dSprites, encodes each of the 737,280 grid points at most
once (``lecturelib.metrics.CodeCache``), the same codes for a deterministic encoder. The table
gives the total with and without them.

The naive loop encodes one image at a time (``encode_batch_size=1``, no cache), as per-sample
reference code does; it is timed on a fraction of the BetaVAE/FactorVAE/pool sampling and
extrapolated (labelled).
The data set is dSprites if ``lecturelib.data.dsprites`` provides it, else a synthetic 64x64 set
whose images embed the factors; the representation is a fixed random 2-layer network of the image.
"""

from __future__ import annotations

import argparse
import functools
import time

import numpy as np
import scipy.linalg
import scipy.stats
import torch

from lecturelib.benchmarks import save_values
from lecturelib.config import resolve_device
from lecturelib.metrics import dci, downstream_accuracy, evaluate_all, explicitness, sap

print = functools.partial(print, flush=True)  # noqa: A001 - progress shows during long runs


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


SAMPLING = ("beta_vae", "factor_vae", "encode")  # rendering + encoding images ("encode": the shared pool)


def time_modes(data, encode, sizes, device, naive_fraction, modes):
    """Seconds per metric (``"encode"``: the shared pool) of ``evaluate_all`` in each mode and of a naive loop."""
    rows = {}
    for label, fast in modes:
        timings = {}
        print(f"{label} mode ...")
        evaluate_all(data, encode, random_state=0, fast=fast, device=device, timings=timings, **sizes)
        rows[label] = timings
        print("  " + "  ".join(f"{k} {v:.1f}s" for k, v in timings.items()))
    # naive: one image per encode call, on a fraction of the sampling work, extrapolated
    small = dict(sizes)
    for key in ("num_train", "num_test", "num_variance_estimate"):
        small[key] = max(2, int(sizes[key] * naive_fraction))
    small["downstream_sizes"] = [s for s in sizes["downstream_sizes"] if s <= small["num_train"]] or [small["num_train"]]
    timings = {}
    evaluate_all(data, encode, random_state=0, fast=False, device=device, timings=timings,
                 metrics=["beta_vae", "factor_vae", "mig"], encode_batch_size=1, **small)
    rows["naive"] = {k: timings[k] / naive_fraction for k in ("beta_vae", "factor_vae", "encode")}
    return rows


def family(num_train, num_test, factor_sizes, seed=0):
    """8 synthetic representations of dSprites-sized factors, from disentangled to entangled.

    Codes: 10 latents = the 5 normalised factors passed through a monotone nonlinearity, mixed by
    a rotation interpolated from the identity (angle 0..1), plus Gaussian noise, and 5 noise-only
    latents whose scale also varies; quality falls with angle and noise.
    """
    rng = np.random.default_rng(seed)
    sizes = np.array(factor_sizes)
    f_train = rng.integers(0, sizes, size=(num_train, 5))
    f_test = rng.integers(0, sizes, size=(num_test, 5))
    rot = scipy.stats.special_ortho_group.rvs(5, random_state=seed)
    log_rot = np.real(scipy.linalg.logm(rot))
    out = []
    for angle, noise in ((0.0, 0.05), (0.0, 0.3), (0.15, 0.1), (0.3, 0.05), (0.5, 0.2), (0.7, 0.1), (1.0, 0.05), (1.0, 0.4)):
        mix = scipy.linalg.expm(angle * log_rot)

        def codes(f, n=noise, m=mix):
            v = np.tanh(2 * (f / (sizes - 1.0) - 0.5))
            informative = v @ m + n * rng.normal(size=v.shape)
            return np.hstack([informative, (0.2 + n) * rng.normal(size=(len(f), 5))])

        out.append((f"angle {angle:.2f} noise {noise:.2f}", codes(f_train), codes(f_test)))
    return f_train, f_test, out


def agreement(num_train, num_test, factor_sizes, seed=0):
    """Spearman correlation of fast vs reference scores, per classifier-based score, over the family.

    The downstream tasks train on all ``num_train`` samples. In reference mode downstream GBT's
    mean test accuracy is then DCI's ``informativeness_test`` (the same boosted trees on the same
    data); fast mode's DCI uses extra trees and its downstream task LightGBM, so both are reported.
    """
    f_train, f_test, reps = family(num_train, num_test, factor_sizes, seed)

    def scores(c, ct, fast):
        d = dci(c, f_train, ct, f_test, importance="extra_trees" if fast else "gbt")
        return {
            "dci.disentanglement": d["disentanglement"],
            "dci.completeness": d["completeness"],
            "dci.informativeness_test": d["informativeness_test"],
            "explicitness.test": explicitness(c, f_train, ct, f_test, fast=fast)["test"],
            "sap": sap(c, f_train, ct, f_test, fast=fast),
            f"downstream_lr.{num_train}": downstream_accuracy(c, f_train, ct, f_test, "lr", fast)["test_accuracy"].mean(),
            f"downstream_gbt.{num_train}": (downstream_accuracy(c, f_train, ct, f_test, "gbt", fast)["test_accuracy"].mean()
                                            if fast else d["informativeness_test"]),
        }

    table = {True: [], False: []}
    for label, c, ct in reps:
        start = time.perf_counter()
        for fast in (False, True):
            table[fast].append(scores(c, ct, fast))
        print(f"  scored {label} in both modes ({time.perf_counter() - start:.1f}s)")
    out = {}
    for name in table[True][0]:
        ref = [row[name] for row in table[False]]
        fast = [row[name] for row in table[True]]
        out[name] = (scipy.stats.spearmanr(ref, fast).statistic, ref, fast)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the study's sample sizes (reference mode: ~20 min on one core)")
    parser.add_argument("--fast-only", action="store_true", help="skip reference mode's timing (e.g. --full on a laptop)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--skip-agreement", action="store_true")
    parser.add_argument("--skip-timing", action="store_true")
    args = parser.parse_args()
    device = resolve_device(args.device)
    if args.full:
        sizes = dict(num_train=10_000, num_test=5_000, batch_size=64, num_variance_estimate=10_000,
                     downstream_sizes=(10, 100, 1000, 10_000))
        # reference DCI x 8 at 10,000 would take hours: agreement at 1,000 / 500 with dSprites' factors
        naive_fraction, agree = 0.01, (1_000, 500, (3, 6, 40, 32, 32))
    else:
        sizes = dict(num_train=1_000, num_test=500, batch_size=64, num_variance_estimate=1_000,
                     downstream_sizes=(10, 100, 1000))
        naive_fraction, agree = 0.05, (400, 200, (3, 6, 8, 8, 8))  # coarser factors: 4x fewer trees
    print(f"device={device} torch threads={torch.get_num_threads()} sizes={sizes}")
    # seconds per metric and mode; agreement: Spearman's rho and both modes' scores per score
    values = {"device": str(device), "sizes": sizes, "seconds": None, "naive_sampling_s": None, "agreement": None}
    if not args.skip_timing:
        data, data_name = make_data(device)
        encode = make_encoder(device)
        print(f"data={data_name}, representation: fixed random 2-layer network of the image (10 latents)")
        modes = [("fast", True)] + ([] if args.fast_only else [("reference", False)])
        rows = time_modes(data, encode, sizes, str(device), naive_fraction, modes)
        names = list(rows["fast"])
        header = f"{'metric':<16}" + "".join(f"{label + ' s':>14}" for label, _ in modes)
        print("\n" + header + (f"{'speed-up':>10}" if len(modes) > 1 else ""))
        for name in names:
            line = f"{name:<16}" + "".join(f"{rows[label][name]:>14.2f}" for label, _ in modes)
            if len(modes) > 1:
                line += f"{rows['reference'][name] / max(rows['fast'][name], 1e-9):>9.1f}x"
            print(line)
        for title, keep in (("total", names), ("total w/o sampling metrics", [n for n in names if n not in SAMPLING])):
            totals = {label: sum(rows[label][n] for n in keep) for label, _ in modes}
            line = f"{title:<16}" + "".join(f"{totals[label]:>14.2f}" for label, _ in modes)
            if len(modes) > 1:
                line += f"{totals['reference'] / totals['fast']:>9.1f}x"
            print(line)
        naive = sum(rows["naive"].values())
        values.update(seconds={label: rows[label] for label, _ in modes}, naive_sampling_s=naive)
        for label, _ in modes:
            ours = sum(rows[label][k] for k in SAMPLING)
            print(f"sampling (BetaVAE + FactorVAE + pool encoding), {label} mode {ours:.1f}s vs naive one image "
                  f"per call {naive:.1f}s (extrapolated from {naive_fraction:.0%} of the samples): {naive / ours:.1f}x")
    if not args.skip_agreement:
        print(f"\nRank agreement fast vs reference on 8 synthetic representations ({agree[0]} train / {agree[1]} test, "
              f"factor sizes {agree[2]}, 10 latents of which 5 noise):")
        result = agreement(*agree)
        for name, (rho, ref, fast) in result.items():
            print(f"  {name:<26} Spearman {rho:+.3f}   ref {np.round(ref, 3).tolist()}   fast {np.round(fast, 3).tolist()}")
        values["agreement"] = {name: {"spearman": rho, "reference": ref, "fast": fast}
                               for name, (rho, ref, fast) in result.items()}
    save_values(values)


if __name__ == "__main__":
    main()
