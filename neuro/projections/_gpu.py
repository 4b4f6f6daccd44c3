"""GPU kernels of the event-driven forwards (Pallas, Triton backend): ``Sparse`` and ``Procedural``.

The same map as the pure-JAX references of :mod:`._events` and :mod:`.procedural`, lowered for
the ``"cuda"`` and ``"rocm"`` platforms only (the CPU keeps its native Numba kernel or the
reference; this module changes nothing there). A step is two parts:

1. compaction (plain jnp; a parallel prefix on the GPU): ``rows = nonzero(z != 0)`` padded with
   ``n_pre``, and ``count`` the number of active rows (as in GeNN, whose neuron kernel appends
   spikes to a queue that the synapse kernel reads);
2. one Pallas kernel on a grid ``(batch, P, ceil(K / BK))``: program ``(b, p, c)`` visits the
   active rows ``j = p, p + P, ... < count`` (the trip count is dynamic, so the work grows with
   the number of spikes, not with ``n_pre``), and for row ``i = rows[j]`` adds, for the ``BK``
   columns ``k`` of block ``c``::

       acc[place(idx_ik)] += w_ik (* z_i unless binary)      (atomic add)

   with ``idx_ik`` the table entry (:class:`._events.Layout`: ``+ offset``, the target's sink;
   with per-synapse delays ``((pos + d_ik) mod D) S + t_ik``) or, for a procedural projection,
   ``c_i n_post + mix(row_i + k 0x9E3779B9) mod n_post + offset`` (the hash regenerated in the
   kernel; see :mod:`.procedural`).

Padding entries (targets equal to the table's sink) are masked, not added: on a GPU every padded
lane of every active row would otherwise be an atomic on the one sink address, serialised. The
sink is a dump slot that nothing reads (the JVP masks padding as well); every other slot equals
the reference up to the order of the floating-point additions (atomics commute in no fixed
order; integer-valued weights give equal results bit for bit).

Batches (``vmap``, as :class:`~neuro.projections.Sparse` maps leading axes) become the first grid
axis of one kernel (:func:`jax.custom_batching.custom_vmap`); batched tables or weights fall back
to one kernel per batch element. The derivative rules are those of the callers (custom JVP /
VJP), shared by every platform.

``interpret=True`` runs the kernel body with the Pallas interpreter on any backend (the tests do,
on CPU). The interpreter cannot discharge masked atomics, and discharges array-indexed ones with a
``set`` that drops duplicate indices, so in interpret mode the final add is a ``jnp`` scatter-add
of the same indices and values; the atomic itself is covered by the GPU tests
(``tests/projections/test_gpu.py``, skipped without a GPU).
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

Array = jax.Array
PLATFORMS = ("cuda", "rocm")
MAX_PROGRAMS = 2048  # programs per batch element: spikes of a step are spread over them
MAX_BLOCK = 256  # columns per program (a power of two, as Triton requires)


@functools.cache
def gpu_present() -> bool:
    """Whether this process has a GPU backend (then the GPU branches are traced at all)."""
    try:
        return bool(jax.devices("gpu"))
    except RuntimeError:
        return False


def branches(fn) -> dict[str, Any]:
    """``lax.platform_dependent`` keywords lowering ``fn`` on the GPU platforms; none when this
    process has no GPU (so a CPU-only trace never sees the kernel)."""
    return dict.fromkeys(PLATFORMS, fn) if gpu_present() else {}


def _block(width: int) -> int:
    return min(MAX_BLOCK, max(16, 1 << max(0, width - 1).bit_length()))


def _launch(row_fn, acc: Array, z: Array, operands: tuple, *, width: int, binary: bool,
            w_dtype: Any, programs: int | None, interpret: bool) -> Array:
    """The compaction and the kernel over a batch: ``acc [B, M]``, ``z [B, n_pre]``.

    ``row_fn(refs, i, cols, colmask) -> (idx, w, valid)`` gives the accumulator indices, values
    and mask of the ``BK`` columns ``cols`` of active row ``i`` (``refs``: the operands' refs).
    """
    from jax.experimental import pallas as pl
    from jax.experimental.pallas import triton as plgpu

    n_batch, m = acc.shape
    n_pre = z.shape[1]
    active = z != 0
    count = jnp.sum(active, axis=1, dtype=jnp.int32)
    rows = jax.vmap(lambda a: jnp.nonzero(a, size=n_pre, fill_value=n_pre)[0])(active)
    rows = rows.astype(jnp.int32)
    zw = z.astype(w_dtype)
    n_prog = max(1, min(n_pre, programs or MAX_PROGRAMS))
    bk = _block(width)
    n_cblk = -(-width // bk)

    def kernel(count_ref, rows_ref, z_ref, *refs):
        *op_refs, _acc_in, acc_ref = refs
        b, p, c = pl.program_id(0), pl.program_id(1), pl.program_id(2)
        cols = c * bk + jnp.arange(bk, dtype=jnp.int32)
        colmask = cols < width
        n_iter = (jnp.maximum(count_ref[b] - p, 0) + (n_prog - 1)) // n_prog

        def visit(it, carry):
            i = rows_ref[b, p + it * n_prog]
            idx, w, valid = row_fn(op_refs, i, cols, colmask)
            if not binary:
                w = w * z_ref[b, i]
            w = w.astype(acc_ref.dtype)
            if interpret:  # see the module docstring: the interpreter's atomics are not adds
                safe = jnp.where(valid, idx, m)
                acc_ref[b] = acc_ref[b].at[safe].add(w, mode="drop")
            else:
                plgpu.atomic_add(acc_ref, (b, jnp.where(valid, idx, 0)), w, mask=valid)
            return carry

        lax.fori_loop(0, n_iter, visit, jnp.int32(0))

    call = pl.pallas_call(
        kernel, out_shape=jax.ShapeDtypeStruct(acc.shape, acc.dtype),
        grid=(n_batch, n_prog, n_cblk),
        input_output_aliases={3 + len(operands): 0}, interpret=interpret,
        compiler_params=None if interpret else plgpu.CompilerParams(num_warps=max(1, bk // 64)),
        name="neuro_event_forward")
    return call(count, rows, zw, *operands, acc)


def _batched(kernel_fn):
    """``kernel_fn(acc [B, M], z [B, n], *rest)`` as a function whose ``vmap`` folds the new
    axis into ``B`` (one kernel), or maps one kernel per element when ``rest`` is batched."""

    @jax.custom_batching.custom_vmap
    def fn(acc, z, *rest):
        return kernel_fn(acc, z, *rest)

    @fn.def_vmap
    def _rule(axis_size, in_batched, acc, z, *rest):
        acc_b, z_b, *rest_b = in_batched
        if any(rest_b):
            args = [a if bt else jnp.broadcast_to(a, (axis_size, *a.shape))
                    for a, bt in zip((acc, z, *rest), in_batched, strict=True)]
            return lax.map(lambda a: fn(*a), tuple(args)), True
        acc = acc if acc_b else jnp.broadcast_to(acc, (axis_size, *acc.shape))
        z = z if z_b else jnp.broadcast_to(z, (axis_size, *z.shape))
        out = fn(acc.reshape(-1, acc.shape[-1]), z.reshape(-1, z.shape[-1]), *rest)
        return out.reshape(acc.shape), True

    return fn


@functools.cache
def _event_fn(layout, has_delays: bool, width: int, w_cols: int, w_dtype, programs, interpret):
    sink, offset = layout.sink, layout.offset

    def kernel_fn(acc, z, weights, targets, *delay_args):
        acc_sink = acc.shape[-1] - 1 if layout.acc_sink == -1 else layout.acc_sink
        identity = offset == 0 and layout.acc_sink in (-1, sink)

        def row_fn(refs, i, cols, colmask):
            w_ref, t_ref, *d_refs = refs
            flat = jnp.where(colmask, i * width + cols, 0)
            t = jnp.where(colmask, t_ref[flat], sink)
            valid = t != sink
            if d_refs:  # ring of future arrivals: no placement (the caller adds the slot)
                d_ref, pos_ref = d_refs
                idx = ((pos_ref[0] + d_ref[flat]) % layout.n_slots) * layout.stride + t
            else:
                idx = t if identity else jnp.where(valid, t + offset, acc_sink)
            if w_cols == 1:
                w = jnp.broadcast_to(w_ref[i], cols.shape)
            else:
                w = w_ref[flat]
            return idx, w, valid

        return _launch(row_fn, acc, z, (weights.reshape(-1), targets.reshape(-1), *delay_args),
                       width=width, binary=layout.binary, w_dtype=w_dtype, programs=programs,
                       interpret=interpret)

    return _batched(kernel_fn)


def event_forward(layout, acc: Array, z: Array, weights: Array, targets: Array,
                  delays: Array | None, pos: Array, *, programs: int | None = None,
                  interpret: bool = False) -> Array:
    """``acc`` plus the events of ``z`` (1-D) through the table: the GPU kernel of
    :func:`._events.deliver` (``layout`` a :class:`._events.Layout`)."""
    fn = _event_fn(layout, delays is not None, targets.shape[1], weights.shape[1],
                   jnp.dtype(weights.dtype), programs, interpret)
    extra = () if delays is None else (delays.reshape(-1).astype(jnp.int32),
                                       jnp.reshape(pos, (1,)).astype(jnp.int32))
    return fn(acc[None], z[None], weights, targets.astype(jnp.int32), *extra)[0]


@functools.cache
def _procedural_fn(layout, w_dtype, programs, interpret):
    from neuro.projections.procedural import _GOLDEN, mix32  # (procedural imports this module)

    def kernel_fn(acc, z, weights, channels):
        def row_fn(refs, i, cols, colmask):
            w_ref, ch_ref = refs
            row = mix32(i.astype(jnp.uint32) ^ jnp.uint32(layout.key))
            h = mix32(row + cols.astype(jnp.uint32) * jnp.uint32(_GOLDEN))
            post = (h % jnp.uint32(layout.n_post)).astype(jnp.int32)
            idx = ch_ref[i] * layout.n_post + post + layout.offset
            return idx, jnp.broadcast_to(w_ref[i], cols.shape), colmask

        return _launch(row_fn, acc, z, (weights, channels), width=layout.out_degree,
                       binary=layout.binary, w_dtype=w_dtype, programs=programs,
                       interpret=interpret)

    return _batched(kernel_fn)


def procedural_forward(layout, acc: Array, z: Array, weights: Array, channels: Array, *,
                       programs: int | None = None, interpret: bool = False) -> Array:
    """``acc`` plus the events of ``z`` (1-D) through the hashed synapses of
    :class:`~neuro.projections.procedural.Procedural` (``layout`` its ``ProceduralLayout``)."""
    fn = _procedural_fn(layout, jnp.dtype(weights.dtype), programs, interpret)
    return fn(acc[None], z[None], weights, channels.astype(jnp.int32))[0]
