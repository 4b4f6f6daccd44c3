"""HRSNN / CHRSNN construction and dynamics, checked against neuro.neurons.lif and NumPy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neuro import prune as P
from neuro.dynamics import jacobian, smoothed, smoothed_step
from neuro.models.hrsnn import chrsnn, hrsnn
from neuro.network import Network
from neuro.neurons import lif
from neuro.run import simulate


def _w_in(net):
    """The input weights ``[N, D]`` of an HRSNN Network."""
    return np.asarray(net.projections["in"].w).T


def test_hrsnn_structure():
    net = hrsnn(jax.random.PRNGKey(0), 200, 3, p_conn=0.2, radius=2.0)
    assert isinstance(net, Network) and set(net.projections) == {"in", "rec"}
    w = P.recurrent_weights(net)
    assert w.shape == (200, 200) and _w_in(net).shape == (200, 3)
    assert np.all(np.diag(w) == 0)
    assert abs(np.count_nonzero(w) / (200 * 199) - 0.2) < 0.01
    # Dale: every presynaptic column has one sign, that of dale_signs
    sign = P.dale_signs(net)
    assert np.all(w[:, sign > 0] >= 0) and np.all(w[:, sign < 0] <= 0)
    assert np.mean(sign > 0) == pytest.approx(0.8)
    assert np.max(np.abs(np.linalg.eigvals(w))) == pytest.approx(2.0, rel=1e-4)
    tau = P.time_constants(net)
    assert tau.min() >= 2.0 and tau.max() <= 200.0 and 12.0 < tau.mean() < 28.0
    assert net.num_synapses() == np.count_nonzero(w)


def test_step_equals_lif_soft_reset_loop():
    """The spikes equal neuro.neurons.lif (soft reset, scale='threshold') driven by W z_{t-1}."""
    net = hrsnn(jax.random.PRNGKey(1), 30, 2, radius=3.0, input_scale=2.0)
    xs = jax.random.normal(jax.random.PRNGKey(2), (80, 2))
    res = simulate(net, net.init_state(), xs, monitors=("spikes.h",))
    w_rec, w_in = P.recurrent_weights(net), _w_in(net)
    bias = np.asarray(net.projections["in"].b)
    # a NumPy loop of the module docstring's equations (pre-reset potential u)
    a = np.exp(-1.0 / P.time_constants(net).astype(np.float64))
    u, z, spikes = np.zeros(30), np.zeros(30), []
    for t in range(80):
        u = a * (u - z) + (1 - a) * (w_rec @ z + w_in @ np.asarray(xs[t]) + bias)
        z = (u >= 1.0).astype(float)
        spikes.append(z)
    np.testing.assert_array_equal(res.records["spikes.h"], np.stack(spikes))
    assert res.records["spikes.h"].mean() > 0.01  # the check is not vacuous


def test_smoothed_jacobian_matches_analytic():
    net = hrsnn(jax.random.PRNGKey(3), 20, 1, radius=5.0)
    u = jax.random.normal(jax.random.PRNGKey(4), (20,)) + 0.8
    j = np.asarray(jacobian(smoothed_step, smoothed(net), u, jnp.zeros(1)))
    a = np.exp(-1.0 / P.time_constants(net))
    s = 1.0 / (1.0 + np.exp(-4.0 * (np.asarray(u) - 1.0)))
    g = 4.0 * s * (1 - s)
    expected = np.diag(a * (1 - g)) + (1 - a)[:, None] * P.recurrent_weights(net) * g[None, :]
    np.testing.assert_allclose(j, expected, rtol=1e-4, atol=1e-6)


def test_chrsnn_clusters_and_small_world():
    net = chrsnn(jax.random.PRNGKey(5), clusters=6, cluster_size=50, tau_means=(5, 10, 20, 30,
                                                                                40, 60))
    w = P.recurrent_weights(net) != 0
    c = np.repeat(np.arange(6), 50)
    same = c[:, None] == c[None, :]
    intra = w[same].mean()
    inter = w[~same].mean()
    assert 0.17 < intra < 0.23 and 0 < inter < 0.02
    ring = np.abs(c[:, None] - c[None, :]) % 6
    far = (~same) & (ring != 1) & (ring != 5)
    assert w[far].sum() > 0  # rewired shortcuts exist
    means = [P.time_constants(net)[c == k].mean() for k in range(6)]
    assert means[0] < means[2] < means[5]
    assert np.all(P.dale_signs(net).reshape(6, 50).mean(1) == pytest.approx(0.6))


def test_smoothed_map_rejects_what_it_does_not_model():
    net = hrsnn(jax.random.PRNGKey(6), 10, 1)
    p = net.populations["h"]
    from neuro._pytree import replace

    hard = replace(net, populations={"h": replace(p, neuron=lif(reset="hard"))})
    with pytest.raises(ValueError, match="soft or no reset"):
        smoothed(hard)
    with pytest.raises(ValueError, match="beta"):
        smoothed(net, beta=0.0)


@pytest.mark.parametrize(
    "kwargs, match",
    [({"n": 1}, "n must"), ({"p_conn": 1.5}, "p_conn"), ({"radius": -1.0}, "radius"),
     ({"bias_range": (1.0, 0.0)}, "bias_range"), ({"n_in": 0}, "n_in")],
)
def test_invalid_parameters(kwargs, match):
    args = {"n": 10, **kwargs}
    with pytest.raises(ValueError, match=match):
        hrsnn(jax.random.PRNGKey(0), **args)


def test_smoothed_map_is_exact_for_sparse_recurrence():
    """The smoothed spikes are graded: a sparse recurrent projection must deliver their values,
    not treat them as binary events (the map equals the one of the dense network)."""
    from neuro._pytree import replace
    from neuro.projections import connectivity, sparse

    net = hrsnn(jax.random.PRNGKey(7), 30, 1, radius=3.0)
    w = np.asarray(net.projections["rec"].weights)
    net_s = replace(net, projections={**net.projections,
                                      "rec": sparse("h", "h", connectivity.from_dense(w))})
    u = jax.random.normal(jax.random.PRNGKey(8), (30,)) + 0.8
    x = jnp.ones(1)
    np.testing.assert_allclose(smoothed_step(smoothed(net_s), u, x),
                               smoothed_step(smoothed(net), u, x), rtol=1e-5, atol=1e-6)
