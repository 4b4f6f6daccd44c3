import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neuro.models.astrosnn import (
    astro_snn,
    init_params,
    model_by_name,
    run,
    trainable_mask,
)

N_IN, N, N_OUT, T, B = 6, 16, 3, 60, 2


def _inputs(seed=0):
    return jax.random.bernoulli(jax.random.PRNGKey(seed), 0.3, (T, B, N_IN)).astype(jnp.float32)


_run = jax.jit(run, static_argnames=("monitors", "remat_chunk"))


def test_lif_baseline_matches_a_numpy_recurrent_lif_loop():
    # Independent reference: the recurrent LIF network written out in NumPy (soft reset, V_th = 1).
    model = model_by_name("lif", N_IN, N, N_OUT, group_size=4, dt=10.0)
    params = init_params(jax.random.PRNGKey(0), model, input_gain=2.0, rec_gain=1.0)
    x = _inputs()
    rec = _run(model, params, x)
    a = np.exp(-10.0 / 20.0)
    kappa = np.exp(-10.0 / 20.0)
    w_in, w_rec = np.asarray(params["w_in"]), np.asarray(params["w_rec"]) * (1 - np.eye(N))
    w_out, b_out = np.asarray(params["w_out"]), np.asarray(params["b_out"])
    v, z, y = np.zeros((B, N)), np.zeros((B, N)), np.zeros((B, N_OUT))
    zs = []
    for t in range(T):
        i_t = np.asarray(x[t]) @ w_in + z @ w_rec
        vt = a * v + (1 - a) * i_t
        z = (vt >= 1.0).astype(float)
        v = vt - z
        y = kappa * y + z @ w_out + b_out
        zs.append(z)
    zs = np.array(zs)
    assert zs.sum() > 20  # the network is active
    np.testing.assert_array_equal(np.asarray(rec["z"]), zs)
    np.testing.assert_allclose(np.asarray(rec["y"][-1]), y, rtol=1e-4, atol=1e-5)


def test_astro_with_zero_gains_equals_the_lif_baseline_and_trains_its_gains():
    lif_m = model_by_name("lif", N_IN, N, N_OUT, group_size=4)
    astro_m = model_by_name("astro", N_IN, N, N_OUT, group_size=4)
    p_lif = init_params(jax.random.PRNGKey(3), lif_m, input_gain=2.0)
    p_astro = init_params(jax.random.PRNGKey(3), astro_m, input_gain=2.0)
    jax.tree_util.tree_map(np.testing.assert_array_equal, p_lif, p_astro)  # same seed, same init
    x = _inputs(1)
    r_lif, r_astro = _run(lif_m, p_lif, x), _run(astro_m, p_astro, x)
    np.testing.assert_array_equal(np.asarray(r_lif["z"]), np.asarray(r_astro["z"]))
    np.testing.assert_array_equal(np.asarray(r_lif["c"]), np.asarray(r_astro["c"]))

    def loss(p, model):
        return run(model, p, x)["y"][-10:].mean()

    grad = jax.jit(jax.grad(loss))
    g_astro = grad(p_astro, astro_m)["astro"]
    g_lif = grad(p_lif, lif_m)["astro"]
    assert np.abs(np.asarray(g_astro.kappa_th)).sum() > 0
    assert np.abs(np.asarray(g_astro.kappa_g)).sum() > 0
    assert np.all(np.asarray(g_lif.kappa_th) == 0) and np.all(np.asarray(g_lif.kappa_g) == 0)
    mask = trainable_mask(lif_m, p_lif)
    assert mask["astro"].kappa_th == 0.0 and mask["w_rec"] == 1.0
    # with non-zero gains the astrocyte changes the network's spikes
    p_on = dict(p_astro, astro=p_astro["astro"].__class__(
        p_astro["astro"].c_logit, jnp.full(4, -0.8), jnp.full(4, 0.8),
        p_astro["astro"].drive_scale))
    assert not np.array_equal(np.asarray(_run(astro_m, p_on, x)["z"]), np.asarray(r_lif["z"]))


def test_alif_baseline_has_half_adaptive_neurons_and_runs():
    model = model_by_name("alif", N_IN, N, N_OUT, group_size=4, dt=10.0, tau_a=2000.0)
    beta = np.asarray(model.neuron.beta)
    rho, alpha = np.exp(-10 / 2000), np.exp(-10 / 20)
    np.testing.assert_allclose(beta[: N // 2], 1.7 * (1 - rho) / (1 - alpha), rtol=1e-6)
    assert np.all(beta[N // 2:] == 0)
    rec = _run(model, init_params(jax.random.PRNGKey(0), model, input_gain=2.0), _inputs())
    assert rec["z"].shape == (T, B, N) and rec["c"].shape == (T, B, N // 4)
    assert float(rec["z"].sum()) > 0


def test_astro_on_alif_neurons_runs_and_bad_structure_is_rejected():
    model = astro_snn(N_IN, N, N_OUT, neuron="alif", astro=True, group_size=8)
    rec = _run(model, init_params(jax.random.PRNGKey(0), model), _inputs())
    assert rec["c"].shape == (T, B, 2)
    named = model_by_name("astro-alif", N_IN, N, N_OUT, group_size=8)
    assert named.astro and named.neuron.__class__ is model.neuron.__class__
    with pytest.raises(ValueError, match="group_size"):
        astro_snn(N_IN, 10, N_OUT, group_size=4)
    with pytest.raises(ValueError, match="model"):
        model_by_name("gru", N_IN, N, N_OUT)
    with pytest.raises(ValueError, match="tau_c"):
        astro_snn(N_IN, N, N_OUT, tau_c=-1.0, group_size=4)
