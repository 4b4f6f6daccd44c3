"""Device meshes and JAX's multi-process runtime.

A :class:`jax.sharding.Mesh` names the axes along which work is split: ``"batch"`` for data
parallelism (:class:`neuro.train.Trainer`), ``"neurons"`` for neuron parallelism
(:mod:`neuro.distributed.partition`). :func:`initialize` starts JAX's distributed runtime, after
which ``jax.devices()`` lists the devices of every process and a mesh built from them spans hosts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh

NEURONS = "neurons"
BATCH = "batch"


def mesh(shape: int | Mapping[str, int] | None = None, *, devices: Sequence[Any] | None = None
         ) -> Mesh:
    """A mesh over the first devices of ``devices`` (default: ``jax.devices()``, every process).

    ``shape``: an int ``n`` (a 1-D ``"neurons"`` mesh of ``n`` devices), a mapping ``{axis:
    size}`` (e.g. ``{"batch": 4}``; sizes multiply to the devices used), or None (every device
    on the ``"neurons"`` axis).
    """
    devices = list(jax.devices() if devices is None else devices)
    if shape is None:
        shape = {NEURONS: len(devices)}
    elif not isinstance(shape, Mapping):
        shape = {NEURONS: shape}
    for name, size in shape.items():
        if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 1:
            raise ValueError(f"mesh axis {name!r} needs a positive int size; got {size!r}")
    total = int(np.prod(list(shape.values())))
    if total > len(devices):
        raise ValueError(f"a mesh of shape {dict(shape)} needs {total} devices; {len(devices)} "
                         f"exist (on CPU start JAX with XLA_FLAGS="
                         f"--xla_force_host_platform_device_count={total})")
    grid = np.array(devices[:total], dtype=object).reshape(tuple(shape.values()))
    return Mesh(grid, tuple(shape))


def cpu_devices(n: int) -> int:
    """Ask for ``n`` virtual CPU devices (``jax_num_cpu_devices``); must run before JAX's first
    computation. They share the host's cores: good for checking and for overlapping work, not
    for speed. Returns the number of CPU devices JAX will have."""
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"n must be a positive int; got {n!r}")
    try:
        jax.config.update("jax_num_cpu_devices", int(n))
    except RuntimeError as exc:
        have = len(jax.devices("cpu"))
        if have != n:
            raise ValueError(f"JAX already runs with {have} CPU devices; ask for {n} before any "
                             "JAX computation (or set XLA_FLAGS=--xla_force_host_platform_"
                             f"device_count={n})") from exc
    return int(n)


def batch_mesh(devices: int) -> Mesh | None:
    """The ``"batch"`` mesh of data-parallel training over ``devices`` devices, or ``None`` for
    one (the single-device path, unchanged). Call it before JAX's first computation: on a host
    without accelerators it asks for ``devices`` virtual CPU devices (:func:`cpu_devices`);
    where accelerators exist the mesh takes the first ``devices`` of them (the CPU count asked
    for does not matter there). What ``neuro continual/pipeline --devices N`` use."""
    if isinstance(devices, bool) or not isinstance(devices, int | np.integer) or devices < 1:
        raise ValueError(f"devices must be a positive int; got {devices!r}")
    if devices == 1:
        return None
    try:
        cpu_devices(int(devices))
    except ValueError:  # JAX already started: the mesh takes what exists or names the shortfall
        pass
    return mesh({BATCH: int(devices)})


def check_batch(batch: int, mesh: Mesh | None, axis: str = BATCH, *, name: str = "batch") -> None:
    """Refuse a batch size that the ``axis`` of ``mesh`` does not divide: data parallelism
    splits every batch evenly, and neuro never pads or drops samples silently."""
    if mesh is None:
        return
    if axis not in mesh.axis_names:
        raise ValueError(f"the mesh has no axis {axis!r} (axes {mesh.axis_names})")
    size = int(mesh.shape[axis])
    if batch % size:
        raise ValueError(f"{name} {batch} is not a multiple of the {size} devices of the mesh "
                         f"axis {axis!r}: data-parallel training splits every batch evenly over "
                         f"the devices; choose a batch size divisible by {size}")


def initialize(coordinator_address: str | None = None, num_processes: int | None = None,
               process_id: int | None = None, *, cpu_collectives: str | None = None,
               **kwargs: Any) -> None:
    """Start JAX's multi-process runtime (``jax.distributed.initialize``) before any computation.

    Without arguments JAX reads its cluster environment (Slurm: ``SLURM_*``; Open MPI; Cloud
    TPU). ``cpu_collectives`` (``"gloo"`` or ``"mpi"``) lets CPU devices of different processes
    exchange data (needed when the devices are CPUs; GPUs use NCCL on their own).
    """
    if cpu_collectives is not None:
        if cpu_collectives not in ("gloo", "mpi"):
            raise ValueError(f"cpu_collectives must be 'gloo' or 'mpi'; got {cpu_collectives!r}")
        jax.config.update("jax_cpu_collectives_implementation", cpu_collectives)
    jax.distributed.initialize(coordinator_address, num_processes, process_id, **kwargs)
