import numpy as np
import pytest

from neuro.io import load_pytree, save_json, save_pytree
from neuro.neurons import lif


def test_pytree_round_trip_and_shape_check(tmp_path):
    params = lif(tau=np.linspace(5, 50, 4))
    path = save_pytree(tmp_path / "p.npz", params, step=7)
    loaded, meta = load_pytree(path, params)
    assert meta == {"step": 7}
    np.testing.assert_array_equal(loaded.tau, params.tau)
    assert loaded.reset == params.reset
    with pytest.raises(ValueError, match="shape"):
        load_pytree(path, lif(tau=np.ones(3)))


def test_atomic_write_leaves_no_temporary_files(tmp_path):
    save_json(tmp_path / "r.json", {"a": np.float32(1.5), "b": np.arange(3)})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]
    assert (tmp_path / "r.json").read_text().count("1.5") == 1
