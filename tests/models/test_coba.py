"""COBA/CUBA networks: event-driven vs dense vs an independent NumPy loop, refractoriness,
connectivity, self-sustained activity and bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from neuro.models import coba


def numpy_network(net, state, n_steps):
    """Independent float64 reference: a plain NumPy event-driven loop over a CSR edge list,
    same equations and schedule as the module docstring. Returns the (T, N) raster."""
    pre, post, ch, w = net.conn.to_edges()
    n = net.n
    flat = ch * n + post
    order = np.argsort(pre, kind="stable")
    pre, flat, w = pre[order], flat[order], w[order]
    indptr = np.searchsorted(pre, np.arange(n + 1))
    f = lambda x: float(np.asarray(x))
    tau_m, v_rest, v_reset, v_th = f(net.tau_m), f(net.v_rest), f(net.v_reset), f(net.v_th)
    e_exc, e_inh, drive = f(net.e_exc), f(net.e_inh), f(net.drive)
    decay = np.asarray(net.decay, dtype=np.float64)
    v = np.asarray(state.v, dtype=np.float64).copy()
    g = np.asarray(state.g, dtype=np.float64).copy()
    ref = np.zeros(n, dtype=np.int64)
    a = net.dt / tau_m
    raster = np.zeros((n_steps, n), dtype=bool)
    for t in range(n_steps):
        ref = np.maximum(ref - 1, 0)
        active = ref == 0
        ge, gi = g[:n], g[n:2 * n]
        if net.kind == "coba":
            total = 1.0 + ge + gi
            v_inf = (v_rest + ge * e_exc + gi * e_inh + drive) / total
            v_new = v_inf + (v - v_inf) * np.exp(-a * total)
        else:
            v_inf = v_rest + ge + gi + drive
            v_new = v_inf + (v - v_inf) * np.exp(-a)
        v = np.where(active, v_new, v)
        z = active & (v > v_th)
        g = g * decay
        for i in np.nonzero(z)[0]:
            sl = slice(indptr[i], indptr[i + 1])
            np.add.at(g, flat[sl], w[sl])
        v[z] = v_reset
        ref[z] = net.n_ref
        raster[t] = z
    return raster


@pytest.mark.parametrize("kind, variant", [("coba", "standard"), ("coba", "brainpy"),
                                           ("cuba", "brainpy")])
def test_event_dense_and_numpy_identical_first_100ms_float64(kind, variant):
    with jax.enable_x64(True):
        net_e, s0 = coba.ei_network(kind, 400, variant=variant, seed=3, backend="event",
                                    spikes_per_round=8)
        net_d, s0d = coba.ei_network(kind, 400, variant=variant, seed=3, backend="dense")
        assert net_e.decay.dtype == jnp.float64
        r_e = coba.run(net_e, s0, 1000, record=400)
        r_d = coba.run(net_d, s0d, 1000, record=400)
        raster_e, raster_d = np.asarray(r_e.raster), np.asarray(r_d.raster)
        ref = numpy_network(net_e, s0, 1000)
    assert raster_e.sum() > 100  # the network is active
    np.testing.assert_array_equal(raster_e, raster_d)
    np.testing.assert_array_equal(raster_e, ref)
    np.testing.assert_array_equal(np.asarray(r_e.counts), raster_e.sum(axis=1))
    deg = net_e.conn.degrees()
    assert int(np.asarray(r_e.events).sum()) == int((raster_e * deg).sum())


@pytest.mark.slow
def test_event_and_dense_rates_agree_float32():
    net_e, s0 = coba.coba_network(300, variant="brainpy", seed=4)
    net_d, _ = coba.coba_network(300, variant="brainpy", seed=4, backend="dense")
    c_e = np.asarray(coba.run(net_e, s0, 3000).counts).sum()
    c_d = np.asarray(coba.run(net_d, s0, 3000).counts).sum()
    # float32 summation order differs, the chaotic network diverges: rates agree statistically
    assert c_d > 1000 and abs(c_e - c_d) / c_d < 0.08


@pytest.mark.slow
def test_event_and_dense_rates_within_1_percent_over_1s_float64():
    with jax.enable_x64(True):
        net_e, s0 = coba.coba_network(1000, variant="brainpy", seed=5)
        net_d, _ = coba.coba_network(1000, variant="brainpy", seed=5, backend="dense")
        c_e = np.asarray(coba.run(net_e, s0, 10000).counts).sum()
        c_d = np.asarray(coba.run(net_d, s0, 10000).counts).sum()
    assert abs(c_e - c_d) / c_d < 0.01


def _trace(net, state, n_steps):
    def body(s, _):
        s, z, _, _ = coba.network_step(net, s)
        return s, (s.v, z)

    return jax.jit(lambda s: lax.scan(body, s, None, length=n_steps))(state)[1]


def test_refractoriness_holds_v_at_reset_for_5ms():
    net, s0 = coba.coba_network(400, variant="brainpy", seed=1)
    v, z = (np.asarray(x) for x in _trace(net, s0, 3000))
    assert z.sum() > 50
    for j in range(net.n):
        t = np.nonzero(z[:, j])[0]
        assert np.all(np.diff(t) >= net.n_ref)  # no two spikes within 5 ms
        for s in t[t < 3000 - net.n_ref]:
            # V_reset at the spike step and held for the next n_ref - 1 steps
            np.testing.assert_array_equal(v[s:s + net.n_ref, j], float(net.v_reset))
            assert v[s + net.n_ref, j] != float(net.v_reset)
    assert net.n_ref == 50


@pytest.mark.parametrize("n", [1000, 4000])
def test_in_degree_is_80_and_channels_follow_source_type(n):
    net, _ = coba.coba_network(n, seed=2)
    deg = net.conn.in_degrees()
    assert abs(deg.mean() - 80) < 5 * np.sqrt(80 / n)
    pre, _, ch, w = net.conn.to_edges()
    assert np.all(ch == (pre >= net.n_exc)) and net.n_exc == int(0.8 * n)
    assert np.allclose(w[ch == 0], 0.6) and np.allclose(w[ch == 1], 6.7, rtol=1e-6)


def test_standard_coba_self_sustains_for_1s():
    net, s0 = coba.coba_network(4000, variant="standard", seed=0)
    r = coba.run(net, s0, 10000)
    counts = np.asarray(r.counts)
    rate = counts.sum() / 4000
    assert counts[-1000:].sum() > 0  # still active in the last 100 ms
    assert 5 < rate < 60  # Brette 2007: self-sustained irregular activity at ~20 Hz


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


def test_mismatched_connectivity_is_rejected():
    other, _ = coba.coba_network(200)
    with pytest.raises(ValueError, match="conn"):
        coba.coba_network(100, conn=other.conn)


@pytest.mark.slow
def test_rate_roughly_constant_under_in_degree_scaling():
    rates = []
    for n in (4000, 40000):
        net, s0 = coba.coba_network(n, variant="brainpy", seed=0)
        rates.append(np.asarray(coba.run(net, s0, 5000).counts).sum() / n / 0.5)
    assert abs(rates[1] - rates[0]) / rates[0] < 0.25
