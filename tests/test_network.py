"""The Network: parts compose into one compiled, batched, differentiable model."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from neuro import neurons, projections, readouts, synapses, train
from neuro._pytree import pytree_dataclass
from neuro.network import Modulator, Network, network, population
from neuro.neurons import Drive
from neuro.run import scan_steps, simulate


def _composed(key, n=40, n_in=12, backend="event"):
    """ALIF soft-reset neurons + sparse recurrence with per-synapse delays and STP + readout."""
    rng = np.random.default_rng(0)
    conn = projections.fixed_probability(1, n, n, 0.2, allow_self=False)
    pre, post, _, _ = conn.to_edges()
    conn = projections.from_edges(pre, post, n, n, weights=rng.normal(0.0, 0.3, pre.size))
    k_in, k_out = jax.random.split(key)
    return network(
        populations={"e": population(neurons.alif(thr=0.5, beta=0.3), n,
                                     synapse=synapses.current_synapse((5.0,), dt=1.0))},
        projections={
            "in": projections.dense("x", "e", key=k_in, n_pre=n_in, n_post=n, gain=3.0),
            "ee": projections.stp(projections.sparse("e", "e", conn, backend=backend,
                                                     delays=rng.integers(0, 3, conn.targets.shape)),
                                  synapses.tsodyks_markram()),
        },
        readouts={"y": readouts.leaky("e", 3, key=k_out, n_in=n)},
        inputs={"x": n_in},
    )


def _loss(net, batch, key):
    x, labels = batch
    _, rec = scan_steps(net, net.init_state(x.shape[1]), x, monitors=("readout.y",))
    loss, acc = train.cross_entropy(rec["readout.y"].mean(axis=0), labels)
    return loss, {"acc": acc}


@pytest.mark.parametrize("x64", [False, True])
def test_composed_network_trains_by_bptt_through_sparse_recurrence(key, x64):
    with jax.enable_x64(x64):
        net = _composed(key)
        dtype = jnp.float64 if x64 else jnp.float32
        assert net.projections["ee"].projection.weights.dtype == dtype
        x = jax.random.bernoulli(key, 0.3, (40, 8, 12)).astype(dtype)
        labels = jnp.arange(8) % 3
        trainer = train.Trainer(_loss, optax.adam(1e-2))
        opt_state = trainer.init(net)
        losses = []
        for _ in range(12):
            net, opt_state, metrics = trainer.update(net, opt_state, (x, labels), key)
            losses.append(float(metrics["loss"]))
        assert np.all(np.isfinite(losses))
        assert losses[-1] < 0.9 * losses[0]
        # the gradient reached the recurrent sparse weights (through surrogate spikes)
        (_, _), grads = train.value_and_grad(_loss, has_aux=True)(net, (x, labels), key)
        assert float(jnp.abs(grads.projections["ee"].projection.weights).max()) > 0.0
        # integer structure passes through training untouched
        assert grads.projections["ee"].projection.targets is None


def test_event_and_dense_backends_give_the_same_network(key):
    with jax.enable_x64(True):
        x = jax.random.bernoulli(key, 0.3, (30, 4, 12)).astype(float)
        out = {}
        for backend in ("event", "dense"):
            net = _composed(key, backend=backend)
            out[backend] = simulate(net, net.init_state(4), x, monitors=("spikes.e", "v.e"))
        np.testing.assert_array_equal(out["event"].records["spikes.e"],
                                      out["dense"].records["spikes.e"])
        np.testing.assert_allclose(out["event"].records["v.e"], out["dense"].records["v.e"],
                                   rtol=1e-10, atol=1e-12)


def test_schedule_spikes_reach_targets_one_step_later():
    """A driven neuron fires at step 0; its synapse onto a silent neuron acts at step 1."""
    lif = neurons.lif(tau=1e9, v_th=1.0, reset="hard")
    net = network(
        populations={"a": population(lif, 1), "b": population(lif, 1)},
        projections={"in": projections.dense("x", "a", jnp.ones((1, 1)) * 2.0),
                     "ab": projections.dense("a", "b", jnp.ones((1, 1)) * 2.0)},
        inputs={"x": 1},
    )
    lif_if = neurons.integrate_and_fire(v_th=1.0, reset="hard")
    net = network(
        populations={"a": population(lif_if, 1), "b": population(lif_if, 1)},
        projections=net.projections, inputs={"x": 1},
    )
    x = jnp.zeros((4, 1)).at[0, 0].set(1.0)
    rec = simulate(net, net.init_state(), x, monitors=("spikes",)).records["spikes"]
    np.testing.assert_array_equal(np.asarray(rec["a"])[:, 0], [1, 0, 0, 0])
    np.testing.assert_array_equal(np.asarray(rec["b"])[:, 0], [0, 1, 0, 0])


def test_output_keys_are_the_same_for_every_network(key):
    nets = [_composed(key),
            network({"p": population(neurons.lif(), 5)},
                    {"in": projections.dense("u", "p", key=key, n_pre=2, n_post=5)},
                    inputs={"u": 2})]
    for net in nets:
        x = jnp.zeros((3, 1, net.inputs[0][1]))
        _, out = net.step(net.init_state(1), x[0])
        assert set(out) == {"spikes", "v", "readout", "modulators"}


@pytree_dataclass
class _Threshold(Modulator):
    """Scales a population's threshold by a fixed factor (a minimal modulator)."""

    def modulate(self, state, view):
        return state, {"e": Drive(jnp.zeros(()), None, 1.0, 2.0)}

    def select(self, keep):
        return self


def test_modulator_effects_reach_the_neurons(key):
    base = _composed(key)
    net = Network(base.populations, base.projections, {"m": _Threshold()}, base.readouts,
                  base.inputs)
    x = jax.random.bernoulli(key, 0.5, (30, 2, 12)).astype(float)
    plain = simulate(base, base.init_state(2), x, monitors=("spikes.e",)).records["spikes.e"]
    high = simulate(net, net.init_state(2), x, monitors=("spikes.e",)).records["spikes.e"]
    assert float(high.sum()) < float(plain.sum())


@pytest.mark.parametrize(
    "build, name",
    [
        (lambda k: network({}), "population"),
        (lambda k: network({"e": population(neurons.lif(), 3)},
                           {"p": projections.dense("q", "e", key=k, n_pre=2, n_post=3)}), "source"),
        (lambda k: network({"e": population(neurons.lif(), 3)},
                           {"p": projections.dense("e", "f", key=k, n_pre=3, n_post=3)}), "target"),
        (lambda k: network({"e": population(neurons.lif(), 3)},
                           {"p": projections.dense("x", "e", key=k, n_pre=2, n_post=3)},
                           inputs={"x": 4}), "presynaptic"),
        (lambda k: network({"e": population(neurons.lif(), 3)},
                           {"p": projections.dense("e", "e", key=k, n_pre=3, n_post=3,
                                                   channel=1)}), "channels"),
        (lambda k: network({"e": population(neurons.lif(), 3)},
                           readouts={"y": readouts.leaky("e", 2, key=k, n_in=4)}), "reads"),
        (lambda k: population(neurons.lif(), 3, synapse=synapses.conductance_synapse()),
         "conductance"),
        (lambda k: population(neurons.lif(), 0), "size"),
    ],
)
def test_bad_networks_are_refused_naming_the_part(key, build, name):
    with pytest.raises((ValueError, TypeError), match=name):
        build(key)


def test_select_neurons_equals_the_network_with_the_rest_silenced(key):
    """Cutting neurons that never fire (no input, no recurrent input) leaves the kept neurons'
    activity and the readout unchanged."""
    with jax.enable_x64(True):
        net = _composed(key)
        keep = np.arange(0, 40, 2)
        drop = np.setdiff1d(np.arange(40), keep)
        w_in = net.projections["in"].w.at[:, drop].set(0.0)
        rec = net.projections["ee"].projection
        into_dropped = np.isin(np.asarray(rec.targets) % 40, drop)
        rec = dataclasses.replace(rec, weights=jnp.where(into_dropped, 0.0, rec.weights))
        ee = dataclasses.replace(net.projections["ee"], projection=rec)
        silent = Network(net.populations, {"in": projections.dense("x", "e", w_in), "ee": ee},
                         net.modulators, net.readouts, net.inputs)
        from neuro.network import select_neurons

        small = select_neurons(silent, {"e": keep})
        assert small.populations["e"].size == keep.size
        assert small.readouts["y"].w.shape == (keep.size, 3)
        x = jax.random.bernoulli(key, 0.3, (30, 2, 12)).astype(float)
        full = simulate(silent, silent.init_state(2), x, monitors=("spikes.e", "readout.y"))
        cut = simulate(small, small.init_state(2), x, monitors=("spikes.e", "readout.y"))
        assert float(full.records["spikes.e"][..., drop].sum()) == 0.0
        np.testing.assert_array_equal(cut.records["spikes.e"], full.records["spikes.e"][..., keep])
        np.testing.assert_allclose(cut.records["readout.y"], full.records["readout.y"],
                                   rtol=1e-10, atol=1e-12)
