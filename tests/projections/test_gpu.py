"""The GPU (Pallas) event forwards equal the pure-JAX references.

On any machine the kernel bodies run in the Pallas interpreter (``interpret=True``; the final add
is then a jnp scatter-add, see :mod:`neuro.projections._gpu`); weights and values are multiples
of 1/4, so every sum is exact and the results are compared bit for bit whatever the order of the
additions. The dispatch is checked on CPU with the GPU branches forced into the trace (they must
trace under vmap and grad, and not be lowered). On a GPU (``jax.devices("gpu")``) the compiled
kernels (atomic adds) are compared with the reference through the public projections.
"""

import dataclasses
import re
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neuro import projections
from neuro.projections import _events, _gpu
from neuro.projections.procedural import ProceduralLayout, procedural
from neuro.projections.procedural import _jax_forward as _procedural_reference

ON_GPU = _gpu.gpu_present()
needs_gpu = pytest.mark.skipif(not ON_GPU, reason="no GPU backend in this process "
                               "(jax.devices('gpu') is empty): the compiled kernel needs one")


def _conn(per_edge, dtype, seed=0, n=70, n_post=50):
    rng = np.random.default_rng(seed)
    pre, post = np.nonzero(rng.random((n, n_post)) < 0.12)
    quarter = lambda size: rng.integers(-8, 9, size=size) / 4.0  # exact sums in any order
    kw = dict(weights=quarter(pre.size)) if per_edge else dict(source_weights=quarter(n))
    return projections.from_edges(pre, post, n, n_post, n_channels=2, dtype=dtype,
                                  source_channels=(np.arange(n) >= 50).astype(int), **kw)


def _values(rng, shape, dtype, binary):
    if binary:
        return (rng.random(shape) < 0.3).astype(dtype)
    z = rng.integers(-6, 7, size=shape) / 2.0 * (rng.random(shape) < 0.4)
    z.reshape(-1)[:3] = [np.nan, -0.0, 1.5]  # NaN is an event (as z != 0 says); -0.0 is none
    return z.astype(dtype)


def _meaningful(acc, sinks):
    """Every slot but the sinks (dump slots that the kernel leaves alone)."""
    keep = np.ones(acc.shape[-1], bool)
    keep[list(sinks)] = False
    return np.asarray(acc)[..., keep]


@partial(jax.jit, static_argnames=("layout", "gpu"))
def _batched(layout, gpu, acc, z, w, t, d=None, pos=0):
    pos = jnp.int32(pos)
    fn = (lambda a, zz: _gpu.event_forward(layout, a, zz, w, t, d, pos, programs=3,
                                           interpret=True)) if gpu else \
        (lambda a, zz: _events._jax_forward(layout, a, zz, w, t, d, pos))
    return jax.vmap(fn)(acc, z)


@pytest.mark.parametrize("dtype, per_edge, binary", [
    (np.float32, False, True), (np.float32, True, False), (np.float64, True, True),
    pytest.param(np.float64, False, False, marks=pytest.mark.slow)])
def test_kernel_equals_reference_with_channels_offset_and_sink(dtype, per_edge, binary):
    with jax.enable_x64(dtype == np.float64):
        conn = _conn(per_edge, dtype)
        w, t = jnp.asarray(conn.weights), jnp.asarray(conn.targets)
        rng = np.random.default_rng(1)
        z = _values(rng, (3, 70), dtype, binary)
        z[1] = 0  # an empty spike set in the batch
        m = 3 * 50 + 1  # a target with 3 channels; the projection drives channels 1 and 2
        acc = jnp.asarray(rng.integers(-4, 5, size=(3, m)) / 4.0, dtype)
        layout = _events.Layout(5, binary, 1, 0, conn.sink, 50, m - 1)
        ref = _batched(layout, False, acc, jnp.asarray(z), w, t)
        out = _batched(layout, True, acc, jnp.asarray(z), w, t)
        assert out.dtype == ref.dtype == dtype
        np.testing.assert_array_equal(_meaningful(out, [m - 1]), _meaningful(ref, [m - 1]))
        np.testing.assert_array_equal(np.asarray(out[1]), np.asarray(acc[1]))  # nothing added
        assert np.all(np.asarray(out[:, :50]) == np.asarray(acc[:, :50]))  # channel 0 untouched
        if not binary:
            assert not np.all(np.isfinite(np.asarray(out[0])))  # the NaN entered, as in ref


def test_kernel_equals_reference_with_per_synapse_delays():
    conn = _conn(True, np.float32, seed=4)
    rng = np.random.default_rng(5)
    delays = np.where(conn.targets == conn.sink, 0, rng.integers(0, 3, conn.targets.shape))
    stride = conn.sink + 1
    w, t, d = (jnp.asarray(a) for a in (conn.weights, conn.targets, delays.astype(np.int32)))
    z = jnp.asarray(_values(rng, (2, 70), np.float32, False))
    ring = jnp.asarray(rng.integers(-4, 5, size=(2, 3 * stride)) / 4.0, jnp.float32)
    layout = _events.Layout(6, False, 3, stride, conn.sink)
    ref = _batched(layout, False, ring, z, w, t, d, 2)
    out = _batched(layout, True, ring, z, w, t, d, 2)
    sinks = [s * stride + conn.sink for s in range(3)]
    np.testing.assert_array_equal(_meaningful(out, sinks), _meaningful(ref, sinks))
    assert not np.array_equal(np.asarray(out), np.asarray(ring))


def test_batched_weights_map_one_kernel_per_element_and_nested_vmaps_fold():
    conn = _conn(False, np.float32, seed=13)
    t = jnp.asarray(conn.targets)
    ws = jnp.asarray(conn.weights) * jnp.asarray([1.0, 2.0, -0.5])[:, None, None]
    rng = np.random.default_rng(14)
    z = jnp.asarray(_values(rng, (3, 70), np.float32, True))
    acc = jnp.zeros((3, conn.sink + 1))
    layout = _events.Layout(4, True, 1, 0, conn.sink)
    gpu = lambda a, zz, w: _gpu.event_forward(layout, a, zz, w, t, None, jnp.int32(0),
                                              programs=4, interpret=True)
    ref = lambda a, zz, w: _events._jax_forward(layout, a, zz, w, t, None, jnp.int32(0))
    # outer vmap over the weights (one kernel each), inner over the batch (folded into one)
    mapped = lambda f: jax.vmap(jax.vmap(f, (0, 0, None)), (None, None, 0))
    out, expected = (jax.jit(mapped(f))(acc, z, ws) for f in (gpu, ref))
    np.testing.assert_array_equal(_meaningful(out, [conn.sink]), _meaningful(expected, [conn.sink]))


def test_procedural_kernel_equals_reference_and_adds_duplicate_targets():
    # 40 synapses per source onto 30 targets: drawn with replacement, so rows hit targets twice
    layout = ProceduralLayout(1234567, 40, 30, 4, False, 30)
    rng = np.random.default_rng(6)
    weights = jnp.asarray(np.append(rng.integers(-8, 9, 60) / 4.0, 0.0), jnp.float32)
    channels = jnp.asarray(np.append(rng.integers(0, 2, 60), 0), jnp.int32)
    z = jnp.asarray(_values(rng, (2, 60), np.float32, False))
    acc = jnp.zeros((2, 3 * 30 + 1), jnp.float32)
    ref = jax.vmap(lambda a, zz: _procedural_reference(layout, a, zz, weights, channels))(acc, z)
    out = jax.jit(jax.vmap(lambda a, zz: _gpu.procedural_forward(
        layout, a, zz, weights, channels, programs=4, interpret=True)))(acc, z)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(ref))  # no padding: sink too


@pytest.mark.skipif(ON_GPU, reason="a CPU check: with a GPU the tests below run the kernel")
def test_gpu_branch_traces_under_vmap_and_grad_without_changing_the_cpu_result(monkeypatch):
    conn = _conn(True, np.float32, seed=7)
    proj = projections.sparse("a", "b", conn)
    z = jnp.asarray(np.random.default_rng(8).random((2, 70)) < 0.3, jnp.float32)

    def loss(w, zz):
        p = dataclasses.replace(proj, weights=w)
        return jnp.sum(jnp.sin(p.deliver(p.init_state((2,)), zz)[1]))

    grad = lambda: jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))(proj.weights, z)
    expected = grad()
    monkeypatch.setattr(_gpu, "gpu_present", lambda: True)  # GPU branches in the trace
    jaxpr = str(jax.make_jaxpr(jax.grad(loss))(proj.weights, z))
    assert "pallas_call" in jaxpr and "platform_index" in jaxpr
    got = grad()  # a fresh trace (new closure): lowered for CPU only
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(expected), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("kind", ["binary", "graded-delays", "procedural"])
def test_dispatch_lowers_one_triton_kernel_per_step_for_cuda(monkeypatch, kind):
    """Lowered for "cuda" (on any machine): the public projections pick the Pallas branch, the
    kernel body is accepted by the Triton lowering, and a batch of 3 is one kernel (grid_x)."""
    monkeypatch.setattr(_gpu, "gpu_present", lambda: True)
    rng = np.random.default_rng(12)
    if kind == "procedural":
        proj = procedural("a", "b", 70, 50, 16, weights=rng.normal(size=70), seed=1)
    else:
        delays = (lambda pre, post, ch: (pre + post) % 3) if kind == "graded-delays" else None
        proj = projections.sparse("a", "b", _conn(True, np.float32), delays=delays)
    z = jnp.asarray(rng.random((3, 70)) < 0.3, jnp.float32)
    step = jax.jit(lambda p, zz: p.deliver(p.init_state((3,)), zz, binary=kind == "binary")[1])
    text = step.trace(proj, z).lower(lowering_platforms=("cuda",)).as_text()
    assert text.count("custom_call @__gpu$xla.gpu.triton") == 1
    assert re.search(r"grid_x\s*=\s*3\b", text)


def _gpu_and_reference(monkeypatch, fn):
    """``fn()`` with the GPU kernel, then with the pure-JAX reference (fresh traces)."""
    out = fn()
    monkeypatch.setenv("NEURO_EVENT_KERNEL", "jax")
    ref = fn()
    monkeypatch.delenv("NEURO_EVENT_KERNEL")
    return out, ref


@needs_gpu
@pytest.mark.parametrize("per_edge, binary", [(False, True), (True, False)])
def test_compiled_kernel_on_gpu_equals_reference(monkeypatch, per_edge, binary):
    conn = _conn(per_edge, np.float32, seed=9, n=300, n_post=200)
    rng = np.random.default_rng(10)
    z = jnp.asarray(_values(rng, (4, 300), np.float32, binary))
    for kw in ({}, dict(delays=lambda pre, post, ch: (pre + post) % 3)):
        proj = projections.sparse("a", "b", conn, **kw)
        run = lambda p=proj: jax.jit(
            lambda pp, zz: pp.deliver(pp.init_state((4,)), zz, binary=binary)[1])(p, z)
        out, ref = _gpu_and_reference(monkeypatch, run)
        assert "gpu" in str(out.devices()).lower() or "cuda" in str(out.devices()).lower()
        np.testing.assert_array_equal(np.asarray(out), np.asarray(ref))
    proj = projections.sparse("a", "b", conn)

    def grads():
        loss = lambda w, zz: jnp.sum(jnp.sin(dataclasses.replace(proj, weights=w).deliver(
            proj.init_state((4,)), zz, binary=binary)[1]))
        return jax.jit(jax.grad(loss, argnums=(0, 1)))(proj.weights, jnp.nan_to_num(z))

    out, ref = _gpu_and_reference(monkeypatch, grads)
    for a, b in zip(out, ref, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)


@needs_gpu
def test_compiled_procedural_kernel_on_gpu_equals_the_stored_table():
    # the stored table runs the Sparse GPU kernel: also checked against the reference above
    rng = np.random.default_rng(11)
    proj = procedural("a", "b", 500, 400, 64, weights=rng.integers(-8, 9, 500) / 4.0, seed=3,
                      source_channels=(np.arange(500) >= 400).astype(int))
    table = projections.sparse("a", "b", proj.connectivity())
    z = jnp.asarray(rng.random((3, 500)) < 0.1, jnp.float32)
    deliver = jax.jit(lambda p, zz: p.deliver(p.init_state((3,)), zz, binary=True)[1])
    np.testing.assert_array_equal(np.asarray(deliver(proj, z)), np.asarray(deliver(table, z)))
