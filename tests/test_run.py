import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neuro import run as run_module
from neuro.neurons import lif
from neuro.run import scan_steps, simulate

PARAMS = lif(tau=10.0, v_th=1.0)


def lif_step(params, state, x):
    state, z = params.step(state, x)
    return state, {"spikes": z, "v": state.v}


def python_loop(params, state, xs):
    spikes = []
    for x in xs:
        state, z = params.step(state, x)
        spikes.append(np.asarray(z))
    return state, np.array(spikes)


def test_simulate_matches_python_loop_and_subsamples():
    xs = jax.random.uniform(jax.random.PRNGKey(1), (60, 5), maxval=3.0)
    _, ref = python_loop(PARAMS, PARAMS.init_state(5), xs)
    out = simulate(lif_step, PARAMS, PARAMS.init_state(5), xs, monitors=("spikes",))
    np.testing.assert_array_equal(out.records["spikes"], ref)
    every = simulate(lif_step, PARAMS, PARAMS.init_state(5), xs, monitors=("spikes",), every=3)
    np.testing.assert_array_equal(every.records["spikes"], ref[2::3])


def test_compiled_once_per_static_configuration():
    xs = jnp.ones((40, 3))
    before = run_module._compiled_scan._cache_size()
    simulate(lif_step, PARAMS, PARAMS.init_state(3), xs, monitors=("spikes",))
    after_first = run_module._compiled_scan._cache_size()
    for scale in (0.5, 2.0, 3.0):  # new values, same shapes and static configuration
        simulate(lif_step, PARAMS, PARAMS.init_state(3), xs * scale, monitors=("spikes",))
    new_tau = lif(tau=33.0, v_th=1.0)  # new parameter values: still no retrace
    simulate(lif_step, new_tau, new_tau.init_state(3), xs, monitors=("spikes",))
    assert after_first == before + 1
    assert run_module._compiled_scan._cache_size() == after_first


def test_chunked_checkpoint_resumes_without_losing_work(tmp_path, monkeypatch):
    xs = jax.random.uniform(jax.random.PRNGKey(2), (80, 4), maxval=2.5)
    full = simulate(lif_step, PARAMS, PARAMS.init_state(4), xs, monitors=("spikes", "v"))
    path = tmp_path / "run.npz"

    calls = {"n": 0}
    original = run_module._compiled_scan

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # stop in the middle of the run
        return original(*args, **kwargs)

    monkeypatch.setattr(run_module, "_compiled_scan", interrupted)
    with pytest.raises(KeyboardInterrupt):
        simulate(lif_step, PARAMS, PARAMS.init_state(4), xs, monitors=("spikes", "v"), chunk=20,
                 checkpoint=path)
    monkeypatch.setattr(run_module, "_compiled_scan", original)
    assert path.exists()
    calls["n"] = 0
    counting = lambda *a, **k: (calls.__setitem__("n", calls["n"] + 1), original(*a, **k))[1]
    monkeypatch.setattr(run_module, "_compiled_scan", counting)
    resumed = simulate(lif_step, PARAMS, PARAMS.init_state(4), xs, monitors=("spikes", "v"),
                       chunk=20, checkpoint=path)
    assert calls["n"] == 2  # only the two unfinished chunks ran again
    np.testing.assert_allclose(resumed.records["v"], full.records["v"], rtol=1e-6)
    np.testing.assert_array_equal(resumed.records["spikes"], full.records["spikes"])


def test_remat_chunks_give_the_same_gradient():
    xs = jax.random.uniform(jax.random.PRNGKey(3), (120, 6), maxval=2.0)

    def loss(tau, remat):
        p = lif(tau=tau, v_th=1.0)
        _, rec = scan_steps(lif_step, p, p.init_state(6), xs, monitors=("v",), remat_chunk=remat)
        return jnp.mean(rec["v"] ** 2)

    g_plain = jax.grad(loss)(jnp.full(6, 15.0), None)
    g_remat = jax.grad(loss)(jnp.full(6, 15.0), 12)
    assert bool(jnp.all(jnp.isfinite(g_plain)))
    np.testing.assert_allclose(g_remat, g_plain, rtol=1e-5)


def test_bad_arguments():
    xs = jnp.ones((10, 2))
    with pytest.raises(ValueError, match="every"):
        simulate(lif_step, PARAMS, PARAMS.init_state(2), xs, every=3)
    with pytest.raises(KeyError, match="monitors"):
        simulate(lif_step, PARAMS, PARAMS.init_state(2), xs, monitors=("nope",))
    with pytest.raises(ValueError, match="remat_chunk"):
        scan_steps(lif_step, PARAMS, PARAMS.init_state(2), xs, remat_chunk=3)


def const_step(params, state, x):
    """A system without inputs: a constant drive ``params`` (``x`` is None)."""
    assert x is None
    state, z = PARAMS.step(state, jnp.full(state.v.shape, params))
    return state, {"spikes": z}


def test_runs_without_inputs_for_n_steps_and_compiles_ahead():
    xs = jnp.full((50, 3), 1.5)
    ref = simulate(lif_step, PARAMS, PARAMS.init_state(3), xs, monitors=("spikes",))
    seconds = run_module.compile_simulation(const_step, 1.5, PARAMS.init_state(3),
                                            monitors=("spikes",), n_steps=50, every=5)
    assert seconds > 0
    out = simulate(const_step, 1.5, PARAMS.init_state(3), monitors=("spikes",), n_steps=50,
                   every=5)
    np.testing.assert_array_equal(out.records["spikes"], ref.records["spikes"][4::5])
    chunked = simulate(const_step, 1.5, PARAMS.init_state(3), monitors=("spikes",), n_steps=50,
                       chunk=20)
    np.testing.assert_array_equal(chunked.records["spikes"], ref.records["spikes"])
    _, records = scan_steps(const_step, 1.5, PARAMS.init_state(3), monitors=("spikes",),
                            n_steps=50, remat_chunk=10)
    np.testing.assert_array_equal(records["spikes"], ref.records["spikes"])
    with pytest.raises(ValueError, match="n_steps"):
        simulate(const_step, 1.5, PARAMS.init_state(3), monitors=("spikes",))
    with pytest.raises(ValueError, match="n_steps"):
        simulate(lif_step, PARAMS, PARAMS.init_state(3), xs, n_steps=7)
