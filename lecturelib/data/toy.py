"""Small synthetic data: 2-D toy sets and off-distribution images.

- :func:`noisy_circle` -- points near a circle, the 2-D data of the denoising chapter's score field.
- :func:`render_glyphs` -- letters (or any characters) rendered by matplotlib into MNIST-sized
  images, inputs an MNIST autoencoder never saw (chapter 2's identity demonstration).
- :func:`uniform_noise_images` -- images of i.i.d. uniform pixels, another off-distribution input.
"""

from __future__ import annotations

import numpy as np

from lecturelib.validation import check_int, check_number, check_rng


def _rng(random_state: int | np.random.Generator | None) -> np.random.Generator:
    return np.random.default_rng() if random_state is None else check_rng(random_state)


def noisy_circle(n_samples: int, *, radius: float = 1.0, noise: float = 0.05,
                 random_state: int | np.random.Generator | None = 0) -> np.ndarray:
    """Points ``(n_samples, 2)`` float32 at uniform angles on a circle of ``radius`` around the origin,
    plus isotropic Gaussian noise of standard deviation ``noise``."""
    n_samples = check_int(n_samples, "n_samples", minimum=1)
    radius = check_number(radius, "radius", minimum=0, strict=True)
    noise = check_number(noise, "noise", minimum=0)
    rng = _rng(random_state)
    angle = rng.uniform(0, 2 * np.pi, n_samples)
    points = radius * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    return (points + noise * rng.standard_normal((n_samples, 2))).astype(np.float32)


def render_glyphs(text: str, side: int = 28, *, fontsize: float | None = None,
                  font: str = "DejaVu Sans") -> np.ndarray:
    """Each character of ``text`` drawn white on black, centred, as float32 ``(len(text), side * side)``
    in [0, 1] (MNIST's layout and polarity). Rendered with matplotlib's Agg backend, no display."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not isinstance(text, str) or not text:
        raise ValueError(f"text must be a non-empty string, got {text!r}")
    side = check_int(side, "side", minimum=8)
    if fontsize is not None:
        fontsize = check_number(fontsize, "fontsize", minimum=0, strict=True)
    dpi = 100
    fontsize = fontsize if fontsize is not None else 0.75 * side * 72 / dpi
    images = []
    for char in text:
        figure = Figure(figsize=(side / dpi, side / dpi), dpi=dpi, facecolor="black")
        canvas = FigureCanvasAgg(figure)
        figure.text(0.5, 0.5, char, color="white", fontsize=fontsize, family=font, weight="bold",
                    ha="center", va="center")
        canvas.draw()
        rgba = np.asarray(canvas.buffer_rgba(), dtype=np.float32)[..., :3].mean(-1) / 255.0
        images.append(rgba[:side, :side])
    return np.stack(images).reshape(len(text), side * side).astype(np.float32)


def uniform_noise_images(n_samples: int, n_features: int = 784, *,
                         random_state: int | np.random.Generator | None = 0) -> np.ndarray:
    """Images of i.i.d. uniform [0, 1] pixels, float32 ``(n_samples, n_features)``."""
    n_samples = check_int(n_samples, "n_samples", minimum=1)
    n_features = check_int(n_features, "n_features", minimum=1)
    return _rng(random_state).uniform(0, 1, (n_samples, n_features)).astype(np.float32)
