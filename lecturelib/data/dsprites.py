"""A procedural dSprites: the 737,280 sprites of Matthey et al. rendered analytically, on CPU or GPU.

Used by chapter 7 (disentanglement and the β-VAE), chapter 8 (the metrics) and chapter 9 (the
Locatello et al. study). No download: every image is computed from its factors
{cite}`matthey2017dsprites`.

The factor grid is exactly the original one: shape (square, ellipse, heart), scale (6 values
linearly spaced in [0.5, 1]), orientation (40 values in [0, 2π], both ends included), position X
and position Y (32 values each in [0, 1]): ``3 * 6 * 40 * 32 * 32 = 737,280`` images of
``64 x 64`` binary pixels. The pixels are *ours*, not the original file's: the shapes are
analytic (a square, a 2:1 ellipse and a heart made of a diamond and two discs),
each scaled so that its farthest point from its centroid is ``RADIUS * scale`` (in units of the
frame width), and the centroid sits at ``MARGIN + position * (1 - 2 MARGIN)``; with
``RADIUS < MARGIN`` every sprite lies strictly inside the frame at every orientation.

Orientation symmetry
--------------------
A square looks the same after a quarter turn and an ellipse after a half turn; a heart has no
rotational symmetry. The orientation factor is therefore only identifiable modulo 90° for squares
and modulo 180° for ellipses: orientations 0 and 2π are the same image for every shape, and for
a square orientation index ``i`` and the index nearest ``i + 9.75`` (a quarter of the 39 grid steps)
give almost the same image. No encoder can recover the orientation of a square beyond this, so
metrics that predict the orientation factor are capped below 1 even for a perfect representation
(:data:`ORIENTATION_SYMMETRY` gives the order of each shape's rotational symmetry).

Variants used by Locatello et al. {cite}`locatello2019challenging`, with the draws of
``disentanglement_lib``: ``variant="noisy"`` (3 channels; every pixel ``min(sprite + U(0, 1), 1)``
per channel, so the sprite stays white on a noisy background) and ``variant="color"`` (3 channels;
the white sprite multiplied by one colour per image drawn from ``U(0.5, 1)^3``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from lecturelib.config import resolve_device
from lecturelib.validation import check_finite, check_int, check_rng

SHAPES: tuple[str, ...] = ("square", "ellipse", "heart")
"""Names of the shape classes, in the order of the ``shape`` factor."""

ORIENTATION_SYMMETRY: dict[str, int] = {"square": 4, "ellipse": 2, "heart": 1}
"""Order of each shape's rotational symmetry: its orientation is identifiable modulo ``2π / order``."""

FACTOR_NAMES: tuple[str, ...] = ("shape", "scale", "orientation", "posX", "posY")
"""The five factors of the full grid (the original's ``latents_names`` without the constant colour)."""

FACTOR_SIZES: tuple[int, ...] = (3, 6, 40, 32, 32)
"""Number of values of each factor of the full grid."""

FACTOR_VALUES: tuple[np.ndarray, ...] = (
    np.arange(3, dtype=np.float64),
    np.linspace(0.5, 1.0, 6),
    np.linspace(0.0, 2.0 * math.pi, 40),
    np.linspace(0.0, 1.0, 32),
    np.linspace(0.0, 1.0, 32),
)
"""Value of each class of each factor (shape: its class index; orientation: radians)."""

VARIANTS: tuple[str, ...] = ("binary", "noisy", "color")
"""``binary``: the original white-on-black images; ``noisy`` and ``color``: Locatello et al.'s."""

RADIUS = 0.175
"""Distance from the centroid to the farthest point of a sprite of scale 1, in frame widths."""

MARGIN = 0.21
"""Centroid of position 0 (and ``1 - MARGIN`` of position 1), in frame widths; > :data:`RADIUS`."""

# Canonical shapes, in "unit" coordinates (u right, v up) where the farthest point from the
# centroid is at distance 1. Each is tested by an inequality on native coordinates (u', v')
# obtained per axis: u' = u / a_u, v' = v / a_v (+ an offset for the heart).
_SQUARE_HALF_SIDE = 1.0 / math.sqrt(2.0)  # corners at distance 1: max(|u'|, |v'|) <= 1
_ELLIPSE_AXES = (1.0, 0.5)  # semi-axes along u and v: u'^2 + v'^2 <= 1
# Heart = diamond |x| + |y| <= 1 plus two half-discs of radius 1/sqrt(2) on its upper edges:
# area 2 + pi/2, centroid at (0, C) with C = (pi/4 + 1/3) / (2 + pi/2); farthest point the tip.
_HEART_CENTROID = (math.pi / 4.0 + 1.0 / 3.0) / (2.0 + math.pi / 2.0)
_HEART_RADIUS = 1.0 + _HEART_CENTROID


def _shape_axes() -> np.ndarray:
    """Per shape, the divisors ``(a_u, a_v)`` from unit to native coordinates, shape ``(3, 2)``."""
    heart = 1.0 / _HEART_RADIUS
    return np.array([[_SQUARE_HALF_SIDE, _SQUARE_HALF_SIDE], list(_ELLIPSE_AXES), [heart, heart]])


def _snap(values: np.ndarray) -> np.ndarray:
    """Round cosines/sines within 1e-12 of -1, 0 or 1 to them, so symmetries hold bit for bit."""
    out = values.copy()
    for target in (-1.0, 0.0, 1.0):
        out[np.abs(out - target) < 1e-12] = target
    return out


def _host_array(values: object, name: str) -> np.ndarray:
    """``values`` (a number, sequence, array or tensor) as a real numeric numpy array, or ``ValueError`` naming it."""
    array = values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)
    if array.dtype == bool or not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise ValueError(f"{name} must hold real numbers, got dtype {array.dtype}")
    return array


def _as_rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        return np.random.default_rng()
    return check_rng(rng, "rng")


class DSprites(Dataset):
    """The dSprites ground-truth data (protocol :class:`~lecturelib.data.ground_truth.GroundTruthData`).

    ``DSprites()`` is the standard 64x64 binary dSprites. It is also a torch ``Dataset`` over the
    whole grid (``len(data) == 737_280``; item ``i`` is ``(image (C, H, W), factors (K,))`` in the
    original's order, position Y varying fastest) and a fast sampler (:meth:`batches`).

    Parameters
    ----------
    resolution : int, default 64
        Side of the square images in pixels (at least 8). The geometry is in frame units, so a
        smaller resolution shows the same sprites with fewer pixels.
    variant : {"binary", "noisy", "color"}, default "binary"
        ``binary``: 1 channel, white sprite on black. ``noisy``/``color``: Locatello et al.'s
        variants, 3 channels (see the module docstring).
    subset : mapping of factor name to a sequence of class indices of the full grid, optional
        Restrict factors to these values, e.g. ``{"shape": [2], "posX": range(0, 32, 2)}``. Class
        indices then count within the subset. A factor restricted to a single value is constant,
        not a factor: it is dropped from :attr:`factor_names` (so metrics never see a factor
        with one value) and recorded in :attr:`constants`.
    antialias : int, default 1
        Supersampling factor per axis; 1 keeps the images binary like the original, ``s > 1``
        averages ``s * s`` samples per pixel (grey edges).
    seed : int, default 0
        Seed of the noise and colour draws of the noisy and colour variants (see :meth:`render`).
    chunk_size : int, optional
        Images rendered at once; bounds the memory of big batches (default 512 on CPU, where
        the work then stays in cache, and 16384 on GPU).

    Attributes
    ----------
    factor_names : tuple of K str
    factor_sizes : tuple of K int
    factor_values : tuple of K arrays, the value of each class (orientation in radians)
    constants : dict, the value index (full grid) of each factor held fixed by ``subset``
    observation_shape : tuple ``(channels, resolution, resolution)``
    """

    def __init__(self, resolution: int = 64, *, variant: str = "binary",
                 subset: Mapping[str, Sequence[int]] | None = None, antialias: int = 1,
                 seed: int = 0, chunk_size: int | None = None) -> None:
        if variant not in VARIANTS:
            raise ValueError(f"variant={variant!r} is not known; expected one of: {', '.join(VARIANTS)}")
        self.resolution = check_int(resolution, "resolution", minimum=8)
        self.variant = variant
        self.antialias = check_int(antialias, "antialias", minimum=1)  # 1 = off
        self.seed = check_int(seed, "seed", minimum=0)
        self.chunk_size = None if chunk_size is None else check_int(chunk_size, "chunk_size", minimum=1)
        self._group_by_shape: bool | None = None  # None: by device (tests force either path)
        self.channels = 1 if variant == "binary" else 3
        self.observation_shape = (self.channels, self.resolution, self.resolution)

        # Which full-grid classes each factor keeps.
        subset = dict(subset or {})
        unknown = set(subset) - set(FACTOR_NAMES)
        if unknown:
            raise ValueError(f"subset has unknown factors {sorted(unknown)}; expected names from {FACTOR_NAMES}")
        kept: list[np.ndarray] = []
        for name, size in zip(FACTOR_NAMES, FACTOR_SIZES):
            classes = np.arange(size) if name not in subset else np.asarray(list(subset[name]))
            if classes.ndim != 1 or classes.size == 0 or not np.issubdtype(classes.dtype, np.integer):
                raise ValueError(f"subset[{name!r}] must be a non-empty sequence of int class indices")
            if classes.min() < 0 or classes.max() >= size or np.unique(classes).size != classes.size:
                raise ValueError(f"subset[{name!r}] must hold distinct class indices in [0, {size}), got {classes}")
            kept.append(np.sort(classes).astype(np.int64))
        varying = [k for k in range(len(FACTOR_NAMES)) if kept[k].size > 1]
        self._kept = kept
        self._varying = varying
        self.factor_names: tuple[str, ...] = tuple(FACTOR_NAMES[k] for k in varying)
        self.factor_sizes: tuple[int, ...] = tuple(int(kept[k].size) for k in varying)
        self.factor_values: tuple[np.ndarray, ...] = tuple(FACTOR_VALUES[k][kept[k]] for k in varying)
        self.constants: dict[str, int] = {FACTOR_NAMES[k]: int(kept[k][0])
                                          for k in range(len(FACTOR_NAMES)) if kept[k].size == 1}
        self._strides = np.array([int(np.prod(self.factor_sizes[k + 1:])) for k in range(len(varying))],
                                 dtype=np.int64)
        self._tables_cache: dict[torch.device, dict[str, torch.Tensor]] = {}
        self._generators: dict[torch.device, torch.Generator] = {}
        self._image_table: torch.Tensor | None = None  # bit-packed sprites of the grid (cache_images)
        self._host_tables = self._build_tables()

    # ------------------------------------------------------------------ geometry tables
    def _build_tables(self) -> dict[str, np.ndarray]:
        """Per (shape, scale, orientation): rotation coefficients and centroid offsets (float64)."""
        axes = _shape_axes()  # (3, 2)
        scale = FACTOR_VALUES[1][None, :, None]  # (1, 6, 1)
        angle = FACTOR_VALUES[2][None, None, :]  # (1, 1, 40)
        cos, sin = _snap(np.cos(angle)), _snap(np.sin(angle))
        size = RADIUS * scale  # unit length in frame widths
        # unit -> native coordinates: u' = (cos dx + sin dy) / (size a_u), v' = (cos dy - sin dx) / (size a_v)
        cu = cos / (size * axes[:, 0, None, None])
        su = sin / (size * axes[:, 0, None, None])
        cv = cos / (size * axes[:, 1, None, None])
        sv = sin / (size * axes[:, 1, None, None])
        # The heart's native origin lies _HEART_CENTROID native units below its centroid. Moving
        # the evaluation centre by t (sin, cos) in frame coordinates (x right, y down) leaves u'
        # unchanged and adds t / (size a_v) to v': t = _HEART_CENTROID size a_v gives v' + C.
        offset = np.zeros((3, 1, 1))
        offset[2] = _HEART_CENTROID * axes[2, 1]
        shift = offset * size  # (3, 6, 1) frame widths
        shift_x = np.broadcast_to(shift * sin, (3, 6, 40))
        shift_y = np.broadcast_to(shift * cos, (3, 6, 40))
        centre = MARGIN + FACTOR_VALUES[3] * (1.0 - 2.0 * MARGIN)
        n_sub = self.resolution * self.antialias
        coords = (np.arange(n_sub) + 0.5) / n_sub  # sample points, frame widths
        return {
            "cu": np.broadcast_to(cu, (3, 6, 40)).reshape(-1), "su": np.broadcast_to(su, (3, 6, 40)).reshape(-1),
            "cv": np.broadcast_to(cv, (3, 6, 40)).reshape(-1), "sv": np.broadcast_to(sv, (3, 6, 40)).reshape(-1),
            "shift_x": shift_x.reshape(-1), "shift_y": shift_y.reshape(-1),
            "centre": centre, "coords": coords,
        }

    def _tables(self, device: torch.device) -> dict[str, torch.Tensor]:
        if device not in self._tables_cache:
            tables = {name: torch.tensor(np.ascontiguousarray(value), dtype=torch.float32, device=device)
                      for name, value in self._host_tables.items()}
            for k, classes in enumerate(self._kept):
                tables[f"kept{k}"] = torch.as_tensor(classes, device=device)
            self._tables_cache[device] = tables
        return self._tables_cache[device]

    # ------------------------------------------------------------------ the protocol
    def __len__(self) -> int:
        return int(np.prod(self.factor_sizes)) if self.factor_sizes else 1

    @property
    def deterministic(self) -> bool:
        """Whether an image is a function of its factors alone (binary; noisy and colour draw noise)."""
        return self.variant == "binary"

    def sample_factors(self, n: int, rng: np.random.Generator | int) -> np.ndarray:
        """``n`` factor vectors drawn uniformly over the grid: int64 array ``(n, K)`` of class indices."""
        n = check_int(n, "n", minimum=0)
        rng = _as_rng(rng)
        return rng.integers(0, np.asarray(self.factor_sizes, dtype=np.int64), size=(n, len(self.factor_sizes)),
                            dtype=np.int64)

    def _check_factors(self, factors: np.ndarray | torch.Tensor, validate_range: bool = True) -> None:
        K = len(self.factor_sizes)
        if not isinstance(factors, (np.ndarray, torch.Tensor)):
            raise ValueError(f"factors must be a numpy array or a torch tensor of shape (n, {K}), "
                             f"got {type(factors).__name__}")
        if factors.ndim != 2 or factors.shape[1] != K:
            raise ValueError(f"factors must have shape (n_samples, {K}) for factors {self.factor_names}, "
                             f"got {tuple(factors.shape)}")
        integer = (factors.dtype in (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)
                   if isinstance(factors, torch.Tensor) else np.issubdtype(factors.dtype, np.integer))
        if not integer:
            raise ValueError(f"factors must hold integer class indices, got dtype {factors.dtype}")
        if validate_range and factors.shape[0] > 0:
            sizes = (torch.as_tensor(self.factor_sizes, device=factors.device)
                     if isinstance(factors, torch.Tensor) else np.asarray(self.factor_sizes))
            bad = (factors < 0) | (factors >= sizes)
            if bool(bad.any()):  # one host sync per call; batches() skips it
                row, k = (int(i) for i in (np.argwhere(bad)[0] if isinstance(bad, np.ndarray)
                                           else torch.nonzero(bad)[0]))
                raise ValueError(f"factors[{row}, {k}] = {int(factors[row, k])} is out of range for factor "
                                 f"{self.factor_names[k]!r}: expected a class index in [0, {self.factor_sizes[k]})")

    def render(self, factors: np.ndarray | torch.Tensor, *, seed: int | None = None,
               validate: bool = True) -> np.ndarray | torch.Tensor:
        """Images ``(n, C, H, W)`` float32 in [0, 1] for factor class indices ``(n, K)``.

        A numpy input is rendered on the CPU and gives a numpy array; a tensor input is rendered on
        its device and gives a tensor there. The binary images are a deterministic function of the
        factors, bit-identical on CPU and GPU. The noisy and colour variants draw their noise on
        the rendering device: from a generator seeded with ``seed`` when given (the same call then
        gives the same images), else from this object's own generator for that device, seeded
        with ``self.seed`` at first use (fresh noise each call, the same sequence for a new object).
        ``validate=False`` skips the range check (a host sync on GPU) for trusted factors.
        """
        self._check_factors(factors, validate_range=validate)
        as_numpy = isinstance(factors, np.ndarray)
        factors_t = torch.from_numpy(np.ascontiguousarray(factors)) if as_numpy else factors
        if self._cached_on(factors_t.device):
            strides = torch.as_tensor(self._strides, device=factors_t.device)
            images = self._render_cached((factors_t.long() * strides).sum(1), seed=seed)
        else:
            images = self._render_full(self._to_full(factors_t.long()), seed=seed)
        return images.numpy() if as_numpy else images

    def render_values(self, shape: torch.Tensor | np.ndarray, scale: torch.Tensor | np.ndarray,
                      orientation: torch.Tensor | np.ndarray, pos_x: torch.Tensor | np.ndarray,
                      pos_y: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Binary (or antialiased) images ``(n, 1, H, W)`` for continuous factor values, off the grid.

        ``shape`` int class ``(n,)``; ``scale`` (any positive value, 1 = the largest grid sprite),
        ``orientation`` in radians, ``pos_x``/``pos_y`` in [0, 1], each ``(n,)``. Rendered on the
        CPU in float64 for the geometry; used to check symmetries at angles off the grid. Every value
        must be finite; ``shape`` may be a float array only if it holds whole numbers.
        """
        shape_a = _host_array(shape, "shape").reshape(-1)
        if not (np.issubdtype(shape_a.dtype, np.integer) or (np.issubdtype(shape_a.dtype, np.floating)
                                                             and np.all(shape_a == np.round(shape_a)))):
            raise ValueError(f"shape must hold integer class indices in {{0, 1, 2}}, got {shape!r}")
        shape_t = torch.as_tensor(shape_a.astype(np.int64))
        vals = []
        for name, v in (("scale", scale), ("orientation", orientation), ("pos_x", pos_x), ("pos_y", pos_y)):
            v = _host_array(v, name).astype(np.float64).reshape(-1)
            check_finite(v, name)
            vals.append(v)
        n = shape_t.numel()
        if any(v.size != n for v in vals):
            raise ValueError("shape, scale, orientation, pos_x and pos_y must all have n values")
        if n and (shape_t.min() < 0 or shape_t.max() > 2):
            raise ValueError("shape must hold class indices in {0, 1, 2}")
        scale_v, angle, px, py = vals
        if np.any(scale_v <= 0):
            raise ValueError("scale must be positive")
        axes = _shape_axes()[shape_t.numpy()]
        cos, sin = _snap(np.cos(angle)), _snap(np.sin(angle))
        size = RADIUS * scale_v
        shift = np.where(shape_t.numpy() == 2, _HEART_CENTROID * axes[:, 1], 0.0) * size
        params = np.stack([cos / (size * axes[:, 0]), sin / (size * axes[:, 0]),
                           cos / (size * axes[:, 1]), sin / (size * axes[:, 1]),
                           MARGIN + px * (1 - 2 * MARGIN) + shift * sin,
                           MARGIN + py * (1 - 2 * MARGIN) + shift * cos], axis=1)
        p = torch.as_tensor(params, dtype=torch.float32)
        coords = self._tables(torch.device("cpu"))["coords"][None, :].expand(n, -1)
        mask = torch.zeros((n, coords.shape[1], coords.shape[1]), dtype=torch.bool)
        for value in range(3):
            rows = shape_t == value
            if bool(rows.any()):
                mask[rows] = _mask(value, *p[rows].unbind(1), xs=coords[rows], ys=coords[rows])
        return self._downsample(mask)[:, None]

    # ------------------------------------------------------------------ index <-> factors
    def factors_to_index(self, factors: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """Position of each factor vector ``(n, K)`` in the grid (position Y fastest): ``(n,)`` int64."""
        self._check_factors(factors)
        strides = (torch.as_tensor(self._strides, device=factors.device) if isinstance(factors, torch.Tensor)
                   else self._strides)
        # an elementwise product and sum (not a matmul: CUDA has no int64 matmul)
        return ((factors.astype(np.int64) if isinstance(factors, np.ndarray) else factors.long()) * strides).sum(1)

    def index_to_factors(self, index: np.ndarray | torch.Tensor | int) -> np.ndarray | torch.Tensor:
        """Factor class indices ``(n, K)`` int64 of grid positions ``index`` ``(n,)`` in ``[0, len(self))``."""
        is_torch = isinstance(index, torch.Tensor)
        if not is_torch:
            index = np.asarray(index)
        if index.ndim > 1:
            raise ValueError(f"index must be a 1-D array of grid positions, got shape {tuple(index.shape)}")
        integer = (not index.dtype.is_floating_point and index.dtype != torch.bool) if is_torch \
            else np.issubdtype(index.dtype, np.integer)
        if not integer:
            raise ValueError(f"index must hold integers, got dtype {index.dtype}")
        index = index.reshape(-1)
        if index.numel() if is_torch else index.size:
            if bool((index < 0).any()) or bool((index >= len(self)).any()):
                raise ValueError(f"index must lie in [0, {len(self)}), got values in "
                                 f"[{int(index.min())}, {int(index.max())}]")
        return self._decode(index.long() if is_torch else index.astype(np.int64))

    def _decode(self, index: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        columns = [(index // int(stride)) % int(size) for stride, size in zip(self._strides, self.factor_sizes)]
        if isinstance(index, torch.Tensor):
            return torch.stack(columns, dim=1) if columns else index.new_zeros((index.numel(), 0))
        return np.stack(columns, axis=1) if columns else np.zeros((index.size, 0), dtype=np.int64)

    # ------------------------------------------------------------------ torch Dataset and sampler
    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(image (C, H, W), factors (K,))`` of grid position ``index``."""
        if not isinstance(index, (int, np.integer)) or isinstance(index, bool):
            raise ValueError(f"index must be an int, got {type(index).__name__}")
        if index < 0:
            index += len(self)
        images, factors = self.__getitems__([int(index)])[0]
        return images, factors

    def __getitems__(self, indices: Sequence[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Batched fetch used by ``DataLoader``: renders all ``indices`` in one vectorised call."""
        factors = torch.as_tensor(self.index_to_factors(np.asarray(indices, dtype=np.int64)))
        images = self.render(factors, seed=None)
        return list(zip(images.unbind(0), factors.unbind(0)))

    def batches(self, batch_size: int, *, num_batches: int | None = None, seed: int = 0,
                device: str | torch.device = "auto") -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield ``(images (B, C, H, W), factors (B, K))`` drawn uniformly, rendered on ``device``.

        The training sampler: factors are drawn on the device itself (no host transfer, no sync),
        seeded by ``seed``; ``num_batches=None`` yields forever.
        """
        batch_size = check_int(batch_size, "batch_size", minimum=1)
        if num_batches is not None:
            num_batches = check_int(num_batches, "num_batches", minimum=0)
        device = resolve_device(device)
        generator = torch.Generator(device=device)
        generator.manual_seed(check_int(seed, "seed", minimum=0))
        step = 0
        while num_batches is None or step < num_batches:
            index = torch.randint(0, len(self), (int(batch_size),), generator=generator, device=device)
            factors = self._decode(index)
            if self._cached_on(device):
                yield self._render_cached(index, seed=None, generator=generator), factors
            else:
                yield self._render_full(self._to_full(factors), seed=None, generator=generator), factors
            step += 1

    def sample(self, n: int, rng: np.random.Generator | int, *, device: str | torch.device = "cpu",
               seed: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(images (n, C, H, W), factors (n, K))`` as tensors on ``device``, factors drawn with ``rng``."""
        factors = torch.as_tensor(self.sample_factors(n, rng), device=resolve_device(device))
        return self.render(factors, seed=seed), factors

    def factor_traversal(self, k: int | str, base: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
        """Factors ``(factor_sizes[k], K)``: ``base`` (default: class 0 of each factor) with factor ``k`` swept."""
        if isinstance(k, str):
            if k not in self.factor_names:
                raise ValueError(f"k={k!r} is not a factor; expected one of {self.factor_names}")
            k = self.factor_names.index(k)
        if not 0 <= int(k) < len(self.factor_sizes):
            raise ValueError(f"k must be a factor index in [0, {len(self.factor_sizes)}), got {k}")
        base_arr = np.zeros(len(self.factor_sizes), dtype=np.int64) if base is None else np.asarray(base, np.int64)
        self._check_factors(base_arr.reshape(1, -1))
        out = np.repeat(base_arr[None, :], self.factor_sizes[k], axis=0)
        out[:, k] = np.arange(self.factor_sizes[k])
        return out

    # ------------------------------------------------------------------ rendering
    def cache_images(self, device: str | torch.device = "auto") -> DSprites:
        """Render every sprite of the grid once and keep them on ``device``, bit-packed; return ``self``.

        Later renders on that device (:meth:`render`, :meth:`batches`) gather the sprites from this
        table instead of drawing the shapes: the same images, bit for bit (the noisy and colour
        variants still draw their noise and colour per call, from the same generators). It costs
        ``len(self) * H * W / 8`` bytes, 377 MB for the full 64x64 grid, and one render of the
        whole grid; it pays where rendering is slow next to training, as on a GPU at small batches
        (``benchmarks/dsprites.py``). Binary sprites only (``antialias=1``).
        """
        if self.antialias != 1:
            raise ValueError(f"cache_images needs binary sprites (antialias=1), got antialias={self.antialias}")
        device = resolve_device(device)
        if self._cached_on(device):
            return self
        plane = self.resolution * self.resolution
        table = torch.zeros((len(self), -(-plane // 8)), dtype=torch.uint8, device=device)
        weights = (2 ** torch.arange(8, device=device)).to(torch.uint8)
        chunk = 16384 if device.type == "cuda" else 4096
        for start in range(0, len(self), chunk):
            index = torch.arange(start, min(start + chunk, len(self)), device=device)
            sprites = self._render_full(self._to_full(self._decode(index)), seed=None, sprite_only=True)
            bits = sprites.reshape(len(index), plane).to(torch.uint8)
            padded = torch.nn.functional.pad(bits, (0, table.shape[1] * 8 - plane)).view(len(index), -1, 8)
            table[start:start + len(index)] = (padded * weights).sum(dim=2, dtype=torch.uint8)
        self._image_table = table
        return self

    def _cached_on(self, device: torch.device) -> bool:
        return self._image_table is not None and self._image_table.device == device

    def _render_cached(self, index: torch.Tensor, *, seed: int | None,
                       generator: torch.Generator | None = None) -> torch.Tensor:
        """Images ``(n, C, H, W)`` of grid positions ``index`` ``(n,)`` from :meth:`cache_images`'s table."""
        table, res = self._image_table, self.resolution
        shifts = torch.arange(8, device=table.device, dtype=torch.uint8)
        bits = (table[index][:, :, None] >> shifts) & 1  # (n, bytes, 8), pixel 8 b + i in byte b, bit i
        sprites = bits.reshape(len(index), -1)[:, :res * res].reshape(-1, 1, res, res).to(torch.float32)
        if self.variant == "binary":
            return sprites
        generator = generator if generator is not None else self._generator(table.device, seed)
        if self.variant == "noisy":  # the same draws and arithmetic as _render_full
            noise = torch.rand((len(index), self.channels, res, res), generator=generator, device=table.device)
            return torch.clamp_max(noise + sprites, 1.0)
        colour = torch.rand((len(index), self.channels), generator=generator, device=table.device) * 0.5 + 0.5
        return sprites * colour[:, :, None, None]

    def _to_full(self, factors: torch.Tensor) -> torch.Tensor:
        """Subset class indices ``(n, K)`` -> full-grid class indices ``(n, 5)`` (same device)."""
        tables = self._tables(factors.device)
        columns, j = [], 0
        for k, classes in enumerate(self._kept):
            if classes.size == 1:
                columns.append(torch.full((factors.shape[0],), int(classes[0]), dtype=torch.long,
                                          device=factors.device))
            else:
                columns.append(tables[f"kept{k}"][factors[:, j]])
                j += 1
        return torch.stack(columns, dim=1)

    def _generator(self, device: torch.device, seed: int | None) -> torch.Generator:
        if seed is not None:
            generator = torch.Generator(device=device)
            generator.manual_seed(check_int(seed, "seed", minimum=0))
            return generator
        if device not in self._generators:
            generator = torch.Generator(device=device)
            generator.manual_seed(self.seed)
            self._generators[device] = generator
        return self._generators[device]

    def _render_full(self, full: torch.Tensor, *, seed: int | None,
                     generator: torch.Generator | None = None, window: bool = True,
                     sprite_only: bool = False) -> torch.Tensor:
        """Images ``(n, C, H, W)`` for full-grid class indices ``(n, 5)`` (no validation).

        ``sprite_only=True`` gives the binary sprites ``(n, 1, H, W)`` of any variant (no noise or colour).

        ``window=True`` evaluates the shapes only in a square window around each sprite (a sixth of
        the pixels at 64x64) and writes it into the black frame; ``window=False`` evaluates every
        pixel. Both give the same bits.
        """
        device = full.device
        tables = self._tables(device)
        variant = "binary" if sprite_only else self.variant
        n, res, s, channels = full.shape[0], self.resolution, self.antialias, (1 if sprite_only else self.channels)
        plane = res * res
        if variant != "binary" and generator is None:
            generator = self._generator(device, seed)
        if variant == "noisy":
            out = torch.rand((n, channels, res, res), generator=generator, device=device)
        else:
            out = torch.zeros((n, channels, res, res), dtype=torch.float32, device=device)
        if n == 0:
            return out
        colour = (torch.rand((n, channels), generator=generator, device=device) * 0.5 + 0.5
                  if variant == "color" else None)
        # On CPU, evaluating each shape only on its own sprites is free; on GPU it would need a host
        # sync, so there all three shapes are evaluated and selected (same bits either way).
        group = device.type == "cpu" if self._group_by_shape is None else self._group_by_shape
        half = math.ceil(RADIUS * res) + 1  # the window holds every pixel within RADIUS of the centroid
        side = min(2 * half, res) if window else res
        sub = torch.arange(side * s, device=device)
        offsets = torch.arange(side, device=device)
        channel_offsets = torch.arange(channels, device=device) * plane
        chunk = self.chunk_size or (512 if device.type == "cpu" else 16384)
        flat_out = out.view(-1)
        for start in range(0, n, chunk):
            f = full[start:start + chunk]
            rows = torch.arange(start, start + f.shape[0], device=device)
            if group:  # sort by shape so each shape is evaluated on a contiguous slice, no copies
                order = torch.argsort(f[:, 0], stable=True)
                f, rows = f[order], rows[order]
                counts = torch.bincount(f[:, 0], minlength=3).tolist()
            flat = (f[:, 0] * 6 + f[:, 1]) * 40 + f[:, 2]
            centroid_x, centroid_y = tables["centre"][f[:, 3]], tables["centre"][f[:, 4]]
            cx = centroid_x + tables["shift_x"][flat]
            cy = centroid_y + tables["shift_y"][flat]
            coefs = (tables["cu"][flat], tables["su"][flat], tables["cv"][flat], tables["sv"][flat])
            if window:
                ox = torch.clamp(torch.floor(centroid_x * res).long() - half, 0, res - side)
                oy = torch.clamp(torch.floor(centroid_y * res).long() - half, 0, res - side)
            else:
                ox = oy = torch.zeros_like(rows)
            xs = tables["coords"][(ox * s)[:, None] + sub]
            ys = tables["coords"][(oy * s)[:, None] + sub]
            if group:
                parts, a = [], 0
                for value, count in enumerate(counts):
                    if count:
                        sl = slice(a, a + count)
                        parts.append(_mask(value, *(c[sl] for c in coefs), cx[sl], cy[sl], xs=xs[sl], ys=ys[sl]))
                    a += count
                mask = torch.cat(parts)
            else:
                mask = torch.where(
                    (f[:, 0] == 0)[:, None, None], _mask(0, *coefs, cx, cy, xs=xs, ys=ys),
                    torch.where((f[:, 0] == 1)[:, None, None], _mask(1, *coefs, cx, cy, xs=xs, ys=ys),
                                _mask(2, *coefs, cx, cy, xs=xs, ys=ys)))
            patch = self._downsample(mask).reshape(mask.shape[0], 1, -1)  # (m, 1, side^2)
            pixel = ((oy[:, None] + offsets)[:, :, None] * res + (ox[:, None] + offsets)[:, None, :])
            index = (rows[:, None, None] * (channels * plane) + channel_offsets[None, :, None]
                     + pixel.reshape(pixel.shape[0], 1, -1)).reshape(-1)  # (m * C * side^2,)
            if variant == "binary":
                values = patch
            elif variant == "noisy":  # min(sprite + noise, 1), as disentanglement_lib
                values = torch.clamp_max(flat_out[index].view(patch.shape[0], channels, -1) + patch, 1.0)
            else:
                values = patch * colour[rows][:, :, None]
            flat_out.index_put_((index,), values.expand(-1, channels, -1).reshape(-1))
        return out

    def _downsample(self, mask: torch.Tensor) -> torch.Tensor:
        """Boolean samples ``(n, S s, S s)`` -> pixel coverage ``(n, S, S)`` float32 (``s`` = antialias)."""
        s = self.antialias
        if s == 1:
            return mask.to(torch.float32)
        n, side = mask.shape[0], mask.shape[1] // s
        return mask.view(n, side, s, side, s).to(torch.float32).mean(dim=(2, 4))


def _mask(shape: int, cu: torch.Tensor, su: torch.Tensor, cv: torch.Tensor, sv: torch.Tensor,
          cx: torch.Tensor, cy: torch.Tensor, *, xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """Membership ``(n, S, S)`` bool of the sample points ``xs`` (columns) x ``ys`` (rows) in sprites of one shape.

    ``shape`` is the class (0 square, 1 ellipse, 2 heart); per sprite ``(n,)``: rotation-and-scale
    coefficients ``cu, su, cv, sv`` and evaluation centre ``cx, cy``. ``xs``, ``ys`` ``(n, S)``
    are frame coordinates (rows measured downwards), so ``dy`` (up) is ``cy - ys``. Every
    operation is a separate elementwise op on float32 (no fused multiply-add), so CPU and GPU
    give the same bits.
    """
    dx = xs - cx[:, None]  # (n, S) along a row
    dy = cy[:, None] - ys  # (n, S) along a column, pointing up
    u = (dx * cu[:, None])[:, None, :] + (dy * su[:, None])[:, :, None]
    v = (dy * cv[:, None])[:, :, None] - (dx * sv[:, None])[:, None, :]
    return (_in_square, _in_ellipse, _in_heart)[shape](u, v)


def _in_square(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Native square: ``max(|u|, |v|) <= 1``."""
    return torch.maximum(u.abs(), v.abs()) <= 1.0


def _in_ellipse(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Native ellipse (the axes are folded into the coefficients): the unit disc ``u^2 + v^2 <= 1``."""
    return (u * u + v * v) <= 1.0


def _in_heart(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Native heart: the diamond ``|u| + |v| <= 1`` (tip at (0, -1)) and the two discs of radius
    ``1/sqrt 2`` centred on the midpoints ``(+-1/2, 1/2)`` of its upper edges (the lobes).

    The tables' centre shift already put the native origin :data:`_HEART_CENTROID` below the centroid.
    """
    au = u.abs()
    in_diamond = (au + v.abs()) <= 1.0
    du, dv = au - 0.5, v - 0.5
    return in_diamond | ((du * du + dv * dv) <= 0.5)


def draw(data: DSprites, factors: np.ndarray | None = None, *, n: int = 16, seed: int = 0,
         ncols: int | None = None, titles: list[str] | None = None, ax_size: float = 1.0) -> Any:
    """A grid of rendered sprites (``factors`` ``(n, K)``, default ``n`` random ones); returns the figure."""
    import matplotlib.pyplot as plt

    if factors is None:
        factors = data.sample_factors(n, seed)
    images = np.asarray(data.render(np.asarray(factors), seed=seed))
    count = images.shape[0]
    ncols = ncols or int(np.ceil(np.sqrt(count)))
    nrows = int(np.ceil(count / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * ax_size, nrows * ax_size), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < count:
            image = images[i].transpose(1, 2, 0)
            ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray", vmin=0.0, vmax=1.0)
            if titles is not None:
                ax.set_title(titles[i], fontsize=8)
    fig.tight_layout()
    return fig
