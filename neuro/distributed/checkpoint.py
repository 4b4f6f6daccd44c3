"""Checkpoints of partitioned state that resume on any device count.

A checkpoint holds the state in the layout of the *unpartitioned* network
(:func:`~neuro.distributed.gather_state`): neuron blocks joined, padding dropped, delay lines and
spike history in the single-device form. It does not depend on the number of devices, so a run
saved on 4 devices resumes on 2, on 1 (:func:`neuro.run.simulate` on the plain Network), or on 8.
Files are written atomically by :mod:`neuro.io` (``.npz``, by process 0 after a gather).

A checkpoint carries the identity of its run, as :func:`neuro.run.simulate`'s do (the same
mechanism: :func:`neuro.io.run_identity`, :func:`neuro.io.save_checkpoint`,
:func:`neuro.io.load_checkpoint`), and :func:`load` refuses a file of another run
(:class:`~neuro.validation.CheckpointMismatch`, naming what differs). :func:`run_identity` is the
identity :func:`~neuro.distributed.simulate` uses; it does not depend on the device count.

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
from neuro.io import load_checkpoint, save_checkpoint
from neuro.io import run_identity as _identity


def run_identity(pnet: PartitionedNetwork, initial: Any, inputs: Any, monitors: Any
                 ) -> dict[str, str]:
    """The identity of a partitioned run after ``len(inputs)`` steps: the network it was cut
    from (``pnet.source``), the initial state (``initial``: in the single-device layout, e.g.
    :func:`~neuro.distributed.gather_state` of the partitioned one, or its
    :func:`neuro.io.digest`), the inputs of the steps done (host arrays ``[steps, ...]``) and
    the monitors. Neither the device count nor the exchange interval enters: they do not change
    the results, so a run resumes on any mesh; nor the total number of steps, so a longer run
    resumes a shorter one."""
    if pnet.source is None:
        raise ValueError("this PartitionedNetwork does not know the network it was cut from; "
                         "build it with neuro.distributed.partition")
    return _identity(config=("neuro.distributed.simulate", monitors),
                     network=pnet.source.digest, initial_state=initial, inputs=inputs)


def save(path: str | os.PathLike, pnet: PartitionedNetwork, dstate: Any, extra: Any = None, *,
         identity: dict[str, str], **meta: Any) -> None:
    """Write ``dstate`` (and a pytree ``extra``, e.g. records) in the device-count independent
    layout, with the run's ``identity`` (:func:`run_identity`, or any
    :func:`neuro.io.run_identity`) and JSON-able ``meta``; every process calls it, process 0
    writes."""
    state = gather_state(pnet, dstate)
    if jax.process_index() == 0:
        save_checkpoint(path, (state, extra), identity=identity, **meta)
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(f"neuro checkpoint {os.fspath(path)}")


def load(path: str | os.PathLike, pnet: PartitionedNetwork, like: Any, extra_like: Any = None, *,
         identity: dict[str, str], force_restart: bool = False
         ) -> tuple[Any, Any, dict] | None:
    """Read a checkpoint onto ``pnet``'s mesh: ``(dstate, extra, meta)``, or ``None`` when there
    is nothing to resume (no file, or ``force_restart``). ``like`` is a partitioned state of
    ``pnet`` (its structure and shapes; e.g. the initial one). A file of another run (its
    identity differs from ``identity``) raises :class:`~neuro.validation.CheckpointMismatch`
    naming what differs; an unreadable one :class:`~neuro.validation.CheckpointError`."""
    global_like = gather_state(pnet, like)
    found = load_checkpoint(path, (global_like, extra_like), identity=identity,
                            force_restart=force_restart)
    if found is None:
        return None
    (state, extra), meta = found
    return shard_state(pnet, state), extra, meta


def read_meta(path: str | os.PathLike) -> dict:
    """The JSON metadata of a checkpoint (the ``__meta__`` entry :mod:`neuro.io` writes; its
    arrays are not read). An unreadable file gives ``{}``: :func:`load` then names the problem."""
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(bytes(data["__meta__"]).decode())
    except Exception:  # noqa: BLE001 - load() reports what is wrong with the file
        return {}
    return meta if isinstance(meta, dict) else {}
