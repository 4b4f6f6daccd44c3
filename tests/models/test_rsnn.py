"""The fused recurrent layer (neuro.fast_rnn) against plain autodiff through the generic scan."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neuro.fast_rnn import events_available
from neuro.models import rsnn as rsnn_model
from neuro.neurons import alif, lif
from neuro.train import cross_entropy, readout_logits

T, B, N_IN, N_REC, N_OUT = 12, 3, 5, 7, 4

NEURONS = {
    "lif_soft": lambda: lif(tau=jnp.linspace(5.0, 30.0, N_REC), v_th=0.3),
    "lif_hard_detached_refractory": lambda: lif(v_th=0.3, reset="hard", detach_reset=True,
                                                refractory_steps=2, surrogate_fn="arctan"),
    "alif_eprop": lambda: alif(thr=0.3, beta=0.5),
}


def _setup(neuron, seed=0):
    key = jax.random.PRNGKey(seed)
    k_net, k_x, k_y = jax.random.split(key, 3)
    params = rsnn_model.rsnn(k_net, N_IN, N_REC, N_OUT, neuron=neuron, in_gain=3.0, rec_gain=2.0)
    xs = (jax.random.uniform(k_x, (T, B, N_IN)) < 0.4).astype(jnp.float32)
    labels = jax.random.randint(k_y, (B,), 0, N_OUT)
    return params, xs, labels


def _loss(params, xs, labels, fused, remat_chunk=None, sparse=False):
    rec = rsnn_model.run(params, xs, fused=fused, remat_chunk=remat_chunk, sparse_inputs=sparse)
    loss, _ = cross_entropy(readout_logits(rec["readout"]), labels)
    return loss + 0.1 * jnp.sum(rec["spikes"].mean(axis=(0, 1)) ** 2)


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n == "alif_eprop"
                                  else n for n in sorted(NEURONS)])
def test_fused_matches_plain_autodiff(name):
    params, xs, labels = _setup(NEURONS[name]())
    plain = rsnn_model.run(params, xs, fused=False)
    fused = rsnn_model.run(params, xs)
    assert float(plain["spikes"].mean()) > 0.02  # the network spikes, so the check has teeth
    np.testing.assert_array_equal(fused["spikes"], plain["spikes"])
    np.testing.assert_allclose(fused["readout"], plain["readout"], rtol=1e-5, atol=1e-6)

    g_plain = jax.jit(jax.grad(_loss), static_argnums=(3,))(params, xs, labels, False)
    g_fused = jax.jit(jax.grad(_loss), static_argnums=(3,))(params, xs, labels, True)
    leaves_p = jax.tree_util.tree_leaves_with_path(g_plain)
    leaves_f = jax.tree_util.tree_leaves(g_fused)
    assert len(leaves_p) == len(leaves_f)
    nonzero = 0
    for (path, gp), gf in zip(leaves_p, leaves_f, strict=True):
        scale = float(jnp.abs(gp).max()) + 1e-12
        np.testing.assert_allclose(gf, gp, rtol=1e-4, atol=1e-5 * scale,
                                   err_msg=jax.tree_util.keystr(path))
        nonzero += scale > 1e-9
    assert nonzero >= 5  # weights, biases and neuron parameters all receive gradient


_grad = jax.jit(jax.grad(_loss), static_argnums=(3, 4, 5))


def test_fused_remat_chunk_matches():
    params, xs, labels = _setup(NEURONS["lif_soft"](), seed=1)
    g_full = _grad(params, xs, labels, True)
    g_remat = _grad(params, xs, labels, True, 4)
    for a, b in zip(jax.tree_util.tree_leaves(g_full), jax.tree_util.tree_leaves(g_remat),
                    strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-8)
    with pytest.raises(ValueError, match="remat_chunk"):
        rsnn_model.run(params, xs, remat_chunk=5)


def test_generic_path_monitors_membrane():
    params, xs, _ = _setup(NEURONS["lif_soft"]())
    rec = rsnn_model.run(params, xs, monitors=("spikes", "v"))
    assert rec["v"].shape == (T, B, N_REC)
    np.testing.assert_array_equal(rec["spikes"], rsnn_model.run(params, xs)["spikes"])


@pytest.mark.skipif(not events_available(), reason="event-driven kernels need numba")
def test_event_driven_products_match_dense():
    params, xs, labels = _setup(NEURONS["lif_soft"](), seed=2)
    xs = xs * jax.random.uniform(jax.random.PRNGKey(3), xs.shape)  # valued, sparse inputs
    g_dense = _grad(params, xs, labels, True, None, False)
    g_event = _grad(params, xs, labels, True, None, True)
    binary = (xs > 0.2)
    g_bool = _grad(params, binary, labels, True, None, None)  # bool -> events by default
    g_bool_dense = _grad(params, binary.astype(jnp.float32), labels, True, None, False)
    for ref, got in ((g_dense, g_event), (g_bool_dense, g_bool)):
        for a, b in zip(jax.tree_util.tree_leaves(ref), jax.tree_util.tree_leaves(got),
                        strict=True):
            np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6 * float(jnp.abs(a).max()))
    out = rsnn_model.run(params, binary)
    np.testing.assert_array_equal(out["spikes"], rsnn_model.run(params, binary, fused=False)["spikes"])
