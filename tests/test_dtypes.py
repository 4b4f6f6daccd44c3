"""Every core part runs in float32 and in float64 (``JAX_ENABLE_X64``): states, spikes, outputs
and gradients keep the width of the session, and float32 states stay float32 in an x64 session."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from neuro import network, neurons, projections, readouts, synapses
from neuro.run import scan_steps, simulate
from neuro.train import Trainer, cross_entropy, readout_logits

WIDTHS = [pytest.param(False, id="float32"), pytest.param(True, id="float64")]


def _float(x64):
    return jnp.float64 if x64 else jnp.float32


@pytest.mark.parametrize("x64", WIDTHS)
@pytest.mark.parametrize("make", [
    lambda: neurons.lif(tau=np.linspace(5, 20, 4), refractory_steps=2),
    lambda: neurons.integrate_and_fire(),
    lambda: neurons.alif(refractory_steps=1),
    lambda: neurons.conductance_lif(reversal=()),
], ids=["lif", "if", "alif", "conductance_lif"])
def test_neurons(x64, make):
    with jax.enable_x64(x64):
        p = make()
        state = p.init_state(4)
        drive = jnp.full((4,), 30.0, _float(x64))
        state2, z = jax.jit(p.step)(state, drive)
        for a, b in zip(jax.tree_util.tree_leaves(state), jax.tree_util.tree_leaves(state2),
                        strict=True):
            assert a.dtype == b.dtype  # a scan carry keeps its type
        assert p.membrane(state2).dtype == _float(x64)


def _net(x64, backend):
    conn = projections.fixed_probability(0, 6, 6, 0.5, weights=0.4)
    return network.network(
        {"e": network.population(neurons.lif(tau=10.0), 6, synapse=synapses.current_synapse(
            tau=(5.0,), dt=1.0))},
        {"in": projections.dense("x", "e", key=jax.random.PRNGKey(0), n_pre=3, n_post=6,
                                 gain=4.0),
         "ee": projections.sparse("e", "e", conn, backend=backend)},
        readouts={"y": readouts.leaky("e", 2, key=jax.random.PRNGKey(1), n_in=6)},
        inputs={"x": 3})


@pytest.mark.parametrize("x64", WIDTHS)
@pytest.mark.parametrize("backend", ["event", pytest.param("dense", marks=pytest.mark.slow)])
def test_network_projections_and_loop(x64, backend):
    with jax.enable_x64(x64):
        net = _net(x64, backend)
        xs = jax.random.uniform(jax.random.PRNGKey(2), (20, 2, 3), _float(x64), maxval=2.0)
        out = simulate(net, net.init_state(2), xs, monitors=("spikes.e", "v.e", "readout.y"))
        assert out.records["v.e"].dtype == _float(x64)
        assert out.records["readout.y"].dtype == _float(x64)
        assert float(out.records["spikes.e"].sum()) > 0
        if x64:  # a float32 state in a float64 session stays float32
            s32 = net.init_state(2, jnp.float32)
            final, _ = scan_steps(net, s32, xs.astype(jnp.float32), monitors="spikes.e")
            assert {a.dtype for a in jax.tree_util.tree_leaves(final)
                    if jnp.issubdtype(a.dtype, jnp.floating)} == {jnp.dtype(jnp.float32)}


@pytest.mark.slow
@pytest.mark.parametrize("x64", WIDTHS)
def test_trainer(x64):
    with jax.enable_x64(x64):
        net = _net(x64, "event")
        xs = jax.random.uniform(jax.random.PRNGKey(3), (8, 15, 3), _float(x64), maxval=2.0)
        ys = jnp.array([0, 1] * 4)

        def loss_fn(net, batch, key):
            x, y = batch
            _, rec = scan_steps(net, net.init_state(x.shape[0]), jnp.swapaxes(x, 0, 1),
                                monitors="readout.y", check_finite=False)
            loss, acc = cross_entropy(readout_logits(rec["readout.y"]), y)
            return loss, {"accuracy": acc}

        trainer = Trainer(loss_fn, optax.adam(1e-2))
        trained, _, history = trainer.fit(net, xs, ys, epochs=2, batch_size=4)
        assert trained.projections["in"].w.dtype == _float(x64)
        assert np.isfinite(history[-1]["loss"])
        assert not np.allclose(trained.projections["in"].w, net.projections["in"].w)
