"""Neuron-parallel simulation: the partitioned network's step on every device, spikes exchanged.

One *block* of ``M`` steps (``M = pnet.interval``, see :mod:`.partition`) runs inside
``jax.shard_map`` over the mesh axis:

1. **exchange**: every population's local spikes of the last ``M`` steps ``[M, ..., n_p]`` are
   all-gathered into the global vectors ``[M, ..., N_p]``: as 32-bit words (``"bits"``, binary
   populations: ``N_p / 8`` bytes per step instead of ``N_p`` times the dtype's size) or as values;
2. **M steps** of the ordinary :meth:`neuro.network.Network.step` of the device's block, whose
   projections read those global vectors (event-driven: each device visits the spiking rows of
   its own out-degree table; the rows are the same on every device, the synapses are not);
3. readouts: the partial traces are summed over devices (``psum``) for the outputs.

The time loop is :func:`neuro.run.scan_steps` (over blocks, and over the steps of a block);
:func:`simulate` compiles it once per configuration, runs it in chunks with a progress bar and an
optional checkpoint, and returns records that every process holds in full.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from tqdm.auto import tqdm

from neuro.distributed.partition import PartitionedNetwork, gather_state, host, place
from neuro.io import digest
from neuro.projections._events import _SHIFTS
from neuro.run import SimulationResult, _concat, _monitors, _select, num_steps, scan_steps

P = PartitionSpec


def pack_bits(z: jax.Array) -> jax.Array:
    """Spikes ``[..., n]`` -> ``[..., ceil(n / 32)]`` uint32 words (bit ``b`` of word ``w`` is
    neuron ``32 w + b``)."""
    n = z.shape[-1]
    words = -(-n // 32)
    bits = jnp.pad(z != 0, [(0, 0)] * (z.ndim - 1) + [(0, words * 32 - n)])
    bits = bits.reshape(*z.shape[:-1], words, 32).astype(jnp.uint32)
    return jnp.sum(bits << _SHIFTS, axis=-1, dtype=jnp.uint32)


def unpack_bits(words: jax.Array, n: int, dtype: Any) -> jax.Array:
    """Inverse of :func:`pack_bits`: the first ``n`` spikes as ``dtype``."""
    bits = (words[..., None] >> _SHIFTS) & 1
    return bits.reshape(*words.shape[:-1], -1)[..., :n].astype(dtype)


def exchange(z: jax.Array, n: int, axis: str, mode: str) -> jax.Array:
    """All-gather the local spikes ``z [..., block]`` of every device along ``axis`` into the
    global ``[..., n]`` (inside ``shard_map``); ``mode`` ``"bits"`` or ``"values"``."""
    block = z.shape[-1]
    if mode == "values":
        return lax.all_gather(z, axis, axis=z.ndim - 1, tiled=True)[..., :n]
    words = lax.all_gather(pack_bits(z), axis, axis=z.ndim - 1, tiled=True)
    per = words.reshape(*words.shape[:-1], -1, -(-block // 32))  # [..., D, words]
    return unpack_bits(per, block, z.dtype).reshape(*z.shape[:-1], -1)[..., :n]


def exchange_bytes(pnet: PartitionedNetwork, dstate: Any) -> dict[str, float]:
    """Bytes of the spike exchange per simulated step: what every device receives from the
    others, and the total over devices (batch included; words are 4 bytes)."""
    d, modes = pnet.n_devices, dict(pnet.exchange)
    per_device = 0.0
    for name, block in pnet.block.items():
        if name not in _sources(pnet):
            continue
        hist = dstate.z[name]  # [D, M, *batch, block]
        batch = int(np.prod(hist.shape[2:-1]))
        size = 4 * -(-block // 32) if modes[name] == "bits" else block * hist.dtype.itemsize
        per_device += (d - 1) * size * batch
    return {"per_device": per_device, "total": per_device * d}


_BYTES = {"pred": 1, "s8": 1, "u8": 1, "s16": 2, "u16": 2, "f16": 2, "bf16": 2, "s32": 4,
          "u32": 4, "f32": 4, "s64": 8, "u64": 8, "f64": 8}
_COLLECTIVE = re.compile(r"= (\(.*?\)|\S+) (all-gather|all-reduce|all-to-all|"
                         r"collective-permute|reduce-scatter)(?:-start)?\(")
_SHAPE = re.compile(r"(\w+)\[([\d,]*)\]")


def compiled_collectives(fn: Callable, *args: Any) -> dict[str, int]:
    """The collectives XLA compiled into ``fn(*args)`` (``fn`` a ``jax.jit`` function):
    ``{op: bytes of their results on one device}`` (an all-gather's result is the whole
    gathered vector, of which ``(D - 1) / D`` came from the other devices)."""
    text = fn.lower(*args).compile().as_text()
    out: dict[str, int] = {}
    for result, op in _COLLECTIVE.findall(text):  # a result is one shape or a tuple of them
        size = sum(int(np.prod([int(x) for x in dims.split(",") if x])) * _BYTES[dtype]
                   for dtype, dims in _SHAPE.findall(result))
        out[op] = out.get(op, 0) + size
    return out


def block_collectives(pnet: PartitionedNetwork, dstate: Any, inputs: Any) -> dict[str, int]:
    """:func:`compiled_collectives` of one block (:func:`block_step` on ``inputs [M, ...]``)."""
    return compiled_collectives(jax.jit(block_step), pnet, dstate,
                                place(pnet, host(inputs), P()))


def _sources(pnet: PartitionedNetwork) -> set[str]:
    """Populations whose spikes some projection reads."""
    return {p.source for p in pnet.local.projections.values()} & set(pnet.block)


def _squeeze(tree: Any) -> Any:
    return jax.tree_util.tree_map(lambda x: x[0], tree)


def _expand(tree: Any) -> Any:
    return jax.tree_util.tree_map(lambda x: x[None], tree)


def _device_step(local, state, inp):
    """One step of a device's block: the global spikes ``g`` enter as the sources' ``z``."""
    x, g = inp
    return local.step(state._replace(z=g), x)


def _block(pnet: PartitionedNetwork, local, dstate, xs):
    """``M`` steps on one device (inside ``shard_map``); see the module docstring."""
    local, st = _squeeze(local), _squeeze(dstate)
    sizes, modes = dict(pnet.sizes), dict(pnet.exchange)
    # only the spikes some projection reads travel (the others' z is read for its shape only)
    g = {n: exchange(h, sizes[n], pnet.axis, modes[n]) if n in _sources(pnet) else h
         for n, h in st.z.items()}
    start = st._replace(z={n: h[-1] for n, h in st.z.items()})
    state, outs = scan_steps(_device_step, local, start, (xs, g))
    state = state._replace(z=outs["spikes"])
    records = {"spikes": outs["spikes"], "v": outs["v"],
               "readout": {n: lax.psum(y, pnet.axis) for n, y in outs["readout"].items()}}
    return _expand(state), records


def block_step(pnet: PartitionedNetwork, dstate: Any, xs: Any) -> tuple[Any, dict]:
    """``M`` steps of the partitioned network for inputs ``xs [M, ...]`` (replicated); outputs
    ``{"spikes": {pop: [M, ..., N]}, "v": ..., "readout": {name: [M, ..., n_out]}}``, the keys
    of :meth:`neuro.network.Network.step` with a leading block axis."""
    axis = pnet.axis
    lead = next(iter(dstate.z.values())).ndim - 1  # M, batch..., block (without the device axis)
    cut = P(*([None] * (lead - 1)), axis)
    rec_specs = {"spikes": cut, "v": cut, "readout": P()}
    # check_vma=False: the parts build fresh accumulators (jnp.zeros, invariant across devices)
    # and add device-varying values into them in while loops, which the check rejects
    fn = jax.shard_map(partial(_block, pnet), mesh=pnet.mesh, check_vma=False,
                       in_specs=(P(axis), P(axis), P()), out_specs=(P(axis), rec_specs))
    dstate, records = fn(pnet.local, dstate, xs)
    sizes = dict(pnet.sizes)
    for key in ("spikes", "v"):
        records[key] = {n: r[..., : sizes[n]] for n, r in records[key].items()}
    return dstate, records


def _run(pnet, dstate, xs, monitors):
    m = pnet.interval
    blocks = jax.tree_util.tree_map(lambda x: x.reshape(x.shape[0] // m, m, *x.shape[1:]), xs)
    select = None if monitors is None else partial(_select_block, monitors)
    dstate, records = scan_steps(block_step, pnet, dstate, blocks, monitors=select)
    records = jax.tree_util.tree_map(lambda r: r.reshape(-1, *r.shape[2:]), records)
    return dstate, records


def _select_block(monitors, outputs):
    """Monitors see one step's outputs, as in :func:`neuro.run.simulate` (mapped over the
    block's steps)."""
    return jax.vmap(lambda o: _select(o, monitors))(outputs)


_compiled = {}


def _compile(pnet: PartitionedNetwork, monitors: Any) -> Callable:
    key = (pnet.mesh, pnet.axis, monitors)
    if key not in _compiled:
        rep = NamedSharding(pnet.mesh, P())
        state = NamedSharding(pnet.mesh, P(pnet.axis))
        _compiled[key] = jax.jit(partial(_run, monitors=monitors),
                                 out_shardings=(state, rep))
    return _compiled[key]


def _steps(inputs: Any, start: int, stop: int) -> Any:
    """Steps ``[start, stop)`` of time-major inputs."""
    return jax.tree_util.tree_map(lambda x: x[start:stop], inputs)


def _inputs(pnet: PartitionedNetwork, inputs: Any, n_steps: int | None, chunk: int | None
            ) -> tuple[Any, int, int]:
    """Replicated global inputs (zeros ``[T, 0]`` without inputs), the step count and chunk."""
    n, m = num_steps(inputs, n_steps), pnet.interval
    if inputs is None:
        inputs = np.zeros((n, 0), np.float32)
    chunk = n if chunk is None else int(chunk)
    if n % m or chunk < 1 or chunk % m:
        raise ValueError(f"the number of steps ({n}) and chunk ({chunk}) must be multiples of "
                         f"the exchange interval {m}")
    return place(pnet, host(inputs), P()), n, chunk


def compile_simulation(pnet: PartitionedNetwork, dstate: Any, inputs: Any = None, *,
                       n_steps: int | None = None,
                       monitors: Sequence[str] | Callable | None = None,
                       chunk: int | None = None) -> float:
    """Compile ahead of time what :func:`simulate` runs for the same arguments (as
    :func:`neuro.run.compile_simulation`); returns the seconds spent compiling."""
    import time

    inputs, n, chunk = _inputs(pnet, inputs, n_steps, chunk)
    run = _compile(pnet, _monitors(monitors))
    start = time.perf_counter()
    for size in sorted({min(chunk, n), n % chunk} - {0}):
        run.lower(pnet, dstate, jax.tree_util.tree_map(lambda x, s=size: x[:s], inputs)).compile()
    return time.perf_counter() - start


def simulate(
    pnet: PartitionedNetwork,
    dstate: Any,
    inputs: Any = None,
    *,
    n_steps: int | None = None,
    monitors: Sequence[str] | Callable | None = None,
    chunk: int | None = None,
    checkpoint: str | os.PathLike | None = None,
    force_restart: bool = False,
    progress: bool = False,
) -> SimulationResult:
    """Run the partitioned network over ``inputs`` (time-major pytree), or ``n_steps`` steps of
    a network without inputs, as :func:`neuro.run.simulate` runs a Network.

    ``dstate`` from :func:`~neuro.distributed.shard_state`. ``monitors`` as in
    :func:`neuro.run.simulate` (keys, dotted paths or a hashable callable on the outputs). The
    number of steps and ``chunk`` must be multiples of ``pnet.interval``. ``checkpoint=PATH``
    saves the state in the device-count independent layout (:mod:`.checkpoint`) after every
    chunk with the records so far, with the identity of the run
    (:func:`.checkpoint.run_identity`: the source network, initial state, monitors and the
    inputs of the steps done); a rerun with the same path, the same network, state and
    monitors, and inputs that begin with those (as many or more steps) resumes after the last
    saved chunk, on any device count. A checkpoint of another run is refused
    (:class:`~neuro.validation.CheckpointMismatch`, naming what differs); ``force_restart=True``
    ignores it (the next save overwrites it).
    Returns the final (partitioned) state and the records (host NumPy, every process).
    """
    from neuro.distributed import checkpoint as ckpt

    monitors = _monitors(monitors)
    raw = None if inputs is None else host(inputs)  # the identity digests the inputs done
    inputs, n, chunk = _inputs(pnet, inputs, n_steps, chunk)
    if raw is None:
        raw = np.zeros((n, 0), np.float32)
    run = _compile(pnet, monitors)
    done, pieces = 0, []
    if checkpoint is not None:  # digested once: the identity of every save names it
        initial = digest(gather_state(pnet, dstate))
    if checkpoint is not None and not force_restart and os.path.exists(checkpoint):
        done = int(ckpt.read_meta(checkpoint).get("steps_done", 0))
        if done > n:
            raise ValueError(f"checkpoint {checkpoint} has {done} steps, more than the {n} asked for")
        shapes = jax.eval_shape(run, pnet, dstate, jax.tree_util.tree_map(
            lambda x: x[:done], inputs))[1]
        like = jax.tree_util.tree_map(lambda r: np.zeros(r.shape, r.dtype), shapes)
        identity = ckpt.run_identity(pnet, initial, _steps(raw, 0, done), monitors)
        dstate, saved, _ = ckpt.load(checkpoint, pnet, dstate, like, identity=identity)
        pieces.append(saved)
    bar = tqdm(total=n, initial=done, disable=not progress, unit="step", desc="simulate")
    while done < n:
        stop = min(done + chunk, n)
        dstate, records = run(pnet, dstate, _steps(inputs, done, stop))
        pieces.append(host(records))
        bar.update(stop - done)
        done = stop
        if checkpoint is not None:
            identity = ckpt.run_identity(pnet, initial, _steps(raw, 0, done), monitors)
            ckpt.save(checkpoint, pnet, dstate, _concat(pieces), identity=identity,
                      steps_done=done)
    bar.close()
    return SimulationResult(dstate, _concat(pieces) if pieces else None)



def simulate_network(net: Any, state: Any, inputs: Any = None, *, devices: int | Mesh,
                     n_steps: int | None = None, monitors: Sequence[str] | Callable | None = None,
                     chunk: int | None = None, progress: bool = False) -> SimulationResult:
    """:func:`neuro.run.simulate` of a Network on ``devices`` (a count, or a mesh with a
    ``"neurons"`` axis): partition, run, and return the final state in the single-device
    layout (host NumPy) with the records, so that callers need no other change."""
    from neuro.distributed.partition import gather_state, partition, shard_state
    from neuro.distributed.runtime import mesh as make_mesh

    pnet = partition(net, devices if isinstance(devices, Mesh) else make_mesh(devices))
    result = simulate(pnet, shard_state(pnet, state), inputs, n_steps=n_steps,
                      monitors=monitors, chunk=chunk, progress=progress)
    return SimulationResult(gather_state(pnet, result.state), result.records)
