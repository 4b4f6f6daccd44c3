"""Property tests on random small networks (hypothesis): event and dense backends agree, batched
equals per-sample, jit equals eager."""

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neuro import neurons, projections, synapses
from neuro.network import network, population
from neuro.run import scan_steps

SETTINGS = settings(max_examples=4, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


@st.composite
def random_networks(draw):
    n = draw(st.integers(2, 12))
    n_in = draw(st.integers(1, 5))
    p = draw(st.floats(0.05, 0.6))
    seed = draw(st.integers(0, 2**16))
    neuron = draw(st.sampled_from(["lif", "alif", "cond"]))
    delays = draw(st.booleans())
    rng = np.random.default_rng(seed)
    conn = projections.fixed_probability(seed, n, n, p)
    pre, post, _, _ = conn.to_edges()
    channels = 2 if neuron == "cond" else 1
    src_ch = (np.arange(n) >= n // 2).astype(int) if channels == 2 else 0
    conn = projections.from_edges(pre, post, n, n, weights=rng.uniform(0.1, 1.0, pre.size),
                                  source_channels=src_ch, n_channels=channels)
    table = rng.integers(0, 3, conn.targets.shape) if delays else None
    if neuron == "cond":
        cell = neurons.conductance_lif(dt=0.5, tau_ref=1.0)
        syn = synapses.conductance_synapse(dt=0.5)
        gain = 40.0
    else:
        cell = neurons.lif(tau=10.0) if neuron == "lif" else neurons.alif(thr=0.3, beta=0.5)
        syn = synapses.current_synapse((3.0,), dt=1.0)
        gain = 2.0
    w_in = rng.uniform(0.0, gain, (n_in, n))

    def build(backend):
        return network(
            {"p": population(cell, n, synapse=syn)},
            {"in": projections.dense("x", "p", w_in),
             "rec": projections.sparse("p", "p", conn, delays=table, backend=backend)},
            inputs={"x": n_in})

    x = (rng.random((10, 3, n_in)) < 0.4).astype(np.float32)
    return build, jnp.asarray(x)


def _spikes(net, x, batch):
    _, rec = scan_steps(net, net.init_state(batch), x, monitors=("spikes.p",))
    return np.asarray(rec["spikes.p"])


@SETTINGS
@given(random_networks())
def test_event_and_dense_backends_agree(case):
    build, x = case
    np.testing.assert_array_equal(_spikes(build("event"), x, 3), _spikes(build("dense"), x, 3))


@SETTINGS
@given(random_networks())
def test_batched_equals_per_sample(case):
    build, x = case
    net = build("event")
    batched = _spikes(net, x, 3)
    for b in range(3):
        np.testing.assert_array_equal(batched[:, b], _spikes(net, x[:, b], ()))


@SETTINGS
@given(random_networks())
def test_jit_equals_eager(case):
    build, x = case
    net = build("event")
    compiled = jax.jit(lambda n, xs: _spikes_traced(n, xs))(net, x)
    with jax.disable_jit():
        eager = _spikes_traced(net, x)
    np.testing.assert_array_equal(np.asarray(compiled), np.asarray(eager))


def _spikes_traced(net, x):
    _, rec = scan_steps(net, net.init_state(3), x, monitors=("spikes.p",))
    return rec["spikes.p"]
