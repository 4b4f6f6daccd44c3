"""Native CPU kernel of the event-driven forward of :mod:`neuro.projections._events` (Numba).

One XLA custom call per step replaces the pure-JAX forward (bit packing, popcount prefix, rounds
of gathers and scatters: about 15 small XLA operations, each with a fixed dispatch cost that
dominates a step of a 4,000-neuron network). The kernel is a plain loop::

    for i in range(n_pre):                  # in order: the same summation order as the
        if z[i] != 0:                       # reference, so the results are bitwise equal
            for k in range(K):
                acc[place(targets[i, k])] += w[i, k] (* z[i] unless binary)

where ``place`` is :meth:`Layout.place` (channel offset, the target's sink). It writes into the
accumulator in place (the custom call aliases its output with ``acc``). The kernel is compiled
by Numba on first use for each dtype combination (a ``cfunc(void *out, void **in)``) and
registered as an XLA:CPU target of the typed FFI behind a small handler that LLVM builds for it
(:func:`register_cfunc`; :mod:`neuro.fast_coba` registers its kernels the same way);
:func:`available` says whether Numba can be imported (``pip install neuro[fast]``). Other
platforms lower the pure-JAX reference.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import numpy as np


@functools.cache
def available() -> bool:
    """Whether the Numba kernels can be built (Numba importable)."""
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


# A typed XLA FFI handler (``XLA_FFI_Error* handler(XLA_FFI_CallFrame*)``) in front of a Numba
# ``cfunc(void** out, void** ins)``: it answers XLA's metadata query (the FFI API version, as
# the handlers of neuro._event_kernels do; the frame layout is described there), else collects
# the data pointers of the arguments and results and calls the cfunc at its address. Below:
# what follows the metadata query (neuro._event_kernels._METADATA).
_TRAMPOLINE_CALL = """call:
  %ins = alloca [{n_in} x ptr]
  %outs = alloca [{n_out} x ptr]
  %args_p = getelementptr i8, ptr %frame, i64 72
  %args = load ptr, ptr %args_p
  %rets_p = getelementptr i8, ptr %frame, i64 112
  %rets = load ptr, ptr %rets_p
{gather}
  %f = inttoptr i64 {address} to ptr
  call void %f(ptr {out}, ptr %ins)
  ret ptr null
}}
"""


def register_cfunc(name: str, cfunc: Any, n_in: int, n_out: int) -> str:
    """Register the Numba ``cfunc(out, void** ins)`` as the typed-FFI XLA:CPU target ``name``
    (call it with ``jax.ffi.ffi_call(name, ...)`` and the default API): a handler made by LLVM
    for its ``n_in`` arguments and ``n_out`` results. ``out`` is the result's buffer when
    ``n_out == 1``, else the array of the results' buffers (the layout of XLA's original
    custom-call API, which the cfuncs were written for). The cfunc and the handler are kept for
    the life of the process (XLA holds their addresses)."""
    from neuro._event_kernels import _METADATA, _compile, _ffi_api_version, _link

    gather = []  # each buffer's data pointer (at byte 24 of XLA_FFI_Buffer) into ins / outs
    for tag, buffers, table, count in (("a", "%args", "%ins", n_in), ("r", "%rets", "%outs", n_out)):
        for k in range(count):
            gather.append(f"  %{tag}{k}_p = getelementptr ptr, ptr {buffers}, i64 {k}\n"
                          f"  %{tag}{k} = load ptr, ptr %{tag}{k}_p\n"
                          f"  %{tag}{k}_d_p = getelementptr i8, ptr %{tag}{k}, i64 24\n"
                          f"  %{tag}{k}_d = load ptr, ptr %{tag}{k}_d_p\n"
                          f"  %{tag}{k}_t = getelementptr ptr, ptr {table}, i64 {k}\n"
                          f"  store ptr %{tag}{k}_d, ptr %{tag}{k}_t")
    major, minor = _ffi_api_version()
    template = "define ptr @{name}(ptr %frame) {{\nentry:\n" + _METADATA + _TRAMPOLINE_CALL
    source = template.format(name=name, n_in=max(n_in, 1), n_out=max(n_out, 1), major=major,
                             minor=minor, gather="\n".join(gather), address=cfunc.address,
                             out="%r0_d" if n_out == 1 else "%outs")
    address = _link(_compile(source), [name])[name]
    _KEEP.append(cfunc)
    jax.ffi.register_ffi_target(name, jax.ffi.pycapsule(address), platform="cpu",
                                api_version=1)
    return name


def _row_adder(numba, acc_t, w_t):
    """The events of one active row ``i`` (value ``zi``): the work per event, specialised so
    that the common case (one weight per row, identity placement) is a bare gather-add."""

    @numba.njit(inline="always")
    def add_row(acc, targets, weights, zi, i, width, w_cols, binary, sink, offset, acc_sink):
        row = i * width
        if w_cols == 1:
            w = weights[i] if binary else weights[i] * w_t(zi)
            w = acc_t(w)
            if offset == 0 and acc_sink == sink:
                for k in range(width):
                    acc[targets[row + k]] += w
            else:
                for k in range(width):
                    t = targets[row + k]
                    acc[acc_sink if t == sink else t + offset] += w
        else:
            for k in range(width):
                t = targets[row + k]
                w = weights[row + k] if binary else weights[row + k] * w_t(zi)
                acc[acc_sink if t == sink else t + offset] += acc_t(w)

    return add_row


@functools.cache
def _event_target(acc_dtype: str, z_dtype: str, w_dtype: str) -> str:
    """Compile and register the forward kernel for these dtypes; return its target name."""
    import numba
    from numba import types

    acc_t, z_t, w_t = (numba.from_dtype(np.dtype(d)) for d in (acc_dtype, z_dtype, w_dtype))
    bits, mask = _z_bits(numba, types, z_dtype)  # "z != 0" 8 at a time on the bit pattern
    add_row = _row_adder(numba, acc_t, w_t)
    sig = types.void(types.voidptr, types.CPointer(types.voidptr))

    @numba.cfunc(sig, nopython=True)
    def kernel(out_ptr, ins):
        dims = numba.carray(ins[4], (8,), types.int32)
        m, n_pre, width, w_cols = dims[0], dims[1], dims[2], dims[3]
        binary, sink, offset, acc_sink = dims[4] != 0, dims[5], dims[6], dims[7]
        acc = numba.carray(out_ptr, (m,), acc_t)  # aliased with ins[0]: updated in place
        z = numba.carray(ins[1], (n_pre,), z_t)
        u = numba.carray(ins[1], (n_pre,), bits)
        targets = numba.carray(ins[2], ((n_pre + 1) * width,), types.int32)
        weights = numba.carray(ins[3], ((n_pre + 1) * w_cols,), w_t)
        i = 0
        while i + 8 <= n_pre:  # branch-free test of 8 values, then the rare active ones
            if (u[i] | u[i + 1] | u[i + 2] | u[i + 3] | u[i + 4] | u[i + 5] | u[i + 6]
                    | u[i + 7]) & mask:
                for j in range(i, i + 8):
                    if z[j] != 0:
                        add_row(acc, targets, weights, z[j], j, width, w_cols, binary, sink,
                                offset, acc_sink)
            i += 8
        while i < n_pre:
            if z[i] != 0:
                add_row(acc, targets, weights, z[i], i, width, w_cols, binary, sink, offset,
                        acc_sink)
            i += 1

    name = f"neuro_event_forward_{acc_dtype}_{z_dtype}_{w_dtype}"
    register_cfunc(name, kernel, 5, 1)
    return name


_KEEP: list = []


def _z_bits(numba, types, z_dtype: str):
    """The unsigned type of ``z``'s bit pattern and the mask of ``z != 0`` on it (floats
    ignore the sign bit, so -0.0 is no event, as ``z != 0`` says; NaN is one)."""
    size = np.dtype(z_dtype).itemsize
    bits = {1: types.uint8, 2: types.uint16, 4: types.uint32, 8: types.uint64}[size]
    mask = (1 << (8 * size - 1)) - 1 if np.dtype(z_dtype).kind == "f" else (1 << (8 * size)) - 1
    return bits, bits(mask)


@functools.cache
def _procedural_target(acc_dtype: str, z_dtype: str, w_dtype: str) -> str:
    """The forward kernel of :mod:`.procedural` (targets hashed inline); its target name."""
    import numba
    from numba import types

    acc_t, z_t, w_t = (numba.from_dtype(np.dtype(d)) for d in (acc_dtype, z_dtype, w_dtype))
    bits, mask = _z_bits(numba, types, z_dtype)
    u32 = types.uint32
    m1, m2, golden = u32(0x7FEB352D), u32(0x846CA68B), u32(0x9E3779B9)

    @numba.njit(inline="always")
    def mix(x):  # every step cast back to uint32: Numba widens integer arithmetic
        x = u32(x ^ (x >> u32(16)))
        x = u32(x * m1)
        x = u32(x ^ (x >> u32(15)))
        x = u32(x * m2)
        return u32(x ^ (x >> u32(16)))

    @numba.njit(inline="always")
    def add_row(acc, weights, channels, zi, i, key, width, n_post, offset, binary):
        w = weights[i] if binary else weights[i] * w_t(zi)
        w = acc_t(w)
        base = channels[i] * n_post + offset
        row = mix(u32(i) ^ key)
        npost = u32(n_post)
        for k in range(width):
            acc[base + np.int64(mix(u32(row + u32(u32(k) * golden))) % npost)] += w

    sig = types.void(types.voidptr, types.CPointer(types.voidptr))

    @numba.cfunc(sig, nopython=True)
    def kernel(out_ptr, ins):
        dims = numba.carray(ins[4], (8,), types.int32)
        m, n_pre, width, n_post = dims[0], dims[1], dims[2], dims[3]
        binary, offset = dims[4] != 0, dims[5]
        key = u32(numba.carray(ins[5], (1,), types.uint32)[0])
        acc = numba.carray(out_ptr, (m,), acc_t)  # aliased with ins[0]: updated in place
        z = numba.carray(ins[1], (n_pre,), z_t)
        u = numba.carray(ins[1], (n_pre,), bits)
        weights = numba.carray(ins[2], (n_pre + 1,), w_t)
        channels = numba.carray(ins[3], (n_pre + 1,), types.int32)
        i = 0
        while i + 8 <= n_pre:
            if (u[i] | u[i + 1] | u[i + 2] | u[i + 3] | u[i + 4] | u[i + 5] | u[i + 6]
                    | u[i + 7]) & mask:
                for j in range(i, i + 8):
                    if z[j] != 0:
                        add_row(acc, weights, channels, z[j], j, key, width, n_post, offset,
                                binary)
            i += 8
        while i < n_pre:
            if z[i] != 0:
                add_row(acc, weights, channels, z[i], i, key, width, n_post, offset, binary)
            i += 1

    name = f"neuro_procedural_forward_{acc_dtype}_{z_dtype}_{w_dtype}"
    register_cfunc(name, kernel, 6, 1)
    return name


def procedural_forward(layout, acc: jax.Array, z: jax.Array, weights: jax.Array,
                       channels: jax.Array) -> jax.Array:
    """``acc`` plus the events of ``z`` (1-D) through the hashed synapses of
    :class:`neuro.projections.procedural.Procedural`."""
    name = _procedural_target(np.dtype(acc.dtype).name, np.dtype(z.dtype).name,
                              np.dtype(weights.dtype).name)
    dims = np.array([acc.shape[0], z.shape[0], layout.out_degree, layout.n_post,
                     int(layout.binary), layout.offset, 0, 0], dtype=np.int32)
    key = np.array([layout.key], dtype=np.uint32)
    call = jax.ffi.ffi_call(name, jax.ShapeDtypeStruct(acc.shape, acc.dtype),
                            input_output_aliases={0: 0}, vmap_method="sequential")
    return call(acc, z, weights, channels.astype(np.int32), dims, key)


def event_forward(layout, acc: jax.Array, z: jax.Array, weights: jax.Array,
                  targets: jax.Array) -> jax.Array:
    """``acc`` plus the events of ``z`` through the table (1-D ``z``; no per-synapse delays)."""
    name = _event_target(np.dtype(acc.dtype).name, np.dtype(z.dtype).name,
                         np.dtype(weights.dtype).name)
    acc_sink = acc.shape[0] - 1 if layout.acc_sink == -1 else layout.acc_sink
    offset = layout.offset
    sink = layout.sink
    if offset == 0 and layout.acc_sink in (-1, sink):  # identity placement (Layout.place)
        acc_sink = sink
    dims = np.array([acc.shape[0], z.shape[0], targets.shape[1], weights.shape[1],
                     int(layout.binary), sink, offset, acc_sink], dtype=np.int32)
    call = jax.ffi.ffi_call(name, jax.ShapeDtypeStruct(acc.shape, acc.dtype),
                            input_output_aliases={0: 0}, vmap_method="sequential")
    return call(acc, z, targets.astype(np.int32), weights, dims)
