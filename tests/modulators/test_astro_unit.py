"""The trainable astrocyte modulation of threshold and gain as a network modulator."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neuro import network as nw
from neuro import projections
from neuro.modulators import astro_modulation, blocks
from neuro.neurons import alif, lif
from neuro.run import scan_steps


def current_net(neuron, n, modulators=None):
    """One population fed its current exactly through an identity input projection."""
    proj = projections.dense("x", "e", jnp.eye(n))
    return nw.network({"e": nw.population(neuron, n)}, {"in": proj}, modulators,
                      inputs={"x": n})


def record(net, currents, batch=()):
    def step(net, s, x):
        s, out = net.step(s, x)
        mods = s.modulators
        return s, {"v": out["v"]["e"], "z": out["spikes"]["e"],
                   "c": mods["astro"] if "astro" in mods else out["v"]["e"][..., :0]}

    _, rec = jax.jit(lambda n, s, x: scan_steps(step, n, s, x))(net, net.init_state(batch),
                                                                   currents)
    return {k: np.asarray(v) for k, v in rec.items()}


@pytest.mark.parametrize("kind", ["lif", "alif"])
def test_zero_gains_reduce_exactly_to_the_plain_neuron(kind):
    # astrocytes.md 5.6: kappa_th = kappa_g = 0 gives the plain neuron bit for bit (any c).
    neuron = lif(tau=20.0, dt=1.0) if kind == "lif" else alif(thr=0.5, beta=0.3, tau_a=100.0)
    mod = astro_modulation("e", 4, 16, tau_c=np.array([50.0, 200.0, 500.0, 1000.0]),
                           drive_scale=7.0)
    currents = jax.random.uniform(jax.random.PRNGKey(1), (200, 3, 16), minval=-0.2, maxval=2.6)
    r = record(current_net(neuron, 16, {"astro": mod}), currents, (3,))
    ref = record(current_net(neuron, 16), currents, (3,))
    np.testing.assert_array_equal(ref["v"], r["v"])
    np.testing.assert_array_equal(ref["z"], r["z"])
    assert r["z"].sum() > 100 and np.abs(r["c"]).max() > 0  # non-trivial: it spiked, c moved


def test_astro_state_matches_a_numpy_loop_and_gains_change_spiking():
    mod = astro_modulation("e", 4, 8, tau_c=100.0, kappa_th=np.array([-0.5, 0.5]),
                           kappa_g=np.array([0.3, -0.3]), drive_scale=2.0)
    currents = jax.random.uniform(jax.random.PRNGKey(2), (300, 8), minval=0.0, maxval=2.0)
    r = record(current_net(lif(tau=20.0, dt=1.0), 8, {"astro": mod}), currents)
    lam, v, cn = np.exp(-1.0 / 100.0), np.zeros(8), np.zeros(2)
    a = np.exp(-1.0 / 20.0)
    for t, i_t in enumerate(np.asarray(currents)):
        tc = np.repeat(np.tanh(cn), 4)
        th = np.maximum(1 + np.repeat([-0.5, 0.5], 4) * tc, 0.1)
        vt = a * v + (1 - a) * (1 + np.repeat([0.3, -0.3], 4) * tc) * i_t
        zt = (vt >= th).astype(float)
        v = vt - th * zt
        cn = lam * cn + (1 - lam) * 2.0 * zt.reshape(2, 4).mean(-1)
        np.testing.assert_array_equal(zt, r["z"][t])
        np.testing.assert_allclose(cn, r["c"][t], rtol=1e-4, atol=1e-6)
    r0 = record(current_net(lif(tau=20.0, dt=1.0), 8,
                            {"astro": astro_modulation("e", 4, 8, tau_c=100.0)}), currents)
    z, z0 = r["z"], r0["z"]
    assert z[:, :4].sum() > z0[:, :4].sum() and z[:, 4:].sum() < z0[:, 4:].sum()


def test_threshold_clamp_gradients_and_errors():
    mod = astro_modulation("e", blocks(4, 2), kappa_th=-100.0)
    _, thr = mod.factors(jnp.array([5.0, 0.0]))
    np.testing.assert_allclose(np.asarray(thr), [0.1, 0.1, 1.0, 1.0], rtol=1e-6)
    currents = jax.random.uniform(jax.random.PRNGKey(4), (60, 4), minval=0.0, maxval=2.5)
    net = current_net(lif(tau=20.0, dt=1.0), 4, {"astro": astro_modulation("e", 2, 4,
                                                                           drive_scale=5.0)})

    def loss(m):
        n = nw.Network(net.populations, net.projections, {"astro": m}, {}, net.inputs)
        _, rec = scan_steps(n, n.init_state(), currents, monitors=("spikes.e",))
        return rec["spikes.e"].sum()

    g = jax.grad(loss)(net.modulators["astro"])
    assert np.all(np.isfinite(np.asarray(g.kappa_th))) and np.abs(np.asarray(g.kappa_th)).sum() > 0
    assert np.abs(np.asarray(g.kappa_g)).sum() > 0
    with pytest.raises(ValueError, match="tau_c"):
        astro_modulation("e", 2, 4, tau_c=0.0)
    with pytest.raises(ValueError, match="n_neurons"):
        astro_modulation("e", 2)
    with pytest.raises(ValueError, match="population 'h'"):
        current_net(lif(), 4, {"astro": astro_modulation("h", 2, 4)}).init_state()
    with pytest.raises(ValueError, match="coverage maps 8"):
        current_net(lif(), 4, {"astro": astro_modulation("e", 2, 8)}).init_state()
