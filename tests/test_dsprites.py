"""Tests of the procedural dSprites (lecturelib.data.dsprites)."""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pytest
import torch

from lecturelib.data import dsprites as ds
from lecturelib.data.dsprites import DSprites
from lecturelib.data.ground_truth import GroundTruthData

SQUARE, ELLIPSE, HEART = 0, 1, 2
CUDA = torch.cuda.is_available()


@pytest.fixture(scope="module")
def data() -> DSprites:
    return DSprites()


def _pixel_centroid(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centroid (column, row) in pixel coordinates of images ``(n, 1, H, W)``."""
    img = images[:, 0]
    rows, cols = np.indices(img.shape[1:])
    mass = img.sum(axis=(1, 2))
    return (img * cols).sum(axis=(1, 2)) / mass, (img * rows).sum(axis=(1, 2)) / mass


# ----------------------------------------------------------------------------- the protocol
def test_standard_grid_matches_the_original(data):
    assert isinstance(data, GroundTruthData)
    assert data.factor_names == ("shape", "scale", "orientation", "posX", "posY")
    assert data.factor_sizes == (3, 6, 40, 32, 32)
    assert len(data) == 737_280
    assert data.observation_shape == (1, 64, 64)
    np.testing.assert_allclose(data.factor_values[1], [0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    assert data.factor_values[2][0] == 0.0 and data.factor_values[2][-1] == pytest.approx(2 * math.pi)
    np.testing.assert_allclose(np.diff(data.factor_values[2]), 2 * math.pi / 39)
    np.testing.assert_allclose(data.factor_values[3], np.linspace(0, 1, 32))


def test_render_types_shapes_and_binary_values(data):
    factors = data.sample_factors(50, 0)
    assert factors.dtype == np.int64 and factors.shape == (50, 5)
    images = data.render(factors)
    assert isinstance(images, np.ndarray) and images.dtype == np.float32 and images.shape == (50, 1, 64, 64)
    assert set(np.unique(images)) == {0.0, 1.0}
    assert (images.sum(axis=(1, 2, 3)) > 10).all()  # every sprite is visible
    tensor = data.render(torch.as_tensor(factors))
    assert isinstance(tensor, torch.Tensor) and tensor.dtype == torch.float32
    np.testing.assert_array_equal(tensor.numpy(), images)
    assert data.render(np.zeros((0, 5), dtype=np.int64)).shape == (0, 1, 64, 64)


def test_window_shape_selection_and_full_frame_paths_agree(data):
    """The CPU path (window, grouped by shape) and the GPU path (select among shapes) give the same bits."""
    full = data._to_full(torch.as_tensor(data.sample_factors(600, 3)))
    reference = data._render_full(full, seed=None, window=False)
    assert torch.equal(data._render_full(full, seed=None), reference)
    selecting = DSprites()
    selecting._group_by_shape = False
    assert torch.equal(selecting._render_full(full, seed=None), reference)
    assert torch.equal(DSprites(chunk_size=7)._render_full(full, seed=None), reference)


def test_index_factor_round_trip_over_the_whole_grid(data):
    index = np.arange(len(data))
    factors = data.index_to_factors(index)
    assert factors.shape == (len(data), 5) and factors.dtype == np.int64
    np.testing.assert_array_equal(data.factors_to_index(factors), index)
    # the original's order: position Y varies fastest, shape slowest
    np.testing.assert_array_equal(factors, np.stack(np.unravel_index(index, data.factor_sizes), axis=1))
    assert (factors.min(axis=0) == 0).all() and (factors.max(axis=0) == np.array(data.factor_sizes) - 1).all()
    t_index = torch.arange(0, len(data), 997)
    assert torch.equal(data.factors_to_index(data.index_to_factors(t_index)), t_index)


def test_sampling_and_rendering_are_deterministic(data):
    np.testing.assert_array_equal(data.sample_factors(100, 7), data.sample_factors(100, 7))
    np.testing.assert_array_equal(data.sample_factors(100, np.random.default_rng(7)), data.sample_factors(100, 7))
    assert not np.array_equal(data.sample_factors(100, 7), data.sample_factors(100, 8))
    factors = data.sample_factors(500, 1)
    assert factors.min(axis=0).tolist() == [0] * 5
    assert (factors.max(axis=0) == np.array(data.factor_sizes) - 1).all()
    np.testing.assert_array_equal(data.render(factors), DSprites().render(factors))


@pytest.mark.parametrize("variant", ["noisy", "color"])
def test_random_variants_are_seeded(variant):
    factors = DSprites().sample_factors(20, 0)
    a, b = DSprites(variant=variant), DSprites(variant=variant)
    np.testing.assert_array_equal(a.render(factors, seed=3), b.render(factors, seed=3))
    assert not np.array_equal(a.render(factors, seed=3), a.render(factors, seed=4))
    first, second = a.render(factors), a.render(factors)  # the object's generator: fresh draws ...
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(first, b.render(factors))  # ... in the same sequence for a new object
    np.testing.assert_array_equal(second, b.render(factors))
    assert not np.array_equal(DSprites(variant=variant, seed=1).render(factors), DSprites(variant=variant).render(factors))


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("bad, match", [
    (np.array([[3, 0, 0, 0, 0]]), r"factors\[0, 0\] = 3 is out of range for factor 'shape'"),
    (np.array([[0, 0, 0, 0, 0], [0, 0, 40, 0, 0]]), r"factors\[1, 2\] = 40 .* 'orientation'.*\[0, 40\)"),
    (np.array([[0, -1, 0, 0, 0]]), r"out of range for factor 'scale'"),
    (np.array([0, 0, 0, 0, 0]), r"shape \(n_samples, 5\)"),
    (np.zeros((2, 4), dtype=np.int64), r"shape \(n_samples, 5\)"),
    (np.zeros((2, 5)), "integer class indices"),
    (torch.zeros((2, 5)), "integer class indices"),
    (torch.tensor([[0, 0, 0, 32, 0]]), "out of range for factor 'posX'"),
    ([[0, 0, 0, 0, 0]], "numpy array or a torch tensor"),
])
def test_bad_factors_raise_clear_errors(data, bad, match):
    with pytest.raises(ValueError, match=match):
        data.render(bad)


@pytest.mark.parametrize("argument", ["scale", "orientation", "pos_x", "pos_y"])
@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_render_values_refuses_non_finite_values(data, argument, value):
    values = dict(shape=np.zeros(2, dtype=int), scale=np.ones(2), orientation=np.zeros(2),
                  pos_x=np.full(2, 0.5), pos_y=np.full(2, 0.5))
    values[argument] = np.array([0.5, value])
    with pytest.raises(ValueError, match=f"{argument} contains 1 NaN or infinite"):
        data.render_values(**values)


@pytest.mark.parametrize("shape", [np.array([1.7]), np.array([np.nan]), np.array(["square"])])
def test_render_values_refuses_a_shape_that_is_not_a_class_index(data, shape):
    with pytest.raises(ValueError, match="shape must hold"):
        data.render_values(shape, np.ones(1), np.zeros(1), np.full(1, 0.5), np.full(1, 0.5))


def test_render_values_accepts_whole_float_shapes_and_tensors(data):
    args = (np.ones(3), np.zeros(3), np.full(3, 0.5), np.full(3, 0.5))
    expected = data.render_values(np.array([0, 1, 2]), *args)
    torch.testing.assert_close(data.render_values(np.array([0.0, 1.0, 2.0]), *args), expected, rtol=0, atol=0)
    torch.testing.assert_close(data.render_values(torch.tensor([0, 1, 2]), *map(torch.from_numpy, args)), expected,
                               rtol=0, atol=0)


def test_bad_arguments_raise_clear_errors(data):
    with pytest.raises(ValueError, match="resolution"):
        DSprites(resolution=4)
    with pytest.raises(ValueError, match="variant"):
        DSprites(variant="scream")
    with pytest.raises(ValueError, match="antialias"):
        DSprites(antialias=0)
    with pytest.raises(ValueError, match="unknown factors"):
        DSprites(subset={"colour": [0]})
    with pytest.raises(ValueError, match=r"subset\['posX'\]"):
        DSprites(subset={"posX": [0, 32]})
    with pytest.raises(ValueError, match=r"subset\['shape'\]"):
        DSprites(subset={"shape": []})
    with pytest.raises(ValueError, match="index must lie in"):
        data.index_to_factors(np.array([len(data)]))
    with pytest.raises(ValueError, match="index must hold integers"):
        data.index_to_factors(np.array([1.5]))
    with pytest.raises(ValueError, match="rng"):
        data.sample_factors(3, -1)
    with pytest.raises(ValueError, match="seed"):
        DSprites(variant="noisy").render(data.sample_factors(2, 0), seed=-2)


# ----------------------------------------------------------------------------- geometry
def test_canonical_heart_constants():
    """The heart's centroid and farthest point, by dense sampling of its native definition."""
    grid = torch.linspace(-1.6, 1.6, 1601)
    v, u = torch.meshgrid(grid, grid, indexing="ij")
    inside = ds._in_heart(u, v + ds._HEART_CENTROID).numpy()  # (u, v) measured from the centroid
    cell = float(grid[1] - grid[0]) ** 2
    assert inside.sum() * cell == pytest.approx(2 + math.pi / 2, rel=2e-3)
    assert v.numpy()[inside].mean() == pytest.approx(0.0, abs=2e-3)
    assert u.numpy()[inside].mean() == pytest.approx(0.0, abs=1e-6)
    radius = np.hypot(u.numpy()[inside], v.numpy()[inside]).max()
    assert radius == pytest.approx(ds._HEART_RADIUS, abs=3e-3)


@pytest.mark.parametrize("shape", [SQUARE, ELLIPSE, HEART])
def test_area_grows_with_scale_squared(shape):
    data = DSprites(antialias=4)
    base = np.array([shape, 0, 7, 16, 16])
    images = data.render(data.factor_traversal("scale", base))
    area = images.sum(axis=(1, 2, 3))
    scale = data.factor_values[1]
    slope = np.polyfit(np.log(scale), np.log(area), 1)[0]
    assert slope == pytest.approx(2.0, abs=0.05)
    # and the area is the analytic one, (R s res)^2 times the unit shape's area
    unit_area = {SQUARE: 2.0, ELLIPSE: math.pi / 2, HEART: (2 + math.pi / 2) / ds._HEART_RADIUS ** 2}[shape]
    np.testing.assert_allclose(area, unit_area * (ds.RADIUS * scale * 64) ** 2, rtol=0.03)
    assert (np.diff(data.render(data.factor_traversal("scale", base)).sum(axis=(1, 2, 3))) > 0).all()


@pytest.mark.parametrize("shape", [SQUARE, ELLIPSE, HEART])
def test_centroid_moves_monotonically_with_position(shape):
    data = DSprites(antialias=4)
    for k, name in ((3, "posX"), (4, "posY")):
        base = np.array([shape, 3, 11, 5, 20])
        images = data.render(data.factor_traversal(name, base))
        col, row = _pixel_centroid(images)
        moving, fixed = (col, row) if name == "posX" else (row, col)
        assert (np.diff(moving) > 0.5).all()  # a step of 0.58 * 64 / 31 = 1.2 pixels
        assert np.ptp(fixed) < 0.1
        # the sprite's centroid is where the position factor puts it
        expected = (ds.MARGIN + data.factor_values[k] * (1 - 2 * ds.MARGIN)) * 64 - 0.5
        np.testing.assert_allclose(moving, expected, atol=0.1)


def test_orientation_zero_and_two_pi_give_the_same_image(data):
    base = data.index_to_factors(np.arange(0, len(data), 40 * 32 * 32 // 4 + 3))
    first, last = base.copy(), base.copy()
    first[:, 2], last[:, 2] = 0, 39
    np.testing.assert_array_equal(data.render(first), data.render(last))
    middle = first.copy()
    middle[:, 2] = 20
    assert not np.array_equal(data.render(first), data.render(middle))


def test_rotational_symmetry_of_each_shape(data):
    """Square: period 90 degrees; ellipse: 180; heart: none (up to pixels on the boundary)."""
    angles = np.array([0.0, 0.3, 1.1, 2.0])
    n = angles.size
    ones = np.ones(n)

    def images(shape, theta):
        return data.render_values(np.full(n, shape), ones, theta, 0.5 * ones, 0.5 * ones).numpy()

    def mismatch(a, b):  # fraction of the sprite's pixels that differ
        return np.abs(a - b).sum(axis=(1, 2, 3)) / a.sum(axis=(1, 2, 3))

    for shape, period in ((SQUARE, math.pi / 2), (ELLIPSE, math.pi)):
        assert mismatch(images(shape, angles), images(shape, angles + period)).max() < 0.02
        assert mismatch(images(shape, angles), images(shape, angles + period / 2)).min() > 0.1
    # exactly the same at multiples of 90 degrees from the grid's orientation 0
    np.testing.assert_array_equal(images(SQUARE, np.zeros(n)), images(SQUARE, np.full(n, math.pi / 2)))
    np.testing.assert_array_equal(images(ELLIPSE, np.zeros(n)), images(ELLIPSE, np.full(n, math.pi)))
    for turn in (math.pi / 2, math.pi, 3 * math.pi / 2):
        assert mismatch(images(HEART, angles), images(HEART, angles + turn)).min() > 0.1
    assert ds.ORIENTATION_SYMMETRY == {"square": 4, "ellipse": 2, "heart": 1}
    # on the grid, render_values agrees with render
    grid = data.sample_factors(30, 5)
    values = [data.factor_values[k][grid[:, k]] for k in range(5)]
    assert mismatch(data.render(grid), data.render_values(grid[:, 0], *values[1:]).numpy()).max() < 0.02


@pytest.mark.parametrize("resolution", [64, 32, 16])
def test_every_sprite_stays_inside_the_frame(resolution):
    corners = [(0, 0), (0, 31), (31, 0), (31, 31)]
    factors = np.array([[shape, 5, o, x, y] for shape in range(3) for o in range(40) for x, y in corners])
    centred = factors.copy()
    centred[:, 3:] = 16
    # binary: the largest sprites at the extreme positions never reach the outermost pixels
    images = DSprites(resolution=resolution).render(factors)[:, 0]
    border = np.concatenate([images[:, 0], images[:, -1], images[:, :, 0], images[:, :, -1]], axis=1)
    assert border.max() == 0.0
    # and nothing is clipped: their covered area is that of the centred sprites
    smooth = DSprites(resolution=resolution, antialias=4)
    area = smooth.render(factors).sum(axis=(1, 2, 3))
    rtol = 0.15 if resolution == 16 else 0.05  # a 16x16 sprite covers about 16 pixels
    np.testing.assert_allclose(area, smooth.render(centred).sum(axis=(1, 2, 3)), rtol=rtol)


@pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
@pytest.mark.parametrize("variant", ["binary", "color"])
def test_same_images_on_cpu_and_gpu(variant):
    data = DSprites(variant=variant, antialias=1)
    factors = torch.as_tensor(data.sample_factors(4000, 0))
    cpu = data.render(factors, seed=0)
    gpu = data.render(factors.cuda(), seed=0)
    assert gpu.device.type == "cuda"
    if variant == "binary":
        assert torch.equal(cpu, gpu.cpu())
    else:  # the colours come from each device's generator; the sprites are the same
        assert torch.equal(cpu > 0, gpu.cpu() > 0)
    aa = DSprites(antialias=4)
    assert torch.equal(aa.render(factors[:500]), aa.render(factors[:500].cuda()).cpu())


# ----------------------------------------------------------------------------- variants
def test_noisy_variant_keeps_the_sprite_white_on_uniform_noise(data):
    noisy = DSprites(variant="noisy")
    factors = data.sample_factors(40, 2)
    clean = data.render(factors)
    images = noisy.render(factors, seed=0)
    assert images.shape == (40, 3, 64, 64) and images.dtype == np.float32
    sprite = np.broadcast_to(clean == 1, images.shape)
    assert (images[sprite] == 1.0).all()
    background = images[~sprite]
    assert background.min() >= 0.0 and background.max() < 1.0
    assert background.mean() == pytest.approx(0.5, abs=0.01)
    assert background.std() == pytest.approx(math.sqrt(1 / 12), abs=0.01)


def test_color_variant_paints_the_sprite_one_colour(data):
    color = DSprites(variant="color")
    factors = data.sample_factors(200, 2)
    clean = data.render(factors)
    images = color.render(factors, seed=0)
    assert images.shape == (200, 3, 64, 64)
    assert (images[np.broadcast_to(clean == 0, images.shape)] == 0).all()
    rgb = images.max(axis=(2, 3))  # each image's colour
    for i in range(5):
        sprite = images[i][:, clean[i, 0] == 1]  # (3, pixels)
        assert (sprite == rgb[i][:, None]).all()
    assert rgb.min() >= 0.5 and rgb.max() <= 1.0 and rgb.std(axis=0).min() > 0.1


def test_antialiasing_gives_grey_edges_with_the_same_area(data):
    factors = data.sample_factors(30, 4)
    binary, smooth = data.render(factors), DSprites(antialias=4).render(factors)
    assert ((smooth > 0) & (smooth < 1)).any() and smooth.min() >= 0 and smooth.max() <= 1
    np.testing.assert_allclose(smooth.sum(axis=(1, 2, 3)), binary.sum(axis=(1, 2, 3)), rtol=0.1)


def test_reduced_variants_satisfy_the_protocol(data):
    small = DSprites(resolution=32, subset={"shape": [HEART], "posX": range(0, 32, 2), "posY": range(0, 32, 2)})
    assert isinstance(small, GroundTruthData)
    assert small.factor_names == ("scale", "orientation", "posX", "posY")
    assert small.factor_sizes == (6, 40, 16, 16) and len(small) == 6 * 40 * 16 * 16
    assert small.constants == {"shape": HEART}
    np.testing.assert_allclose(small.factor_values[2], np.linspace(0, 1, 32)[::2])
    factors = small.sample_factors(25, 0)
    images = small.render(factors)
    assert images.shape == (25, 1, 32, 32)
    # the same sprites as the full grid's, at half the resolution
    full = np.column_stack([np.full(25, HEART), factors[:, 0], factors[:, 1], 2 * factors[:, 2], 2 * factors[:, 3]])
    np.testing.assert_array_equal(images, DSprites(resolution=32).render(full))
    big = data.render(full).reshape(25, 1, 32, 2, 32, 2).mean(axis=(3, 5))
    assert np.abs(big - images).mean() < 0.05
    np.testing.assert_array_equal(small.factors_to_index(small.index_to_factors(np.arange(len(small)))),
                                  np.arange(len(small)))


# ----------------------------------------------------------------------------- dataset and sampler
def test_torch_dataset_and_dataloader(data):
    image, factors = data[12345]
    assert image.shape == (1, 64, 64) and factors.tolist() == data.index_to_factors(np.array([12345]))[0].tolist()
    np.testing.assert_array_equal(image.numpy(), data.render(factors[None].numpy())[0])
    loader = torch.utils.data.DataLoader(data, batch_size=16, sampler=torch.utils.data.RandomSampler(
        data, num_samples=32, generator=torch.Generator().manual_seed(0)))
    batches = list(loader)
    assert len(batches) == 2 and batches[0][0].shape == (16, 1, 64, 64) and batches[0][1].shape == (16, 5)
    assert torch.equal(batches[0][0], data.render(batches[0][1]))
    assert torch.equal(data[-1][1], torch.tensor([2, 5, 39, 31, 31]))


def test_batches_sampler_is_seeded_and_consistent(data):
    first = list(data.batches(32, num_batches=3, seed=5, device="cpu"))
    second = list(data.batches(32, num_batches=3, seed=5, device="cpu"))
    assert len(first) == 3
    for (x1, f1), (x2, f2) in zip(first, second):
        assert x1.shape == (32, 1, 64, 64) and f1.shape == (32, 5) and f1.dtype == torch.int64
        assert torch.equal(x1, x2) and torch.equal(f1, f2)
        assert torch.equal(x1, data.render(f1))
    assert not torch.equal(first[0][1], next(data.batches(32, seed=6, device="cpu"))[1])


def test_traversal_and_draw(data):
    traversal = data.factor_traversal("orientation", [1, 2, 0, 3, 4])
    assert traversal.shape == (40, 5)
    np.testing.assert_array_equal(traversal[:, 2], np.arange(40))
    assert (traversal[:, [0, 1, 3, 4]] == [1, 2, 3, 4]).all()
    with pytest.raises(ValueError, match="not a factor"):
        data.factor_traversal("colour")
    fig = ds.draw(DSprites(variant="color", resolution=32), n=6, ncols=3)
    assert isinstance(fig, matplotlib.figure.Figure) and len(fig.axes) == 6
    matplotlib.pyplot.close(fig)


# ----------------------------------------------------------------------------- the image table
SMALL_GRID = dict(resolution=20, subset={"posX": range(0, 32, 4), "posY": range(0, 32, 4)})


@pytest.mark.parametrize("variant", ["binary", "noisy", "color"])
def test_cached_images_are_the_rendered_ones(variant):
    drawn, cached = DSprites(variant=variant, **SMALL_GRID), DSprites(variant=variant, **SMALL_GRID)
    assert cached.cache_images("cpu") is cached and cached.cache_images("cpu") is cached  # built once
    # 20 x 20 pixels: 50 bytes per image, the last one padded
    assert cached._image_table.shape == (len(cached), 50) and cached._image_table.dtype == torch.uint8
    factors = drawn.sample_factors(600, 0)
    assert np.array_equal(drawn.render(factors, seed=4), cached.render(factors, seed=4))
    assert np.array_equal(drawn.render(factors), cached.render(factors))  # each object's own generator
    for (x1, f1), (x2, f2) in zip(drawn.batches(16, num_batches=3, seed=2, device="cpu"),
                                  cached.batches(16, num_batches=3, seed=2, device="cpu")):
        assert torch.equal(f1, f2) and torch.equal(x1, x2)


def test_image_table_needs_binary_sprites():
    with pytest.raises(ValueError, match="antialias"):
        DSprites(antialias=2, **SMALL_GRID).cache_images("cpu")


@pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
def test_cached_images_on_gpu_match_the_cpu_renderer():
    data = DSprites()
    factors = torch.as_tensor(data.sample_factors(4000, 0))
    expected = data.render(factors)
    data.cache_images("cuda")
    assert torch.equal(data.render(factors.cuda()).cpu(), expected)
    assert torch.equal(data.render(factors), expected)  # a CPU request still draws on the CPU
