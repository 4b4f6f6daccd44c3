"""Checkpoints of partitioned state that resume on any device count.

A checkpoint holds the state in the layout of the *unpartitioned* network
(:func:`~neuro.distributed.gather_state`): neuron blocks joined, padding dropped, delay lines and
spike history in the single-device form. It does not depend on the number of devices, so a run
saved on 4 devices resumes on 2, on 1 (:func:`neuro.run.simulate` on the plain Network), or on 8.
Files are written atomically by :mod:`neuro.io` (``.npz``, by process 0 after a gather).

Why not orbax-checkpoint: its strength is that every process writes its own shards and restores
them into any sharding of the *same* global arrays; the partitioned layout is not a sharding of
one array shape (blocks are padded per device count), so it would still need this conversion,
and it brings tensorstore. State is small next to the synapses, which are rebuilt from the
model's seed: COBA at 400k neurons holds ~36 bytes of state per neuron (14 MB); see
``benchmarks/scaling.py`` for the measured save and load times.
"""

from __future__ import annotations

import json
import os
from typing import Any

import jax
import numpy as np

from neuro.distributed.partition import PartitionedNetwork, gather_state, shard_state
from neuro.io import load_pytree, save_pytree


def save(path: str | os.PathLike, pnet: PartitionedNetwork, dstate: Any, extra: Any = None,
         **meta: Any) -> None:
    """Write ``dstate`` (and a pytree ``extra``, e.g. records) in the device-count independent
    layout, with JSON-able ``meta``; every process calls it, process 0 writes."""
    state = gather_state(pnet, dstate)
    if jax.process_index() == 0:
        save_pytree(path, (state, extra), **meta)
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(f"neuro checkpoint {os.fspath(path)}")


def load(path: str | os.PathLike, pnet: PartitionedNetwork, like: Any, extra_like: Any = None
         ) -> tuple[Any, Any, dict]:
    """Read a checkpoint onto ``pnet``'s mesh: ``(dstate, extra, meta)``. ``like`` is a
    partitioned state of ``pnet`` (its structure and shapes; e.g. the initial one)."""
    global_like = gather_state(pnet, like)
    (state, extra), meta = load_pytree(path, (global_like, extra_like))
    return shard_state(pnet, state), extra, meta


def read_meta(path: str | os.PathLike) -> dict:
    """The JSON metadata of a checkpoint (the ``__meta__`` entry :mod:`neuro.io` writes)."""
    with np.load(path) as data:
        return json.loads(bytes(data["__meta__"]).decode())
