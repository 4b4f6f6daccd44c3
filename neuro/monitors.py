"""Monitors linear in one population's spikes: per step, ``s = [z != 0] @ columns``.

A monitor of :func:`neuro.run.simulate` is any function of a step's outputs; this one is a
weighted spike count, such as a population's spike count (a column of ones, Brian2's
``PopulationRateMonitor``), the counts of neuron groups (indicator columns) or the synaptic events
caused (the out-degrees). Because it is linear in the spikes, a backend that holds each step's
spikes as a list of neurons (:mod:`neuro.fast_coba`) adds the rows of ``columns`` of the spiking
neurons, O(spikes) per step, and never writes the ``[steps, N]`` spikes at all.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array


class SpikeSums:
    """Per step, the spikes of ``population`` weighted by ``columns``, then :meth:`from_sums`::

        s_c = sum over neurons i with z_i != 0 of columns[i, c]        (c < k)

    Subclasses give the record its form by overriding :meth:`from_sums` (default: the sums
    ``[k]``, and the raster when ``head > 0``). Hashable by value, so equal monitors share one
    compiled loop.

    Parameters
    ----------
    columns : array of shape ``[N, k]``
        Real weights of each neuron's spike (stored as float32; a record that must be exact,
        such as a count, keeps its sums below ``2**24``).
    population : str
        The population whose spikes ``outputs["spikes"][population]`` are summed.
    head : int, default 0
        The record also gets the spikes (``z != 0``) of neurons ``0 .. head - 1``, a raster.

    Attributes
    ----------
    sums_suffice : bool
        True when the record is ``from_sums`` of the sums and the head alone, which lets a
        spike-list backend skip the dense spikes; a subclass that also reads other outputs, or
        whose sums would round, sets it False.
    """

    sums_suffice = True

    def __init__(self, columns: Any, population: str, head: int = 0):
        columns = np.asarray(columns, dtype=np.float32)
        if columns.ndim != 2 or not columns.shape[1]:
            raise ValueError(f"columns must be a [N, k] array with k >= 1; got shape "
                             f"{columns.shape}")
        if not np.all(np.isfinite(columns)):
            raise ValueError("columns must be finite")
        if isinstance(head, bool) or not isinstance(head, int | np.integer) or \
                not 0 <= head <= columns.shape[0]:
            raise ValueError(f"head must be an int in [0, {columns.shape[0]}]; got {head!r}")
        self.columns = columns
        self.population = str(population)
        self.head = int(head)

    @functools.cached_property
    def _key(self) -> tuple:
        """The identity (hashed once, when first needed; a subclass may set its own)."""
        return (self.population, self.head, self.columns.shape,
                hashlib.sha1(self.columns.tobytes()).hexdigest())

    def __hash__(self) -> int:
        return hash(self._key)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._key == self._key

    def sums(self, z: Array) -> Array:
        """``[z != 0] @ columns`` over the last axis of ``z`` (leading axes kept), visiting only
        the spiking neurons when the event kernels are available
        (:func:`neuro.fast_rnn.events_available`)."""
        from neuro import fast_rnn

        if z.shape[-1] != self.columns.shape[0]:
            raise ValueError(f"population {self.population!r} has {z.shape[-1]} neurons; the "
                             f"columns have {self.columns.shape[0]} rows")
        fired = z != 0
        columns = jnp.asarray(self.columns)
        if fast_rnn.events_available():
            from neuro import _event_kernels

            rows = fired.reshape(-1, fired.shape[-1])
            return _event_kernels.matmul(rows, columns).reshape(*fired.shape[:-1], -1)
        return fired.astype(columns.dtype) @ columns

    def from_sums(self, sums: Array, head: Array) -> Any:
        """The record of one step from its sums ``[k]`` and the spikes ``[head]`` (bool) of
        the first neurons (default: the sums, or ``{"sums": sums, "raster": head}``)."""
        return {"sums": sums, "raster": head} if self.head else sums

    def __call__(self, outputs: dict) -> Any:
        z = outputs["spikes"][self.population]
        return self.from_sums(self.sums(z), z[..., : self.head] != 0)
