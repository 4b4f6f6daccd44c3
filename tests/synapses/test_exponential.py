"""Exponential current and conductance synapses against their analytic solutions, and the drive
they hand to the neuron."""

import jax.numpy as jnp
import numpy as np
import pytest

from neuro import synapses


def _kick_and_decay(syn, n_post, kick, steps):
    """The network's use of a synapse: arrivals are added onto the decayed trace, which is
    carried to the next step by ``next_state``."""
    g = syn.init_state((), n_post)
    g = g.at[:-1].add(jnp.asarray(kick).reshape(-1))
    for _ in range(steps):
        g = syn.next_state(g, n_post)
    return np.asarray(g)


def test_exact_decay_matches_exponential():
    syn = synapses.current_synapse((5.0, 10.0), dt=0.1)
    kick = np.array([[1.0, 2.0, 0.0], [0.0, 1.0, 3.0]])
    g = _kick_and_decay(syn, 3, kick, 100)  # 10 ms after the kick
    expected = kick * np.exp(-10.0 / np.array([[5.0], [10.0]]))
    np.testing.assert_allclose(g[:-1].reshape(2, 3), expected, rtol=1e-5)
    assert g[-1] == 0.0  # the sink does not keep what it absorbed


def test_euler_decay_is_geometric():
    syn = synapses.current_synapse((5.0,), dt=0.5, method="euler")
    g = _kick_and_decay(syn, 1, [1.0], 10)
    np.testing.assert_allclose(g[0], (1 - 0.5 / 5.0) ** 10, rtol=1e-6)


def test_per_neuron_time_constants():
    tau = np.array([[2.0, 4.0, 8.0]])  # one channel, a tau per neuron
    syn = synapses.current_synapse(tau, dt=0.1)
    g = _kick_and_decay(syn, 3, [1.0, 1.0, 1.0], 20)
    np.testing.assert_allclose(g[:-1], np.exp(-2.0 / tau[0]), rtol=1e-5)


def test_current_and_conductance_drive():
    g = jnp.asarray([0.5, 1.0, 2.0, 0.0, 7.0])  # [g_E; g_I; sink] for 2 neurons
    current, cond = synapses.current_synapse().drive(g, 2)
    np.testing.assert_allclose(np.asarray(current), [2.5, 1.0])  # summed over channels
    assert cond is None
    current, cond = synapses.conductance_synapse().drive(g, 2)
    np.testing.assert_allclose(np.asarray(current), [0.0, 0.0])
    np.testing.assert_allclose(np.asarray(cond), [[0.5, 1.0], [2.0, 0.0]])  # (C, N)
    assert synapses.conductance_synapse().kind == "conductance"


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: synapses.current_synapse((-5.0, 10.0)), "tau"),
        (lambda: synapses.current_synapse(dt=0.0), "dt"),
        (lambda: synapses.current_synapse((5.0, 10.0), dt=6.0, method="euler"), "dt"),
        (lambda: synapses.conductance_synapse(method="rk4"), "method"),
        (lambda: synapses.conductance_synapse((5.0, np.nan)), "tau"),
    ],
)
def test_bad_input_names_the_parameter(call, name):
    with pytest.raises(ValueError, match=name):
        call()
