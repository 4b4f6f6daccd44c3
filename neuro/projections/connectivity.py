"""Connectivity builders: who connects to whom, and with which weight (host-side, NumPy).

A :class:`Connectivity` is the structure of a sparse projection as a padded out-degree table
("ELL", the fixed-width cousin of CSR). Row ``i`` holds the targets of presynaptic neuron ``i``::

    targets[i, :deg_i]  = channel_i * n_post + post      (flat index into the accumulator)
    targets[i, deg_i:]  = sink = n_channels * n_post      (padding; lands in a dummy slot)
    weights[i, k]         (or weights[i, 0] for every k when the projection is homogeneous per row)

plus one extra all-padding row ``n_pre``, so that "no spike" is an ordinary row index and every
gather and scatter is in bounds. ``channel_i`` is the receptor channel the source drives
(0 = excitatory -> g_E, 1 = inhibitory -> g_I for an E/I network): one scatter serves both.
:func:`neuro.projections.sparse` turns it into the event-driven, differentiable projection.

Builders (seeded): :func:`fixed_probability` (Bernoulli, Erdős–Rényi; sampled by geometric gaps, so
O(edges) even at N = 10^5), :func:`fixed_in_degree`, :func:`small_world` (Watts–Strogatz ring
lattice with rewiring), :func:`from_edges` (user edge lists), :func:`from_dense` (a weight matrix
whose zeros are absent synapses). Source populations (E/I) and their weights are given by
``source_channels`` and ``weights``; see :func:`excitatory_inhibitory`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax.numpy as jnp
import numpy as np

from neuro.validation import (
    ConfigError,
    as_int_array,
    check_finite,
    check_in_range,
    check_memory,
    check_scalar,
)


@dataclasses.dataclass(frozen=True, eq=False)
class Connectivity:
    """Padded out-degree (ELL) table of a sparse projection (NumPy); see the module docstring."""

    targets: np.ndarray  # int32 (n_pre + 1, max_degree)
    weights: np.ndarray  # float (n_pre + 1, max_degree) or (n_pre + 1, 1)
    n_pre: int
    n_post: int
    n_channels: int = 1

    @property
    def sink(self) -> int:
        """Index of the dummy accumulator slot that absorbs padding."""
        return self.n_channels * self.n_post

    @property
    def max_degree(self) -> int:
        return int(self.targets.shape[1])

    def degrees(self) -> np.ndarray:
        """Out-degree of every presynaptic neuron (host NumPy)."""
        return np.sum(np.asarray(self.targets[:-1]) != self.sink, axis=1)

    def degree_table(self) -> np.ndarray:
        """Out-degrees as int32 with a trailing 0 for the padding row."""
        return np.append(self.degrees(), 0).astype(np.int32)

    def in_degrees(self) -> np.ndarray:
        """In-degree of every postsynaptic neuron, summed over channels (host NumPy)."""
        t = np.asarray(self.targets[:-1]).ravel()
        t = t[t != self.sink] % self.n_post
        return np.bincount(t, minlength=self.n_post)

    def num_synapses(self) -> int:
        return int(np.sum(np.asarray(self.targets[:-1]) != self.sink))

    def to_edges(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(pre, post, channel, weight)`` arrays of every synapse (host NumPy)."""
        t = np.asarray(self.targets[:-1])
        w = np.broadcast_to(np.asarray(self.weights[:-1]), t.shape)
        pre, k = np.nonzero(t != self.sink)
        flat = t[pre, k]
        return pre, flat % self.n_post, flat // self.n_post, w[pre, k]


def _check_size(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"{name} must be a positive integer; got {value!r}")
    return int(value)


def _as_float(name: str, value: Any) -> np.ndarray:
    check_finite(name, value)  # also refuses non-numbers (ArgumentTypeError)
    return np.asarray(value, dtype=float)


def _rng(seed: int | np.random.Generator) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _per_source(name: str, value: Any, n_pre: int, dtype) -> np.ndarray:
    arr = as_int_array(name, value) if np.dtype(dtype).kind == "i" else _as_float(name, value)
    arr = arr.astype(dtype)
    if arr.ndim == 0:
        return np.full(n_pre, arr, dtype=dtype)
    if arr.shape != (n_pre,):
        raise ConfigError(f"{name} must be a scalar or have shape ({n_pre},) (one per source "
                          f"neuron); got shape {arr.shape}")
    return arr


def edge_layout(pre: np.ndarray, n_pre: int) -> tuple[np.ndarray | slice, np.ndarray, int]:
    """Where each edge of ``pre`` sits in a ``[n_pre + 1, width]`` table (the layout of
    :attr:`Connectivity.targets`): edges sorted stably by source, ``order`` the sort (``slice(
    None)`` when ``pre`` ascends already, so that indexing by it copies nothing), ``col[e]`` the
    column of the ``e``-th sorted edge in its row, ``width`` the largest out-degree (>= 1).
    Per-edge values ``v`` go to ``table[pre[order], col] = v[order]``.
    """
    if pre.size < 2 or bool(np.all(pre[1:] >= pre[:-1])):  # already by source (row-major)
        order, sorted_pre = slice(None), pre
    else:
        order = np.argsort(pre, kind="stable")
        sorted_pre = pre[order]
    deg = np.bincount(sorted_pre, minlength=n_pre)
    width = max(int(deg.max()) if deg.size else 0, 1)
    start = np.concatenate([[0], np.cumsum(deg)[:-1]])
    return order, np.arange(pre.size) - start[sorted_pre], width


def from_edges(
    pre: Any,
    post: Any,
    n_pre: int,
    n_post: int,
    *,
    weights: Any = 1.0,
    source_weights: Any = None,
    source_channels: Any = 0,
    n_channels: int | None = None,
    dtype: Any = None,
) -> Connectivity:
    """Build a :class:`Connectivity` from an edge list ``pre[e] -> post[e]``.

    ``weights``: a scalar or one value per edge (shape ``(n_edges,)``). ``source_weights``
    (instead): one value per source neuron, shape ``(n_pre,)``, stored once per row (the fast,
    homogeneous form used by E/I networks). ``source_channels``: receptor channel each source
    drives (scalar or ``(n_pre,)`` ints). Duplicate edges are kept (they add). ``dtype``: weight
    dtype (default: JAX's default float).
    """
    n_pre = _check_size("n_pre", n_pre)
    n_post = _check_size("n_post", n_post)
    check_memory(f"a connectivity table of {n_pre:,} source neurons", 24.0 * (n_pre + 1))
    pre = as_int_array("pre", pre).ravel()
    post = as_int_array("post", post).ravel()
    if pre.shape != post.shape:
        raise ConfigError(f"pre and post must have the same length; got {pre.size} and {post.size}")
    if pre.size and (pre.min() < 0 or pre.max() >= n_pre):
        raise ConfigError(f"pre indices must lie in [0, {n_pre}); got [{pre.min()}, {pre.max()}]")
    if post.size and (post.min() < 0 or post.max() >= n_post):
        raise ConfigError(
             f"post indices must lie in [0, {n_post}); got [{post.min()}, {post.max()}]")
    channels = _per_source("source_channels", source_channels, n_pre, np.int64)
    if np.any(channels < 0):
        raise ConfigError("source_channels must be non-negative")
    n_channels = int(channels.max()) + 1 if n_channels is None else _check_size(
        "n_channels", n_channels)
    if np.any(channels >= n_channels):
        raise ConfigError(f"source_channels must be < n_channels={n_channels}")
    dtype = np.dtype(jnp.zeros(0, dtype=dtype if dtype is not None else float).dtype)
    if source_weights is not None:
        w = _per_source("source_weights", source_weights, n_pre, np.float64)
        per_edge = False
    else:
        w = _as_float("weights", weights)
        per_edge = w.ndim > 0
        if per_edge and w.shape != pre.shape:
            raise ConfigError(f"weights must be a scalar or have shape ({pre.size},) (one per "
                              f"edge); got shape {w.shape}")
    check_finite("weights", w)

    order, col, width = edge_layout(pre, n_pre)
    pre, post = pre[order], post[order]
    sink = n_channels * n_post
    targets = np.full((n_pre + 1, width), sink, dtype=np.int32)
    targets[pre, col] = channels[pre] * n_post + post
    if per_edge:
        table = np.zeros((n_pre + 1, width), dtype=np.float64)
        table[pre, col] = w[order]
    else:
        table = np.zeros((n_pre + 1, 1), dtype=np.float64)
        table[:n_pre, 0] = np.broadcast_to(w, (n_pre,))
    return Connectivity(targets, table.astype(dtype), n_pre, n_post, n_channels)


def fixed_probability(
    seed: int | np.random.Generator,
    n_pre: int,
    n_post: int,
    p: float,
    *,
    allow_self: bool = True,
    **kwargs: Any,
) -> Connectivity:
    """Bernoulli connectivity: each ordered pair is connected independently with probability ``p``.

    Sampled exactly by geometric gaps between successive connected pairs in row-major order, so
    the cost is O(edges), not O(n_pre n_post). ``allow_self=False`` drops i -> i (square only).
    Other keywords go to :func:`from_edges`.
    """
    n_pre = _check_size("n_pre", n_pre)
    n_post = _check_size("n_post", n_post)
    p = check_scalar("p", p)
    check_in_range("p", p, 0.0, 1.0)
    total = n_pre * n_post
    if total >= 2**62:  # positions in the row-major pair order are int64
        raise ConfigError(f"n_pre * n_post must be below 2^62; got {n_pre} * {n_post}")
    check_memory(f"fixed_probability({n_pre}, {n_post}, p={p:g}) (~{total * p:,.0f} synapses)",
                 40.0 * total * p)  # int64 positions, pre, post and the table, per synapse
    rng = _rng(seed)
    if p == 0.0:
        pos = np.zeros(0, dtype=np.int64)
    elif p == 1.0:
        pos = np.arange(total, dtype=np.int64)
    else:
        chunks, last = [], -1
        while True:
            m = int(total * p * 1.05 + 6 * np.sqrt(total * p) + 16)
            # gaps are clipped to total + 1 (tiny p saturates int64) and chunks kept short
            # enough that last + cumsum(gaps) < 2^63: the positions never wrap around
            m = max(1, min(m, 2**62 // (total + 1)))
            gaps = np.minimum(rng.geometric(p, size=m).astype(np.int64), total + 1)
            pos = last + np.cumsum(gaps)
            chunks.append(pos[pos < total])
            if pos[-1] >= total:
                break
            last = int(pos[-1])
        pos = chunks[0] if len(chunks) == 1 else np.concatenate(chunks)
        del chunks, gaps
    pre, post = np.divmod(pos, n_post)
    del pos  # ~8 bytes per synapse each: at 32M synapses these temporaries set the peak
    if not allow_self:
        keep = pre != post
        pre, post = pre[keep], post[keep]
    return from_edges(pre, post, n_pre, n_post, **kwargs)


def fixed_in_degree(
    seed: int | np.random.Generator,
    n_pre: int,
    n_post: int,
    k: int,
    *,
    allow_self: bool = True,
    **kwargs: Any,
) -> Connectivity:
    """Every postsynaptic neuron receives exactly ``k`` distinct sources, drawn uniformly."""
    n_pre = _check_size("n_pre", n_pre)
    n_post = _check_size("n_post", n_post)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
        raise ConfigError(f"k must be a non-negative integer; got {k!r}")
    avail = n_pre - (0 if allow_self or n_pre != n_post else 1)
    if k > avail:
        raise ConfigError(f"k must be at most the number of available sources {avail}; got {k}")
    check_memory(f"fixed_in_degree({n_pre}, {n_post}, k={k}) ({n_post * k:,} synapses)",
                 48.0 * n_post * k)  # int64 sources, sorted copy, order and the table
    rng = _rng(seed)
    post = np.repeat(np.arange(n_post), k)
    if 4 * k > avail:  # dense regime: permutation per target
        src = np.empty((n_post, k), dtype=np.int64)
        for j in range(n_post):
            cand = np.arange(n_pre) if allow_self or n_pre != n_post else np.delete(
                np.arange(n_pre), j)
            src[j] = rng.choice(cand, size=k, replace=False)
    else:  # sparse regime: draw with replacement, redraw duplicates (and self-loops)
        src = rng.integers(0, n_pre, size=(n_post, k))
        rows = np.arange(n_post)[:, None]
        while True:
            s = np.sort(src, axis=1)
            dup = np.zeros_like(src, dtype=bool)
            order = np.argsort(src, axis=1, kind="stable")
            dup_sorted = np.concatenate([np.zeros((n_post, 1), bool), s[:, 1:] == s[:, :-1]], 1)
            np.put_along_axis(dup, order, dup_sorted, axis=1)
            if not allow_self and n_pre == n_post:
                dup |= src == rows
            if not dup.any():
                break
            src[dup] = rng.integers(0, n_pre, size=int(dup.sum()))
    return from_edges(src.ravel(), post, n_pre, n_post, **kwargs)


def small_world(
    seed: int | np.random.Generator,
    n: int,
    k: int,
    p_rewire: float,
    **kwargs: Any,
) -> Connectivity:
    """Watts–Strogatz small-world graph, directed: neuron ``i`` projects to its ``k`` nearest ring
    neighbours (``k/2`` on each side); each edge's target is rewired with probability
    ``p_rewire`` to a uniformly drawn neuron (no self-loops, no duplicate edges)."""
    n = _check_size("n", n)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2 or k % 2 or k >= n:
        raise ConfigError(f"k must be an even integer in [2, n); got {k!r}")
    p_rewire = check_scalar("p_rewire", p_rewire)
    check_in_range("p_rewire", p_rewire, 0.0, 1.0)
    check_memory(f"small_world({n}, k={k}) ({n * k:,} synapses)", 40.0 * n * k)
    rng = _rng(seed)
    offsets = np.concatenate([np.arange(1, k // 2 + 1), -np.arange(1, k // 2 + 1)])
    pre = np.repeat(np.arange(n), k).reshape(n, k)
    post = (pre + offsets[None, :]) % n
    rewire = rng.random((n, k)) < p_rewire
    post = np.where(rewire, -1, post)
    for i in np.nonzero(rewire.any(axis=1))[0]:  # few rows; keep each row free of duplicates
        row = post[i]
        taken = set(row[row >= 0].tolist()) | {i}
        for j in np.nonzero(row < 0)[0]:
            t = int(rng.integers(0, n))
            while t in taken:
                t = int(rng.integers(0, n))
            row[j] = t
            taken.add(t)
    return from_edges(pre.ravel(), post.ravel(), n, n, **kwargs)


def excitatory_inhibitory(
    builder: Any,
    seed: int | np.random.Generator,
    n_exc: int,
    n_inh: int,
    w_exc: float,
    w_inh: float,
    *args: Any,
    n_post: int | None = None,
    **kwargs: Any,
) -> Connectivity:
    """E/I projection: sources ``[0, n_exc)`` drive channel 0 with ``w_exc``, sources
    ``[n_exc, n_exc + n_inh)`` drive channel 1 with ``w_inh``. ``builder`` is
    :func:`fixed_probability` or :func:`fixed_in_degree` (extra ``args``, e.g. ``p`` or ``k``);
    targets default to the same ``n_exc + n_inh`` neurons (recurrent network)."""
    n_exc = _check_size("n_exc", n_exc)
    n_inh = _check_size("n_inh", n_inh)
    n = n_exc + n_inh
    n_post = n if n_post is None else _check_size("n_post", n_post)
    is_inh = np.arange(n) >= n_exc
    return builder(seed, n, n_post, *args, source_weights=np.where(is_inh, w_inh, w_exc),
                   source_channels=is_inh.astype(np.int64), n_channels=2, **kwargs)


def to_dense(conn: Connectivity) -> np.ndarray:
    """The dense ``(n_channels, n_pre, n_post)`` weight tensor of ``conn`` (duplicates add)."""
    pre, post, ch, w = conn.to_edges()
    dense = np.zeros((conn.n_channels, conn.n_pre, conn.n_post), dtype=np.float64)
    np.add.at(dense, (ch, pre, post), w)
    return dense.astype(conn.weights.dtype)


def from_dense(weights: Any, *, dtype: Any = None) -> Connectivity:
    """The synapses of a dense ``[n_pre, n_post]`` matrix (zeros are absent synapses), one
    channel, per-edge weights."""
    w = np.asarray(weights)
    if w.ndim != 2:
        raise ConfigError(f"weights must be a [n_pre, n_post] matrix; got shape {w.shape}")
    pre, post = np.nonzero(w)
    return from_edges(pre, post, w.shape[0], w.shape[1], weights=w[pre, post],
                      dtype=dtype if dtype is not None else w.dtype)
