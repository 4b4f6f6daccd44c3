"""The native (Numba, XLA:CPU custom call) event forward equals the pure-JAX reference bit for bit."""

import dataclasses
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neuro import projections
from neuro.projections import _events, _native

pytestmark = pytest.mark.skipif(not _native.available(), reason="needs Numba (neuro[fast])")


@partial(jax.jit, static_argnames=("layout",))
def _deliver(layout, acc, z, weights, targets):
    fn = lambda a, zz: _events.deliver(layout, a, zz, weights, targets, None, jnp.int32(0))
    return jax.vmap(fn)(acc, z) if z.ndim == 2 else fn(acc, z)


def _conn(per_edge, dtype, seed=0, n=130):
    rng = np.random.default_rng(seed)
    pre, post = np.nonzero(rng.random((n, n)) < 0.08)
    kw = dict(weights=rng.normal(size=pre.size)) if per_edge else dict(
        source_weights=rng.normal(size=n))
    return projections.from_edges(pre, post, n, n, source_channels=(np.arange(n) >= 100).astype(int),
                                  n_channels=2, dtype=dtype, **kw)


@pytest.mark.parametrize("dtype, per_edge", [
    (np.float32, False), pytest.param(np.float64, True, marks=pytest.mark.slow)])
def test_native_equals_reference_bitwise(dtype, per_edge):
    with jax.enable_x64(dtype == np.float64):
        conn = _conn(per_edge, dtype)
        w, t = jnp.asarray(conn.weights), jnp.asarray(conn.targets)
        rng = np.random.default_rng(1)
        spikes = (rng.random((3, 130)) < 0.2).astype(dtype)
        graded = rng.normal(size=(3, 130)) * (rng.random((3, 130)) < 0.3)
        graded[0, :4] = [np.nan, -0.0, 2.5, -1.0]
        acc = jnp.asarray(rng.normal(size=(3, conn.sink + 1)), dtype)
        for z, binary in ((spikes, True), (graded.astype(dtype), False)):
            base = _events.Layout(7, binary, 1, 0, conn.sink)
            ref = _deliver(base._replace(kernel="jax"), acc, jnp.asarray(z), w, t)  # batched
            out = _deliver(base._replace(kernel="native"), acc, jnp.asarray(z), w, t)
            np.testing.assert_array_equal(np.asarray(out), np.asarray(ref))
        assert not np.all(np.isfinite(np.asarray(out[0])))  # the NaN entered, as in the reference


def test_native_places_channels_at_an_offset_like_the_reference():
    conn = _conn(False, np.float32, seed=3, n=60)
    w, t = jnp.asarray(conn.weights), jnp.asarray(conn.targets)
    z = jnp.asarray(np.random.default_rng(2).random(60) < 0.3, jnp.float32)
    acc = jnp.zeros(3 * 60 + 1)  # a target with 3 channels; the projection drives 1 and 2
    base = _events.Layout(8, True, 1, 0, conn.sink, 60, 3 * 60)
    ref = _deliver(base._replace(kernel="jax"), acc, z, w, t)
    out = _deliver(base._replace(kernel="native"), acc, z, w, t)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(ref))
    assert float(jnp.abs(out[:60]).sum()) == 0.0 and float(jnp.abs(out[60:-1]).sum()) > 0


def test_gradients_through_the_native_forward_equal_the_dense_product():
    conn = _conn(True, np.float32, seed=4, n=50)
    proj = projections.sparse("a", "b", conn)
    z = jnp.asarray(np.random.default_rng(5).random(50) < 0.4, jnp.float32)
    dense = jnp.asarray(projections.to_dense(conn)).transpose(1, 0, 2).reshape(50, -1)

    def loss(p, zz):
        return jnp.sum(jnp.sin(p.deliver(p.init_state(()), zz)[1]))

    g_z = jax.grad(lambda zz: loss(proj, zz))(z)
    ref_z = jax.grad(lambda zz: jnp.sum(jnp.sin(zz @ dense)))(z)
    np.testing.assert_allclose(np.asarray(g_z), np.asarray(ref_z), rtol=1e-5, atol=1e-6)
    g_w = jax.grad(lambda w: loss(dataclasses.replace(proj, weights=w), z))(proj.weights)
    ref_w = jax.grad(lambda d: jnp.sum(jnp.sin(z @ d)))(dense)
    pre, post, ch, _ = conn.to_edges()  # the dense gradient at each synapse
    rows, cols = np.nonzero(conn.targets[:-1] != conn.sink)
    np.testing.assert_allclose(np.asarray(g_w)[rows, cols],
                               np.asarray(ref_w)[pre, ch * 50 + post], rtol=1e-5, atol=1e-6)
