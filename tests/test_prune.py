"""LNP steps and baselines (lnp.md §8 unit checks)."""

import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np
import pytest

from neuro import prune as P
from neuro.models.hrsnn import hrsnn


def _w_in(net):
    """The input weights ``[N, D]`` of an HRSNN Network."""
    return np.asarray(net.projections["in"].w).T


def _stable_net(n=30, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(n, n)) * (rng.random((n, n)) < 0.3) / np.sqrt(0.3 * n)
    np.fill_diagonal(w, 0)
    tau = rng.uniform(5, 40, n)
    gain = rng.uniform(0.1, 0.5, n)
    return w, tau, gain


def test_covariance_solves_lyapunov_equation():
    w, tau, gain = _stable_net()
    j = P.linearise(w, tau, gain)
    c = P.noise_covariance(j, sigma=1.0)
    resid = np.linalg.norm(j @ c + c @ j.T + np.eye(len(j))) / np.linalg.norm(np.eye(len(j)))
    assert resid < 1e-8
    np.testing.assert_allclose(c, c.T)
    assert np.linalg.eigvalsh(c).min() > 0


def test_linearise_makes_unstable_network_hurwitz():
    w, tau, gain = _stable_net()
    j = P.linearise(50.0 * w, tau, gain)
    assert np.linalg.eigvals(j).real.max() < 0
    unscaled = (1.0 / tau)[:, None] * (-np.eye(len(tau)) + 50.0 * w * gain[None, :])
    assert np.linalg.eigvals(unscaled).real.max() > 0


def test_sampling_density_and_unbiasedness():
    w, tau, gain = _stable_net(40)
    c = P.noise_covariance(P.linearise(w, tau, gain))
    h = P.harmonic_weights(np.random.default_rng(1).uniform(-0.2, -0.01, 40))
    scores = P.synapse_scores(w, c, h)
    target = np.count_nonzero(w) // 2
    p = P.keep_probabilities(scores, target)
    assert p.sum() == pytest.approx(target, rel=1e-6)
    rng = np.random.default_rng(2)
    draws = [P.sample_synapses(rng, w, scores, target)[0] for _ in range(1500)]
    counts = np.array([np.count_nonzero(d) for d in draws])
    assert abs(counts.mean() / target - 1) < 0.02
    mean_w = np.mean(draws, axis=0)
    # E[w_kept] = w: error relative to the per-entry standard error w sqrt((1-p)/p / n_draws)
    se = np.abs(w) * np.sqrt((1 - p) / np.maximum(p, 1e-12) / len(draws))
    nz = (w != 0) & (p < 1)
    z = (mean_w[nz] - w[nz]) / se[nz]
    assert np.abs(z.mean()) < 0.1 and np.mean(np.abs(z) < 3.5) > 0.99
    assert np.all(mean_w[w == 0] == 0)


def test_harmonic_weights():
    h = P.harmonic_weights(np.array([-1.0, -3.0, 0.0]))
    assert h[0, 1] == pytest.approx(1.5) and h[0, 0] == pytest.approx(1.0) and h[2, 1] == 0.0


def test_betweenness_keep_matches_networkx_and_keeps_groups():
    rng = np.random.default_rng(0)
    w = rng.uniform(0.5, 2, (25, 25)) * (rng.random((25, 25)) < 0.2)
    np.fill_diagonal(w, 0)
    g = nx.DiGraph()
    g.add_nodes_from(range(25))
    for i, j in zip(*np.nonzero(w), strict=True):
        g.add_edge(j, i, weight=1.0 / w[i, j])
    bc = nx.betweenness_centrality(g, weight="weight")
    order = sorted(range(25), key=lambda i: (-bc[i], i))
    keep = P.betweenness_keep(w, 10, sources=None)
    np.testing.assert_array_equal(keep, np.sort(order[:10]))
    groups = np.where(np.arange(25) < 20, 1.0, -1.0)
    keep = P.betweenness_keep(w, 10, groups=groups, sources=None)
    assert np.sum(groups[keep] < 0) == 2


def test_ipr_limits_and_delocalise():
    n = 30
    assert P.ipr(np.eye(n)) == pytest.approx(n)  # every eigenvector on one neuron
    assert P.ipr(np.ones((n, n)), top=1) == pytest.approx(1.0)  # uniform eigenvector
    rng = np.random.default_rng(0)
    w = np.zeros((n, n))
    w[np.arange(1, n), np.arange(n - 1)] = 1.0  # a chain: localised modes
    w[0, 5] = 1.0
    sign = np.ones(n)
    w2, added = P.delocalise(rng, w, sign, target_ipr=0.0, max_added=0.5, rounds=1)
    assert added > 0 and np.count_nonzero(w2) == np.count_nonzero(w) + added
    new = (w2 != 0) & (w == 0)
    a = ((w + w.T) != 0).astype(int)
    assert np.all((a @ a)[new] > 0)  # only 2-hop neighbours are linked


def test_bayes_opt_finds_minimum():
    f = lambda x: (x[0] - 0.3) ** 2 + (x[1] + 0.5) ** 2
    x, y, hist = P.bayes_opt(f, np.array([[-1, 1], [-1, 1]]), trials=15, seed=0,
                             candidates=500)
    assert y < 0.02 and np.allclose(x, [0.3, -0.5], atol=0.15)
    assert hist.shape == (15, 3)
    assert y < hist[:6, 2].min()  # the GP steps improve on the initial design


def test_baselines_hit_counts_and_keep_readout_unpruned():
    net = hrsnn(jax.random.PRNGKey(0), 60, 2, radius=3.0)
    n_keep, n_syn = P.targets(net, 0.5, 0.5)
    assert n_keep == 30
    rates = np.random.default_rng(0).random(60)
    for res in (P.activity_prune(net, rates, n_keep, n_syn),
                P.random_prune(net, np.random.default_rng(0), n_keep, n_syn),
                P.magnitude_prune(net, n_keep, n_syn)):
        assert res.net.num_neurons() == n_keep and res.net.num_synapses() == n_syn
        assert _w_in(res.net).shape == (n_keep, 2)
    ap = P.activity_prune(net, rates, n_keep, n_syn)
    np.testing.assert_array_equal(ap.keep, np.sort(np.argsort(-rates)[:n_keep]))
    w = P.recurrent_weights(net)
    mp = P.magnitude_prune(net, n_keep, n_syn)
    kept = np.abs(P.recurrent_weights(mp.net))
    sub = np.abs(w[np.ix_(mp.keep, mp.keep)])
    assert kept[kept > 0].min() >= np.sort(sub[sub > 0])[::-1][n_syn - 1] - 1e-7


def test_lnp_pipeline_deterministic_and_on_target():
    net = hrsnn(jax.random.PRNGKey(1), 60, 2, radius=4.0, input_scale=2.0)
    kw = dict(node_fraction=0.5, synapse_fraction=0.5, probe_steps=300, tune=False)
    a = P.lnp(net, jax.random.PRNGKey(3), **kw)
    b = P.lnp(net, jax.random.PRNGKey(3), **kw)
    np.testing.assert_array_equal(a.keep, b.keep)
    np.testing.assert_array_equal(P.recurrent_weights(a.net), P.recurrent_weights(b.net))
    n_keep, n_syn = P.targets(net, 0.5, 0.5)
    assert a.net.num_neurons() == n_keep
    assert abs(a.net.num_synapses() / n_syn - 1) < 0.15  # Bernoulli at ~100 synapses
    # Dale's law survives (rescaling keeps signs; added edges take the presynaptic sign)
    w, sign = P.recurrent_weights(a.net), P.dale_signs(net)[a.keep]
    assert np.all(w[:, sign > 0] >= 0) and np.all(w[:, sign < 0] <= 0)
    assert np.mean(sign < 0) == pytest.approx(0.2, abs=0.05)


@pytest.mark.slow
def test_lnp_with_timescale_tuning_is_stable():
    net = hrsnn(jax.random.PRNGKey(2), 120, 3, radius=20.0, input_scale=3.0)
    res = P.lnp(net, jax.random.PRNGKey(0), trials=6, probe_steps=500)
    drive = P.noise_drive(jax.random.PRNGKey(9), 1500, 3)
    assert P.max_lyapunov(res.net, drive).lambda_max <= 0.0
    assert res.info["tune_lambda_max"] <= 0.0


def test_noise_covariance_rule_preserves_spectrum_better_than_random():
    """Moore & Chaudhuri sanity check (lnp.md §8 c) on a symmetric linear rate network."""
    rng = np.random.default_rng(0)
    n = 80
    a = rng.random((n, n)) * (rng.random((n, n)) < 0.5)
    a = np.triu(a, 1)
    a = a + a.T  # symmetric excitatory coupling
    lap = np.diag(a.sum(1)) - a
    j = -(lap + 0.1 * np.eye(n))
    c = P.noise_covariance(j)
    w_off = -lap + np.diag(np.diag(lap))  # the synapses (off-diagonal couplings)
    errs = {"cov": [], "random": []}
    for frac in (0.5, 0.9):
        target = int((1 - frac) * np.count_nonzero(w_off))
        for name, scores in (("cov", P.synapse_scores(w_off, c)), ("random", (w_off != 0) * 1.0)):
            for _ in range(3):
                ws, _ = P.sample_synapses(rng, w_off, scores, target)
                ws = np.triu(ws, 1) + np.triu(ws, 1).T  # keep the graph undirected
                lap_s = np.diag(ws.sum(1)) - ws
                ev = np.sort(np.linalg.eigvalsh(lap_s + 0.1 * np.eye(n)))
                ev0 = np.sort(np.linalg.eigvalsh(lap + 0.1 * np.eye(n)))
                errs[name].append(np.mean(np.abs(ev - ev0) / ev0))
    assert np.mean(errs["cov"]) < np.mean(errs["random"])


def test_mixed_scores_and_node_score_option():
    w = np.array([[0.0, 2.0], [-1.0, 0.0]])
    s = np.array([[0.0, 5.0], [1.0, 0.0]])
    np.testing.assert_allclose(P.mixed_scores(s, w, 1.0), np.abs(w) / 1.5)
    np.testing.assert_array_equal(P.mixed_scores(s, w, 0.0), s)
    with pytest.raises(ValueError, match="mix"):
        P.mixed_scores(s, w, 2.0)
    net = hrsnn(jax.random.PRNGKey(0), 20, 1)
    with pytest.raises(ValueError, match="node_score"):
        P.lnp(net, jax.random.PRNGKey(0), node_score="pagerank")


def test_subnetwork_and_timescales_of_a_network():
    net = hrsnn(jax.random.PRNGKey(6), 40, 2)
    keep = np.array([0, 3, 5, 10, 33, 39])
    sub = P.subnetwork(net, keep)
    np.testing.assert_array_equal(P.recurrent_weights(sub), P.recurrent_weights(net)[np.ix_(keep, keep)])
    np.testing.assert_array_equal(P.time_constants(sub), P.time_constants(net)[keep])
    np.testing.assert_array_equal(_w_in(sub), _w_in(net)[keep])
    z, u = P.potentials(sub, jnp.ones((10, 2)))
    assert z.shape == u.shape == (10, 6)
    with pytest.raises(ValueError, match="w_rec must have shape"):
        P.subnetwork(net, keep, np.zeros((3, 3)))
    tau = np.linspace(5.0, 50.0, 40)
    np.testing.assert_allclose(P.time_constants(P.with_tau(net, tau)), tau, rtol=1e-6)
    # Dale's law by construction: the first 80 % excitatory
    np.testing.assert_array_equal(P.dale_signs(net), np.where(np.arange(40) < 32, 1.0, -1.0))


def test_sample_synapses_max_gain_caps_rescaling():
    w, tau, gain = _stable_net(40)
    scores = P.synapse_scores(w, P.noise_covariance(P.linearise(w, tau, gain)))
    target = np.count_nonzero(w) // 3
    a, p = P.sample_synapses(np.random.default_rng(0), w, scores, target)
    b, _ = P.sample_synapses(np.random.default_rng(0), w, scores, target, max_gain=2.0)
    kept = a != 0
    np.testing.assert_array_equal(kept, b != 0)  # the same draw, only the rescaling differs
    np.testing.assert_allclose(b[kept], w[kept] * np.minimum(1 / p[kept], 2.0))
    assert (np.abs(a[kept] / w[kept])).max() > 2.0  # the uncapped rule amplifies more
    c, _ = P.sample_synapses(np.random.default_rng(0), w, scores, target, max_gain=1.0)
    np.testing.assert_array_equal(c[kept], w[kept])
    with pytest.raises(ValueError, match="max_gain"):
        P.sample_synapses(np.random.default_rng(0), w, scores, target, max_gain=0.5)


def test_lnp_spectral_radius_and_max_gain_options():
    net = hrsnn(jax.random.PRNGKey(1), 60, 2, radius=4.0, input_scale=2.0)
    kw = dict(probe_steps=300, tune=False)
    res = P.lnp(net, jax.random.PRNGKey(3), spectral_radius="dense", **kw)
    rho = lambda m: np.abs(np.linalg.eigvals(m)).max()
    assert rho(P.recurrent_weights(res.net)) == pytest.approx(rho(P.recurrent_weights(net)),
                                                              rel=1e-4)
    assert res.info["radius_pruned"] == pytest.approx(res.info["radius_dense"], rel=1e-6)
    res = P.lnp(net, jax.random.PRNGKey(3), spectral_radius=1.5, max_gain=1.0, **kw)
    assert rho(P.recurrent_weights(res.net)) == pytest.approx(1.5, rel=1e-4)
    capped = P.lnp(net, jax.random.PRNGKey(3), max_gain=1.0, **kw)
    assert capped.info["max_weight_gain"] == pytest.approx(1.0, rel=1e-5)
    for bad in (dict(max_gain=0.5), dict(spectral_radius="sparse"), dict(spectral_radius=-1.0)):
        with pytest.raises(ValueError, match=next(iter(bad))):
            P.lnp(net, jax.random.PRNGKey(3), **bad, **kw)


def test_experiment_variants_and_synapse_kept():
    import inspect

    from neuro.tasks import pruning as X

    params = inspect.signature(P.lnp).parameters
    for name, kw in X.LNP_VARIANTS.items():
        assert name.startswith("lnp") and set(kw) <= set(params), name
    net = hrsnn(jax.random.PRNGKey(0), 40, 1, p_conn=0.25)
    s0 = net.num_synapses()
    got = X.synapse_kept(20, s0 // 8, net)
    assert got["kept_of_dense"] == pytest.approx((s0 // 8) / s0)
    assert got["density"] == pytest.approx((s0 // 8) / (20 * 19))
    # half the neurons at the dense density keep 20*19 / (40*39) of the synapses
    same = X.synapse_kept(20, s0 * (20 * 19) / (40 * 39), net)
    assert same["density_of_dense"] == pytest.approx(1.0)
    assert same["kept_of_dense"] == pytest.approx(380 / 1560)
