"""Sparse projection: event-driven forward, exact gradients, receptor channels, delays.

For presynaptic values ``z [..., n_pre]`` (spikes, or graded values: both exact) the arrivals at
the target are ``I[..., c, j] = sum_i z_i sum_k [targets_ik = c n_post + j] w_ik``: the dense
reference ``z @ W`` with ``W`` held as a padded out-degree table (:mod:`.connectivity`).

* ``backend="event"``: work grows with the number of non-zero ``z_i``
  (:mod:`neuro.projections._events`); its custom VJP gives the gradient with respect to the
  weights and to ``z`` (so surrogate gradients flow through sparse recurrence), equal to the dense
  reference's. Leading (batch) axes are mapped with ``jax.vmap``.
* ``backend="dense"``: the reference; the dense ``[n_pre, C n_post]`` matrix is built from the
  table inside the computation (a scatter), so it is differentiable and works under ``jit``.
* ``backend="fused"``: the ``"event"`` backend step by step (its pure-JAX forward); the run loop
  (:func:`neuro.run.scan_steps`) computes a whole run of a network of one conductance or current
  LIF population with exponential synapses and such projections in a native CPU kernel, many
  steps per call (:mod:`neuro.fast_coba`; same values, no derivative).

Trainable values are the float ``weights`` (``[n_pre + 1, K]`` per synapse, or ``[n_pre + 1, 1]``
one per source); the integer ``targets`` and ``delays`` are structure: not float leaves, so a
trainer never differentiates them (see :func:`neuro.train.Trainer`).

Delays (whole steps beyond the network's one-step minimum): ``delay`` is uniform (a delay line on
the presynaptic side); ``delays`` per synapse (an int table like ``targets``) delivers each event
into a ring of future arrivals of ``max(delays) + 1`` slots, read and cleared one slot per step.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from neuro._pytree import pytree_dataclass, static_field
from neuro.projections import _events
from neuro.projections.connectivity import Connectivity
from neuro.projections.delays import DelayState, delay_init, delay_step
from neuro.validation import ArgumentTypeError, ConfigError, check_choice

Array = jax.Array
BACKENDS = ("event", "dense", "fused")


class SparseState(NamedTuple):
    """Uniform delay line (or None) and the ring of future arrivals (or None) with its slot."""

    line: DelayState | None
    ring: Array | None
    position: Array | None


@pytree_dataclass
class Sparse:
    """An event-driven projection; see the module docstring."""

    weights: Array
    targets: Array
    delays: Array | None
    source: str = static_field()
    target: str = static_field()
    n_pre: int = static_field()
    n_post: int = static_field()
    n_channels: int = static_field(default=1)
    channel: int = static_field(default=0)
    delay: int = static_field(default=0)
    n_slots: int = static_field(default=1)
    backend: str = static_field(default="event")
    spikes_per_round: int = static_field(default=8)

    @property
    def sink(self) -> int:
        return self.n_channels * self.n_post

    @property
    def stride(self) -> int:
        """Length of one ring slot: every channel's targets plus the sink."""
        return self.sink + 1

    def connectivity(self) -> Connectivity:
        """The host-side table (for analysis, pruning, export)."""
        return Connectivity(np.asarray(self.targets), np.asarray(self.weights), self.n_pre,
                            self.n_post, self.n_channels)

    def num_synapses(self) -> int:
        return self.connectivity().num_synapses()

    def to_dense(self) -> Array:
        """The dense ``[n_slots, n_pre, C n_post]`` weights (slot = per-synapse delay), built with
        jnp (differentiable, traceable)."""
        w = jnp.broadcast_to(self.weights, self.targets.shape)
        rows = jnp.broadcast_to(jnp.arange(self.n_pre + 1)[:, None], self.targets.shape)
        slots = jnp.zeros_like(self.targets) if self.delays is None else self.delays
        dense = jnp.zeros((self.n_slots, self.n_pre + 1, self.stride), w.dtype)
        dense = dense.at[slots, rows, self.targets].add(w)
        return dense[:, : self.n_pre, : self.sink]

    def init_state(self, batch: tuple[int, ...], dtype: Any = None) -> SparseState:
        dtype = dtype or self.weights.dtype
        line = delay_init(self.delay, (*batch, self.n_pre), dtype)
        if self.delays is None:
            return SparseState(line, None, None)
        ring = jnp.zeros((*batch, self.n_slots * self.stride), self.weights.dtype)
        return SparseState(line, ring, jnp.int32(0))

    def _layout(self, binary: bool, offset: int = 0, acc_sink: int = -1) -> _events.Layout:
        # "fused": the run loop's kernel does the work; its step (shape evaluation, gradients,
        # every > 1) is the pure-JAX forward, so tracing it never compiles the Numba event kernel
        return _events.Layout(self.spikes_per_round, bool(binary), self.n_slots,
                              self.stride if self.delays is not None else 0, self.sink,
                              offset, acc_sink, "jax" if self.backend == "fused" else "auto")

    def deliver(self, state: SparseState, z: Array, *, binary: bool = False
                ) -> tuple[SparseState, Array]:
        """Arrivals ``[..., n_channels, n_post]`` of this step. ``binary=True`` promises
        ``z`` in {0, 1} (the source is a spiking population) and skips the value product."""
        acc = jnp.zeros((*z.shape[:-1], self.stride), self.weights.dtype)
        state, acc = self.deliver_into(state, z, acc, binary=binary)
        return state, acc[..., : self.sink].reshape(*z.shape[:-1], self.n_channels, self.n_post)

    def deliver_into(self, state: SparseState, z: Array, acc: Array, *, binary: bool = False
                     ) -> tuple[SparseState, Array]:
        """Add this step's arrivals into the target's flat accumulator ``acc`` ``[..., C n_post
        + 1]`` (channels from ``self.channel`` on; the last slot is its sink)."""
        if z.shape[-1] != self.n_pre:  # the gathers promise in-bounds indices: check statically
            raise ValueError(f"presynaptic values must have n_pre={self.n_pre} on the last axis; "
                             f"got shape {z.shape}")
        line, z = delay_step(self.delay, state.line, z)
        dtype = self.weights.dtype
        offset = self.channel * self.n_post
        acc_sink = acc.shape[-1] - 1
        if self.delays is None:
            if self.backend == "dense":
                y = z.astype(dtype) @ self.to_dense()[0]
                acc = acc.at[..., offset: offset + self.sink].add(y.astype(acc.dtype))
            else:
                layout = self._layout(binary, offset, acc_sink)
                fn = lambda a, zz: _events.deliver(layout, a, zz, self.weights, self.targets,
                                                   None, jnp.int32(0))
                acc = _map_batch(fn, acc, z)
            return SparseState(line, None, None), acc
        pos = state.position
        batch = z.shape[:-1]
        if self.backend == "dense":
            contrib = jnp.einsum("...i,dis->...ds", z.astype(dtype), self.to_dense())
            ring = state.ring.reshape(*batch, self.n_slots, self.stride)
            slots = (pos + jnp.arange(self.n_slots)) % self.n_slots
            ring = ring.at[..., slots, : self.sink].add(contrib).reshape(state.ring.shape)
        else:
            layout = self._layout(binary)
            fn = lambda r, zz: _events.deliver(layout, r, zz, self.weights, self.targets,
                                               self.delays, pos)
            ring = _map_batch(fn, state.ring, z)
        start = pos * self.stride
        now = jax.lax.dynamic_slice_in_dim(ring, start, self.sink, axis=-1)
        ring = jax.lax.dynamic_update_slice_in_dim(ring, jnp.zeros_like(now), start, axis=-1)
        acc = acc.at[..., offset: offset + self.sink].add(now.astype(acc.dtype))
        return SparseState(line, ring, (pos + 1) % self.n_slots), acc


def _map_batch(fn, *args: Array) -> Array:
    """Apply a 1-D function over any leading axes of its arguments (``vmap`` over the flattened
    batch); unbatched arguments pass straight through."""
    batch = args[-1].shape[:-1]
    if not batch:
        return fn(*args)
    flat = [a.reshape(-1, a.shape[-1]) for a in args]
    out = jax.vmap(fn)(*flat)
    return out.reshape(*batch, out.shape[-1])


def sparse(
    source: str,
    target: str,
    conn: Connectivity,
    *,
    delay: int = 0,
    delays: Any = None,
    channel: int = 0,
    backend: str = "event",
    spikes_per_round: int | None = None,
    dtype: Any = None,
) -> Sparse:
    """A :class:`Sparse` projection with the structure and weights of ``conn``.

    ``delay``: uniform extra steps. ``delays``: per-synapse extra steps, an int array shaped like
    ``conn.targets`` (padding entries are ignored) or a callable ``delays(pre, post, channel) ->
    steps`` evaluated on the edge list. ``channel``: offset of the projection's channels among the
    target population's receptor channels.
    """
    if not isinstance(conn, Connectivity):
        raise ArgumentTypeError(f"conn must be a Connectivity (see neuro.projections); got "
                                f"{type(conn).__name__}")
    check_choice("backend", backend, BACKENDS)
    from neuro.projections.dense import _check_delay_channel

    _check_delay_channel(delay, channel)
    dtype = jnp.zeros(0, dtype=dtype or conn.weights.dtype).dtype
    table = None
    n_slots = 1
    if delays is not None:
        sink = conn.n_channels * conn.n_post
        if callable(delays):
            pre, post, ch, _ = conn.to_edges()
            values = np.asarray(delays(pre, post, ch))
            table = np.zeros(conn.targets.shape, np.int64)
            rows, cols = np.nonzero(conn.targets[:-1] != sink)
            table[rows, cols] = values
        else:
            table = np.array(delays, dtype=np.int64)
            if table.shape != conn.targets.shape:
                raise ConfigError(f"delays must have the shape of conn.targets "
                                  f"{conn.targets.shape}; got {table.shape}")
        table = np.where(conn.targets == sink, 0, table)
        if np.any(table < 0):
            raise ConfigError("delays must be non-negative (whole extra steps)")
        n_slots = int(table.max()) + 1
        table = jnp.asarray(table, jnp.int32)
    size = spikes_per_round or _events.default_spikes_per_round(conn.n_pre)
    return Sparse(jnp.asarray(conn.weights, dtype), jnp.asarray(conn.targets, jnp.int32), table,
                  source, target, conn.n_pre, conn.n_post, conn.n_channels, int(channel),
                  int(delay), n_slots, backend, int(size))
