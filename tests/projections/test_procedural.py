"""Procedural connectivity: regenerated synapses equal the stored-table Sparse projection."""

import dataclasses
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neuro import projections, run
from neuro.models import coba
from neuro.projections.procedural import procedural, targets_numpy


@partial(jax.jit, static_argnames="binary")
def _deliver(proj, z, binary=False):
    return proj.deliver(proj.init_state(z.shape[:-1]), z, binary=binary)[1]


def _proj(kernel="auto", n=150, k=20, seed=7):
    rng = np.random.default_rng(0)
    return procedural("a", "b", n, n, k, weights=rng.normal(size=n), seed=seed,
                      source_channels=(np.arange(n) >= 0.8 * n).astype(int), kernel=kernel)


def test_hash_targets_are_uniform_and_reproducible():
    post = targets_numpy(3, np.arange(2000), 100, 500)
    assert post.min() >= 0 and post.max() < 500
    counts = np.bincount(post.ravel(), minlength=500)  # 200,000 draws in 500 bins
    assert abs(counts.mean() - 400) < 1e-9 and counts.std() < 1.3 * np.sqrt(400)
    np.testing.assert_array_equal(post, targets_numpy(3, np.arange(2000), 100, 500))
    assert not np.array_equal(post, targets_numpy(4, np.arange(2000), 100, 500))


@pytest.mark.parametrize("kernel", ["auto", pytest.param("jax", marks=pytest.mark.slow)])
def test_procedural_equals_the_stored_table_projection(kernel):
    proj = _proj(kernel)
    table = projections.sparse("a", "b", proj.connectivity(), spikes_per_round=proj.spikes_per_round)
    assert table.num_synapses() == proj.num_synapses() == 150 * 20
    rng = np.random.default_rng(1)
    spikes = jnp.asarray(rng.random((2, 150)) < 0.1, jnp.float32)
    graded = jnp.asarray(rng.normal(size=(2, 150)) * (rng.random((2, 150)) < 0.2), jnp.float32)
    for z, binary in ((spikes, True), (graded, False)):
        np.testing.assert_array_equal(np.asarray(_deliver(proj, z, binary=binary)),
                                      np.asarray(_deliver(table, z, binary=binary)))


@pytest.mark.slow
def test_gradients_equal_the_stored_table_projection():
    proj = _proj("jax", n=80, k=10)
    table = projections.sparse("a", "b", proj.connectivity())
    z = jnp.asarray(np.random.default_rng(2).random(80) < 0.4, jnp.float32)
    loss = lambda p, zz: jnp.sum(jnp.sin(p.deliver(p.init_state(()), zz)[1]))
    np.testing.assert_allclose(np.asarray(jax.grad(lambda zz: loss(proj, zz))(z)),
                               np.asarray(jax.grad(lambda zz: loss(table, zz))(z)), rtol=1e-5)
    g_proc = jax.grad(lambda w: loss(dataclasses.replace(proj, weights=w), z))(proj.weights)
    g_tab = jax.grad(lambda w: loss(dataclasses.replace(table, weights=w), z))(table.weights)
    np.testing.assert_allclose(np.asarray(g_proc), np.asarray(g_tab)[:, 0], rtol=1e-5,
                               atol=1e-6)


def test_procedural_coba_network_equals_its_table_network_float64():
    with jax.enable_x64(True):
        net, state = coba.coba_network(300, variant="brainpy", seed=2, connectivity="procedural")
        table_net, table_state = coba.coba_network(300, variant="brainpy", seed=2,
                                                   conn=coba.connectivity(net))
        assert coba.connectivity(net).in_degrees().mean() == 80
        a = run.simulate(net, state, n_steps=400, monitors=coba.monitor(net, 300)).records
        b = run.simulate(table_net, table_state, n_steps=400,
                         monitors=coba.monitor(table_net, 300)).records
    assert a["raster"].sum() > 100
    np.testing.assert_array_equal(a["raster"], b["raster"])
    np.testing.assert_array_equal(a["events"], b["events"])


@pytest.mark.parametrize("kwargs, name", [(dict(out_degree=0), "out_degree"),
                                          (dict(weights=np.ones(3)), "weights"),
                                          (dict(seed=-1), "seed"),
                                          (dict(source_channels=-1), "source_channels"),
                                          (dict(kernel="gpu"), "kernel")])
def test_bad_input_names_the_parameter(kwargs, name):
    args = dict(out_degree=5, weights=1.0)
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        procedural("a", "b", 10, 10, args.pop("out_degree"), **args)
