"""Exponential current and conductance synapses against their analytic solutions."""

import jax.numpy as jnp
import numpy as np
import pytest

from neuro import synapses


def test_exact_decay_matches_exponential():
    syn = synapses.current_synapse((5.0, 10.0), dt=0.1)
    g = syn.step(syn.init_state(3), jnp.asarray([[1.0, 2.0, 0.0], [0.0, 1.0, 3.0]]))
    for _ in range(99):  # 10 ms after the kick
        g = syn.step(g, jnp.zeros((2, 3)))
    expected = np.array([[1.0, 2.0, 0.0], [0.0, 1.0, 3.0]]) * np.exp(-9.9 / np.array([[5.0],
                                                                                      [10.0]]))
    np.testing.assert_allclose(np.asarray(g), expected, rtol=1e-5)


def test_euler_decay_is_geometric():
    syn = synapses.current_synapse((5.0,), dt=0.5, method="euler")
    g = jnp.ones((1, 1))
    for _ in range(10):
        g = syn.step(g, jnp.zeros((1, 1)))
    np.testing.assert_allclose(float(g[0, 0]), (1 - 0.5 / 5.0) ** 10, rtol=1e-6)


def test_current_and_conductance_outputs():
    g = jnp.asarray([[0.5, 1.0], [2.0, 0.0]])
    v = jnp.asarray([-60.0, -50.0])
    cuba = synapses.current_synapse()
    np.testing.assert_allclose(np.asarray(cuba.current(g, v)), [2.5, 1.0])
    coba = synapses.conductance_synapse(reversal=(0.0, -80.0))
    # 0.5 (0 + 60) + 2 (-80 + 60) = -10 ; 1.0 (0 + 50) + 0 = 50
    np.testing.assert_allclose(np.asarray(coba.current(g, v)), [-10.0, 50.0])


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: synapses.current_synapse((-5.0, 10.0)), "tau"),
        (lambda: synapses.current_synapse(dt=0.0), "dt"),
        (lambda: synapses.current_synapse((5.0, 10.0), dt=6.0, method="euler"), "dt"),
        (lambda: synapses.conductance_synapse(method="rk4"), "method"),
        (lambda: synapses.conductance_synapse(reversal=(0.0, np.nan)), "reversal"),
    ],
)
def test_bad_input_names_the_parameter(call, name):
    with pytest.raises(ValueError, match=name):
        call()
