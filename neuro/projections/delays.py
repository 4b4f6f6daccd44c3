"""Uniform synaptic delays: a ring buffer of the last ``steps`` presynaptic vectors.

``out_t = z_{t - steps}`` (zeros for the first ``steps`` steps). The buffer keeps the dtype of
``z``, so graded values are delayed exactly (never binarised). Heterogeneous per-synapse delays
live in the event table of :class:`neuro.projections.Sparse` instead (a ring of future arrivals).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

Array = jax.Array


class DelayState(NamedTuple):
    """The last ``steps`` presynaptic vectors ``[steps, ..., n_pre]`` and the read position."""

    buffer: Array
    position: Array  # int32 scalar


def delay_init(steps: int, shape: tuple[int, ...], dtype) -> DelayState | None:
    """An empty delay line of ``steps`` steps for vectors of ``shape`` (None when ``steps == 0``)."""
    if steps == 0:
        return None
    return DelayState(jnp.zeros((steps, *shape), dtype), jnp.int32(0))


def delay_step(steps: int, state: DelayState | None, z: Array) -> tuple[DelayState | None, Array]:
    """Push ``z`` and pop the vector of ``steps`` steps ago."""
    if steps == 0:
        return state, z
    # dynamic_(update_)index: the position is in range by construction, so no bounds check;
    # ``.at[].set`` lowers to a scatter whose out-of-bounds select XLA then fuses into the
    # update and copies the whole buffer for
    out = jax.lax.dynamic_index_in_dim(state.buffer, state.position, keepdims=False)
    buffer = jax.lax.dynamic_update_index_in_dim(state.buffer, z.astype(state.buffer.dtype),
                                                 state.position, 0)
    return DelayState(buffer, (state.position + 1) % steps), out
