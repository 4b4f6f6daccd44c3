import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neuro import run as run_module
from neuro.neurons import lif
from neuro.run import scan_steps, simulate
from neuro.validation import ConfigError

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
    with pytest.raises(ConfigError, match="monitor"):
        simulate(lif_step, PARAMS, PARAMS.init_state(2), xs, monitors=("nope",))
    with pytest.raises(ValueError, match="remat_chunk"):
        scan_steps(lif_step, PARAMS, PARAMS.init_state(2), xs, remat_chunk=3)


# --- reliability: identity of checkpoints, input checks, size estimates -------------------------


def _net(n_in=3, n=4, seed=0):
    from neuro import network, projections, readouts

    return network.network(
        {"e": network.population(lif(tau=10.0), n)},
        {"in": projections.dense("x", "e", key=jax.random.PRNGKey(seed), n_pre=n_in, n_post=n,
                                 gain=3.0)},
        readouts={"y": readouts.leaky("e", 2, key=jax.random.PRNGKey(1), n_in=n)},
        inputs={"x": n_in})


def test_checkpoint_of_another_run_is_refused_saying_what_differs(tmp_path):
    from neuro.validation import CheckpointMismatch

    xs = jax.random.uniform(jax.random.PRNGKey(5), (40, 4), maxval=2.5)
    path = tmp_path / "run.npz"
    first = simulate(lif_step, PARAMS, PARAMS.init_state(4), xs, monitors=("spikes",), chunk=20,
                     checkpoint=path)
    other = lif(tau=12.0, v_th=1.0)  # same shapes, other values
    with pytest.raises(CheckpointMismatch, match="params") as err:
        simulate(lif_step, other, other.init_state(4), xs, monitors=("spikes",), chunk=20,
                 checkpoint=path)
    assert "inputs" not in str(err.value) and "--force-restart" in str(err.value)
    with pytest.raises(CheckpointMismatch, match="inputs"):
        simulate(lif_step, PARAMS, PARAMS.init_state(4), xs * 0.5, monitors=("spikes",),
                 chunk=20, checkpoint=path)
    with pytest.raises(CheckpointMismatch, match="config"):  # other monitors: other run
        simulate(lif_step, PARAMS, PARAMS.init_state(4), xs, monitors=("v",), chunk=20,
                 checkpoint=path)
    before = path.read_bytes()
    fresh = simulate(lif_step, other, other.init_state(4), xs, monitors=("spikes",), chunk=20,
                     checkpoint=path, force_restart=True)
    ref = simulate(lif_step, other, other.init_state(4), xs, monitors=("spikes",))
    np.testing.assert_array_equal(fresh.records["spikes"], ref.records["spikes"])
    assert path.read_bytes() != before
    # the same run resumes (nothing left to do: the records come from the file)
    again = simulate(lif_step, other, other.init_state(4), xs, monitors=("spikes",), chunk=20,
                     checkpoint=path)
    np.testing.assert_array_equal(again.records["spikes"], ref.records["spikes"])
    assert not np.array_equal(first.records["spikes"], ref.records["spikes"])


def test_network_checkpoint_identity_sees_the_weights(tmp_path):
    from neuro.validation import CheckpointMismatch

    net, other = _net(seed=0), _net(seed=1)
    xs = jnp.ones((10, 2, 3))
    path = tmp_path / "net.npz"
    simulate(net, net.init_state(2), xs, monitors=("spikes.e",), checkpoint=path)
    with pytest.raises(CheckpointMismatch, match="params"):
        simulate(other, other.init_state(2), xs, monitors=("spikes.e",), checkpoint=path)


@pytest.mark.parametrize("damage", ["empty", "truncated", "garbage", "pickled", "flipped"])
def test_unreadable_checkpoint_is_refused_naming_the_file_and_kept(tmp_path, damage):
    from neuro.validation import CheckpointError

    xs = jax.random.uniform(jax.random.PRNGKey(6), (20, 4), maxval=2.5)
    path = tmp_path / "run.npz"
    simulate(lif_step, PARAMS, PARAMS.init_state(4), xs, monitors=("spikes",), checkpoint=path)
    data = path.read_bytes()
    if damage == "empty":
        data = b""
    elif damage == "truncated":
        data = data[: len(data) // 2]
    elif damage == "garbage":
        data = b"not a checkpoint at all" * 10
    elif damage == "pickled":
        import io

        buf = io.BytesIO()
        np.savez(buf, __meta__=np.frombuffer(b"{}", np.uint8), leaf_0=np.array([object()]))
        data = buf.getvalue()
    else:  # one flipped byte inside the stored arrays (zip CRC check)
        i = data.index(b"leaf_0.npy") + 200
        data = data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1:]
    path.write_bytes(data)
    with pytest.raises(CheckpointError, match=str(path)) as err:
        simulate(lif_step, PARAMS, PARAMS.init_state(4), xs, monitors=("spikes",),
                 checkpoint=path)
    assert "allow_pickle=True" not in str(err.value)
    assert path.read_bytes() == data  # kept as it was


def test_inputs_are_checked_at_the_boundary():
    from neuro.validation import ConfigError, NonFiniteError, ShapeError

    net = _net()
    state = net.init_state(2)
    with pytest.raises(ConfigError, match="T = 0"):
        simulate(net, state, jnp.ones((0, 2, 3)))
    with pytest.raises(ConfigError, match="T = 0"):
        simulate(lif_step, PARAMS, PARAMS.init_state(2), jnp.ones((0, 2)))
    with pytest.raises(ShapeError, match="batch-major"):
        simulate(net, state, jnp.ones((2, 50, 3)))
    with pytest.raises(ShapeError, match=r"time-major \[T, 2, 3\]"):
        scan_steps(net, state, jnp.ones((50, 2, 4)))
    for bad in (jnp.nan, jnp.inf):
        xs = jnp.ones((10, 2, 3)).at[4, 1, 0].set(bad)
        with pytest.raises(NonFiniteError, match=r"index \(4, 1, 0\)"):
            simulate(net, state, xs)
        simulate(net, state, xs, check_finite=False)  # skipped on request
    with pytest.raises(ShapeError, match=r"\[2, 3\]"):  # one step: [batch..., n]
        net.step(state, jnp.ones((3, 2)))


def test_records_too_large_are_refused_before_running(monkeypatch):
    from neuro import validation
    from neuro.validation import SizeError

    monkeypatch.setattr(validation, "available_memory", lambda: 10_000)
    calls = []
    monkeypatch.setattr(run_module, "_compiled_scan", lambda *a, **k: calls.append(1))
    with pytest.raises(SizeError, match="recording 1000 steps of spikes"):
        simulate(lif_step, PARAMS, PARAMS.init_state(4), jnp.ones((1000, 4)), monitors="spikes")
    assert not calls


@pytest.mark.parametrize("x64", [False, True])
def test_simulate_and_scan_in_both_float_widths(x64):
    with jax.enable_x64(x64):
        want = jnp.float64 if x64 else jnp.float32
        net = _net()
        xs = jax.random.uniform(jax.random.PRNGKey(2), (30, 2, 3), maxval=2.0)
        out = simulate(net, net.init_state(2), xs, monitors=("spikes.e", "v.e", "readout.y"))
        assert out.records["v.e"].dtype == want and out.state.neurons["e"].v.dtype == want
        # a float32 state in a float64 session keeps its dtype (the carry is cast back)
        state32 = net.init_state(2, jnp.float32)
        final, rec = scan_steps(net, state32, xs.astype(jnp.float32), monitors="v.e")
        assert final.neurons["e"].v.dtype == jnp.float32 and rec["v.e"].shape == (30, 2, 4)
        np.testing.assert_allclose(rec["v.e"], out.records["v.e"], rtol=1e-4, atol=1e-5)


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
