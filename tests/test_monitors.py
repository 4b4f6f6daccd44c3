"""neuro.monitors.SpikeSums: weighted spike counts, against NumPy."""

import jax
import numpy as np
import pytest

from neuro import fast_rnn
from neuro.monitors import SpikeSums


def _case():
    rng = np.random.default_rng(0)
    z = (rng.random((9, 50)) < 0.2).astype(np.float32)
    columns = np.stack([np.ones(50), rng.normal(size=50), rng.integers(0, 9, 50)], 1)
    return z, columns


@pytest.mark.parametrize("events", [True, False])
def test_sums_equal_numpy_with_and_without_the_event_kernels(events, monkeypatch):
    z, columns = _case()
    if not events:
        monkeypatch.setattr(fast_rnn, "events_available", lambda: False)
    mon = SpikeSums(columns, "p")
    ref = (z != 0).astype(np.float64) @ columns
    np.testing.assert_allclose(mon({"spikes": {"p": z}}), ref, rtol=1e-5, atol=1e-5)
    per_step = jax.jit(jax.vmap(mon))({"spikes": {"p": z}})
    np.testing.assert_allclose(per_step, ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(per_step[:, 0], z.sum(1))  # a count is exact


def test_from_sums_shapes_the_record_and_equal_monitors_hash_alike():
    z, columns = _case()

    class Rate(SpikeSums):
        def from_sums(self, sums, head):
            return {"rate": sums[..., 0] / 50, "first": head}

    rate = Rate(columns[:, :1], "p", head=3)
    out = rate({"spikes": {"p": z}})
    np.testing.assert_allclose(out["rate"], z.mean(1), rtol=1e-6)
    np.testing.assert_array_equal(out["first"], z[:, :3] != 0)
    raster = SpikeSums(columns, "p", head=4)({"spikes": {"p": z}})  # the default record
    np.testing.assert_array_equal(raster["raster"], z[:, :4] != 0)
    assert raster["sums"].shape == (9, 3)
    assert rate == Rate(columns[:, :1].copy(), "p", 3)
    assert hash(rate) == hash(Rate(columns[:, :1], "p", 3))
    assert rate != SpikeSums(columns[:, :1], "p", 3) and rate != Rate(columns[:, :1], "q", 3)
    assert rate != Rate(columns[:, :1], "p", 2)


@pytest.mark.parametrize("bad, head, match", [
    (np.ones(5), 0, r"\[N, k\]"), (np.ones((5, 0)), 0, "k >= 1"),
    (np.full((5, 1), np.nan), 0, "finite"), (np.ones((5, 1)), 6, "head"),
    (np.ones((5, 1)), -1, "head"), (np.ones((5, 1)), True, "head")])
def test_bad_columns_and_heads_are_named(bad, head, match):
    with pytest.raises(ValueError, match=match):
        SpikeSums(bad, "p", head)


def test_a_population_of_another_size_is_named():
    with pytest.raises(ValueError, match="300 neurons"):
        SpikeSums(np.ones((5, 1)), "p")({"spikes": {"p": np.zeros(300, np.float32)}})
