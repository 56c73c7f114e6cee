import gzip
import hashlib
import struct

import numpy as np
import pytest

from lecturelib.data import mnist


def write_idx(path, array, gz=True):
    codes = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C}
    header = bytes([0, 0, codes[array.dtype], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.tobytes()
    (gzip.open if gz else open)(path, "wb").write(data)


def test_shipped_subset_is_real_mnist():
    X, y = mnist.load_mnist()
    assert X.shape == (5000, 784) and X.dtype == np.float32
    assert 0.0 <= X.min() and X.max() <= 1.0 and X.max() > 0.99
    assert y.dtype == np.int64 and np.bincount(y).tolist() == [500] * 10
    # a real digit: ink in the middle, none in the corners
    images = X.reshape(-1, 28, 28)
    assert images[:, 10:18, 10:18].mean() > 5 * images[:, :3, :3].mean()


@pytest.mark.parametrize("gz", [True, False])
def test_read_idx_round_trip(tmp_path, gz):
    images = np.random.default_rng(0).integers(0, 256, size=(7, 28, 28), dtype=np.uint8)
    path = tmp_path / ("x.idx.gz" if gz else "x.idx")
    write_idx(path, images, gz=gz)
    np.testing.assert_array_equal(mnist.read_idx(path), images)
    ints = np.arange(6, dtype=">i4").reshape(2, 3)
    write_idx(tmp_path / "i.gz", ints)
    np.testing.assert_array_equal(mnist.read_idx(tmp_path / "i.gz"), ints)


def test_read_idx_rejects_bad_files(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="not an IDX file"):
        mnist.read_idx(tmp_path / "bad")
    short = bytes([0, 0, 0x08, 1]) + struct.pack(">I", 10) + b"\x00" * 3
    (tmp_path / "short").write_bytes(short)
    with pytest.raises(ValueError, match="10 bytes"):
        mnist.read_idx(tmp_path / "short")


def make_mirror(folder, n_train=6, n_test=4):
    """Small IDX files under MNIST's names; returns their SHA-256 sums, to pin in place of the real ones."""
    rng = np.random.default_rng(1)
    folder.mkdir()
    for split, n in (("train", n_train), ("test", n_test)):
        write_idx(folder / mnist.MNIST_FILES[f"{split}_images"], rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(folder / mnist.MNIST_FILES[f"{split}_labels"], rng.integers(0, 10, n, dtype=np.uint8))
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in mnist.MNIST_FILES.values()}


def test_full_download_from_a_local_mirror(tmp_path, monkeypatch):
    monkeypatch.setattr(mnist, "MNIST_SHA256", make_mirror(tmp_path / "mirror"))
    cache = tmp_path / "cache"
    with pytest.raises(RuntimeError, match="Pass download=True"):
        mnist.load_mnist("full", cache_dir=cache)
    X, y = mnist.load_mnist("full", download=True, cache_dir=cache, urls=((tmp_path / "mirror").as_uri() + "/",))
    assert X.shape == (10, 784) and y.shape == (10,) and X.dtype == np.float32 and X.max() <= 1.0
    # cached: loads again without any mirror
    X2, _ = mnist.load_mnist("full", cache_dir=cache, urls=())
    np.testing.assert_array_equal(X, X2)


def test_a_download_whose_sha256_differs_is_refused_and_not_kept(tmp_path):
    pinned = make_mirror(tmp_path / "mirror")
    tampered = tmp_path / "mirror" / mnist.MNIST_FILES["test_labels"]
    tampered.write_bytes(tampered.read_bytes()[:-1] + b"\x09")
    with pytest.raises(RuntimeError, match=r"t10k-labels-idx1-ubyte\.gz has SHA-256 [0-9a-f]{64}, expected "
                                           + pinned[tampered.name]):
        mnist.download_mnist(tmp_path / "cache", urls=((tmp_path / "mirror").as_uri() + "/",), sha256=pinned)
    assert not (tmp_path / "cache" / "mnist" / tampered.name).exists()
    assert not list((tmp_path / "cache" / "mnist").glob("*.part"))


def test_the_real_files_are_pinned_by_sha256():
    assert set(mnist.MNIST_SHA256) == set(mnist.MNIST_FILES.values())
    assert all(len(h) == 64 and int(h, 16) >= 0 for h in mnist.MNIST_SHA256.values())


def test_download_failure_says_what_to_do(tmp_path):
    with pytest.raises(RuntimeError, match="subset='shipped'"):
        mnist.download_mnist(tmp_path, urls=((tmp_path / "nowhere").as_uri() + "/",))


def test_bad_subset_and_split():
    with pytest.raises(ValueError, match="expected 'shipped' or 'full'"):
        mnist.load_mnist("mini")
    X, y = mnist.load_digits_8x8()
    assert X.shape == (1797, 64) and X.max() == 1.0
    X_train, X_test, y_train, y_test = mnist.split(X, y, test_size=0.25, seed=0)
    assert len(X_test) == 450 and set(np.unique(y_test)) == set(range(10))
    with pytest.raises(ValueError, match="same number of samples"):
        mnist.split(X, y[:10])


def test_make_loader_is_seeded():
    X = np.arange(20, dtype=np.float32).reshape(10, 2)
    first = [b[0] for b in mnist.make_loader(X, batch_size=4, seed=5)]
    again = [b[0] for b in mnist.make_loader(X, batch_size=4, seed=5)]
    assert all((a == b).all() for a, b in zip(first, again))
    with pytest.raises(ValueError, match="share their first dimension"):
        mnist.make_loader(X, np.zeros(3))


def test_downsample_averages_blocks():
    from lecturelib.data.mnist import downsample

    X = np.arange(16, dtype=np.float32).reshape(1, 16)  # one 4x4 image
    np.testing.assert_allclose(downsample(X, 2), [[2.5, 4.5, 10.5, 12.5]])
    assert downsample(X, 1) is X
    with pytest.raises(ValueError, match="factor"):
        downsample(X, 3)
    with pytest.raises(ValueError, match="X must have shape"):
        downsample(np.zeros(16), 2)


def test_binarize_is_seeded_binary_and_keeps_the_mean():
    from lecturelib.data.mnist import binarize

    X = np.full((2000, 3), 0.3, dtype=np.float32)
    X[:, 1], X[:, 2] = 0.0, 1.0
    B = binarize(X, random_state=1)
    assert B.dtype == np.float32 and set(np.unique(B)) <= {0.0, 1.0}
    assert np.array_equal(B, binarize(X, random_state=1))
    assert abs(B[:, 0].mean() - 0.3) < 4 * np.sqrt(0.3 * 0.7 / 2000)
    assert B[:, 1].max() == 0 and B[:, 2].min() == 1
    with pytest.raises(ValueError, match="X must hold"):
        binarize(X + 1)


def test_binarized_batches_draws_fresh_binary_batches():
    import torch

    from lecturelib.data.mnist import binarized_batches

    draw = binarized_batches(np.full((10, 50), 0.5, dtype=np.float32))
    generator = torch.Generator().manual_seed(0)
    (first,), (second,) = draw(8, generator), draw(8, generator)
    assert first.shape == (8, 50) and set(first.unique().tolist()) <= {0.0, 1.0}
    assert not torch.equal(first, second)  # a new binarization on every call
    with pytest.raises(ValueError, match="X must have shape"):
        binarized_batches(np.full((3, 4), 2.0))
