"""Astrocyte -> neuron maps: blocks, one-to-one assignments and many-to-many maps."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neuro.modulators.coverage import assign, blocks, coverage_map


def test_sizes_must_divide_and_maps_must_cover():
    with pytest.raises(ValueError, match="size"):
        blocks(10, 3)
    with pytest.raises(ValueError, match="size"):
        blocks(10, 0)
    with pytest.raises(ValueError, match="group_of_neuron"):
        assign(np.array([0, 1, 5]), n_astro=3)
    with pytest.raises(ValueError, match="at least one neuron"):
        assign(np.array([0, 0, 2]), n_astro=3)
    with pytest.raises(ValueError, match="non-negative"):
        coverage_map(-np.ones((2, 3)))


def test_assignment_and_blocks_pool_and_expand_alike():
    blk = blocks(12, 4)
    smap = assign(np.repeat(np.arange(3), 4))
    z = jax.random.bernoulli(jax.random.PRNGKey(0), 0.3, (5, 12)).astype(float)
    np.testing.assert_allclose(blk.pool(z), smap.pool(z), rtol=1e-6)
    np.testing.assert_allclose(blk.pool(z), np.asarray(z).reshape(5, 3, 4).mean(-1), rtol=1e-6)
    c = jnp.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(blk.expand(c), smap.expand(c))
    np.testing.assert_array_equal(blk.matrix(), np.asarray(smap.A))
    inter = assign(np.arange(12) % 3)  # interleaved: neuron i in group i % 3
    ref = np.stack([np.asarray(z)[:, g::3].mean(-1) for g in range(3)], -1)
    np.testing.assert_allclose(inter.pool(z), ref, rtol=1e-6)


def test_many_to_many_map_weights_pool_and_sums_expand():
    # overlapping zones: astrocyte 0 covers neurons 0-2, astrocyte 1 covers 2-4 (weight 0.5 on 4)
    A = np.array([[1, 1, 1, 0, 0], [0, 0, 1, 1, 0.5]], float)
    cov = coverage_map(A)
    z = np.array([[1.0, 0.0, 1.0, 1.0, 1.0]])
    np.testing.assert_allclose(cov.pool(jnp.asarray(z)), [[2 / 3, 2.5 / 2.5]], rtol=1e-6)
    np.testing.assert_allclose(cov.expand(jnp.array([[2.0, 10.0]])), [[2, 2, 12, 10, 5]])
