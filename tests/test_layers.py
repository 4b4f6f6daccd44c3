import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neuro.layers import dense, exp_synapse, leaky_readout, recurrent
from neuro.neurons import lif


def test_recurrent_projected_path_equals_plain_step_and_numpy():
    key = jax.random.PRNGKey(0)
    layer = recurrent(key, 4, 6, lif(v_th=0.5), in_gain=2.0, rec_gain=2.0)
    xs = jax.random.uniform(jax.random.PRNGKey(1), (30, 2, 4))
    s1 = s2 = layer.init_state(2)
    currents = layer.project(xs)
    w_in, w_rec = np.asarray(layer.w_in), np.asarray(layer.w_rec) * (1 - np.eye(6))
    v, z = np.zeros((2, 6)), np.zeros((2, 6))
    alpha = np.exp(-1 / 20)
    for t in range(30):
        s1, z1 = layer.step(s1, xs[t])
        s2, z2 = layer.step_projected(s2, currents[t])
        v = alpha * v + (1 - alpha) * (np.asarray(xs[t]) @ w_in + z @ w_rec)
        z = (v >= 0.5).astype(float)
        v = v - 0.5 * z
        np.testing.assert_array_equal(z1, z2)
        np.testing.assert_array_equal(z1, z)


def test_synapse_and_readout_are_exact_filters():
    syn = exp_synapse(tau=4.0)
    i = syn.init_state((1,))
    i, _ = syn.step(i, jnp.ones(1))
    for _ in range(8):
        i, _ = syn.step(i, jnp.zeros(1))
    assert float(i[0]) == pytest.approx(np.exp(-8 / 4.0), rel=1e-6)
    ro = leaky_readout(jax.random.PRNGKey(0), 3, 2, tau=10.0)
    v = ro.init_state(1)
    for _ in range(500):
        v, _ = ro.step(v, jnp.ones((1, 3)))
    np.testing.assert_allclose(v[0], ro.dense(jnp.ones(3)), rtol=1e-4)


def test_bad_sizes():
    with pytest.raises(ValueError, match="n_out"):
        dense(jax.random.PRNGKey(0), 3, 0)
    with pytest.raises(ValueError, match="tau"):
        exp_synapse(tau=0.0)


def test_input_check_works_on_arrays_captured_under_jit():
    from neuro.layers import check_input

    xs = jnp.ones((3, 4))

    @jax.jit
    def f(w):
        check_input("xs", xs, 4)
        return (xs * w).sum()

    assert float(f(2.0)) == 24.0
