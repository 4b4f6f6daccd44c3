"""Connectivity builders and the Sparse projection built from them: event-driven vs dense vs an
edge-list loop, receptor channels, uniform delays and bad input."""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neuro import projections as connect


def numpy_propagate(conn, spikes):
    """Independent reference: loop over the edge list of every spiking source."""
    pre, post, ch, w = conn.to_edges()
    out = np.zeros((conn.n_channels, conn.n_post))
    for e in np.nonzero(np.asarray(spikes)[pre])[0]:
        out[ch[e], post[e]] += w[e]
    return out


def test_fixed_probability_in_degree_and_channels():
    n, n_exc = 2000, 1600
    conn = connect.excitatory_inhibitory(connect.fixed_probability, 0, n_exc, n - n_exc, 0.6, 6.7,
                                         80 / n)
    deg = conn.in_degrees()
    # mean of n Binomial(n, 80/n) in-degrees: standard error sqrt(80 (1 - p) / n) ~ 0.2
    assert abs(deg.mean() - 80) < 5 * np.sqrt(80 * (1 - 80 / n) / n)
    assert 40 < deg.std() ** 2 < 120  # binomial variance ~ 77
    pre, post, ch, w = conn.to_edges()
    assert np.all(ch[pre < n_exc] == 0) and np.all(ch[pre >= n_exc] == 1)
    assert np.allclose(w[pre < n_exc], 0.6) and np.allclose(w[pre >= n_exc], 6.7)


def test_fixed_probability_extremes_and_no_self():
    assert connect.fixed_probability(0, 5, 7, 0.0).num_synapses() == 0
    full = connect.fixed_probability(0, 5, 7, 1.0)
    assert full.num_synapses() == 35 and np.all(full.in_degrees() == 5)
    c = connect.fixed_probability(1, 50, 50, 1.0, allow_self=False)
    pre, post, _, _ = c.to_edges()
    assert c.num_synapses() == 50 * 49 and not np.any(pre == post)


def test_fixed_in_degree_is_exact_and_distinct():
    conn = connect.fixed_in_degree(3, 300, 200, 25, allow_self=True)
    assert np.all(conn.in_degrees() == 25)
    pre, post, _, _ = conn.to_edges()
    pairs = set(zip(pre.tolist(), post.tolist(), strict=True))
    assert len(pairs) == pre.size  # no duplicate synapse
    sq = connect.fixed_in_degree(3, 40, 40, 39, allow_self=False)
    pre, post, _, _ = sq.to_edges()
    assert not np.any(pre == post) and np.all(sq.in_degrees() == 39)


def test_small_world_lattice_and_rewiring():
    ring = connect.small_world(0, 20, 4, 0.0)
    pre, post, _, _ = ring.to_edges()
    assert sorted(post[pre == 0].tolist()) == [1, 2, 18, 19]
    sw = connect.small_world(0, 200, 6, 0.3)
    pre, post, _, _ = sw.to_edges()
    assert np.all(sw.degrees() == 6) and not np.any(pre == post)
    assert len(set(zip(pre.tolist(), post.tolist(), strict=True))) == pre.size
    rewired = np.mean(np.minimum((post - pre) % 200, (pre - post) % 200) > 3)
    assert 0.15 < rewired < 0.45


def test_from_edges_duplicates_add_and_per_edge_weights():
    conn = connect.from_edges([0, 0, 2, 1], [1, 1, 0, 2], 3, 3, weights=[0.5, 0.25, 2.0, -1.0])
    dense = connect.to_dense(conn)[0]
    expected = np.zeros((3, 3))
    expected[0, 1], expected[2, 0], expected[1, 2] = 0.75, 2.0, -1.0
    np.testing.assert_allclose(dense, expected)


def _ei_conn(seed=5, n=300):
    rng = np.random.default_rng(seed)
    pre, post = np.nonzero(rng.random((n, n)) < 0.1)
    return connect.from_edges(pre, post, n, n, weights=rng.normal(size=pre.size),
                              source_channels=(np.arange(n) >= 240).astype(int), n_channels=2)


@partial(jax.jit, static_argnames="binary")
def _deliver(proj, z, binary=False):
    return proj.deliver(proj.init_state(z.shape[:-1]), z, binary=binary)[1]


def test_sparse_event_and_dense_backends_agree_with_numpy():
    conn = _ei_conn()
    # 7 spikes per round forces several rounds of the while loop when many neurons spike
    event = connect.sparse("a", "b", conn, spikes_per_round=7)
    dense = connect.sparse("a", "b", conn, backend="dense")
    for rate in (0.0, 0.01, 0.2, 1.0):
        z = np.random.default_rng(5).random(300) < rate
        ref = numpy_propagate(conn, z)
        zf = jnp.asarray(z, jnp.float32)
        for proj, binary in ((event, True), (event, False), (dense, True)):
            out = _deliver(proj, zf, binary=binary)
            assert out.shape == (2, 300)
            np.testing.assert_allclose(np.asarray(out), ref, atol=1e-4)


def test_sparse_graded_values_and_batches_match_the_dense_product():
    conn = _ei_conn(seed=1, n=120)
    rng = np.random.default_rng(2)
    z = rng.normal(size=(3, 120)) * (rng.random((3, 120)) < 0.3)  # graded, signed, sparse
    w = connect.to_dense(conn)  # (C, pre, post)
    expected = np.einsum("bi,cij->bcj", z, w)
    for backend in ("event", "dense"):
        proj = connect.sparse("a", "b", conn, backend=backend)
        out = _deliver(proj, jnp.asarray(z, jnp.float32))
        np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-5, atol=1e-5)


def test_deliver_into_adds_at_the_channel_offset():
    conn = connect.fixed_probability(2, 100, 50, 0.2)
    z = jnp.asarray(np.random.default_rng(0).random(100) < 0.3, jnp.float32)
    proj = connect.sparse("a", "b", conn, channel=1, spikes_per_round=8)
    acc = jnp.ones(2 * 50 + 1)
    _, acc = jax.jit(lambda a, s: proj.deliver_into(proj.init_state(()), s, a, binary=True))(
        acc, z)
    acc = np.asarray(acc)
    ref = numpy_propagate(conn, np.asarray(z) > 0)[0]
    np.testing.assert_allclose(acc[:50], 1.0)  # channel 0 untouched
    np.testing.assert_allclose(acc[50:100], 1.0 + ref, rtol=1e-6)


def test_uniform_delay_shifts_arrivals_by_whole_steps():
    conn = connect.from_edges([0, 1, 2, 3], [0, 1, 2, 3], 4, 4, weights=1.0)
    proj = connect.sparse("a", "b", conn, delay=3)
    state = proj.init_state(())
    step = jax.jit(lambda p, s, x: p.deliver(s, x))
    outs = []
    for t in range(6):
        state, out = step(proj, state, (jnp.arange(4) == t % 4).astype(jnp.float32))
        outs.append(np.asarray(out[0]))
    assert not np.any(outs[:3])
    np.testing.assert_array_equal(outs[3], np.arange(4) == 0)
    np.testing.assert_array_equal(outs[5], np.arange(4) == 2)


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: connect.fixed_probability(0, -5, 10, 0.1), "n_pre"),
        (lambda: connect.fixed_probability(0, 10, 0, 0.1), "n_post"),
        (lambda: connect.fixed_probability(0, 10, 10, 1.5), "p"),
        (lambda: connect.fixed_probability(0, 10, 10, -0.1), "p"),
        (lambda: connect.fixed_in_degree(0, 10, 10, 11), "k"),
        (lambda: connect.small_world(0, 10, 3, 0.1), "k"),
        (lambda: connect.small_world(0, 10, 4, 2.0), "p_rewire"),
        (lambda: connect.from_edges([0, 1], [0], 2, 2), "pre and post"),
        (lambda: connect.from_edges([0, 5], [0, 1], 2, 2), "pre indices"),
        (lambda: connect.from_edges([0, 1], [0, 1], 2, 2, weights=[1.0, 2.0, 3.0]), "weights"),
        (lambda: connect.from_edges([0], [0], 2, 2, source_weights=[1.0]), "source_weights"),
        (lambda: connect.excitatory_inhibitory(connect.fixed_probability, 0, 0, 5, 1, 1, 0.1),
         "n_exc"),
        (lambda: connect.sparse("a", "b", connect.fixed_probability(0, 5, 5, 0.5), delay=-1),
         "delay"),
        (lambda: connect.sparse("a", "b", connect.fixed_probability(0, 5, 5, 0.5),
                                backend="gpu"), "backend"),
    ],
)
def test_bad_input_names_the_parameter(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_sparse_rejects_wrong_presynaptic_shape():
    proj = connect.sparse("a", "b", connect.fixed_probability(0, 10, 10, 0.5))
    with pytest.raises(ValueError, match="n_pre"):
        proj.deliver(proj.init_state(()), jnp.zeros(9))
