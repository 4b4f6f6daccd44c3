"""Event-driven delivery through a padded out-degree (ELL) table, with its exact adjoint.

Forward (:func:`deliver`): add the input caused by presynaptic values ``z`` (``n_pre``) to a flat
accumulator ``acc`` (``M`` long; the padding targets point at a sink slot of ``acc``)::

    acc[idx_ik] += z_i w_ik        for every i with z_i != 0 and every slot k of row i

On XLA:CPU with Numba installed the forward is one native custom call (:mod:`._native`: a loop
over ``z`` with the same summation order, bitwise equal; measured ~2x faster than the pure-JAX
forward below at N = 4,000, whose ~15 small operations cost more in dispatch than in work);
``Layout.kernel`` or ``NEURO_EVENT_KERNEL=jax`` select the pure-JAX reference, which runs
everywhere else. In the reference, the work grows with the number of non-zero ``z_i``: they are
packed into 32-bit words; a popcount
prefix over the words (n_pre / 32 of them, not n_pre) locates the k-th active row without
``jnp.nonzero`` (whose cumsum over n_pre dominated a step); active rows are gathered in rounds of
``spikes_per_round`` (a ``while_loop`` runs as many rounds as there were active rows, so none is
dropped) and scatter-added into ``acc``. ``binary=True`` promises ``z`` in {0, 1} and skips the
``z_i`` product; otherwise graded values (any float, negative, NaN) enter exactly.

On "cuda" / "rocm" (a GPU in the process) the forward is the Pallas kernel of :mod:`._gpu`
(the same map, atomic adds; ``kernel="jax"`` or ``NEURO_EVENT_KERNEL=jax`` keep the reference).

Heterogeneous delays: with a per-synapse table ``delays_ik`` (whole steps) and a ring of ``D``
slots of stride ``S`` (each slot ends in its own sink), ``idx_ik = ((pos + delays_ik) mod D) S +
targets_ik``.

Derivatives (``jax.custom_jvp``: the tangent is the same map over every table entry, which JAX
transposes for reverse mode; ``g`` the cotangent of the returned accumulator; padding masked)::

    dacc = g,   dz_i = sum_k w_ik g[idx_ik],   dw_ik = z_i g[idx_ik]

which is the transpose of the forward map, so gradients equal those of the dense reference
``z @ W`` up to summation order. The backward visits every synapse (the cotangent ``g`` is dense).

XLA:CPU notes (measured, jax 0.10, see the closing note of issue 3): a step is bound by per-op
overhead and memory traffic, not arithmetic; a gather of whole rows costs ~2x a flat element
gather; elementwise index arithmetic that XLA fuses into a gather is recomputed for every gathered
element (hence the materialising no-op sort in :func:`_select`).
"""

from __future__ import annotations

import os
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from neuro.projections import _gpu, _native

Array = jax.Array
KERNELS = ("auto", "jax", "native")

_PIB = lax.GatherScatterMode.PROMISE_IN_BOUNDS
_ADD = lax.ScatterDimensionNumbers(update_window_dims=(), inserted_window_dims=(0,),
                                   scatter_dims_to_operand_dims=(0,))


class Layout(NamedTuple):
    """Static description of the table: rows gathered per round, whether ``z`` is binary, the
    ring's slot count and stride (1 and 0 without heterogeneous delays), the table's sink,
    where its indices land in the accumulator: ``+ offset``, the sink at ``acc_sink``, and the
    forward kernel: ``"jax"`` (the reference), ``"native"`` (:mod:`._native`, XLA:CPU) or
    ``"auto"`` (native where it applies: CPU, Numba installed, no per-synapse delays; else jax;
    the environment variable ``NEURO_EVENT_KERNEL=jax`` forces the reference)."""

    spikes_per_round: int
    binary: bool
    n_slots: int
    stride: int
    sink: int
    offset: int = 0
    acc_sink: int = -1
    kernel: str = "auto"

    def place(self, idx: Array) -> Array:
        """Table indices -> accumulator indices (identity when the layouts coincide)."""
        if self.offset == 0 and self.acc_sink in (-1, self.sink):
            return idx
        return jnp.where(idx == self.sink, self.acc_sink, idx + self.offset)


def default_spikes_per_round(n_pre: int) -> int:
    """Rows gathered per round: about the spikes of one 0.1 ms step at 25 Hz, at least 8 (a
    measured trade-off between padded rows and the fixed cost of a round)."""
    return max(8, -(-n_pre // 400))


def _prefix_sum(x: Array) -> Array:
    """Inclusive cumsum of an int vector in two levels of 32 (cheaper on XLA:CPU than the
    log-depth associative scan of ``jnp.cumsum`` over the whole vector)."""
    n = x.shape[0]
    if n <= 256:
        return jnp.cumsum(x)
    rows = -(-n // 32)
    xr = jnp.pad(x, (0, rows * 32 - n)).reshape(rows, 32)
    within = jnp.cumsum(xr, axis=1)
    offs = jnp.cumsum(within[:, -1]) - within[:, -1]
    return (within + offs[:, None]).reshape(-1)[:n]


_SHIFTS = np.arange(32, dtype=np.uint32)
_LOW = ((np.uint64(1) << _SHIFTS.astype(np.uint64)) - np.uint64(1)).astype(np.uint32)


def _pack(active: Array) -> tuple[Array, Array, Array]:
    """Words of 32 activity bits, their popcounts and the inclusive prefix of the counts."""
    n = active.shape[0]
    n_words = -(-n // 32)
    z = jnp.pad(active, (0, n_words * 32 - n)).reshape(n_words, 32)
    words = jnp.sum(z.astype(jnp.uint32) << _SHIFTS, axis=1, dtype=jnp.uint32)
    counts = lax.population_count(words).astype(jnp.int32)
    return words, counts, _prefix_sum(counts)


def _select(words: Array, counts: Array, incl: Array, start: Array, size: int, fill: int) -> Array:
    """Indices of active rows number ``start .. start+size-1`` (in order); ``fill`` past the end."""
    n_words = words.shape[0]
    k = start + jnp.arange(size, dtype=jnp.int32)
    if size * n_words <= 65536:
        w = jnp.sum(incl[None, :] <= k[:, None], axis=1, dtype=jnp.int32)
    else:
        # binary search; the (no-op) sort makes XLA materialise its result instead of fusing
        # the whole search into every consumer element (optimization barriers are dropped on CPU)
        w = lax.sort(jnp.searchsorted(incl, k, side="right", method="scan_unrolled")
                     .astype(jnp.int32))
    wc = jnp.minimum(w, n_words - 1)
    rank = k - (incl[wc] - counts[wc])  # which set bit of word wc
    word = words[wc]
    below = lax.population_count(word[:, None] & _LOW[None, :]).astype(jnp.int32)
    is_set = ((word[:, None] >> _SHIFTS[None, :]) & 1) == 1
    bit = jnp.argmax(is_set & (below == rank[:, None]), axis=1).astype(jnp.int32)
    return jnp.where(w < n_words, wc * 32 + bit, fill)


def _env_allows_native() -> bool:
    """``NEURO_EVENT_KERNEL=jax`` makes ``kernel="auto"`` use the pure-JAX reference."""
    return os.environ.get("NEURO_EVENT_KERNEL", "auto") != "jax"


def _native_applies(layout: Layout, delays) -> bool:
    if layout.kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {KERNELS}; got {layout.kernel!r}")
    if layout.kernel == "jax" or delays is not None:
        return False
    if layout.kernel == "auto" and not _env_allows_native():
        return False
    if not _native.available():
        if layout.kernel == "native":
            raise RuntimeError("kernel='native' needs Numba (pip install neuro[fast])")
        return False
    return True


def _forward(layout: Layout, acc, z, weights, targets, delays, pos):
    ref = partial(_jax_forward, layout)
    gpu = _gpu.branches(partial(_gpu.event_forward, layout)) if layout.kernel != "jax" \
        and _env_allows_native() else {}  # the Pallas kernel on "cuda" / "rocm" (:mod:`._gpu`)
    native = _native_applies(layout, delays)
    if native or gpu:
        cpu = (lambda a, zz, w, t, d, p: _native.event_forward(layout, a, zz, w, t)) if native \
            else ref
        return lax.platform_dependent(acc, z, weights, targets, delays, pos, cpu=cpu,
                                      default=ref, **gpu)
    return ref(acc, z, weights, targets, delays, pos)


def _jax_forward(layout: Layout, acc, z, weights, targets, delays, pos):
    n_pre = z.shape[0]
    width = targets.shape[1]
    size = layout.spikes_per_round
    words, counts, incl = _pack(z != 0)
    total = incl[-1]
    homogeneous = weights.shape[1] == 1
    flat_targets = targets.reshape(-1)
    z_rows = None if layout.binary else jnp.append(z, jnp.zeros((1,), z.dtype))

    def round_(carry):
        acc, start = carry
        rows = _select(words, counts, incl, start, size, n_pre)
        # flat element gather: measured ~2x cheaper on XLA:CPU than a gather of row slices
        flat = rows[:, None] * width + jnp.arange(width, dtype=jnp.int32)
        idx = layout.place(flat_targets.at[flat].get(mode="promise_in_bounds"))
        if homogeneous:
            w = weights[:, 0].at[rows].get(mode="promise_in_bounds")
            if z_rows is not None:
                w = w * z_rows.at[rows].get(mode="promise_in_bounds").astype(w.dtype)
            w = jnp.broadcast_to(w[:, None], idx.shape)
        else:
            w = weights.reshape(-1).at[flat].get(mode="promise_in_bounds")
            if z_rows is not None:
                w = w * z_rows.at[rows].get(mode="promise_in_bounds").astype(w.dtype)[:, None]
        if delays is not None:
            d = delays.reshape(-1).at[flat].get(mode="promise_in_bounds")
            idx = ((pos + d) % layout.n_slots) * layout.stride + idx
        acc = lax.scatter_add(acc, idx[..., None], w.astype(acc.dtype), _ADD, mode=_PIB)
        return acc, start + size

    acc, _ = lax.while_loop(lambda c: c[1] < total, round_, (acc, jnp.int32(0)))
    return acc


@partial(jax.custom_jvp, nondiff_argnums=(0,))
def deliver(layout: Layout, acc: Array, z: Array, weights: Array, targets: Array,
            delays: Array | None, pos: Array) -> Array:
    """``acc`` plus the input of ``z`` through the table (see the module docstring); 1-D ``z``."""
    return _forward(layout, acc, z, weights, targets, delays, pos)


def _indices(layout: Layout, targets: Array, delays: Array | None, pos: Array) -> Array:
    """Accumulator index of every table entry (padding -> the sink)."""
    idx = layout.place(targets)
    if delays is not None:
        idx = ((pos + delays) % layout.n_slots) * layout.stride + targets
    return idx


@deliver.defjvp
def _deliver_jvp(layout, primals, tangents):
    """Forward event-driven; the tangent is the same map over every table entry (plain jnp
    scatter, linear in the tangents), so JAX transposes it for reverse mode into the gathers
    ``dz_i = sum_k w_ik g[idx_ik]``, ``dw_ik = z_i g[idx_ik]``: exact, and forward mode works
    too (Lyapunov analysis, ``jax.jvp``)."""
    acc, z, weights, targets, delays, pos = primals
    d_acc, d_z, d_w = tangents[:3]
    out = _forward(layout, acc, z, weights, targets, delays, pos)
    idx = _indices(layout, targets, delays, pos)
    valid = targets != layout.sink
    dtype = acc.dtype
    z_rows = jnp.append(z, jnp.zeros((1,), z.dtype)).astype(dtype)[:, None]
    contrib = z_rows * jnp.broadcast_to(d_w, targets.shape).astype(dtype)
    if jnp.issubdtype(z.dtype, jnp.inexact):
        dz_rows = jnp.append(d_z, jnp.zeros((1,), d_z.dtype)).astype(dtype)[:, None]
        contrib = contrib + jnp.broadcast_to(weights, targets.shape).astype(dtype) * dz_rows
    contrib = jnp.where(valid, contrib, 0.0)
    d_out = d_acc + jnp.zeros_like(d_acc).at[idx.reshape(-1)].add(contrib.reshape(-1))
    return out, d_out
