"""Scale out on JAX's distributed runtime: device meshes, many processes, neuron parallelism.

* :func:`mesh`, :func:`initialize` (:mod:`.runtime`): meshes over the devices of every process.
* Data parallelism lives in :class:`neuro.train.Trainer` (``mesh=``); :func:`batch_mesh` builds
  its mesh for a device count and :func:`check_batch` refuses a batch it does not divide.
* Neuron parallelism: :func:`partition` cuts a Network over a mesh axis (post-side, NEST's
  scheme, :mod:`.partition`); :func:`shard_state` / :func:`gather_state` move a state between
  the single-device and the partitioned layout; :func:`simulate` runs it (:mod:`.simulate`);
  :mod:`.checkpoint` saves partitioned state that resumes on any device count;
  :func:`simulate_network` does all of it for a Network and a device count.

The same model code runs on 1 or many devices::

    net, state = coba.ei_network("coba", 40000)   # any Network (neuro.models.coba here)
    pnet = distributed.partition(net, distributed.mesh(8))
    out = distributed.simulate(pnet, distributed.shard_state(pnet, state), n_steps=10000,
                               monitors=("spikes.n",))
    same = distributed.simulate_network(net, state, devices=8, n_steps=10000)  # in one call
"""

from neuro.distributed import checkpoint
from neuro.distributed.partition import PartitionedNetwork, gather_state, partition, shard_state
from neuro.distributed.runtime import (
    BATCH,
    NEURONS,
    batch_mesh,
    check_batch,
    cpu_devices,
    initialize,
    mesh,
)
from neuro.distributed.simulate import (
    block_collectives,
    block_step,
    compile_simulation,
    compiled_collectives,
    exchange,
    exchange_bytes,
    simulate,
    simulate_network,
)

__all__ = [
    "BATCH", "NEURONS", "PartitionedNetwork", "batch_mesh", "block_collectives", "block_step",
    "check_batch", "checkpoint", "compile_simulation", "compiled_collectives", "cpu_devices",
    "exchange", "exchange_bytes", "gather_state", "initialize", "mesh", "partition",
    "shard_state", "simulate", "simulate_network",
]
