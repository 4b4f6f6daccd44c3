"""HRSNN / CHRSNN construction and dynamics, checked against neuro.neurons.lif and NumPy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neuro.dynamics import jacobian
from neuro.models.hrsnn import chrsnn, hrsnn, smoothed_step, spiking_step
from neuro.neurons import lif
from neuro.run import simulate


def test_hrsnn_structure():
    net = hrsnn(jax.random.PRNGKey(0), 200, 3, p_conn=0.2, radius=2.0)
    w = np.asarray(net.w_rec)
    assert w.shape == (200, 200) and net.w_in.shape == (200, 3)
    assert np.all(np.diag(w) == 0)
    assert abs(np.count_nonzero(w) / (200 * 199) - 0.2) < 0.01
    # Dale: every presynaptic column has one sign, that of net.sign
    sign = np.asarray(net.sign)
    assert np.all(w[:, sign > 0] >= 0) and np.all(w[:, sign < 0] <= 0)
    assert np.mean(sign > 0) == pytest.approx(0.8)
    assert np.max(np.abs(np.linalg.eigvals(w))) == pytest.approx(2.0, rel=1e-4)
    tau = np.asarray(net.tau)
    assert tau.min() >= 2.0 and tau.max() <= 200.0 and 12.0 < tau.mean() < 28.0
    assert net.num_synapses == np.count_nonzero(w)


def test_step_equals_lif_soft_reset_loop():
    """The spikes equal neuro.neurons.lif (soft reset, scale='threshold') driven by W z_{t-1}."""
    net = hrsnn(jax.random.PRNGKey(1), 30, 2, radius=3.0, input_scale=2.0)
    xs = jax.random.normal(jax.random.PRNGKey(2), (80, 2))
    res = simulate(spiking_step, net, net.init_state(), xs, monitors=("spikes", "v"))
    neuron = lif(tau=net.tau, v_th=1.0, v_reset=0.0, reset="soft", scale="threshold")
    state = neuron.init_state(30)
    z = jnp.zeros(30)
    spikes = []
    lif_step = jax.jit(lambda st, cur: neuron.step(st, cur))
    for t in range(80):
        current = net.w_rec @ z + net.w_in @ xs[t] + net.bias
        state, z = lif_step(state, current)
        spikes.append(np.asarray(z))
    np.testing.assert_array_equal(res.records["spikes"], np.stack(spikes))
    assert res.records["spikes"].mean() > 0.01  # the check is not vacuous


def test_smoothed_jacobian_matches_analytic():
    net = hrsnn(jax.random.PRNGKey(3), 20, 1, radius=5.0)
    u = jax.random.normal(jax.random.PRNGKey(4), (20,)) + 0.8
    j = np.asarray(jacobian(smoothed_step, net, net.init_state()._replace(u=u), jnp.zeros(1)))
    a = np.exp(-1.0 / np.asarray(net.tau))
    s = 1.0 / (1.0 + np.exp(-4.0 * (np.asarray(u) - 1.0)))
    g = 4.0 * s * (1 - s)
    expected = np.diag(a * (1 - g)) + (1 - a)[:, None] * np.asarray(net.w_rec) * g[None, :]
    np.testing.assert_allclose(j, expected, rtol=1e-4, atol=1e-6)


def test_chrsnn_clusters_and_small_world():
    net = chrsnn(jax.random.PRNGKey(5), clusters=6, cluster_size=50, tau_means=(5, 10, 20, 30,
                                                                                40, 60))
    w = np.asarray(net.w_rec) != 0
    c = np.asarray(net.cluster)
    same = c[:, None] == c[None, :]
    intra = w[same].mean()
    inter = w[~same].mean()
    assert 0.17 < intra < 0.23 and 0 < inter < 0.02
    ring = np.abs(c[:, None] - c[None, :]) % 6
    far = (~same) & (ring != 1) & (ring != 5)
    assert w[far].sum() > 0  # rewired shortcuts exist
    means = [np.asarray(net.tau)[c == k].mean() for k in range(6)]
    assert means[0] < means[2] < means[5]
    assert np.all(np.asarray(net.sign).reshape(6, 50).mean(1) == pytest.approx(0.6))


def test_subnetwork_runs_in_same_step():
    net = hrsnn(jax.random.PRNGKey(6), 40, 2)
    keep = np.array([0, 3, 5, 10, 33, 39])
    sub = net.subnetwork(keep)
    np.testing.assert_array_equal(np.asarray(sub.w_rec), np.asarray(net.w_rec)[np.ix_(keep, keep)])
    res = simulate(spiking_step, sub, sub.init_state(), jnp.zeros((10, 2)))
    assert res.records["spikes"].shape == (10, 6)
    with pytest.raises(ValueError, match="w_rec must have shape"):
        net.subnetwork(keep, np.zeros((3, 3)))


@pytest.mark.parametrize(
    "kwargs, match",
    [({"n": 1}, "n must"), ({"p_conn": 1.5}, "p_conn"), ({"radius": -1.0}, "radius"),
     ({"bias_range": (1.0, 0.0)}, "bias_range"), ({"n_in": 0}, "n_in")],
)
def test_invalid_parameters(kwargs, match):
    args = {"n": 10, **kwargs}
    with pytest.raises(ValueError, match=match):
        hrsnn(jax.random.PRNGKey(0), **args)
