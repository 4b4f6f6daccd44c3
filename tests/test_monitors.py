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
        def from_sums(self, sums):
            return {"rate": sums[..., 0] / 50}

    rate = Rate(columns[:, :1], "p")
    np.testing.assert_allclose(rate({"spikes": {"p": z}})["rate"], z.mean(1), rtol=1e-6)
    assert rate == Rate(columns[:, :1].copy(), "p") and hash(rate) == hash(Rate(columns[:, :1], "p"))
    assert rate != SpikeSums(columns[:, :1], "p") and rate != Rate(columns[:, :1], "q")


@pytest.mark.parametrize("bad, match", [(np.ones(5), r"\[N, k\]"), (np.ones((5, 0)), "k >= 1"),
                                        (np.full((5, 1), np.nan), "finite")])
def test_bad_columns_are_named(bad, match):
    with pytest.raises(ValueError, match=match):
        SpikeSums(bad, "p")


def test_a_population_of_another_size_is_named():
    with pytest.raises(ValueError, match="300 neurons"):
        SpikeSums(np.ones((5, 1)), "p")({"spikes": {"p": np.zeros(300, np.float32)}})
