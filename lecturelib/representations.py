"""Representations with known properties, as ``encode(images) -> codes`` functions (chapter 8).

The disentanglement metrics (:mod:`lecturelib.metrics`) score any ``encode`` function on a
ground-truth data set. This module builds the representations the metrics chapter scores:

- **controlled codes** of the true factors, where we know the right answer: the factors
  themselves, a random rotation of them, pure noise, the factors with one duplicated and with one
  missing. They read the factors from :class:`FactorObservations`, a data set whose
  "images" are the standardised factor values, so no learning stands between the factors and
  the codes;
- **codes of raw pixels**: the pixels themselves, PCA and FastICA (scikit-learn) fitted on
  rendered images (the baselines of Higgins et al. 2017);
- **VAE encoders**: the posterior mean of a trained conv VAE (chapter 7's
  :func:`lecturelib.disentanglement.train_beta_vae` trains and stores them);
- :func:`beta_vae_points`, the training points of the BetaVAE metric built as the slide says,
  exposed so the chapter can look at them.

Encoders accept numpy images ``(n, C, H, W)`` or torch tensors (on any device) and return
codes ``(n, n_latents)`` of the same kind, so they run with the metrics' ``device="auto"``
(tensors) and ``device=None`` (numpy).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import warnings

import numpy as np
import scipy.stats
import torch
from sklearn.decomposition import PCA, FastICA
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_pipeline

from lecturelib.data.ground_truth import check_ground_truth_data
from lecturelib.validation import check_array, check_callable, check_choice, check_int, check_rng
from lecturelib.vae import VAE

__all__ = [
    "CONTROLLED",
    "FactorObservations",
    "LinearCodes",
    "NoiseCodes",
    "PixelEncoder",
    "VAEMeanEncoder",
    "beta_vae_points",
    "controlled_encoders",
    "fit_pixel_encoder",
    "flatten_pixels",
]

CONTROLLED: tuple[str, ...] = ("true factors", "rotation", "noise", "duplicated", "missing")
"""Names of the controlled representations of :func:`controlled_encoders`, in table order."""


# --------------------------------------------------------------------------------------------
# The factors as observations, and linear codes of them
# --------------------------------------------------------------------------------------------

class FactorObservations:
    """A ground-truth data set whose observation of factors ``v`` is ``v`` itself, standardised.

    Wraps any :class:`~lecturelib.data.ground_truth.GroundTruthData` (e.g. dSprites): same factors,
    same sampling, but :meth:`render` returns ``(v_k / (size_k - 1) - 1/2) * sqrt(12)`` per factor
    (zero mean, unit variance under uniform sampling), float32 ``(n, K)``. Encoders of these
    observations are representations with exactly known properties.
    """

    def __init__(self, data: Any) -> None:
        check_ground_truth_data(data, needs=("factor_names", "factor_sizes", "sample_factors"))
        self.data = data
        self.factor_names = tuple(data.factor_names)
        self.factor_sizes = tuple(int(s) for s in data.factor_sizes)
        if any(s < 2 for s in self.factor_sizes):
            raise ValueError(f"every factor must take at least 2 values, got factor_sizes={self.factor_sizes}")
        self._denominator = np.asarray(self.factor_sizes, dtype=np.float64) - 1.0

    def sample_factors(self, n: int, rng: np.random.Generator | int) -> np.ndarray:
        """``n`` factor vectors drawn uniformly, as the wrapped data set draws them: ``(n, K)`` int64."""
        return self.data.sample_factors(n, rng)

    def render(self, factors: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """Standardised factor values, float32 ``(n, K)``; numpy in, numpy out; tensor in, tensor out."""
        if factors.ndim != 2 or factors.shape[1] != len(self.factor_sizes):
            raise ValueError(f"factors must have shape (n_samples, {len(self.factor_sizes)}), got {tuple(factors.shape)}")
        if isinstance(factors, torch.Tensor):
            denominator = torch.as_tensor(self._denominator, device=factors.device)
            return ((factors.double() / denominator - 0.5) * np.sqrt(12.0)).float()
        return ((np.asarray(factors, dtype=np.float64) / self._denominator - 0.5) * np.sqrt(12.0)).astype(np.float32)


class LinearCodes:
    """``encode(x) = x @ weights``: a linear representation of :class:`FactorObservations`.

    ``weights`` ``(n_factors, n_latents)``. The identity is the true factors; an orthogonal matrix a
    rotation; the identity with a column repeated (dropped) duplicates (loses) a factor.
    """

    def __init__(self, weights: np.ndarray) -> None:
        weights = check_array(weights, "weights", ndim=2, layout="(n_factors, n_latents)")
        if min(weights.shape) < 1:
            raise ValueError(f"weights must be a finite (n_factors, n_latents) array, got shape {weights.shape}")
        self.weights = weights

    def __call__(self, observations: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        if observations.ndim != 2 or observations.shape[1] != self.weights.shape[0]:
            raise ValueError(f"observations must have shape (n_samples, {self.weights.shape[0]}), "
                             f"got {tuple(observations.shape)}")
        if isinstance(observations, torch.Tensor):
            return observations.double() @ torch.as_tensor(self.weights, device=observations.device)
        return np.asarray(observations, dtype=np.float64) @ self.weights


class NoiseCodes:
    """Codes that ignore the input: i.i.d. standard normal ``(n, n_latents)``, reproducible from ``random_state``.

    Each call draws fresh noise from one seeded generator, so the same sequence of calls gives the
    same codes (and two encodings of one image differ: noise carries no information about it).
    """

    def __init__(self, n_latents: int, random_state: int = 0) -> None:
        self.n_latents = check_int(n_latents, "n_latents", minimum=1)
        self.generator = torch.Generator().manual_seed(check_int(random_state, "random_state", minimum=0))

    def __call__(self, images: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        codes = torch.randn(len(images), self.n_latents, generator=self.generator, dtype=torch.float64)
        return codes.to(images.device) if isinstance(images, torch.Tensor) else codes.numpy()


def controlled_encoders(num_factors: int, random_state: int = 0, duplicate: int = 0,
                        drop: int | None = None) -> dict[str, Callable]:
    """The controlled representations of :class:`FactorObservations`, keyed by :data:`CONTROLLED`.

    ``"true factors"`` (identity), ``"rotation"`` (a uniformly random rotation of all factors,
    ``scipy.stats.special_ortho_group``), ``"noise"`` (:class:`NoiseCodes` with ``num_factors``
    latents), ``"duplicated"`` (factor ``duplicate`` appears in two latents) and ``"missing"``
    (factor ``drop``, default the last one, is not encoded).
    """
    num_factors = check_int(num_factors, "num_factors", minimum=2)
    seed = check_int(random_state, "random_state", minimum=0)
    drop = num_factors - 1 if drop is None else drop
    for name, k in (("duplicate", duplicate), ("drop", drop)):
        if not isinstance(k, (int, np.integer)) or not 0 <= k < num_factors:
            raise ValueError(f"{name} must be a factor index in [0, {num_factors}), got {k!r}")
    eye = np.eye(num_factors)
    return {
        "true factors": LinearCodes(eye),
        "rotation": LinearCodes(scipy.stats.special_ortho_group.rvs(num_factors, random_state=seed)),
        "noise": NoiseCodes(num_factors, seed),
        "duplicated": LinearCodes(np.concatenate([eye, eye[:, [duplicate]]], axis=1)),
        "missing": LinearCodes(np.delete(eye, drop, axis=1)),
    }


# --------------------------------------------------------------------------------------------
# Codes of raw pixels: the pixels, PCA, ICA
# --------------------------------------------------------------------------------------------

def _to_numpy(images: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(images, torch.Tensor):
        return images.detach().cpu().numpy()
    return np.asarray(images)


def _like(codes: np.ndarray, images: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    return torch.as_tensor(codes, device=images.device) if isinstance(images, torch.Tensor) else codes


def flatten_pixels(images: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """The raw-pixel representation: images ``(n, C, H, W)`` -> codes ``(n, C H W)``."""
    if images.ndim < 2:
        raise ValueError(f"images must have shape (n_samples, ...), got {tuple(images.shape)}")
    return images.reshape(len(images), -1)


class PixelEncoder:
    """A fitted scikit-learn transformer (PCA, FastICA) on flattened pixels, as an ``encode`` function."""

    def __init__(self, model: Any) -> None:
        if not hasattr(model, "transform"):
            raise ValueError(f"model must be a fitted scikit-learn transformer, got {type(model).__name__}")
        self.model = model

    def __call__(self, images: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        flat = _to_numpy(images).reshape(len(images), -1).astype(np.float64)
        return _like(self.model.transform(flat), images)


def fit_pixel_encoder(data: Any, method: str = "pca", n_components: int = 10, num_samples: int = 5_000,
                      random_state: int = 0) -> PixelEncoder:
    """Fit PCA or FastICA with ``n_components`` on ``num_samples`` rendered images; return the encoder.

    ``method="pca"``: ``sklearn.decomposition.PCA`` (the top principal directions of the pixels);
    ``"ica"``: whitening to ``n_components`` by PCA, then ``FastICA`` (maximally non-Gaussian
    directions). FastICA's own whitening (an SVD of all 4,096 pixels, most of them always black)
    returns NaN sources on 5,000 dSprites images; whitening by PCA first is the same model and stable.
    """
    check_ground_truth_data(data, needs=("sample_factors", "render"))
    check_choice(method, "method", ("pca", "ica"))
    n_components = check_int(n_components, "n_components", minimum=1)
    num_samples = check_int(num_samples, "num_samples", minimum=n_components + 1)
    seed = check_int(random_state, "random_state", minimum=0)
    factors = data.sample_factors(int(num_samples), np.random.default_rng(seed))
    pixels = _to_numpy(data.render(np.asarray(factors))).reshape(int(num_samples), -1).astype(np.float64)
    if method == "pca":
        model = PCA(n_components=int(n_components), random_state=seed)
    else:
        model = make_pipeline(PCA(n_components=int(n_components), whiten=True, random_state=seed),
                              FastICA(whiten=False, max_iter=400, tol=1e-3, random_state=seed))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # FastICA may stop at max_iter; still a valid code
        model.fit(pixels)
    return PixelEncoder(model)


# --------------------------------------------------------------------------------------------
# VAE encoders
# --------------------------------------------------------------------------------------------

class VAEMeanEncoder:
    """The posterior mean ``mu(x)`` of a VAE's encoder, as an ``encode`` function (no gradients)."""

    def __init__(self, model: VAE) -> None:
        if not hasattr(model, "encoder"):
            raise ValueError(f"model must be a VAE with an encoder, got {type(model).__name__}")
        self.model = model.eval()

    @torch.no_grad()
    def __call__(self, images: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        device = next(self.model.parameters()).device
        x = torch.as_tensor(images, dtype=torch.float32).to(device)
        mu, _ = self.model.encoder(x)
        if isinstance(images, torch.Tensor):
            return mu.to(images.device)
        return mu.double().cpu().numpy()


# --------------------------------------------------------------------------------------------
# The BetaVAE metric's training points, as the slide builds them
# --------------------------------------------------------------------------------------------

@torch.no_grad()
def beta_vae_points(data: Any, encode: Callable, num_points: int, batch_size: int = 64,
                    random_state: int | np.random.Generator = 0,
                    encode_batch_size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Training points ``(z_avg, k)`` of the BetaVAE metric :cite:`higgins2017betavae`.

    Per point: pick a factor ``k`` uniformly among the factors that vary; draw ``batch_size`` pairs
    of factor vectors ``v_1, v_2`` that agree on factor ``k`` (every other factor independent);
    render and encode both; average :math:`|z_1 - z_2|` over the batch. The draws are made in the
    order :func:`lecturelib.metrics.beta_vae_score` makes them, so with the same generator the
    points are the same.

    Returns ``z_avg`` float64 ``(num_points, n_latents)`` and ``k`` int64 ``(num_points,)``.
    """
    num_points = check_int(num_points, "num_points", minimum=1)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    encode_batch_size = check_int(encode_batch_size, "encode_batch_size", minimum=1)
    check_ground_truth_data(data)
    check_callable(encode, "encode", "a function encode(images) -> codes (n, n_latents)")
    rng = check_rng(random_state)
    varying = np.flatnonzero(np.asarray(data.factor_sizes) > 1)
    ks = rng.choice(varying, size=num_points)
    v1 = np.asarray(data.sample_factors(num_points * batch_size, rng), dtype=np.int64)
    v2 = np.asarray(data.sample_factors(num_points * batch_size, rng), dtype=np.int64)
    rows, fixed = np.arange(num_points * batch_size), np.repeat(ks, batch_size)
    v2[rows, fixed] = v1[rows, fixed]  # (v_1)_k = (v_2)_k
    per_chunk = max(1, encode_batch_size // batch_size)  # whole batches, so images are never all kept
    parts = []
    for start in range(0, num_points, per_chunk):
        r = slice(start * batch_size, min(start + per_chunk, num_points) * batch_size)
        z1 = _to_numpy(encode(data.render(v1[r]))).astype(np.float64)
        z2 = _to_numpy(encode(data.render(v2[r]))).astype(np.float64)
        parts.append(np.abs(z1 - z2).reshape(-1, batch_size, z1.shape[1]).mean(axis=1))
    return np.concatenate(parts), ks.astype(np.int64)

