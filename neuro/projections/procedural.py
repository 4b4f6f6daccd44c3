"""Procedural (just-in-time) connectivity: synapses regenerated from a seed every step.

A stored table of a network with 10^6 neurons and 10^3 synapses each needs 4 GB for the targets
alone; a procedural projection stores only one weight and one receptor channel per source
neuron and recomputes the targets of a spiking neuron when it spikes (as GeNN's procedural
connectivity, Knight & Nowotny 2021, Nat Comput Sci 1:136). Source ``i`` has exactly
``out_degree`` synapses ``k = 0 .. K-1`` with the targets of a counter-based hash (no state,
the same on every call and every device)::

    row_i   = mix(i XOR mix(seed))                       (uint32 arithmetic, wrapping)
    post_ik = mix(row_i + k * 0x9E3779B9) mod n_post     mix = "lowbias32" (C. Wellons)

so the targets are uniform and independent (fixed out-degree, drawn with replacement:
self-connections and, rarely, duplicate synapses occur; duplicates add, as in
:func:`.connectivity.from_edges`). Every synapse of source ``i`` has the weight ``w_i`` and
drives channel ``c_i``: ``I[c_i n_post + post_ik] += z_i w_i`` for every active ``i``.

Forward: event-driven, work proportional to the number of active sources times ``K``: the
active sources are located and handled in rounds like :mod:`._events` (pure JAX), or by the
native XLA:CPU kernel of :mod:`._native` (one loop, the hash inline; chosen as for
:class:`~neuro.projections.Sparse`). :meth:`Procedural.connectivity` materialises the same
synapses as a stored table (for tests, export and small networks): a ``Sparse`` projection built
from it delivers the same arrivals. Gradients: with respect to the weights and to ``z``
(``dz_i = w_i sum_k g[idx_ik]``, ``dw_i = z_i sum_k g[idx_ik]``), regenerating the synapses of
all sources in blocks. On a GPU the forward is the Pallas kernel of :mod:`._gpu` (hash inline).
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from neuro._pytree import pytree_dataclass, static_field
from neuro.projections import _events, _gpu, _native
from neuro.projections.connectivity import Connectivity, from_edges
from neuro.projections.delays import delay_init, delay_step

Array = jax.Array
_GOLDEN = 0x9E3779B9
_M1, _M2 = 0x7FEB352D, 0x846CA68B


def mix32(x: Array) -> Array:
    """The "lowbias32" integer hash of a JAX uint32 array (wraps mod 2^32)."""
    x = x ^ (x >> 16)
    x = x * jnp.uint32(_M1)
    x = x ^ (x >> 15)
    x = x * jnp.uint32(_M2)
    return x ^ (x >> 16)


def _np_mix32(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        x = np.asarray(x, np.uint64) & 0xFFFFFFFF
        x ^= x >> 16
        x = (x * _M1) & 0xFFFFFFFF
        x ^= x >> 15
        x = (x * _M2) & 0xFFFFFFFF
        return (x ^ (x >> 16)).astype(np.uint32)


def seed_key(seed: int) -> int:
    """The 32-bit key of a seed: ``mix(seed)``."""
    return int(_np_mix32(np.uint32(seed & 0xFFFFFFFF)))


def targets_numpy(seed: int, rows: np.ndarray, out_degree: int, n_post: int) -> np.ndarray:
    """``post_ik`` of the given sources (host NumPy reference of the hash)."""
    row = _np_mix32(np.asarray(rows, np.uint64) ^ seed_key(seed)).astype(np.uint64)
    k = np.arange(out_degree, dtype=np.uint64)
    h = _np_mix32((row[:, None] + k[None, :] * _GOLDEN) & 0xFFFFFFFF)
    return (h % np.uint32(n_post)).astype(np.int64)


def _targets_jax(key: int, rows: Array, out_degree: int, n_post: int) -> Array:
    row = mix32(rows.astype(jnp.uint32) ^ jnp.uint32(key))
    k = jnp.arange(out_degree, dtype=jnp.uint32)
    h = mix32(row[..., None] + k * jnp.uint32(_GOLDEN))
    return (h % jnp.uint32(n_post)).astype(jnp.int32)


class ProceduralLayout(NamedTuple):
    """Static configuration of the kernel (see :class:`Procedural`)."""

    key: int
    out_degree: int
    n_post: int
    spikes_per_round: int
    binary: bool
    offset: int
    kernel: str = "auto"


@pytree_dataclass
class Procedural:
    """A projection whose synapses are regenerated from ``seed``; see the module docstring."""

    weights: Array  # [n_pre + 1] float: every synapse of source i has weights[i]; last = 0
    channels: Array  # [n_pre + 1] int32 receptor channel of each source (structure)
    source: str = static_field()
    target: str = static_field()
    n_pre: int = static_field()
    n_post: int = static_field()
    out_degree: int = static_field()
    seed: int = static_field(default=0)
    n_channels: int = static_field(default=1)
    channel: int = static_field(default=0)
    delay: int = static_field(default=0)
    spikes_per_round: int = static_field(default=8)
    kernel: str = static_field(default="auto")

    @property
    def sink(self) -> int:
        return self.n_channels * self.n_post

    def num_synapses(self) -> int:
        return self.n_pre * self.out_degree

    def connectivity(self) -> Connectivity:
        """The same synapses as a stored table (host; memory ``n_pre * out_degree`` ints)."""
        rows = np.arange(self.n_pre)
        post = targets_numpy(self.seed, rows, self.out_degree, self.n_post)
        pre = np.repeat(rows, self.out_degree)
        return from_edges(pre, post.ravel(), self.n_pre, self.n_post,
                          source_weights=np.asarray(self.weights)[:-1],
                          source_channels=np.asarray(self.channels)[:-1],
                          n_channels=self.n_channels, dtype=self.weights.dtype)

    def init_state(self, batch: tuple[int, ...], dtype: Any = None) -> Any:
        return delay_init(self.delay, (*batch, self.n_pre), dtype or self.weights.dtype)

    def _layout(self, binary: bool) -> ProceduralLayout:
        return ProceduralLayout(seed_key(self.seed), self.out_degree, self.n_post,
                                self.spikes_per_round, bool(binary), self.channel * self.n_post,
                                self.kernel)

    def deliver_into(self, state: Any, z: Array, acc: Array, *, binary: bool = False
                     ) -> tuple[Any, Array]:
        """Add this step's arrivals into the target's flat accumulator ``[..., C n_post + 1]``."""
        if z.shape[-1] != self.n_pre:
            raise ValueError(f"presynaptic values must have n_pre={self.n_pre} on the last axis; "
                             f"got shape {z.shape}")
        state, z = delay_step(self.delay, state, z)
        layout = self._layout(binary)
        fn = lambda a, zz: deliver(layout, a, zz, self.weights, self.channels)
        batch = z.shape[:-1]
        if not batch:
            return state, fn(acc, z)
        flat = jax.vmap(fn)(acc.reshape(-1, acc.shape[-1]), z.reshape(-1, z.shape[-1]))
        return state, flat.reshape(*batch, acc.shape[-1])

    def deliver(self, state: Any, z: Array, *, binary: bool = False) -> tuple[Any, Array]:
        """Arrivals ``[..., n_channels, n_post]`` of this step."""
        acc = jnp.zeros((*z.shape[:-1], self.sink + 1), self.weights.dtype)
        state, acc = self.deliver_into(state, z, acc, binary=binary)
        return state, acc[..., : self.sink].reshape(*z.shape[:-1], self.n_channels, self.n_post)


def _jax_forward(layout: ProceduralLayout, acc, z, weights, channels):
    n_pre = z.shape[0]
    size = layout.spikes_per_round
    words, counts, incl = _events._pack(z != 0)
    total = incl[-1]
    z_rows = None if layout.binary else jnp.append(z, jnp.zeros((1,), z.dtype))

    def round_(carry):
        acc, start = carry
        rows = _events._select(words, counts, incl, start, size, n_pre)  # n_pre = padding row
        post = _targets_jax(layout.key, rows, layout.out_degree, layout.n_post)
        idx = channels[rows][:, None] * layout.n_post + post + layout.offset
        w = weights[rows]
        if z_rows is not None:
            w = w * z_rows[rows].astype(w.dtype)
        w = jnp.broadcast_to(w[:, None], idx.shape).astype(acc.dtype)  # padding row: w = 0
        acc = lax.scatter_add(acc, idx[..., None], w, _events._ADD, mode=_events._PIB)
        return acc, start + size

    acc, _ = lax.while_loop(lambda c: c[1] < total, round_, (acc, jnp.int32(0)))
    return acc


def _forward(layout, acc, z, weights, channels):
    if layout.kernel not in _events.KERNELS:
        raise ValueError(f"kernel must be one of {_events.KERNELS}; got {layout.kernel!r}")
    native = layout.kernel == "native" or (layout.kernel == "auto" and _native.available()
                                           and _events._env_allows_native())
    if layout.kernel == "native" and not _native.available():
        raise RuntimeError("kernel='native' needs Numba (pip install neuro[fast])")
    gpu = _gpu.branches(partial(_gpu.procedural_forward, layout)) if layout.kernel != "jax" \
        and _events._env_allows_native() else {}  # the Pallas kernel on "cuda" / "rocm"
    if native or gpu:
        cpu = partial(_native.procedural_forward if native else _jax_forward, layout)
        return lax.platform_dependent(acc, z, weights, channels, cpu=cpu,
                                      default=partial(_jax_forward, layout), **gpu)
    return _jax_forward(layout, acc, z, weights, channels)


@partial(jax.custom_vjp, nondiff_argnums=(0,))
def deliver(layout: ProceduralLayout, acc: Array, z: Array, weights: Array, channels: Array
            ) -> Array:
    """``acc`` plus the events of ``z`` (1-D) through the regenerated synapses."""
    return _forward(layout, acc, z, weights, channels)


def _deliver_fwd(layout, acc, z, weights, channels):
    return _forward(layout, acc, z, weights, channels), (z, weights, channels)


_BLOCK = 1024  # sources per block of the backward pass (bounds its memory to BLOCK * K)


def _deliver_bwd(layout, residuals, g):
    z, weights, channels = residuals
    n_pre = z.shape[0]
    n_blocks = -(-n_pre // _BLOCK)
    rows = jnp.arange(n_blocks * _BLOCK, dtype=jnp.int32).reshape(n_blocks, _BLOCK)

    def block(r):
        r = jnp.minimum(r, n_pre)  # past the end: the padding row (weight 0)
        post = _targets_jax(layout.key, r, layout.out_degree, layout.n_post)
        idx = channels[r][:, None] * layout.n_post + post + layout.offset
        return jnp.sum(g[idx], axis=1)  # sum_k g[idx_ik]

    summed = lax.map(block, rows).reshape(-1)[:n_pre]
    dw = jnp.zeros_like(weights)
    dz = None
    if jnp.issubdtype(z.dtype, jnp.inexact):
        dz = (weights[:-1].astype(g.dtype) * summed).astype(z.dtype)
    dw = dw.at[:-1].set((z.astype(g.dtype) * summed).astype(weights.dtype))
    return g, dz, dw, None


deliver.defvjp(_deliver_fwd, _deliver_bwd)


def procedural(
    source: str,
    target: str,
    n_pre: int,
    n_post: int,
    out_degree: int,
    *,
    weights: Any,
    source_channels: Any = 0,
    n_channels: int | None = None,
    seed: int = 0,
    delay: int = 0,
    channel: int = 0,
    spikes_per_round: int | None = None,
    kernel: str = "auto",
    dtype: Any = None,
) -> Procedural:
    """A :class:`Procedural` projection: ``out_degree`` synapses per source with hashed targets.

    ``weights``: a scalar or one weight per source (shape ``(n_pre,)``). ``source_channels``: the
    receptor channel each source drives (scalar or ``(n_pre,)`` ints; e.g. ``i >= n_exc`` for an
    E/I network). ``kernel``: ``"auto"``, ``"jax"`` (reference) or ``"native"``.
    """
    from neuro.projections.dense import _check_delay_channel

    for name, value in (("n_pre", n_pre), ("n_post", n_post), ("out_degree", out_degree)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{name} must be a positive int; got {value!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative int; got {seed!r}")
    if kernel not in _events.KERNELS:
        raise ValueError(f"kernel must be one of {_events.KERNELS}; got {kernel!r}")
    _check_delay_channel(delay, channel)
    dtype = jnp.zeros(0, dtype=dtype or float).dtype
    w = np.broadcast_to(np.asarray(weights, np.float64), (n_pre,)) if np.ndim(weights) == 0 \
        else np.asarray(weights, np.float64)
    if w.shape != (n_pre,):
        raise ValueError(f"weights must be a scalar or have shape ({n_pre},); got {w.shape}")
    if not np.all(np.isfinite(w)):
        raise ValueError("weights must be finite")
    ch = np.broadcast_to(np.asarray(source_channels, np.int64), (n_pre,)) \
        if np.ndim(source_channels) == 0 else np.asarray(source_channels, np.int64)
    if ch.shape != (n_pre,):
        raise ValueError(f"source_channels must be a scalar or have shape ({n_pre},); got "
                         f"{ch.shape}")
    if np.any(ch < 0):
        raise ValueError("source_channels must be non-negative")
    n_channels = int(ch.max()) + 1 if n_channels is None else int(n_channels)
    if np.any(ch >= n_channels):
        raise ValueError(f"source_channels must be < n_channels={n_channels}")
    if (n_channels + channel) * n_post + 1 >= 2 ** 31:
        raise ValueError("the target's accumulator must have fewer than 2^31 entries")
    size = spikes_per_round or max(1, min(_events.default_spikes_per_round(n_pre),
                                          max(1, 2 ** 22 // int(out_degree))))
    return Procedural(jnp.asarray(np.append(w, 0.0), dtype),
                      jnp.asarray(np.append(ch, 0), jnp.int32), source, target, int(n_pre),
                      int(n_post), int(out_degree), int(seed), n_channels, int(channel),
                      int(delay), int(size), kernel)
