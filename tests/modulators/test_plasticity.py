"""Online STDP, Oja and Hebbian modulators on Dense and Sparse projections."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neuro import network as nw
from neuro import projections
from neuro.modulators import hebbian, oja, stdp
from neuro.neurons import lif
from neuro.run import scan_steps

N_IN, N = 12, 6


def plastic_net(rule, proj, drive_gain=3.0, **kw):
    """Input "x" -> "e" through the plastic `proj`, plus a fixed drive "d" that makes "e" fire."""
    drive = projections.dense("d", "e", jnp.eye(N) * drive_gain)
    mod = rule(("in", proj), **kw)
    return nw.network({"e": nw.population(lif(tau=1.0, reset="hard"), N)},
                      {"in": proj, "drive": drive}, {"plastic": mod},
                      inputs={"x": N_IN, "d": N})


def run(net, xs, batch=()):
    def step(net, s, x):
        s, out = net.step(s, x)
        return s, {"z": out["spikes"]["e"], "w": s.modulators["plastic"].w}

    s0 = net.init_state(batch)
    _, rec = jax.jit(lambda n, s, x: scan_steps(step, n, s, x))(net, s0, xs)
    return np.asarray(rec["z"]), np.asarray(rec["w"]), np.asarray(s0.modulators["plastic"].w)


def inputs(seed, t=300, batch=(), p=0.1, p_drive=0.08, dtype=np.float32):
    rng = np.random.default_rng(seed)
    x = (rng.random((t, *batch, N_IN)) < p).astype(dtype)
    d = (rng.random((t, *batch, N)) < p_drive).astype(dtype)
    return {"x": jnp.asarray(x), "d": jnp.asarray(d)}


def stdp_reference(x, z, w, a_plus, a_minus, tau_plus, tau_minus, w_min, w_max, mode, exists):
    """The rule of neuro/modulators/plasticity.py as a NumPy loop over recorded spikes."""
    xp, yq, out = np.zeros(x.shape[-1]), np.zeros(z.shape[-1]), []
    for s, zz in zip(x, z, strict=True):
        xp, yq = xp * np.exp(-1 / tau_plus), yq * np.exp(-1 / tau_minus)
        pot, dep = a_plus * np.outer(xp, zz), a_minus * np.outer(s, yq)
        if mode == "multiplicative":
            pot, dep = (w_max - w) * pot, (w - w_min) * dep
        w = np.where(exists, np.clip(w + pot - dep, w_min, w_max), w)
        xp, yq = xp + s, yq + zz
        out.append(w)
    return np.array(out)


def test_pair_window_potentiates_pre_before_post_and_depresses_the_reverse():
    proj = projections.dense("x", "e", np.zeros((N_IN, N), np.float32))
    net = plastic_net(stdp, proj, drive_gain=10.0, a_plus=0.01, a_minus=0.012, tau_plus=20.0,
                      tau_minus=10.0)
    x, d = np.zeros((12, N_IN), np.float32), np.zeros((12, N), np.float32)
    x[0, 0], d[5, 0] = 1, 1  # pre 0 at step 0, post 0 at step 5: +a_plus exp(-5/20)
    d[0, 1], x[3, 1] = 1, 1  # post 1 at step 0, pre 1 at step 3: -a_minus exp(-3/10)
    z, w, _ = run(net, {"x": jnp.asarray(x), "d": jnp.asarray(d)})
    assert z[5, 0] == 1 and z[0, 1] == 1 and z.sum() == 2
    np.testing.assert_allclose(w[-1, 0, 0], 0.01 * np.exp(-5 / 20), rtol=1e-5)
    np.testing.assert_allclose(w[-1, 1, 1], -0.012 * np.exp(-3 / 10), rtol=1e-5)
    np.testing.assert_allclose(w[-1, 0, 1], 0.0, atol=1e-9)  # simultaneous: no change


@pytest.mark.parametrize("mode", ["additive", "multiplicative"])
def test_dense_stdp_matches_a_numpy_loop_and_keeps_masked_synapses(mode):
    rng = np.random.default_rng(3)
    w0 = rng.uniform(0.2, 0.8, (N_IN, N)).astype(np.float32)
    proj = projections.dense("x", "e", w0)
    mask = rng.random((N_IN, N)) < 0.6
    proj = projections.Dense(proj.w, None, jnp.asarray(mask), "x", "e")
    a_plus = rng.uniform(0.005, 0.02, (N_IN, N))  # per-synapse heterogeneous
    kw = dict(a_plus=a_plus, a_minus=0.012, tau_plus=15.0, tau_minus=25.0, w_min=0.0,
              w_max=1.0, mode=mode)
    xs = inputs(4)
    z, w, _ = run(plastic_net(stdp, proj, **kw), xs)
    ref = stdp_reference(np.asarray(xs["x"]), z, w0.astype(float), a_plus, 0.012, 15.0, 25.0,
                         0.0, 1.0, mode, mask)
    np.testing.assert_allclose(w, ref, rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(w[-1][~mask], w0[~mask])  # absent synapses never change
    assert np.abs(w[-1] - w0)[mask].max() > 0.01 and z.sum() > 50


def test_sparse_edge_table_follows_the_dense_rule_and_keeps_padding():
    conn = projections.fixed_probability(7, N_IN, N, 0.4, weights=0.5)
    sp = projections.sparse("x", "e", conn)
    dense_w = np.asarray(sp.to_dense()[0])
    exists = dense_w != 0
    de = projections.Dense(jnp.asarray(dense_w), None, jnp.asarray(exists), "x", "e")
    kw = dict(a_plus=0.01, a_minus=0.011, w_min=0.0, w_max=1.0)
    xs = inputs(5, batch=(2,))
    z_s, w_s, t0 = run(plastic_net(stdp, sp, **kw), xs, (2,))
    z_d, w_d, _ = run(plastic_net(stdp, de, **kw), xs, (2,))
    np.testing.assert_array_equal(z_s, z_d)
    final = projections.Sparse(jnp.asarray(w_s[-1]), sp.targets, None, "x", "e", N_IN, N)
    np.testing.assert_allclose(np.asarray(final.to_dense()[0]), w_d[-1], rtol=1e-5, atol=1e-7)
    pad = np.asarray(sp.targets) == sp.sink
    np.testing.assert_array_equal(w_s[-1][pad], t0[pad])  # padding entries untouched
    assert np.count_nonzero(np.asarray(final.to_dense()[0])) <= exists.sum()


def test_float64_weights_stay_float64():
    with jax.enable_x64(True):
        proj = projections.dense("x", "e", np.full((N_IN, N), 0.5), dtype=jnp.float64)
        xs = inputs(6, dtype=np.float64)
        z, w, _ = run(plastic_net(stdp, proj, w_min=0.0, w_max=1.0), xs)
        assert w.dtype == np.float64
        ref = stdp_reference(np.asarray(xs["x"]), z, np.full((N_IN, N), 0.5), 0.01, 0.0105,
                             20.0, 20.0, 0.0, 1.0, "additive", np.ones((N_IN, N), bool))
        np.testing.assert_allclose(w, ref, rtol=1e-12, atol=1e-14)


def test_hebbian_and_oja_match_numpy_loops():
    w0 = np.random.default_rng(8).uniform(0.0, 0.3, (N_IN, N)).astype(np.float32)
    proj = projections.dense("x", "e", w0)
    xs = inputs(9, t=120)
    x = np.asarray(xs["x"])
    for rule, kw in ((hebbian, dict(lr=0.01, decay=0.001, w_max=0.5, w_min=0.0)),
                     (oja, dict(lr=0.01))):
        z, w, _ = run(plastic_net(rule, proj, tau_pre=5.0, tau_post=8.0, **kw), xs)
        xp, yq, ww = np.zeros(N_IN), np.zeros(N), w0.astype(float)
        for t in range(len(x)):
            xp, yq = xp * np.exp(-1 / 5.0) + x[t], yq * np.exp(-1 / 8.0) + z[t]
            if rule is hebbian:
                ww = np.clip(ww + 0.01 * np.outer(xp, yq) - 0.001 * ww, 0.0, 0.5)
            else:
                ww = ww + 0.01 * (np.outer(xp, yq) - yq**2 * ww)
            np.testing.assert_allclose(w[t], ww, rtol=2e-4, atol=1e-6)
        assert np.abs(w[-1] - w0).max() > 0.01


def test_bad_input_is_named():
    proj = projections.dense("x", "e", np.full((N_IN, N), 2.0, np.float32))
    with pytest.raises(ValueError, match="outside the bounds"):
        plastic_net(stdp, proj, w_min=0.0, w_max=1.0).init_state()
    with pytest.raises(ValueError, match="multiplicative"):
        stdp(("in", proj), mode="multiplicative")
    with pytest.raises(ValueError, match="a_plus"):
        stdp(("in", proj), a_plus=np.ones((3, 3)))
    with pytest.raises(ValueError, match="tau_minus"):
        stdp(("in", proj), tau_minus=np.ones(N + 1))
    with pytest.raises(ValueError, match="w_min"):
        hebbian(("in", proj), w_min=1.0, w_max=0.0)
    with pytest.raises(TypeError, match="STP"):
        from neuro.synapses.stp import tsodyks_markram

        stdp(("in", projections.stp(proj, tsodyks_markram())))
