"""Sampling-level metrics: they draw factors, render images and encode them (chapters 8 and 9).

Each function takes a ground-truth data set (:class:`lecturelib.data.ground_truth.GroundTruthData`),
a representation ``encode(images) -> codes`` and an explicit ``random_state``.

``device`` chooses how images travel: ``"auto"``/``"cpu"``/``"cuda"`` render torch tensors on
that device and pass them to ``encode`` (which may return a tensor or an array); the per-batch
features (mean absolute differences, variances) are reduced there too, without host syncs inside
the loop. ``device=None`` passes numpy images instead (for scikit-learn encoders such as PCA).
Images are rendered and encoded ``encode_batch_size`` at a time and never kept, so raw-pixel
representations fit in memory; encoding one image at a time gives the same numbers.

Factors with a single value (dSprites' colour) are never chosen as the factor ``k`` to fix, and
are left out of the downstream task, as in disentanglement_lib.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Literal

import numpy as np
import torch

from lecturelib.config import resolve_device
from lecturelib.data.ground_truth import check_ground_truth_data
from lecturelib.validation import (check_array, check_callable, check_choice, check_finite, check_int, check_number,
                                  check_rng, child_seed)
from lecturelib.metrics.classifier_based import _fit, downstream_accuracy

__all__ = [
    "CodeCache",
    "beta_vae_score",
    "downstream",
    "encode_factors",
    "factor_vae_score",
    "sample_codes",
    "statistical_efficiency",
]

Encoder = Callable[[object], object]


def _check_inputs(data: object, encode: object) -> None:
    """The arguments every sampling-level metric takes: a ground-truth data set and an encode function."""
    check_ground_truth_data(data)
    check_callable(encode, "encode", "a function encode(images) -> codes (n, n_latents)")


def _device(device: str | torch.device | None) -> torch.device | None:
    return None if device is None else resolve_device(device)


def _varying(data) -> np.ndarray:
    sizes = np.asarray(data.factor_sizes)
    keep = np.flatnonzero(sizes > 1)
    if keep.size == 0:
        raise ValueError(f"data.factor_sizes={tuple(sizes)} has no factor with more than one value")
    return keep


def _encode_chunk(data, encode: Encoder, factors: np.ndarray, device: torch.device | None) -> torch.Tensor:
    if device is None:
        images = data.render(factors)
    else:
        images = data.render(torch.as_tensor(factors, device=device))
    codes = encode(images)
    target = device if device is not None else torch.device("cpu")
    codes = torch.as_tensor(codes, device=target)
    if codes.ndim != 2 or codes.shape[0] != len(factors):
        raise ValueError(
            f"encode(images) must return codes of shape ({len(factors)}, n_latents), got {tuple(codes.shape)}"
        )
    return codes.to(torch.float64)


class CodeCache:
    """The codes of every grid point encoded so far, so each image is rendered and encoded once.

    The sampling metrics at the study's sizes encode about 3 million images, drawn from a grid
    of 737,280 (dSprites): most are repeats. ``cache(factors)`` returns the same float64 codes
    ``(n, n_latents)`` as rendering and encoding ``factors``, on ``device``, but renders and encodes
    only the grid points it has not seen. That is exact only when the images are a function of
    the factors (``data.deterministic``: binary dSprites, not its noisy or colour variants) and
    ``encode`` is deterministic (posterior means, as every metric here uses); build one with
    :meth:`for_data`, which returns ``None`` where caching would change the scores.

    The table holds ``prod(data.factor_sizes) * n_latents`` float64 values (59 MB for dSprites with
    10 latents); a representation too wide for ``max_bytes`` is not cached (:meth:`__call__`
    then renders and encodes every image, as without a cache).
    """

    def __init__(self, data, encode: Encoder, device: str | None = "auto", encode_batch_size: int = 1024,
                 max_bytes: int = 2**30) -> None:
        _check_inputs(data, encode)
        self.data, self.encode = data, encode
        self.device = _device(device)
        self.encode_batch_size = check_int(encode_batch_size, "encode_batch_size", minimum=1)
        self.sizes = tuple(int(s) for s in data.factor_sizes)
        self.max_bytes = check_int(max_bytes, "max_bytes", minimum=0)
        self.table: torch.Tensor | None = None  # (grid size, n_latents) float64, allocated at first use
        self.seen = np.zeros(int(np.prod(self.sizes, dtype=np.int64)), dtype=bool)
        self.enabled = True
        self.num_encoded = 0  # images rendered and encoded so far

    @classmethod
    def for_data(cls, data, encode: Encoder, device: str | None = "auto", encode_batch_size: int = 1024,
                 max_bytes: int = 2**30) -> CodeCache | None:
        """A cache when ``data.deterministic`` is true and the grid is small enough, else ``None``."""
        _check_inputs(data, encode)
        max_bytes = check_int(max_bytes, "max_bytes", minimum=0)
        if not getattr(data, "deterministic", False) or np.prod(data.factor_sizes, dtype=np.float64) * 8 > max_bytes:
            return None
        return cls(data, encode, device, encode_batch_size, max_bytes)

    def check_matches(self, data, encode: Encoder) -> None:
        if data is not self.data or encode is not self.encode:
            raise ValueError("cache was built for another data set or encode function; build one CodeCache per pair")

    def __call__(self, factors: np.ndarray) -> torch.Tensor:
        """Float64 codes ``(n, n_latents)`` on the cache's device of factor class indices ``(n, K)``."""
        if not self.enabled:
            return self._encode(factors)
        index = np.ravel_multi_index(tuple(np.asarray(factors).T), self.sizes)
        new = np.unique(index[~self.seen[index]])
        for s in _chunks(len(new), self.encode_batch_size):
            codes = self._encode(np.stack(np.unravel_index(new[s], self.sizes), axis=1))
            if self.table is None:
                if len(self.seen) * codes.shape[1] * 8 > self.max_bytes:  # too wide to keep: no caching
                    self.enabled = False
                    return self._encode(factors)
                self.table = torch.zeros(len(self.seen), codes.shape[1], dtype=torch.float64, device=codes.device)
            self.table[torch.as_tensor(new[s], device=codes.device)] = codes
            self.seen[new[s]] = True
        if self.table is None:  # no factors at all
            return self._encode(factors)
        return self.table[torch.as_tensor(index, device=self.table.device)]

    def _encode(self, factors: np.ndarray) -> torch.Tensor:
        self.num_encoded += len(factors)
        return _encode_chunk(self.data, self.encode, factors, self.device)


def _codes_of(data, encode: Encoder, device: torch.device | None, cache: CodeCache | None):
    """``factors -> codes``: through ``cache`` when given (checked to match), else render and encode."""
    if cache is None:
        return lambda factors: _encode_chunk(data, encode, factors, device)
    if not isinstance(cache, CodeCache):
        raise ValueError(f"cache must be a CodeCache or None, got {type(cache).__name__}")
    cache.check_matches(data, encode)
    return cache


def _chunks(total: int, size: int):
    for start in range(0, total, size):
        yield slice(start, min(start + size, total))


@torch.no_grad()
def encode_factors(
    data, encode: Encoder, factors: np.ndarray, encode_batch_size: int = 1024, device: str | None = "auto",
    cache: CodeCache | None = None,
) -> np.ndarray:
    """Render ``factors`` (n, K) and encode them, ``encode_batch_size`` at a time: float64 codes (n, n_latents).

    ``cache``: a :class:`CodeCache` of ``(data, encode)`` that skips grid points already encoded.
    """
    _check_inputs(data, encode)
    factors = check_array(factors, "factors", ndim=2, layout="(n_samples, n_factors)", dtype=None)
    if factors.shape[1] != len(data.factor_sizes) or not np.issubdtype(factors.dtype, np.integer) or \
            np.any(factors < 0) or np.any(factors >= np.asarray(data.factor_sizes)):
        raise ValueError(f"factors must hold integer class indices (n_samples, {len(data.factor_sizes)}) below "
                         f"data.factor_sizes={tuple(data.factor_sizes)}, got shape {factors.shape}, dtype {factors.dtype}")
    if len(factors) == 0:
        raise ValueError("factors holds no samples")
    encode_batch_size = check_int(encode_batch_size, "encode_batch_size", minimum=1)
    codes_of = _codes_of(data, encode, _device(device), cache)
    parts = [codes_of(factors[s]) for s in _chunks(len(factors), encode_batch_size)]
    codes = torch.cat(parts)
    check_finite(codes, "encode(images)")
    return codes.cpu().numpy()


def sample_codes(
    data,
    encode: Encoder,
    num_samples: int,
    random_state: int | np.random.Generator = 0,
    encode_batch_size: int = 1024,
    device: str | None = "auto",
    cache: CodeCache | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``num_samples`` factor vectors uniformly and encode their images.

    Returns ``codes`` float64 ``(num_samples, n_latents)`` and ``factors`` int64 ``(num_samples, K)``.
    """
    _check_inputs(data, encode)
    num_samples = check_int(num_samples, "num_samples", minimum=1)
    rng = check_rng(random_state)
    factors = np.asarray(data.sample_factors(num_samples, rng), dtype=np.int64)
    return encode_factors(data, encode, factors, encode_batch_size, device, cache), factors


@torch.no_grad()
def beta_vae_score(
    data,
    encode: Encoder,
    batch_size: int = 64,
    num_train: int = 10_000,
    num_eval: int = 5_000,
    random_state: int | np.random.Generator = 0,
    encode_batch_size: int = 1024,
    device: str | None = "auto",
    cache: CodeCache | None = None,
) -> dict[str, float]:
    """The BetaVAE metric of :cite:`higgins2017betavae`, exactly as the slides describe it.

    One training point: pick a factor ``k`` uniformly, draw two batches of ``batch_size`` factor
    vectors that agree on factor ``k`` (every other factor drawn independently), encode both and
    average :math:`|z_1 - z_2|` over the batch; the label is ``k``. A linear classifier
    (sklearn 0.20's ``LogisticRegression()``: liblinear one-vs-rest, ``C=1``) is trained on
    ``num_train`` such points and evaluated on ``num_eval`` fresh ones.

    ``cache``: a :class:`CodeCache` of ``(data, encode)``, which renders and encodes each grid
    point once (the same scores for a deterministic pipeline, several times faster).

    Returns ``{"train_accuracy", "eval_accuracy"}`` in ``[0, 1]``; chance is ``1 / K``.
    """
    _check_inputs(data, encode)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    num_train = check_int(num_train, "num_train", minimum=1)
    num_eval = check_int(num_eval, "num_eval", minimum=1)
    encode_batch_size = check_int(encode_batch_size, "encode_batch_size", minimum=1)
    rng = check_rng(random_state)
    codes_of = _codes_of(data, encode, _device(device), cache)
    varying = _varying(data)
    num_factors = len(data.factor_sizes)

    def features(num_points: int) -> tuple[np.ndarray, np.ndarray]:
        ks = rng.choice(varying, size=num_points)
        f1 = np.asarray(data.sample_factors(num_points * batch_size, rng), dtype=np.int64)
        f2 = np.asarray(data.sample_factors(num_points * batch_size, rng), dtype=np.int64)
        rows = np.arange(num_points * batch_size)
        fixed = np.repeat(ks, batch_size)
        f2[rows, fixed] = f1[rows, fixed]
        if f1.shape[1] != num_factors:
            raise ValueError(f"data.sample_factors returned {f1.shape[1]} factors, expected {num_factors}")
        points_per_chunk = max(1, encode_batch_size // batch_size)
        out = []
        for s in _chunks(num_points, points_per_chunk):
            r = slice(s.start * batch_size, s.stop * batch_size)
            z1 = codes_of(f1[r])
            z2 = codes_of(f2[r])
            out.append((z1 - z2).abs().reshape(s.stop - s.start, batch_size, -1).mean(dim=1))
        x = torch.cat(out)
        check_finite(x, "encode(images)")
        return x.cpu().numpy(), ks

    x_train, y_train = features(num_train)
    x_eval, y_eval = features(num_eval)
    model = _fit("logistic_ovr", child_seed(rng), x_train, y_train)
    return {
        "train_accuracy": float(np.mean(model.predict(x_train) == y_train)),
        "eval_accuracy": float(np.mean(model.predict(x_eval) == y_eval)),
    }


@torch.no_grad()
def factor_vae_score(
    data,
    encode: Encoder,
    batch_size: int = 64,
    num_train: int = 10_000,
    num_eval: int = 5_000,
    num_variance_estimate: int = 10_000,
    prune_threshold: float = 0.05,
    random_state: int | np.random.Generator = 0,
    encode_batch_size: int = 1024,
    device: str | None = "auto",
    cache: CodeCache | None = None,
) -> dict[str, float]:
    """The FactorVAE metric of :cite:`kim2018disentangling`, as in disentanglement_lib.

    Global variances of each latent come from ``num_variance_estimate`` samples; latents whose
    standard deviation is below ``prune_threshold`` (or exactly 0) are inactive. One vote: fix a
    factor ``k`` at one value for a batch of ``batch_size`` samples, divide each active latent's
    variance in the batch by its global variance and vote ``(k, argmin_j)``. The classifier maps
    each latent to the factor it collected most votes for (a majority vote); its accuracy on the
    ``num_train`` training votes and on ``num_eval`` fresh votes is returned.

    The normalisation makes the score invariant to rescaling latents, but the prune threshold is
    an absolute standard deviation: 0.05 suits VAE posterior means (prior N(0, 1)); for codes on
    another scale (PCA of pixels, factor indices) rescale the codes or choose the threshold.
    With no active latent the scores are 0 (as in the reference). ``cache``: as in
    :func:`beta_vae_score`.

    Returns ``{"train_accuracy", "eval_accuracy", "num_active"}``.
    """
    _check_inputs(data, encode)
    batch_size = check_int(batch_size, "batch_size", minimum=2)
    num_train = check_int(num_train, "num_train", minimum=1)
    num_eval = check_int(num_eval, "num_eval", minimum=1)
    num_variance_estimate = check_int(num_variance_estimate, "num_variance_estimate", minimum=2)
    encode_batch_size = check_int(encode_batch_size, "encode_batch_size", minimum=1)
    prune_threshold = check_number(prune_threshold, "prune_threshold", minimum=0)
    rng = check_rng(random_state)
    codes_of = _codes_of(data, encode, _device(device), cache)
    varying = _varying(data)
    num_factors = len(data.factor_sizes)

    factors = np.asarray(data.sample_factors(num_variance_estimate, rng), dtype=np.int64)
    codes = torch.cat(
        [codes_of(factors[s]) for s in _chunks(num_variance_estimate, encode_batch_size)]
    )
    check_finite(codes, "encode(images)")
    global_var = codes.var(dim=0, unbiased=True)
    active = (global_var.sqrt() >= prune_threshold) & (global_var > 0)
    num_active = int(active.sum())
    if num_active == 0:
        return {"train_accuracy": 0.0, "eval_accuracy": 0.0, "num_active": 0}

    def votes(num_points: int) -> np.ndarray:
        ks = rng.choice(varying, size=num_points)
        f = np.asarray(data.sample_factors(num_points * batch_size, rng), dtype=np.int64)
        f = f.reshape(num_points, batch_size, num_factors)
        points = np.arange(num_points)
        f[points, :, ks] = f[points, 0, ks][:, None]
        f = f.reshape(num_points * batch_size, num_factors)
        points_per_chunk = max(1, encode_batch_size // batch_size)
        winners = []
        for s in _chunks(num_points, points_per_chunk):
            z = codes_of(f[s.start * batch_size : s.stop * batch_size])
            local_var = z.reshape(s.stop - s.start, batch_size, -1).var(dim=1, unbiased=True)
            winners.append(torch.argmin(local_var[:, active] / global_var[active], dim=1))
        argmins = torch.cat(winners).cpu().numpy()
        table = np.zeros((num_factors, num_active), dtype=np.int64)
        np.add.at(table, (ks, argmins), 1)
        return table

    train_votes = votes(num_train)
    classifier = np.argmax(train_votes, axis=0)  # the majority factor of each active latent
    columns = np.arange(num_active)
    eval_votes = votes(num_eval)
    return {
        "train_accuracy": float(train_votes[classifier, columns].sum() / num_train),
        "eval_accuracy": float(eval_votes[classifier, columns].sum() / num_eval),
        "num_active": num_active,
    }


def downstream(
    data,
    encode: Encoder,
    num_train: Sequence[int] = (10, 100, 1000, 10_000),
    num_test: int = 5_000,
    model: Literal["lr", "gbt"] = "lr",
    fast: bool = False,
    random_state: int | np.random.Generator = 0,
    encode_batch_size: int = 1024,
    device: str | None = "auto",
    pool: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None,
    boosting_rounds: int = 100,
) -> dict[str, float]:
    """Downstream task of :cite:`locatello2019challenging`: predict each true factor from the codes.

    For each training size in ``num_train``, one classifier per factor (see
    :func:`lecturelib.metrics.downstream_accuracy`) is trained on that many samples and tested on
    ``num_test`` samples. The training sets are nested prefixes of one sample (the reference draws
    a fresh one per size: same distribution; nesting lowers the variance of
    :func:`statistical_efficiency`). ``pool = (codes_train, factors_train, codes_test,
    factors_test)`` reuses codes already encoded (as :func:`evaluate_all` does).
    ``boosting_rounds``: trees per class of ``model="gbt"`` (reference: 100).

    Returns a flat dict with, per size ``n``: ``"{n}.mean_train_accuracy"``,
    ``"{n}.mean_test_accuracy"``, ``"{n}.min_test_accuracy"`` and
    ``"{n}.test_accuracy.{factor_name}"``.
    """
    _check_inputs(data, encode)
    sizes = [check_int(n, "num_train", minimum=1) for n in np.ravel(np.asarray(num_train, dtype=object))]
    if not sizes:
        raise ValueError("num_train must list at least one training size")
    num_test = check_int(num_test, "num_test", minimum=1)
    check_choice(model, "model", ("lr", "gbt"))
    boosting_rounds = check_int(boosting_rounds, "boosting_rounds", minimum=1)
    rng = check_rng(random_state)
    keep = _varying(data)
    if pool is None:
        codes_train, factors_train = sample_codes(data, encode, max(sizes), rng, encode_batch_size, device)
        codes_test, factors_test = sample_codes(data, encode, num_test, rng, encode_batch_size, device)
    else:
        if not isinstance(pool, (tuple, list)) or len(pool) != 4:
            raise ValueError("pool must be a tuple (codes_train, factors_train, codes_test, factors_test)")
        codes_train, factors_train, codes_test, factors_test = pool
        if len(codes_train) < max(sizes):
            raise ValueError(f"pool has {len(codes_train)} training samples, fewer than num_train={max(sizes)}")
    names = [data.factor_names[k] for k in keep]
    scores: dict[str, float] = {}
    for n in sizes:
        acc = downstream_accuracy(
            codes_train[:n], factors_train[:n, keep], codes_test, factors_test[:, keep],
            model=model, fast=fast, random_state=child_seed(rng), boosting_rounds=boosting_rounds,
        )
        scores[f"{n}.mean_train_accuracy"] = float(acc["train_accuracy"].mean())
        scores[f"{n}.mean_test_accuracy"] = float(acc["test_accuracy"].mean())
        scores[f"{n}.min_test_accuracy"] = float(acc["test_accuracy"].min())
        for name, value in zip(names, acc["test_accuracy"]):
            scores[f"{n}.test_accuracy.{name}"] = float(value)
    return scores


def statistical_efficiency(scores: dict[str, float], small: int = 100, large: int = 10_000) -> float:
    """Mean test accuracy with ``small`` training samples divided by that with ``large`` (Locatello et al.'s Fig. 6)."""
    small, large = check_int(small, "small", minimum=1), check_int(large, "large", minimum=1)
    if not isinstance(scores, Mapping):
        raise ValueError(f"scores must be the dict that downstream returns, got {type(scores).__name__}")
    try:
        num, den = scores[f"{small}.mean_test_accuracy"], scores[f"{large}.mean_test_accuracy"]
    except KeyError as err:
        raise ValueError(f"scores has no downstream accuracy for {err.args[0]!r}; run downstream with both sizes") from None
    if den <= 0:
        raise ValueError(f"mean test accuracy at {large} samples is {den}; the efficiency ratio is undefined")
    return float(num / den)
