"""COBA/CUBA networks: event-driven vs dense vs an independent NumPy loop, refractoriness,
connectivity, self-sustained activity, the Auryn variant and bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neuro import run
from neuro.models import coba


def numpy_network(net, state, n_steps):
    """Independent float64 reference: a plain NumPy event-driven loop over a CSR edge list with
    the equations and schedule of the module docstring. Returns the (T, N) raster."""
    conn = coba.connectivity(net)
    pre, post, ch, w = conn.to_edges()
    n = conn.n_post
    flat = ch * n + post
    order = np.argsort(pre, kind="stable")
    pre, flat, w = pre[order], flat[order], w[order]
    indptr = np.searchsorted(pre, np.arange(n + 1))
    neuron = net.populations[coba.POPULATION].neuron
    synapse = net.populations[coba.POPULATION].synapse
    f = lambda x: float(np.asarray(x))
    tau_m, v_rest, v_reset, v_th = (f(neuron.tau_m), f(neuron.v_rest), f(neuron.v_reset),
                                    f(neuron.v_th))
    reversal, drive = np.asarray(neuron.reversal, np.float64), f(neuron.bias)
    decay = np.exp(-synapse.dt / np.asarray(synapse.tau, np.float64))
    delay = net.projections[coba.PROJECTION].delay + 1
    v = np.asarray(state.neurons[coba.POPULATION].v, dtype=np.float64).copy()
    g = np.asarray(state.synapses[coba.POPULATION], dtype=np.float64)[:2 * n].copy()
    ref = np.zeros(n, dtype=np.int64)
    a = neuron.dt / tau_m
    raster = np.zeros((n_steps, n), dtype=bool)
    for t in range(n_steps):
        if t >= delay:  # the spikes of step t - delay arrive
            for i in np.nonzero(raster[t - delay])[0]:
                sl = slice(indptr[i], indptr[i + 1])
                np.add.at(g, flat[sl], w[sl])
        ref = np.maximum(ref - 1, 0)
        active = ref == 0
        ge, gi = g[:n], g[n:]
        if reversal.size:
            total = 1.0 + ge + gi
            if neuron.method == "exp_euler":
                v_inf = (v_rest + ge * reversal[0] + gi * reversal[1] + drive) / total
                v_new = v_inf + (v - v_inf) * np.exp(-a * total)
            else:
                v_new = v + a * ((v_rest - v) + ge * (reversal[0] - v) + gi * (reversal[1] - v)
                                 + drive)
        else:
            v_inf = v_rest + (ge + gi + drive)
            v_new = v_inf + (v - v_inf) * np.exp(-a)
        v = np.where(active, v_new, v)
        z = active & (v > v_th)
        v[z] = v_reset
        ref[z] = neuron.n_ref
        raster[t] = z
        g = g * np.repeat(decay, n)
    return raster


def simulate(net, state, n_steps, record=0):
    return run.simulate(net, state, n_steps=n_steps, monitors=coba.monitor(net, record)).records


@pytest.mark.parametrize("kind, variant", [("coba", "standard"), ("coba", "brainpy"),
                                           ("cuba", "brainpy"), ("coba", "auryn")])
def test_event_dense_and_numpy_identical_first_100ms_float64(kind, variant):
    with jax.enable_x64(True):
        net_e, s0 = coba.ei_network(kind, 400, variant=variant, seed=3, backend="event",
                                    spikes_per_round=8)
        net_d, s0d = coba.ei_network(kind, 400, variant=variant, seed=3, backend="dense")
        assert s0.synapses[coba.POPULATION].dtype == jnp.float64
        r_e = simulate(net_e, s0, 1000, record=400)
        r_d = simulate(net_d, s0d, 1000, record=400)
        ref = numpy_network(net_e, s0, 1000)
    raster_e, raster_d = r_e["raster"], r_d["raster"]
    assert raster_e.sum() > 100  # the network is active
    np.testing.assert_array_equal(raster_e, raster_d)
    np.testing.assert_array_equal(raster_e, ref)
    np.testing.assert_array_equal(r_e["spikes"], raster_e.sum(axis=1))
    deg = coba.connectivity(net_e).degrees()
    np.testing.assert_array_equal(r_e["events"], (raster_e * deg).sum(axis=1))


@pytest.mark.slow
def test_event_and_dense_rates_agree_float32():
    net_e, s0 = coba.coba_network(300, variant="brainpy", seed=4)
    net_d, _ = coba.coba_network(300, variant="brainpy", seed=4, backend="dense")
    c_e = simulate(net_e, s0, 3000)["spikes"].sum()
    c_d = simulate(net_d, s0, 3000)["spikes"].sum()
    # float32 summation order differs, the chaotic network diverges: rates agree statistically
    assert c_d > 1000 and abs(c_e - c_d) / c_d < 0.08


@pytest.mark.slow
def test_event_and_dense_rates_within_1_percent_over_1s_float64():
    with jax.enable_x64(True):
        net_e, s0 = coba.coba_network(1000, variant="brainpy", seed=5)
        net_d, _ = coba.coba_network(1000, variant="brainpy", seed=5, backend="dense")
        c_e = simulate(net_e, s0, 10000)["spikes"].sum()
        c_d = simulate(net_d, s0, 10000)["spikes"].sum()
    assert abs(c_e - c_d) / c_d < 0.01


def test_refractoriness_holds_v_at_reset_for_5ms():
    net, s0 = coba.coba_network(400, variant="brainpy", seed=1)
    out = run.simulate(net, s0, n_steps=3000, monitors=("spikes.n", "v.n")).records
    z, v = np.asarray(out["spikes.n"]), np.asarray(out["v.n"])
    neuron = net.populations["n"].neuron
    assert z.sum() > 50 and neuron.n_ref == 50
    for j in range(400):
        t = np.nonzero(z[:, j])[0]
        assert np.all(np.diff(t) >= neuron.n_ref)  # no two spikes within 5 ms
        for s in t[t < 3000 - neuron.n_ref]:
            # V_reset at the spike step and held for the next n_ref - 1 steps
            np.testing.assert_array_equal(v[s:s + neuron.n_ref, j], float(neuron.v_reset))
            assert v[s + neuron.n_ref, j] != float(neuron.v_reset)


@pytest.mark.parametrize("n", [1000, 4000])
def test_in_degree_is_80_and_channels_follow_source_type(n):
    net, _ = coba.coba_network(n, seed=2)
    conn = coba.connectivity(net)
    deg = conn.in_degrees()
    assert abs(deg.mean() - 80) < 5 * np.sqrt(80 / n)
    pre, _, ch, w = conn.to_edges()
    n_exc = coba.num_excitatory(n)
    assert np.all(ch == (pre >= n_exc)) and n_exc == int(0.8 * n)
    assert np.allclose(w[ch == 0], 0.6) and np.allclose(w[ch == 1], 6.7, rtol=1e-6)


def test_network_is_one_population_and_one_projection():
    net, state = coba.coba_network(200, seed=0)
    assert list(net.populations) == ["n"] and list(net.projections) == ["recurrent"]
    pop = net.populations["n"]
    assert pop.kind == "conductance" and pop.channels == 2
    np.testing.assert_allclose(np.asarray(pop.neuron.reversal), [0.0, -80.0])
    cuba, _ = coba.cuba_network(200, seed=0)
    assert cuba.populations["n"].kind == "current" and cuba.populations["n"].neuron.n_channels == 0
    g = np.asarray(state.synapses["n"])
    assert g.shape == (401,) and g[-1] == 0.0 and abs(g[:200].mean() - 4.0) < 0.5


def test_standard_coba_self_sustains_for_1s():
    net, s0 = coba.coba_network(4000, variant="standard", seed=0)
    counts = simulate(net, s0, 10000)["spikes"]
    rate = counts.sum() / 4000
    assert counts[-1000:].sum() > 0  # still active in the last 100 ms
    assert 5 < rate < 60  # Brette 2007: self-sustained irregular activity at ~20 Hz


def test_auryn_variant_parameters():
    net, state = coba.coba_network(400, variant="auryn", seed=0)
    neuron = net.populations["n"].neuron
    assert neuron.method == "euler" and neuron.n_ref == 51 and float(neuron.bias) == 20.0
    assert net.projections["recurrent"].delay == 8  # Auryn: first acts on V 9 steps later
    np.testing.assert_array_equal(np.asarray(state.neurons["n"].v), -60.0)
    _, _, ch, w = coba.connectivity(net).to_edges()
    assert np.allclose(w[ch == 0], 0.4) and np.allclose(w[ch == 1], 5.1, rtol=1e-6)


def test_monitor_is_hashable_by_value_and_checks_record():
    net, _ = coba.coba_network(100, seed=0)
    assert coba.monitor(net, 10) == coba.monitor(net, 10)
    assert hash(coba.monitor(net, 10)) == hash(coba.monitor(net, 10))
    assert coba.monitor(net, 10) != coba.monitor(net, 5)
    with pytest.raises(ValueError, match="record"):
        coba.monitor(net, 101)


def test_activity_event_product_equals_the_sums(monkeypatch):
    """The monitor's event-driven sums (degrees split in 4-bit digits) equal NumPy's integer
    sums, per step and under vmap (the fused loop), for degrees of several digits; so does its
    dense fallback without the event kernels."""
    from neuro import fast_rnn

    rng = np.random.default_rng(5)
    n = 3000
    degrees = rng.integers(0, 5000, n)
    z = (rng.random((12, n)) < 0.3).astype(np.float32)
    z[0] = 1.0  # every neuron at once
    ref = {"spikes": z.sum(1).astype(np.int64), "events": (z != 0).astype(np.int64) @ degrees,
           "raster": z[:, :7] != 0}
    mon = coba.Activity(degrees, record=7)
    fast = [mon({"spikes": {"n": z[0]}}), jax.jit(jax.vmap(mon))({"spikes": {"n": z}})]
    monkeypatch.setattr(fast_rnn, "events_available", lambda: False)
    dense = jax.vmap(mon)({"spikes": {"n": z}})
    assert int(ref["events"][0]) == int(degrees.sum())
    for key in ("spikes", "events", "raster"):
        np.testing.assert_array_equal(fast[1][key], ref[key])
        np.testing.assert_array_equal(dense[key], ref[key])
        np.testing.assert_array_equal(fast[0][key], ref[key][0])


def test_cv_isi_of_regular_and_poisson_trains():
    regular = np.zeros((1000, 2), bool)
    regular[::50, 0] = True
    regular[::25, 1] = True
    assert coba.cv_isi(regular) == pytest.approx(0.0)
    poisson = np.random.default_rng(0).random((200000, 3)) < 0.01
    assert coba.cv_isi(poisson) == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(n=-10), "n"),
        (dict(n=0), "n"),
        (dict(dt=6.0), "dt"),
        (dict(dt=-0.1), "dt"),
        (dict(tau_exc=-1.0), "tau_exc"),
        (dict(v_th=-70.0), "v_th"),
        (dict(variant="nope"), "variant"),
        (dict(backend="gpu"), "backend"),
        (dict(method="rk4"), "method"),
        (dict(in_degree=500, n=100), "in_degree"),
        (dict(v0=np.zeros(3), n=100), "v0"),
        (dict(bogus=1.0), "bogus"),
        (dict(n=20000, backend="dense"), "dense"),
    ],
)
def test_bad_input_names_the_parameter(kwargs, name):
    kwargs = {"n": 100, **kwargs}
    with pytest.raises(ValueError, match=name):
        coba.coba_network(**kwargs)


def test_mismatched_connectivity_and_cuba_auryn_are_rejected():
    other, _ = coba.coba_network(200)
    with pytest.raises(ValueError, match="conn"):
        coba.coba_network(100, conn=coba.connectivity(other))
    with pytest.raises(ValueError, match="auryn"):
        coba.cuba_network(100, variant="auryn")


@pytest.mark.slow
def test_rate_roughly_constant_under_in_degree_scaling():
    rates = []
    for n in (4000, 40000):
        net, s0 = coba.coba_network(n, variant="brainpy", seed=0)
        rates.append(simulate(net, s0, 5000)["spikes"].sum() / n / 0.5)
    assert abs(rates[1] - rates[0]) / rates[0] < 0.25
