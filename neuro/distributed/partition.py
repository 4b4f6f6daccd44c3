"""Neuron-parallel partition of a Network: every device owns a block of every population.

Population ``p`` of ``N_p`` neurons is split into ``D`` contiguous blocks of ``n_p = ceil(N_p /
D)`` neurons (the last block padded with copies of the last neuron, whose spikes are dropped).
Every projection is cut on its *postsynaptic* side, as NEST distributes synapses: device ``d``
holds the incoming synapses of its neurons (the columns ``[d n_p, (d + 1) n_p)`` of a dense
``W``; the entries of a sparse out-degree table whose targets it owns, re-indexed and in their
original order, so events add into each conductance in the order of the single-device run), its
block of the neuron, synapse and ring-buffer state, and a copy of everything presynaptic (delay
lines of spike vectors, short-term plasticity of the sources). A :class:`~neuro.readouts.Leaky`
readout is cut on its *input* side: device ``d`` keeps the rows of ``W`` of its neurons and a
partial trace ``y^d`` (the bias on device 0); the readout is linear, so ``y = sum_d y^d``.
An :class:`~neuro.modulators.AstroModulation` keeps every astrocyte's state on every device and
the columns of its coverage map ``A [G, N]`` of the device's neurons: what an astrocyte senses,
``sum_i A[a, i] z_i / sum_i A[a, i]``, is summed over devices (``psum``, G values per step), and
what a neuron receives, ``sum_a A[a, i] c_a``, is local. Other modulators are refused.

Spike exchange every ``M`` steps, ``M = 1 + min_delay`` (NEST's min-delay rule): a population's
spikes of step ``t`` reach a target at ``t + 1 + d`` (``d`` the projection's extra delay), so when
every projection from a population has ``d >= M - 1`` the spikes of a block of ``M`` steps are
needed only after the block. Each device then keeps the local spikes of the last ``M`` steps
(``NetworkState.z[p]``: ``[M, ..., n_p]``) and the spike vectors enter each projection ``M - 1``
steps late, so its delay line holds ``d - (M - 1)`` steps (:func:`shard_state` moves the history
between the two layouts). Input projections keep their delay: inputs are on every device.

The partitioned network remembers which network it was cut from (``source``: the
:func:`neuro.io.digest` of the unpartitioned Network, the same on any device count), so that a
checkpoint of its run (:mod:`.checkpoint`) knows the run it belongs to.

Layout of a :class:`PartitionedNetwork`: ``local`` is a :class:`~neuro.network.Network` whose
populations have the block size, whose projections read the global presynaptic vector, and whose
every leaf has a leading device axis (stacked blocks, sharded over the mesh axis). A distributed
state is a :class:`~neuro.network.NetworkState` laid out the same way.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from neuro._pytree import pytree_dataclass, replace, static_field
from neuro.distributed.runtime import NEURONS
from neuro.io import digest
from neuro.network import Network, NetworkState, Population
from neuro.projections.delays import DelayState
from neuro.projections.dense import Dense
from neuro.projections.sparse import Sparse, SparseState
from neuro.projections.stp import STP
from neuro.readouts import Leaky
from neuro.validation import check_choice

EXCHANGES = ("auto", "bits", "values")


class Source:
    """The :func:`neuro.io.digest` of the network a :class:`PartitionedNetwork` was cut from.

    Static metadata that identifies a run (checkpoints), not the compiled program: every
    ``Source`` compares equal, so partitioned networks that differ only in their weights (other
    seeds) share one compilation, as Networks do on one device.
    """

    __slots__ = ("digest",)

    def __init__(self, digest: str):
        self.digest = digest

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Source)

    def __hash__(self) -> int:
        return hash(Source)

    def __repr__(self) -> str:
        return f"Source({self.digest!r})"


@pytree_dataclass
class PartitionedNetwork:
    """A Network cut over the ``axis`` of ``mesh``; see the module docstring."""

    local: Network
    mesh: Mesh = static_field()
    axis: str = static_field(default=NEURONS)
    sizes: tuple = static_field(default=())  # ((population, N), ...)
    interval: int = static_field(default=1)  # M: steps between spike exchanges
    delays: tuple = static_field(default=())  # ((projection, global extra delay), ...)
    exchange: tuple = static_field(default=())  # ((population, "bits" | "values"), ...)
    source: Source | None = static_field(default=None)  # the network it was cut from

    @property
    def n_devices(self) -> int:
        return int(self.mesh.shape[self.axis])

    @property
    def block(self) -> dict[str, int]:
        """Neurons per device of every population."""
        return {n: p.size for n, p in self.local.populations.items()}

    @property
    def template(self) -> Network:
        """One device's network with shapes only (``jax.ShapeDtypeStruct`` leaves), for the
        properties that read shapes (channels, sizes)."""
        return jax.eval_shape(lambda t: jax.tree_util.tree_map(lambda x: x[0], t), self.local)


@pytree_dataclass
class PartitionedCoverage:
    """Device block of a :class:`~neuro.modulators.Coverage`: columns ``A [G, block]`` of the
    device's neurons and the global row sums; ``pool`` sums over the mesh axis (inside
    ``shard_map``)."""

    A: Any
    row_sums: Any
    axis: str = static_field(default=NEURONS)

    def pool(self, z):
        return jax.lax.psum(z @ self.A.T, self.axis) / self.row_sums

    def expand(self, c):
        return c @ self.A


def _local_modulator(name: str, mod: Any, pops: dict, d: int, blocks: dict, axis: str) -> Any:
    from neuro.modulators import AstroModulation

    if not isinstance(mod, AstroModulation):
        raise ValueError(f"modulator {name!r} ({type(mod).__name__}) cannot be partitioned over "
                         "neurons (AstroModulation can); simulate this network on one device")
    a = mod.coverage.matrix().astype(np.asarray(mod.kappa_g).dtype)
    n, b = pops[mod.population].size, blocks[mod.population]
    local = _cut(a, d * b, min((d + 1) * b, n), b, fill=0.0)
    return replace(mod, coverage=PartitionedCoverage(local, a.sum(axis=1), axis))


def _blocks(n: int, d: int) -> int:
    return -(-n // d)


def _cut(x: np.ndarray, lo: int, hi: int, size: int, fill: Any = "edge") -> np.ndarray:
    """``x[..., lo:hi]`` padded on the right to ``size`` (edge values, or a constant)."""
    part = x[..., lo:hi]
    if part.shape[-1] == 0 and fill == "edge":  # a device past the last neuron (N < D blocks)
        part = x[..., -1:]
    pad = [(0, 0)] * (x.ndim - 1) + [(0, size - part.shape[-1])]
    if fill == "edge":
        return np.pad(part, pad, mode="edge")
    return np.pad(part, pad, constant_values=fill)


def _per_neuron(tree: Any, n: int, d: int, block: int) -> Any:
    """The block of device ``d`` of every leaf whose last axis is the population's (size ``n``);
    other leaves (scalars, per-channel values) are copied."""

    def one(leaf):
        arr = np.asarray(leaf)
        if arr.ndim and arr.shape[-1] == n:
            return _cut(arr, d * block, min((d + 1) * block, n), block)
        return arr

    return jax.tree_util.tree_map(one, tree)


def _flat_channels(g: np.ndarray, c: int, n: int, d: int, block: int) -> np.ndarray:
    """Block of a flat ``[..., C n + 1]`` vector (channels, then the sink) for device ``d``."""
    per = g[..., : c * n].reshape(*g.shape[:-1], c, n)
    part = _cut(per, d * block, min((d + 1) * block, n), block, fill=0)
    return np.concatenate([part.reshape(*g.shape[:-1], c * block), g[..., -1:]], axis=-1)


def _unflat_channels(parts: np.ndarray, c: int, n: int, block: int) -> np.ndarray:
    """Inverse of :func:`_flat_channels` over stacked blocks ``[D, ..., C block + 1]``."""
    per = parts[..., : c * block].reshape(*parts.shape[:-1], c, block)
    per = np.moveaxis(per, 0, -2)  # [..., C, D, block]
    full = per.reshape(*per.shape[:-2], -1)[..., :n]
    return np.concatenate([full.reshape(*full.shape[:-2], c * n), parts[0, ..., -1:]], axis=-1)


def _sparse_tables(proj: Sparse, n_dev: int, block: int) -> list[tuple]:
    """Per device: (targets, weights, delays) of the synapses onto its neurons, in row order,
    padded to a common width."""
    targets = np.asarray(proj.targets)
    weights = np.asarray(proj.weights)
    delays = None if proj.delays is None else np.asarray(proj.delays)
    n_post, c = proj.n_post, proj.n_channels
    valid = targets != c * n_post
    post, ch = targets % n_post, targets // n_post
    owner = np.where(valid, post // block, -1)
    width = max(1, max(int((owner == d).sum(axis=1).max()) for d in range(n_dev)))
    tables = []
    for d in range(n_dev):
        mine = owner == d
        col = np.cumsum(mine, axis=1) - 1
        rows, k = np.nonzero(mine)
        t = np.full((targets.shape[0], width), c * block, np.int32)
        t[rows, col[rows, k]] = ch[rows, k] * block + post[rows, k] - d * block
        w = weights
        if weights.shape[1] != 1:
            w = np.zeros((targets.shape[0], width), weights.dtype)
            w[rows, col[rows, k]] = weights[rows, k]
        dl = None
        if delays is not None:
            dl = np.zeros((targets.shape[0], width), np.int32)
            dl[rows, col[rows, k]] = delays[rows, k]
        tables.append((t, w, dl))
    return tables


def _local_projection(proj: Any, d: int, n_dev: int, block: int, lag: int, tables: Any) -> Any:
    """Device ``d``'s part of ``proj`` whose presynaptic vectors arrive ``lag`` steps late."""
    if isinstance(proj, STP):
        return replace(proj, projection=_local_projection(proj.projection, d, n_dev, block, lag,
                                                          tables))
    if isinstance(proj, Dense):
        n = proj.n_post
        lo, hi = d * block, min((d + 1) * block, n)
        w = _cut(np.asarray(proj.w), lo, hi, block, fill=0)
        b = None if proj.b is None else _cut(np.asarray(proj.b), lo, hi, block, fill=0)
        mask = None if proj.mask is None else _cut(np.asarray(proj.mask), lo, hi, block,
                                                   fill=False)
        return replace(proj, w=w, b=b, mask=mask, delay=proj.delay - lag)
    if isinstance(proj, Sparse):
        t, w, dl = tables[d]
        return replace(proj, targets=t, weights=w, delays=dl, n_post=block,
                       delay=proj.delay - lag)
    raise TypeError(f"cannot partition a projection of type {type(proj).__name__} (Dense, "
                    "Sparse and STP are supported)")


def _base(proj: Any) -> Any:
    return proj.projection if isinstance(proj, STP) else proj


def partition(net: Network, mesh: Mesh, *, axis: str = NEURONS, interval: int | None = None,
              exchange: str = "auto") -> PartitionedNetwork:
    """Cut ``net`` over the ``axis`` of ``mesh`` (module docstring).

    ``interval``: steps between spike exchanges, at most ``1 + min`` extra delay of the
    projections from populations (the default; 1 when any of them has short-term plasticity,
    whose presynaptic state must see every spike on time). ``exchange``: ``"bits"`` sends
    spikes as 32-bit words (binary populations only), ``"values"`` as arrays of the state dtype,
    ``"auto"`` bits where the population is binary.
    """
    if not isinstance(net, Network):
        raise TypeError(f"net must be a neuro.network.Network; got {type(net).__name__}")
    if not isinstance(mesh, Mesh) or axis not in mesh.axis_names:
        raise ValueError(f"mesh must be a jax.sharding.Mesh with an axis {axis!r}")
    check_choice("exchange", exchange, EXCHANGES)
    for name, readout in net.readouts.items():
        if not isinstance(readout, Leaky):
            raise TypeError(f"readout {name!r}: only linear Leaky readouts can be partitioned")
    n_dev = int(mesh.shape[axis])
    recurrent = {n: p for n, p in net.projections.items() if p.source in net.populations}
    limit = min([_base(p).delay for p in recurrent.values()], default=0) + 1
    if any(isinstance(p, STP) for p in recurrent.values()):
        limit = 1
    if interval is None:
        interval = limit
    if isinstance(interval, bool) or not isinstance(interval, int) or not 1 <= interval <= limit:
        raise ValueError(f"interval must be an int in [1, {limit}] (1 + the smallest extra delay "
                         f"of the projections between populations); got {interval!r}")
    blocks = {n: _blocks(p.size, n_dev) for n, p in net.populations.items()}
    for name, pop in net.populations.items():
        if pop.size == pop.channels and pop.size > 1:
            raise ValueError(f"population {name!r} has as many neurons as receptor channels "
                             f"({pop.size}): per-neuron and per-channel parameters cannot be "
                             "told apart")
    tables = {n: _sparse_tables(_base(p), n_dev, blocks[p.target])
              for n, p in net.projections.items() if isinstance(_base(p), Sparse)}
    locals_ = []
    for d in range(n_dev):
        pops = {n: Population(_per_neuron(p.neuron, p.size, d, blocks[n]),
                              _per_neuron(p.synapse, p.size, d, blocks[n]), blocks[n],
                              p.n_channels)
                for n, p in net.populations.items()}
        projs = {n: _local_projection(p, d, n_dev, blocks[p.target],
                                      interval - 1 if n in recurrent else 0, tables.get(n))
                 for n, p in net.projections.items()}
        outs = {}
        for n, r in net.readouts.items():
            block = blocks[r.source]
            rows = np.asarray(r.w)[d * block: (d + 1) * block]
            w = np.zeros((block, r.n_out), rows.dtype)
            w[: rows.shape[0]] = rows
            b = np.asarray(r.b) if d == 0 else np.zeros_like(np.asarray(r.b))
            outs[n] = replace(r, w=w, b=b)
        mods = {n: _local_modulator(n, m, net.populations, d, blocks, axis)
                for n, m in net.modulators.items()}
        locals_.append(Network(pops, projs, mods, outs, net.inputs))
    stacked = jax.tree_util.tree_map(lambda *xs: np.stack(xs), *locals_)
    modes = []
    for n, p in net.populations.items():
        binary = bool(getattr(p.neuron, "binary", False))
        mode = ("bits" if binary else "values") if exchange == "auto" else exchange
        if mode == "bits" and not binary:
            raise ValueError(f"exchange='bits' needs binary spikes but population {n!r} "
                             f"({type(p.neuron).__name__}) is not binary")
        modes.append((n, mode))
    pnet = PartitionedNetwork(
        stacked, mesh, axis, tuple((n, p.size) for n, p in net.populations.items()),
        int(interval), tuple((n, _base(p).delay) for n, p in net.projections.items()),
        tuple(modes), Source(digest(net)))
    return place(pnet, pnet)


def place(pnet: PartitionedNetwork, tree: Any, spec: PartitionSpec | None = None) -> Any:
    """Global arrays of a stacked tree (leading device axis split over the mesh axis; ``spec``
    e.g. ``PartitionSpec()`` to replicate), built from host values that every process holds in
    full (so it works across processes)."""
    sharding = NamedSharding(pnet.mesh, PartitionSpec(pnet.axis) if spec is None else spec)

    def put(x):
        if isinstance(x, jax.Array) and x.sharding == sharding:
            return x
        x = np.asarray(x)
        return jax.make_array_from_callback(x.shape, sharding, lambda idx: x[idx])

    return jax.tree_util.tree_map(put, tree)


def host(tree: Any) -> Any:
    """Host NumPy copies of the leaves of ``tree``, gathered from every process."""
    if jax.process_count() == 1:
        return jax.tree_util.tree_map(np.asarray, tree)
    from jax.experimental import multihost_utils

    return multihost_utils.process_allgather(tree, tiled=True)


def _ordered(line: DelayState | None) -> np.ndarray | None:
    """The vectors of a delay line, oldest first ``[steps, ...]``."""
    if line is None:
        return None
    buf = np.asarray(line.buffer)
    return np.roll(buf, -int(line.position), axis=0)


def _line(history: np.ndarray) -> DelayState | None:
    if history.shape[0] == 0:
        return None
    return DelayState(history, np.int32(0))


def _population_history(pnet: PartitionedNetwork, state: NetworkState, name: str) -> np.ndarray:
    """The global spike vectors of population ``name`` of the last ``M`` steps ``[M, ..., N]``."""
    m = pnet.interval
    z = np.asarray(state.z[name])
    if m == 1:
        return z[None]
    for pname, delay in pnet.delays:
        proj = pnet.template.projections[pname]
        if proj.source == name:
            st = state.projections[pname]
            older = _ordered(_line_of(_base(proj), st[1] if isinstance(proj, STP) else st))
            return np.concatenate([older[delay - (m - 1):], z[None]], axis=0)
    return np.concatenate([np.zeros((m - 1, *z.shape), z.dtype), z[None]], axis=0)


def _line_of(proj: Any, st: Any) -> DelayState | None:
    return st.line if isinstance(proj, Sparse) else st


def _local_proj_state(proj: Any, st: Any, delay: int, lag: int, n: int, d: int, block: int
                      ) -> Any:
    """Global state of one projection (extra ``delay``, target of ``n`` neurons) -> device
    ``d``'s (presynaptic parts copied)."""
    if isinstance(proj, STP):
        return (jax.tree_util.tree_map(np.asarray, st[0]),
                _local_proj_state(proj.projection, st[1], delay, lag, n, d, block))
    line = _line_of(proj, st)
    if line is not None:
        line = _line(_ordered(line)[: delay - lag])
    if isinstance(proj, Dense):
        return line
    if st.ring is None:
        return SparseState(line, None, None)
    ring = np.asarray(st.ring)
    slots = ring.reshape(*ring.shape[:-1], proj.n_slots, -1)
    local = _flat_channels(slots, proj.n_channels, n, d, block)
    return SparseState(line, local.reshape(*ring.shape[:-1], -1), np.asarray(st.position))


def _recurrent(pnet: PartitionedNetwork, proj: Any) -> bool:
    return proj.source in pnet.local.populations


def shard_state(pnet: PartitionedNetwork, state: NetworkState) -> NetworkState:
    """A state of the unpartitioned network (e.g. ``net.init_state(batch)``, or one gathered by
    :func:`gather_state` from any device count) in the partitioned layout, on the mesh."""
    m, sizes, blocks, delays = pnet.interval, dict(pnet.sizes), pnet.block, dict(pnet.delays)
    state, local = jax.tree_util.tree_map(np.asarray, state), pnet.template
    per_device = []
    for d in range(pnet.n_devices):
        neurons, synapses, z = {}, {}, {}
        for name, pop in local.populations.items():
            n, b = sizes[name], blocks[name]
            neurons[name] = _per_neuron(state.neurons[name], n, d, b)
            g = state.synapses[name]
            synapses[name] = None if g is None else _flat_channels(np.asarray(g), pop.channels,
                                                                   n, d, b)
            hist = _population_history(pnet, state, name)
            z[name] = _cut(hist, d * b, min((d + 1) * b, n), b, fill=0)
        projs = {}
        for name, proj in local.projections.items():
            lag = m - 1 if _recurrent(pnet, proj) else 0
            projs[name] = _local_proj_state(proj, state.projections[name], delays[name], lag,
                                            sizes[proj.target], d, blocks[proj.target])
        outs = {n: (np.asarray(y) if d == 0 else np.zeros_like(np.asarray(y)))
                for n, y in state.readouts.items()}
        mods = jax.tree_util.tree_map(np.asarray, dict(state.modulators))  # on every device
        per_device.append(NetworkState(neurons, synapses, z, projs, mods, outs))
    stacked = jax.tree_util.tree_map(lambda *xs: np.stack(xs), *per_device)
    return place(pnet, stacked)


def _join(parts: np.ndarray, n: int) -> np.ndarray:
    """Stacked blocks ``[D, ..., block]`` -> the global ``[..., n]``."""
    return np.moveaxis(parts, 0, -2).reshape(*parts.shape[1:-1], -1)[..., :n]


def _global_proj_state(proj: Any, st: Any, history: np.ndarray | None, delay: int, lag: int,
                       tgt_n: int, block: int) -> Any:
    """Device states of one projection -> the global one; ``history`` the source's last ``M``
    global spike vectors (recurrent projections)."""
    first = lambda tree: jax.tree_util.tree_map(lambda x: x[0], tree)
    if isinstance(proj, STP):
        return (first(st[0]), _global_proj_state(proj.projection, st[1], history, delay, lag,
                                                 tgt_n, block))
    line = _line_of(proj, st)
    line = None if line is None else first(line)
    if lag:  # the line holds the oldest delay - lag vectors; the history the last M
        older = _ordered(line) if line is not None else history[:0]
        line = DelayState(np.concatenate([older, history], axis=0)[:delay], np.int32(0))
    if isinstance(proj, Dense):
        return line
    if st.ring is None:
        return SparseState(line, None, None)
    ring = st.ring  # [D, ..., n_slots * (C block + 1)]
    slots = ring.reshape(*ring.shape[:-1], proj.n_slots, -1)
    full = _unflat_channels(slots, proj.n_channels, tgt_n, block)
    return SparseState(line, full.reshape(*full.shape[:-2], -1), st.position[0])


def gather_state(pnet: PartitionedNetwork, dstate: NetworkState) -> NetworkState:
    """The state of the unpartitioned network equal to a partitioned one (the inverse of
    :func:`shard_state`, device-count independent); host NumPy arrays."""
    st = host(dstate)
    m, sizes, blocks, delays = pnet.interval, dict(pnet.sizes), pnet.block, dict(pnet.delays)
    neurons, synapses, z, hist = {}, {}, {}, {}
    local = pnet.template
    for name, pop in local.populations.items():
        n = sizes[name]
        neurons[name] = jax.tree_util.tree_map(lambda x, n=n: _join(x, n), st.neurons[name])
        g = st.synapses[name]
        synapses[name] = None if g is None else _unflat_channels(g, pop.channels, n,
                                                                 blocks[name])
        hist[name] = _join(st.z[name], n)  # [M, ..., N]
        z[name] = hist[name][-1]
    projs = {}
    for name, proj in local.projections.items():
        recurrent = _recurrent(pnet, proj)
        projs[name] = _global_proj_state(proj, st.projections[name],
                                         hist[proj.source] if recurrent else None, delays[name],
                                         m - 1 if recurrent else 0, sizes[proj.target],
                                         blocks[proj.target])
    outs = {n: np.sum(y, axis=0) for n, y in st.readouts.items()}
    mods = jax.tree_util.tree_map(lambda x: x[0], dict(st.modulators))
    return NetworkState(neurons, synapses, z, projs, mods, outs)
