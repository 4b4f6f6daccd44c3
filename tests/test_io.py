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


def test_checkpoint_identity_round_trip_and_mismatch(tmp_path):
    from neuro.io import digest, load_checkpoint, run_identity, save_checkpoint
    from neuro.validation import CheckpointMismatch

    x = np.arange(12.0).reshape(3, 4)
    ident = run_identity(config={"lr": 0.1, "hidden": (8, 8)}, data=(x, np.arange(3)), task="pmnist")
    assert ident["task"] == "pmnist" and len(ident["data"]) == 16 and ident["neuro"]
    assert digest(x) == digest(x.copy()) != digest(x + 1e-9) != digest(x.astype(np.float32))
    assert digest(lambda: 0) == digest(lambda: 0)  # no object addresses in a digest
    path = tmp_path / "c.npz"
    assert load_checkpoint(path, x, identity=ident) is None  # nothing to resume
    save_checkpoint(path, {"w": x}, identity=ident, done=2)
    tree, meta = load_checkpoint(path, {"w": x}, identity=ident)
    np.testing.assert_array_equal(tree["w"], x)
    assert meta["done"] == 2
    other = run_identity(config={"lr": 0.1, "hidden": (8, 8)}, data=(x[::-1], np.arange(3)),
                         task="pmnist")
    with pytest.raises(CheckpointMismatch, match=r"data \(checkpoint [0-9a-f]+, now") as err:
        load_checkpoint(path, {"w": np.zeros((5, 4))}, identity=other)  # shape too: identity first
    assert "config" not in str(err.value)
    assert load_checkpoint(path, {"w": x}, identity=other, force_restart=True) is None
    with pytest.raises(CheckpointMismatch, match="package version"):
        load_checkpoint(path, {"w": x}, identity={**ident, "neuro": "0.0.1"})


def test_pytree_file_without_identity_and_foreign_npz(tmp_path):
    from neuro.io import load_checkpoint, load_pytree
    from neuro.validation import CheckpointError, CheckpointMismatch

    save_pytree(tmp_path / "old.npz", {"a": np.ones(2)})
    with pytest.raises(CheckpointMismatch, match="no run identity"):
        load_checkpoint(tmp_path / "old.npz", {"a": np.ones(2)}, identity={"neuro": "x"})
    np.savez(tmp_path / "foreign.npz", a=np.ones(2))
    with pytest.raises(CheckpointError, match="no neuro header"):
        load_pytree(tmp_path / "foreign.npz", {"a": np.ones(2)})


def test_json_never_holds_nan_or_infinity(tmp_path):
    import json

    from neuro.io import json_safe

    obj = {"a": float("nan"), "b": [1.0, float("inf")], "c": np.array([np.nan, 2.0]),
           "d": np.float32(-np.inf), "e": {"f": (np.int64(3), None)}}
    assert json_safe(obj) == {"a": None, "b": [1.0, None], "c": [None, 2.0], "d": None,
                              "e": {"f": [3, None]}}
    save_json(tmp_path / "r.json", obj)
    text = (tmp_path / "r.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))


def test_continual_data_fingerprint():
    from neuro.tasks import continual as cl
    from neuro.tasks.data import load_dataset

    digits = load_dataset("digits")
    a = cl._data_fingerprint(cl.permuted_tasks(digits, n_tasks=2, seed=0))
    assert a == cl._data_fingerprint(cl.permuted_tasks(load_dataset("digits"), n_tasks=2, seed=0))
    assert a != cl._data_fingerprint(cl.permuted_tasks(digits, n_tasks=2, seed=1))
    flipped = digits._replace(y_train=digits.y_train[::-1].copy())  # same shapes, other labels
    assert a != cl._data_fingerprint(cl.permuted_tasks(flipped, n_tasks=2, seed=0))


@pytest.mark.slow
def test_continual_refuses_a_checkpoint_of_other_data_of_the_same_size(tmp_path):
    """The issue's probe: resuming on another data set of the same shapes used to return the
    old run's result labelled with the new data."""
    from neuro.tasks import continual as cl
    from neuro.tasks.data import load_dataset
    from neuro.validation import CheckpointMismatch

    digits = load_dataset("digits")
    rc = cl.RunConfig(method="finetune", hidden=(8,), epochs=1, batch=64, timesteps=2, fwt=False)
    ckpt = tmp_path / "run.npz"
    cl.run_continual(cl.permuted_tasks(digits, n_tasks=1, seed=0), rc, checkpoint=ckpt)
    other = cl.permuted_tasks(digits, n_tasks=1, seed=1)  # same sizes, other pixels order
    with pytest.raises(CheckpointMismatch, match=r"data \(checkpoint") as err:
        cl.run_continual(other, rc, checkpoint=ckpt)
    assert "run (" not in str(err.value)  # the configuration itself is the same
    fresh = cl.run_continual(other, rc, checkpoint=ckpt, force_restart=True)
    assert fresh["accuracy_matrix"]
