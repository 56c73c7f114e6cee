"""Natural-image patches from the two photographs scikit-learn ships (chapter 1, sparse coding).

``load_sample_images()`` reads ``china.jpg`` and ``flower.jpg`` (427 x 640 colour) from
scikit-learn's package data: no download.
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_sample_images
from sklearn.feature_extraction.image import extract_patches_2d

__all__ = ["grey_sample_images", "image_patches", "zca_whitening"]


def grey_sample_images(downsample: int = 1) -> list[np.ndarray]:
    """scikit-learn's two sample photographs in grey levels in [0, 1], ``(427, 640)`` float64 each.

    ``downsample=k`` averages ``k x k`` blocks (``(427 // k, 640 // k)``), which removes most JPEG
    artefacts and sensor noise.
    """
    if not isinstance(downsample, (int, np.integer)) or downsample < 1:
        raise ValueError(f"downsample must be a positive integer, got {downsample!r}")
    luminance = np.array([0.299, 0.587, 0.114])
    images = []
    for image in load_sample_images().images:
        grey = image.astype(np.float64) @ luminance / 255.0
        h, w = (grey.shape[0] // downsample) * downsample, (grey.shape[1] // downsample) * downsample
        grey = grey[:h, :w].reshape(h // downsample, downsample, w // downsample, downsample).mean((1, 3))
        images.append(grey)
    return images


def image_patches(n_patches: int, patch_size: int = 8, *, downsample: int = 2, seed: int = 0,
                  eps: float = 0.1, dtype: type = np.float64) -> np.ndarray:
    """Random grey patches, each with its mean removed and its contrast normalised.

    Half of the patches come from each photograph (at random positions, under ``seed``), after
    averaging ``downsample x downsample`` pixel blocks (see :func:`grey_sample_images`). Each patch
    has its mean (the DC component) subtracted and is divided by ``sqrt(var + eps * mean_var)``
    (``mean_var``: the average patch variance), so that contrast varies less between patches but
    nearly flat patches are not blown up into noise.

    Returns ``X`` of shape ``(n_patches, patch_size ** 2)`` (rows are flattened patches, row-major).
    """
    if not isinstance(n_patches, (int, np.integer)) or n_patches < 1:
        raise ValueError(f"n_patches must be a positive integer, got {n_patches!r}")
    if not isinstance(patch_size, (int, np.integer)) or not 2 <= patch_size <= 64:
        raise ValueError(f"patch_size must be an integer in [2, 64], got {patch_size!r}")
    if not eps >= 0:
        raise ValueError(f"eps must be non-negative, got {eps!r}")
    rng = np.random.default_rng(seed)
    images = grey_sample_images(downsample)
    counts = [n_patches // 2 + n_patches % 2, n_patches // 2]
    parts = [extract_patches_2d(image, (patch_size, patch_size), max_patches=count,
                                random_state=int(rng.integers(2**31 - 1)))
             for image, count in zip(images, counts) if count > 0]
    X = np.concatenate(parts).reshape(n_patches, patch_size * patch_size)
    X = X - X.mean(1, keepdims=True)
    variance = X.var(1, keepdims=True)
    X = X / np.sqrt(variance + eps * variance.mean())
    return X.astype(dtype)


def zca_whitening(X: np.ndarray, eps: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """ZCA-whiten rows of ``X`` ``(n_samples, n_features)``: decorrelate pixels, keep the image layout.

    With the covariance ``C = U diag(s) U^T`` of the (already centred) rows, returns
    ``(X @ W, W)`` with ``W = U diag(1 / sqrt(s + eps * mean(s))) U^T`` (symmetric). Whitening
    flattens the ``1/f`` spectrum of natural images, as Olshausen & Field did before learning; ``eps``
    damps the highest frequencies, which are mostly noise.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] < 2:
        raise ValueError(f"X must have shape (n_samples >= 2, n_features), got {X.shape}")
    if not np.isfinite(X).all():
        raise ValueError("X contains NaN or infinite values")
    if not eps > 0:
        raise ValueError(f"eps must be positive, got {eps!r}")
    covariance = X.T @ X / X.shape[0]
    s, U = np.linalg.eigh(covariance)
    s = np.clip(s, 0, None)
    W = (U / np.sqrt(s + eps * s.mean())) @ U.T
    return X @ W, W
