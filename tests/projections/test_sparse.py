"""The event-driven Sparse projection against the dense reference ``z @ W``: values and gradients
(weights and presynaptic values), batched, with uniform and per-synapse delays, and against
central finite differences of a smooth model."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neuro import projections as P
from neuro._pytree import value_and_grad


def _conn(seed=0, n_pre=40, n_post=25, edges=260, channels=2, homogeneous=False):
    """A random table; float64 weights when x64 is on (the default float otherwise)."""
    rng = np.random.default_rng(seed)
    pre, post = rng.integers(0, n_pre, edges), rng.integers(0, n_post, edges)
    ch = (np.arange(n_pre) >= n_pre - 8).astype(int) if channels == 2 else 0
    if homogeneous:
        return P.from_edges(pre, post, n_pre, n_post, source_weights=rng.normal(size=n_pre),
                            source_channels=ch, n_channels=channels)
    return P.from_edges(pre, post, n_pre, n_post, weights=rng.normal(size=edges),
                        source_channels=ch, n_channels=channels)


def _dense_reference(conn, z):
    """``z @ W`` per channel with W from the host-side edge list (NumPy, independent of the
    projection's own dense backend)."""
    w = P.to_dense(conn).astype(np.float64)  # (C, n_pre, n_post)
    return np.einsum("...i,cij->...cj", np.asarray(z, np.float64), w)


def _run(proj, zs):
    state = proj.init_state(zs.shape[1:-1])
    out = []
    for z in zs:
        state, y = proj.deliver(state, z)
        out.append(y)
    return jnp.stack(out)


@pytest.mark.parametrize("homogeneous", [False, True])
def test_event_forward_equals_numpy_reference_for_graded_batched_values(homogeneous):
    with jax.enable_x64(True):
        conn = _conn(homogeneous=homogeneous)
        rng = np.random.default_rng(1)
        z = (rng.random((3, 2, 40)) < 0.3) * rng.normal(size=(3, 2, 40))  # graded, batched
        z[0, 0, 3] = -2.5
        proj = P.sparse("a", "b", conn, spikes_per_round=5)
        _, y = proj.deliver(proj.init_state((3, 2)), jnp.asarray(z))
        np.testing.assert_allclose(np.asarray(y), _dense_reference(conn, z), rtol=1e-12,
                                   atol=1e-12)


def test_graded_values_are_not_binarised_and_nan_propagates():
    conn = _conn(channels=1)
    proj = P.sparse("a", "b", conn)
    z = jnp.zeros(40).at[0].set(0.5)
    _, half = proj.deliver(proj.init_state(()), z)
    _, one = proj.deliver(proj.init_state(()), z.at[0].set(1.0))
    np.testing.assert_allclose(np.asarray(half), 0.5 * np.asarray(one), rtol=1e-6)
    _, bad = proj.deliver(proj.init_state(()), z.at[0].set(jnp.nan))
    assert np.isnan(np.asarray(bad)).any()


@pytest.mark.parametrize("delays", [False, True])
def test_gradients_equal_dense_reference_float64(delays):
    with jax.enable_x64(True):
        conn = _conn()
        rng = np.random.default_rng(2)
        table = rng.integers(0, 4, conn.targets.shape) if delays else None
        kwargs = dict(delays=table, delay=0 if delays else 2)
        event = P.sparse("a", "b", conn, **kwargs)
        dense = P.sparse("a", "b", conn, backend="dense", **kwargs)
        zs = jnp.asarray((rng.random((9, 3, 40)) < 0.4) * rng.normal(size=(9, 3, 40)))
        loss = lambda p, zs: jnp.sum(jnp.sin(_run(p, zs)) * jnp.arange(25.0))
        (le, ge), (ld, gd) = value_and_grad(loss)(event, zs), value_and_grad(loss)(dense, zs)
        np.testing.assert_allclose(float(le), float(ld), rtol=1e-12)
        scale = np.abs(np.asarray(gd.weights)).max()
        np.testing.assert_allclose(np.asarray(ge.weights), np.asarray(gd.weights), rtol=1e-6,
                                   atol=1e-6 * scale)
        gz_e = jax.grad(lambda z: loss(event, z))(zs)
        gz_d = jax.grad(lambda z: loss(dense, z))(zs)
        np.testing.assert_allclose(np.asarray(gz_e), np.asarray(gz_d), rtol=1e-6,
                                   atol=1e-6 * np.abs(np.asarray(gz_d)).max())


def test_gradient_equals_central_finite_differences():
    with jax.enable_x64(True):
        conn = _conn(channels=1)
        rng = np.random.default_rng(3)
        proj = P.sparse("a", "b", conn)
        zs = jnp.asarray(rng.random((5, 40)) * (rng.random((5, 40)) < 0.5))

        def loss(weights, zs):
            p = P.Sparse(weights, proj.targets, None, "a", "b", proj.n_pre, proj.n_post)
            return jnp.sum(jnp.tanh(_run(p, zs)) ** 2)

        g = jax.grad(loss)(proj.weights, zs)
        pre, post, _, _ = conn.to_edges()
        rows, cols = np.nonzero(np.asarray(conn.targets[:-1]) != conn.n_post)
        for r, c in zip(rows[:12], cols[:12], strict=True):
            e = jnp.zeros_like(proj.weights).at[r, c].set(1e-5)
            fd = (loss(proj.weights + e, zs) - loss(proj.weights - e, zs)) / 2e-5
            np.testing.assert_allclose(float(g[r, c]), float(fd), rtol=1e-6, atol=1e-10)
        # padding entries of the table get no gradient
        assert float(jnp.abs(jnp.where(proj.targets == conn.n_post, g, 0.0)).max()) == 0.0


def test_per_synapse_delays_land_at_the_right_step():
    conn = P.from_edges([0, 0, 1], [0, 1, 1], 2, 2, weights=[1.0, 2.0, 3.0])
    delays = np.zeros(conn.targets.shape, int)
    delays[0, :2] = [0, 3]  # 0 -> 0 after 0 extra steps, 0 -> 1 after 3
    delays[1, 0] = 1
    proj = P.sparse("a", "b", conn, delays=delays)
    zs = jnp.zeros((6, 2)).at[0].set(1.0)
    y = np.asarray(_run(proj, zs))[:, 0, :]
    expected = np.zeros((6, 2))
    expected[0, 0] = 1.0
    expected[3, 1] = 2.0
    expected[1, 1] = 3.0
    np.testing.assert_array_equal(y, expected)


def test_uniform_delay_keeps_graded_values():
    proj = P.dense("a", "b", jnp.eye(3), delay=2)
    zs = jnp.asarray([[0.5, -1.0, 2.0], [0, 0, 0], [0, 0, 0], [0, 0, 0]])
    y = np.asarray(_run(proj, zs))[:, 0, :]
    np.testing.assert_allclose(y[2], [0.5, -1.0, 2.0])
    np.testing.assert_allclose(y[[0, 1, 3]], 0.0)


def test_dense_backend_works_under_jit_and_vmap():
    conn = _conn(channels=1)
    proj = P.sparse("a", "b", conn, backend="dense")
    z = jnp.ones((4, 40))
    f = jax.jit(lambda p, z: p.deliver(p.init_state((4,)), z)[1])
    per_sample = jax.vmap(lambda zz: proj.deliver(proj.init_state(()), zz)[1])(z)
    np.testing.assert_allclose(np.asarray(f(proj, z)), np.asarray(per_sample), rtol=1e-6)


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda c: P.sparse("a", "b", c, backend="gpu"), "backend"),
        (lambda c: P.sparse("a", "b", c, delay=-1), "delay"),
        (lambda c: P.sparse("a", "b", c, delays=np.zeros((2, 2), int)), "delays"),
        (lambda c: P.sparse("a", "b", np.zeros((3, 3))), "Connectivity"),
        (lambda c: P.dense("a", "b", np.zeros(3)), "w"),
        (lambda c: P.dense("a", "b", np.zeros((2, 3)), self_connections=False), "square"),
    ],
)
def test_bad_input_names_the_parameter(call, name):
    with pytest.raises((ValueError, TypeError), match=name):
        call(_conn(channels=1))
