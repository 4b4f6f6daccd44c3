"""Numba kernels of the event-driven products of :mod:`neuro.fast_rnn` (imported lazily: Numba is
optional). Module-level functions, so Numba caches their machine code on disk (``cache=True``).

``event_matmul*(x, w, split, out)``: ``out[r] = sum_k x[r, k] w[k]``; ``event_matmul_t*(x, d,
split, out)``: ``out[k] = sum_r x[r, k] d[r]``; both visit only the non-zero ``x`` (``*_bool``:
boolean ``x``, events without values). The rows are split into ``len(split)`` parts run by
Numba's threads (the part count is an argument rather than ``numba.get_num_threads()`` so that
the compiled code can be cached); for the transposed product each part accumulates into its own
buffer, summed at the end. Each part is a plain serial kernel that LLVM vectorises over the
contiguous output row. Summation orders are fixed for a given part count: results are
deterministic.
"""

from __future__ import annotations

import numba
import numpy as np

_serial = numba.njit(fastmath=True, nogil=True, cache=True)
_parallel = numba.njit(parallel=True, nogil=True, cache=True)


@_serial
def _rows(x, w, out, r0, r1):
    n_k, n = x.shape[1], w.shape[1]
    for r in range(r0, r1):
        for j in range(n):
            out[r, j] = 0.0
        for k in range(n_k):
            v = x[r, k]
            if v != 0:
                for j in range(n):
                    out[r, j] += v * w[k, j]


@_serial
def _rows_bool(x, w, out, r0, r1):
    n_k, n = x.shape[1], w.shape[1]
    for r in range(r0, r1):
        for j in range(n):
            out[r, j] = 0.0
        for k in range(n_k):
            if x[r, k]:
                for j in range(n):
                    out[r, j] += w[k, j]


@_serial
def _rows_t(x, d, acc, r0, r1):
    n_k, n = x.shape[1], d.shape[1]
    for r in range(r0, r1):
        for k in range(n_k):
            v = x[r, k]
            if v != 0:
                for j in range(n):
                    acc[k, j] += v * d[r, j]


@_serial
def _rows_t_bool(x, d, acc, r0, r1):
    n_k, n = x.shape[1], d.shape[1]
    for r in range(r0, r1):
        for k in range(n_k):
            if x[r, k]:
                for j in range(n):
                    acc[k, j] += d[r, j]


@_parallel
def event_matmul(x, w, split, out):
    parts, n_rows = split.shape[0], x.shape[0]
    for p in numba.prange(parts):
        _rows(x, w, out, p * n_rows // parts, (p + 1) * n_rows // parts)


@_parallel
def event_matmul_bool(x, w, split, out):
    parts, n_rows = split.shape[0], x.shape[0]
    for p in numba.prange(parts):
        _rows_bool(x, w, out, p * n_rows // parts, (p + 1) * n_rows // parts)


@_parallel
def event_matmul_t(x, d, split, out):
    parts, n_rows = split.shape[0], x.shape[0]
    acc = np.zeros((parts, out.shape[0], out.shape[1]), out.dtype)
    for p in numba.prange(parts):
        _rows_t(x, d, acc[p], p * n_rows // parts, (p + 1) * n_rows // parts)
    out[:] = acc[0]
    for p in range(1, parts):
        out += acc[p]


@_parallel
def event_matmul_t_bool(x, d, split, out):
    parts, n_rows = split.shape[0], x.shape[0]
    acc = np.zeros((parts, out.shape[0], out.shape[1]), out.dtype)
    for p in numba.prange(parts):
        _rows_t_bool(x, d, acc[p], p * n_rows // parts, (p + 1) * n_rows // parts)
    out[:] = acc[0]
    for p in range(1, parts):
        out += acc[p]
