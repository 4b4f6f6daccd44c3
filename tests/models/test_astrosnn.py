"""AstroSNN as a Network constructor: the LIF baseline against NumPy, astrocytes at zero gains."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neuro._pytree import replace
from neuro.models.astrosnn import astro_snn, model_by_name, trained_leaves, without_astrocytes
from neuro.run import scan_steps

N_IN, N, N_OUT, T, B = 6, 16, 3, 30, 2


def _inputs(seed=0):
    return jax.random.bernoulli(jax.random.PRNGKey(seed), 0.3, (T, B, N_IN)).astype(jnp.float32)


@jax.jit
def _run(net, x):
    def step(net, s, x_t):
        s, out = net.step(s, x_t)
        mods = s.modulators
        trace = mods["astro"] if "astro" in mods else (
            mods["lr"].astro.ca if "lr" in mods else out["v"]["h"][..., :0])
        return s, {"z": out["spikes"]["h"], "y": out["readout"]["y"], "c": trace}

    return scan_steps(step, net, net.init_state(x.shape[1]), x)[1]


def test_lif_baseline_matches_a_numpy_recurrent_lif_loop():
    net = model_by_name("lif", N_IN, N, N_OUT, key=jax.random.PRNGKey(0), group_size=4, dt=10.0,
                        input_gain=2.0)
    x = _inputs()
    rec = _run(net, x)
    a = kappa = np.exp(-10.0 / 20.0)
    w_in = np.asarray(net.projections["in"].w)
    w_rec = np.asarray(net.projections["rec"].w) * (1 - np.eye(N))
    w_out, b_out = np.asarray(net.readouts["y"].w), np.asarray(net.readouts["y"].b)
    v, z, y = np.zeros((B, N)), np.zeros((B, N)), np.zeros((B, N_OUT))
    zs = []
    for t in range(T):
        vt = a * v + (1 - a) * (np.asarray(x[t]) @ w_in + z @ w_rec)
        z = (vt >= 1.0).astype(float)
        v = vt - z
        y = kappa * y + z @ w_out + b_out
        zs.append(z)
    zs = np.array(zs)
    assert zs.sum() > 20  # the network is active
    np.testing.assert_array_equal(np.asarray(rec["z"]), zs)
    np.testing.assert_allclose(np.asarray(rec["y"][-1]), y, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name, base", [("astro", "lif"), ("lr-alif", "alif")])
def test_astrocytes_at_zero_gains_equal_the_baseline_and_their_gains_get_gradients(name, base):
    key = jax.random.PRNGKey(3)
    plain = model_by_name(base, N_IN, N, N_OUT, key=key, group_size=4, input_gain=2.0)
    astro = model_by_name(name, N_IN, N, N_OUT, key=key, group_size=4, input_gain=2.0)
    for p in ("in", "rec"):  # same key, same weights
        np.testing.assert_array_equal(plain.projections[p].w, astro.projections[p].w)
    x = _inputs(1)
    r_plain, r_astro = _run(plain, x), _run(astro, x)
    np.testing.assert_array_equal(np.asarray(r_plain["z"]), np.asarray(r_astro["z"]))
    assert np.abs(np.asarray(r_astro["c"])).max() > 0  # the astrocytes run

    from neuro._pytree import value_and_grad

    _, g = jax.jit(value_and_grad(lambda n: _run(n, x)["y"][-10:].mean()))(astro)
    (mod,) = g.modulators.values()
    leaves = [mod.kappa_th, mod.kappa_g] if name == "astro" else [mod.sic_gain]
    assert all(np.abs(np.asarray(v)).sum() > 0 for v in leaves)
    mask = trained_leaves(astro)
    assert mask.projections["rec"].w and mask.readouts["y"].b
    assert not mask.readouts["y"].tau and not jax.tree_util.tree_leaves(mask.populations)[0]
    # with non-zero gains the astrocytes change the network's spikes, and removing them restores
    (mname, m), = astro.modulators.items()
    on = (replace(m, kappa_th=jnp.full(4, -0.8), kappa_g=jnp.full(4, 0.8)) if name == "astro"
          else replace(m, sic_gain=jnp.full(N, 0.3)))
    on = replace(astro, modulators={mname: on})
    assert not np.array_equal(np.asarray(_run(on, x)["z"]), np.asarray(r_plain["z"]))
    np.testing.assert_array_equal(np.asarray(_run(without_astrocytes(on), x)["z"]),
                                  np.asarray(r_plain["z"]))


def test_alif_baseline_has_half_adaptive_neurons_and_bad_structure_is_rejected():
    net = model_by_name("alif", N_IN, N, N_OUT, key=jax.random.PRNGKey(0), dt=10.0,
                        tau_a=2000.0)
    beta = np.asarray(net.populations["h"].neuron.beta)
    rho, alpha = np.exp(-10 / 2000), np.exp(-10 / 20)
    np.testing.assert_allclose(beta[: N // 2], 1.7 * (1 - rho) / (1 - alpha), rtol=1e-6)
    assert np.all(beta[N // 2:] == 0) and not net.modulators
    key = jax.random.PRNGKey(0)
    with pytest.raises(ValueError, match="size"):
        astro_snn(N_IN, 10, N_OUT, key=key, group_size=4)
    with pytest.raises(ValueError, match="model"):
        model_by_name("gru", N_IN, N, N_OUT, key=key)
    with pytest.raises(ValueError, match="tau_c"):
        astro_snn(N_IN, N, N_OUT, key=key, tau_c=-1.0, group_size=4)
