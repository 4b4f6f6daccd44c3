"""The reset/MPR benchmark's training and measurement functions on scikit-learn digits (fast)."""

import importlib.util
import pathlib
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neuro._pytree import replace
from neuro.neurons._firing import mpr_phi
from neuro.run import scan_steps
from neuro.tasks.data import Dataset, load_dataset

PATH = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "reset_mpr.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("reset_mpr", PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules["reset_mpr"] = module  # dataclasses need the module registered
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def digits():
    d = load_dataset("digits")
    return Dataset(d.x_train[:500], d.y_train[:500], d.x_test[:100], d.y_test[:100], d.image_shape,
                   "digits")


def test_pre_reset_probe_and_quantised_value(bench, digits):
    """The probe reports the pre-reset potential v~: for a soft reset v~ = v + z (V_th - V_reset
    = 1, v the post-reset state); for a hard reset v~ >= 1 where it spiked and v elsewhere; MPR's
    m is phi(v~) and it fires exactly where v~ >= 1/2."""
    x = jnp.asarray(digits.x_test[:8])
    xs = jnp.broadcast_to(x, (5, *x.shape))
    for variant in ("soft", "hard", "mpr"):
        net = bench.build(variant, jax.random.PRNGKey(1), digits.image_shape, (4, 8))
        pops = {n: replace(p, neuron=bench.PreReset(p.neuron)) for n, p in net.populations.items()}
        probe = replace(net, populations=pops)
        state, rec = scan_steps(probe, probe.init_state(8), xs, monitors=("spikes", "v"))
        zs, vts = rec["spikes"]["c1"], rec["v"]["c1"]
        assert 0.01 < float(zs.mean()) < 0.9
        z, vt, v = zs[-1], vts[-1], state.neurons["c1"][0].v  # last step: post-reset v known
        if variant == "hard":
            assert bool(jnp.all(jnp.where(z > 0, vt >= 1.0, vt == v)))
            np.testing.assert_allclose(np.asarray(bench.quantised(variant, vts)), np.asarray(vts))
        else:
            np.testing.assert_allclose(np.asarray(vt), np.asarray(v + z), rtol=1e-6, atol=1e-6)
        if variant == "mpr":
            np.testing.assert_allclose(np.asarray(bench.quantised(variant, vts)),
                                       np.asarray(mpr_phi(vts)), rtol=1e-6)
            assert bool(jnp.all((vts >= 0.5) == (zs > 0)))
        if variant == "soft":
            assert bool(jnp.all((vts >= 1.0) == (zs > 0)))


def test_training_learns_and_reports(bench, digits):
    runs = bench.run_variant("mpr", digits, [0], steps=4, epochs=2, batch=50, channels=(4, 8),
                             lr=5e-3)
    r = runs[0]
    assert r["accuracy"] > 0.5  # chance is 0.1
    assert 0.0 < r["firing_rate"]["c1"] < 1.0 and 0.0 < r["firing_rate"]["c2"] < 1.0
    assert 0.0 < r["quantisation_error"] < 0.5  # rounding: |clip(m) - o| <= 1/2
    assert abs(sum(r["histogram"]) - 1.0) < 1e-6
    summary = bench.summarise({"mpr": runs})
    assert summary["variants"]["mpr"]["accuracy_mean"] == r["accuracy"]
