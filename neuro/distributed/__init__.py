"""Scale out on JAX's distributed runtime: device meshes, many processes, neuron parallelism.

* :func:`mesh`, :func:`initialize` (:mod:`.runtime`): meshes over the devices of every process.
* Data parallelism lives in :class:`neuro.train.Trainer` (``mesh=``).
"""

from neuro.distributed.runtime import BATCH, NEURONS, initialize, mesh

__all__ = ["BATCH", "NEURONS", "initialize", "mesh"]
