"""Projections: how one population's (or input's) activity reaches another population.

Every projection has static ``source``, ``target``, ``channel`` and ``n_channels``, an
``init_state(batch, dtype)`` (its delay buffers) and a pure ``deliver(state, z) -> (state,
arrivals[..., n_channels, n_post])``. :class:`Dense` is the reference; :class:`Sparse` is
event-driven with exact gradients; :class:`Conv` and :class:`Pool` (:mod:`.conv`) are
convolution and pooling of channel-last spike maps. Builders of sparse structure are in
:mod:`.connectivity`.
"""

from neuro.projections.connectivity import (
    Connectivity,
    excitatory_inhibitory,
    fixed_in_degree,
    fixed_probability,
    from_dense,
    from_edges,
    small_world,
    to_dense,
)
from neuro.projections.conv import Conv, Pool, conv, flatten, pool, unflatten
from neuro.projections.dense import Dense, dense
from neuro.projections.sparse import BACKENDS, Sparse, SparseState, sparse
from neuro.projections.stp import STP, stp

__all__ = [
    "BACKENDS", "STP", "Connectivity", "Conv", "Dense", "Pool", "Sparse", "SparseState", "conv",
    "dense", "excitatory_inhibitory", "flatten", "pool", "stp", "unflatten",
    "fixed_in_degree", "fixed_probability", "from_dense", "from_edges", "small_world", "sparse",
    "to_dense",
]
