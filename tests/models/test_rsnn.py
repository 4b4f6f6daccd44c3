"""The RSNN Network, and its fused recurrent backend (neuro.fast_rnn) against the reference: plain
autodiff of one Network.step per time step (backend="xla")."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neuro._pytree import replace, value_and_grad
from neuro.fast_rnn import events_available
from neuro.models.rsnn import rsnn
from neuro.network import Network, network
from neuro.neurons import alif, lif
from neuro.projections import Sparse, dense
from neuro.run import scan_steps, simulate
from neuro.train import cross_entropy, readout_logits

T, B, N_IN, N_REC, N_OUT = 12, 3, 5, 7, 4
MONITORS = ("spikes.h", "readout.y")

NEURONS = {
    "lif_soft": lambda: lif(tau=jnp.linspace(5.0, 30.0, N_REC), v_th=0.3),
    "lif_hard_detached_refractory": lambda: lif(v_th=0.3, reset="hard", detach_reset=True,
                                                refractory_steps=2, surrogate_fn="arctan"),
    "alif_eprop": lambda: alif(thr=0.3, beta=0.5),
}


def _with_backend(net, backend):
    return replace(net, projections={**net.projections,
                                     "rec": replace(net.projections["rec"], backend=backend)})


def _setup(neuron, seed=0):
    key = jax.random.PRNGKey(seed)
    k_net, k_x, k_y = jax.random.split(key, 3)
    net = rsnn(k_net, N_IN, N_REC, N_OUT, neuron=neuron, in_gain=3.0, rec_gain=2.0)
    xs = (jax.random.uniform(k_x, (T, B, N_IN)) < 0.4).astype(jnp.float32)
    labels = jax.random.randint(k_y, (B,), 0, N_OUT)
    return net, xs, labels


def _records(net, xs, **kw):
    return scan_steps(net, net.init_state(xs.shape[1]), xs, monitors=MONITORS, **kw)[1]


def _loss(net, xs, labels, remat_chunk=None):
    rec = _records(net, xs, remat_chunk=remat_chunk)
    loss, _ = cross_entropy(readout_logits(rec["readout.y"]), labels)
    return loss + 0.1 * jnp.sum(rec["spikes.h"].mean(axis=(0, 1)) ** 2)


_grad = jax.jit(value_and_grad(_loss), static_argnums=(3,))


def _assert_grads_close(g_ref, g_got, rtol=1e-4):
    leaves_r = jax.tree_util.tree_leaves_with_path(g_ref)
    leaves_g = jax.tree_util.tree_leaves(g_got)
    assert len(leaves_r) == len(leaves_g)
    nonzero = 0
    for (path, gr), gg in zip(leaves_r, leaves_g, strict=True):
        scale = float(jnp.abs(gr).max()) + 1e-12
        np.testing.assert_allclose(gg, gr, rtol=rtol, atol=1e-5 * scale,
                                   err_msg=jax.tree_util.keystr(path))
        nonzero += scale > 1e-9
    return nonzero


def test_rsnn_is_a_network_of_parts():
    net, _, _ = _setup(NEURONS["lif_soft"]())
    assert isinstance(net, Network)
    assert set(net.projections) == {"in", "rec"} and set(net.readouts) == {"y"}
    rec = net.projections["rec"]
    assert rec.backend == "fused" and np.all(np.diag(np.asarray(rec.weights)) == 0)
    assert net.projections["in"].w.shape == (N_IN, N_REC) and net.readouts["y"].n_out == N_OUT
    with pytest.raises(ValueError, match="n_rec"):
        rsnn(jax.random.PRNGKey(0), N_IN, 0, N_OUT)
    with pytest.raises(ValueError, match="backend"):
        rsnn(jax.random.PRNGKey(0), N_IN, N_REC, N_OUT, backend="cuda")


@pytest.mark.parametrize("name", [n if n == "lif_soft" else pytest.param(n, marks=pytest.mark.slow)
                                  for n in sorted(NEURONS)])
def test_fused_matches_plain_autodiff(name):
    net, xs, labels = _setup(NEURONS[name]())
    ref = _with_backend(net, "xla")
    plain, fused = _records(ref, xs), _records(net, xs)
    assert float(plain["spikes.h"].mean()) > 0.02  # the network spikes, so the check has teeth
    np.testing.assert_array_equal(fused["spikes.h"], plain["spikes.h"])
    np.testing.assert_allclose(fused["readout.y"], plain["readout.y"], rtol=1e-5, atol=1e-6)
    l_ref, g_ref = _grad(ref, xs, labels, None)
    l_fused, g_fused = _grad(net, xs, labels, None)
    np.testing.assert_allclose(l_fused, l_ref, rtol=1e-6)
    # weights, biases, neuron and readout parameters all receive gradient
    assert _assert_grads_close(g_ref, g_fused) >= 5


def test_fused_final_state_and_simulate_match_reference():
    net, xs, _ = _setup(NEURONS["lif_soft"](), seed=4)
    ref = _with_backend(net, "xla")
    s_ref, _ = scan_steps(ref, ref.init_state(B), xs, monitors=MONITORS)
    s_fused, _ = scan_steps(net, net.init_state(B), xs, monitors=MONITORS)
    for a, b in zip(jax.tree_util.tree_leaves(s_ref), jax.tree_util.tree_leaves(s_fused),
                    strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
    # simulate: chunks continue from the returned state, so two halves equal one run
    res = simulate(net, net.init_state(B), xs, monitors=("spikes", "readout"), chunk=T // 2)
    np.testing.assert_array_equal(res.records["spikes"]["h"], _records(ref, xs)["spikes.h"])


def test_fused_remat_chunk_matches():
    net, xs, labels = _setup(NEURONS["lif_soft"](), seed=1)
    _, g_full = _grad(net, xs, labels, None)
    _, g_remat = _grad(net, xs, labels, 4)
    for a, b in zip(jax.tree_util.tree_leaves(g_full), jax.tree_util.tree_leaves(g_remat),
                    strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-8)
    with pytest.raises(ValueError, match="remat_chunk"):
        _records(net, xs, remat_chunk=5)


def test_membrane_monitor_takes_the_reference_step():
    net, xs, _ = _setup(NEURONS["lif_soft"]())
    _, rec = scan_steps(net, net.init_state(B), xs, monitors=("spikes.h", "v.h"))
    assert rec["v.h"].shape == (T, B, N_REC)
    np.testing.assert_array_equal(rec["spikes.h"], _records(net, xs)["spikes.h"])


def test_fused_backend_outside_its_pattern_is_an_error():
    net, xs, _ = _setup(NEURONS["lif_soft"]())
    extra = dense("x", "h", key=jax.random.PRNGKey(9), n_pre=N_IN, n_post=N_REC)
    bad = network(net.populations, {**net.projections, "in2": extra}, readouts=net.readouts,
                  inputs={"x": N_IN})
    with pytest.raises(ValueError, match="backend='fused'.*in2"):
        _records(bad, xs)
    with pytest.raises(ValueError, match="recurrent projection"):
        dense("x", "h", key=jax.random.PRNGKey(0), n_pre=2, n_post=3, backend="fused")


@pytest.mark.slow
def test_sparse_recurrence_equals_dense():
    key = jax.random.PRNGKey(5)
    neuron = NEURONS["lif_soft"]()
    net_d = rsnn(key, N_IN, N_REC, N_OUT, neuron=neuron, in_gain=3.0, rec_gain=2.0, backend="xla")
    net_s = rsnn(key, N_IN, N_REC, N_OUT, neuron=neuron, in_gain=3.0, rec_gain=2.0,
                 recurrent="sparse")
    assert isinstance(net_s.projections["rec"], Sparse)
    assert net_s.num_synapses() == N_REC * (N_REC - 1)
    xs = (jax.random.uniform(jax.random.PRNGKey(6), (T, B, N_IN)) < 0.4).astype(jnp.float32)
    a, b = _records(net_d, xs), _records(net_s, xs)
    np.testing.assert_array_equal(a["spikes.h"], b["spikes.h"])
    np.testing.assert_allclose(a["readout.y"], b["readout.y"], rtol=1e-5, atol=1e-6)


@pytest.mark.slow
@pytest.mark.skipif(not events_available(), reason="event-driven kernels need numba")
def test_event_driven_products_match_dense():
    net, xs, labels = _setup(NEURONS["lif_soft"](), seed=2)
    xs = xs * jax.random.uniform(jax.random.PRNGKey(3), xs.shape)  # valued, sparse inputs
    event = _with_backend(net, "fused-event")
    _, g_dense = _grad(net, xs, labels, None)
    _, g_event = _grad(event, xs, labels, None)
    _assert_grads_close(g_dense, g_event, rtol=1e-5)
    binary = xs > 0.2  # boolean spikes as events
    np.testing.assert_array_equal(_records(event, binary)["spikes.h"],
                                  _records(_with_backend(net, "xla"), binary)["spikes.h"])

