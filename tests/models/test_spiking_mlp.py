"""Spiking MLP Network: the Network forward is the layer-by-layer reference; the rate-domain
DSR gradient (weights and thresholds) equals back-propagation through dsr_lif per step."""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neuro._pytree import value_and_grad
from neuro.models import spiking_mlp as smlp
from neuro.network import Network
from neuro.neurons.dsr import dsr_lif, rate_weights

STEPS = 8


@pytest.fixture(scope="module")
def setup():
    net = smlp.spiking_mlp((12, 16, 14, 5), seed=0)
    net = jax.tree_util.tree_map(lambda a: 3.0 * a if a.ndim == 2 else a, net)
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(9, 12)), jnp.float32)
    y = jnp.asarray(np.arange(9) % 5, jnp.int32)
    return net, x, y


def test_is_a_network_of_dsr_populations(setup):
    net, _, _ = setup
    assert isinstance(net, Network)
    assert sorted(net.populations) == ["h1", "h2"]
    assert net.projections["l2"].source == "h1" and net.readouts["out"].source == "h2"
    assert smlp.presynaptic_names(net) == ["l1", "l2", "out"]
    assert smlp.presynaptic_sizes(net) == [12, 16, 14]


def test_network_forward_equals_layer_by_layer_reference(setup):
    """T + L - 1 network steps reproduce the reference's per-layer T-step spike trains."""
    net, x, _ = setup
    logits, acts = jax.jit(partial(smlp.forward, timesteps=STEPS))(net, x)
    h = jnp.broadcast_to(x, (STEPS, *x.shape))
    for i, name in enumerate(("h1", "h2")):
        n = net.populations[name].neuron
        h = dsr_lif(jnp.einsum("tbi,io->tbo", h, net.projections[f"l{i + 1}"].w), n.v_th, n.tau,
                    n.dt, n.kappa)
    w = rate_weights(STEPS, 1.0, 0.05)
    np.testing.assert_allclose(np.asarray(acts["out"]), np.tensordot(w, h, 1), rtol=1e-5,
                               atol=1e-5)
    np.testing.assert_allclose(np.asarray(logits),
                               np.tensordot(w, h, 1) @ np.asarray(net.readouts["out"].w),
                               rtol=1e-4, atol=1e-4)
    assert float(jnp.abs(acts["out"]).max()) > 0


def test_gradient_matches_per_step_dsr_backprop(setup):
    net, x, y = setup
    net = jax.tree_util.tree_map(lambda a: 2.0 * a if a.ndim == 2 else a, net)
    f = jax.jit(value_and_grad(partial(smlp.loss, timesteps=STEPS, train_threshold=True),
                               has_aux=True))
    (loss, m), grads = f(net, (x, y), None)
    ref_loss, ref = jax.jit(jax.value_and_grad(
        lambda n: smlp.reference_loss(n, x, y, timesteps=STEPS)))(net)
    np.testing.assert_allclose(float(loss), float(ref_loss), rtol=1e-5)
    pairs = [(grads.projections[p].w, ref.projections[p].w) for p in ("l1", "l2")]
    pairs.append((grads.readouts["out"].w, ref.readouts["out"].w))
    for g, r in pairs:
        assert np.abs(np.asarray(r)).max() > 0
        np.testing.assert_allclose(np.asarray(g), np.asarray(r), rtol=1e-4, atol=1e-5)
    vth = [float(grads.populations[p].neuron.v_th) for p in ("h1", "h2")]
    vth_ref = [float(ref.populations[p].neuron.v_th) for p in ("h1", "h2")]
    assert any(v != 0 for v in vth_ref)
    np.testing.assert_allclose(vth, vth_ref, rtol=1e-4, atol=1e-7)
    # without threshold training the thresholds get no gradient (they stay fixed under SGD)
    _, g0 = jax.jit(value_and_grad(partial(smlp.loss, timesteps=STEPS), has_aux=True))(
        net, (x, y), None)
    assert float(g0.populations["h2"].neuron.v_th) == 0.0
    assert float(jnp.abs(g0.readouts["out"].b).max()) == 0.0
    assert [a.shape for a in m["presynaptic"].values()] == [(9, 12), (9, 16), (9, 14)]


def test_multi_head_uses_only_its_columns(setup):
    _, x, _ = setup
    net = smlp.spiking_mlp((12, 16, 2), seed=1, heads=3)
    net = jax.tree_util.tree_map(lambda a: 3.0 * a if a.ndim == 2 else a, net)
    assert net.readouts["out"].w.shape == (16, 6)
    y = jnp.full(9, 2, jnp.int32)  # head 1, class 0 (global labels h C + y)
    f = jax.jit(value_and_grad(partial(smlp.loss, timesteps=6, classes=2), has_aux=True))
    _, grads = f(net, (x, y), None)
    g = np.asarray(grads.readouts["out"].w)
    assert np.all(g[:, [0, 1, 4, 5]] == 0) and np.any(g[:, 2:4] != 0)
    pred = smlp.predict(net, x, 1, timesteps=6, classes=2)
    assert pred.shape == (9,) and set(np.unique(pred)) <= {0, 1}


def test_config_validation():
    with pytest.raises(ValueError, match="sizes"):
        smlp.spiking_mlp((10, 5))
    with pytest.raises(ValueError, match="heads"):
        smlp.spiking_mlp(heads=0)
    with pytest.raises(ValueError, match="tau"):
        smlp.spiking_mlp(tau=0.0)
    net = smlp.spiking_mlp((4, 3, 2))
    with pytest.raises(ValueError, match="timesteps"):
        smlp.forward(net, jnp.zeros((1, 4)), timesteps=0)
