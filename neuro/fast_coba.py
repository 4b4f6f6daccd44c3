"""Fused CPU backend of a population of conductance (or current) LIF neurons with exponential
synapses and event-driven recurrent projections: many steps per native call.

It is a *backend of a part*: a :func:`neuro.projections.sparse` projection built with
``backend="fused"`` makes :func:`neuro.run.scan_steps` (and so :func:`neuro.run.simulate`) run
its network here, in chunks of many steps per XLA:CPU custom call (a Numba kernel), instead of
one :meth:`Network.step` per step (about 15-30 small XLA operations whose fixed dispatch cost
dominated a step of a 4,000-neuron network). Step by step (``net.step``, gradients, ``every >
1``) a fused projection is the ``"event"`` backend with its pure-JAX forward (so that tracing a
step, as :func:`neuro.run.simulate` does for the record's shapes, compiles no Numba kernel).
:func:`fused_scan` applies when the network has the pattern

* one population ``p``: :class:`neuro.neurons.ConductanceLIF` (exponential or forward Euler;
  ``reversal=()`` for current-based neurons) with :class:`neuro.synapses.Exponential` synapses of
  the matching kind, float parameters of one dtype with the state;
* one or more :class:`neuro.projections.Sparse` projections ``p -> p``, every one with
  ``backend="fused"``, any uniform ``delay``, no per-synapse ``delays``; no external inputs, no
  modulators, no readouts;

and ``every = 1``, no ``remat_chunk`` (the kernel has no derivative; use ``backend="event"`` for
gradients). The monitors may ask for anything of the step's outputs: the kernel writes the
spikes of every step (``uint8``; the membrane too when a monitor reads ``"v"``) and the monitors
are applied to them afterwards. A :class:`neuro.monitors.SpikeSums` monitor (a weighted spike
count, such as :class:`neuro.models.coba.Activity`) is instead added up by the kernel from its
spike lists, O(spikes) per step, and only its raster's neurons' spikes are written (at N = 400,000 the
dense spikes and the monitor's pass over them had cost about a fifth of the step). A fused
projection in a network without this pattern is an error, never a silent fallback; off CPU,
or without Numba, the reference step runs.

Per step, the kernel does what the reference :meth:`Network.step` does, in the same order, with
the same roundings: XLA:CPU fuses a multiply into the add that consumes it (one FMA), and the
kernel writes those FMAs out, so float32 and float64 runs with forward Euler are bitwise equal to
the reference (tests/test_fast_coba.py). Exponential Euler needs ``exp``: a branch-free Cephes
polynomial in float32 (99 % of values bitwise equal to XLA's, the rest 1 ulp apart) and libm's in
float64, so potentials agree to ~1e-6 relative and spikes until chaos amplifies that::

    g   <- g + sum over projections, over spikes i of step t - 1 - delay: w_ik at targets_ik
    r   <- max(r - 1, 0);  V integrates with g where r == 0   (neuro.neurons.conductance)
    z   <- (V > V_th) and r == 0;  V <- V_reset, r <- n_ref where z
    g   <- g * exp(-dt / tau)                                  (neuro.synapses.exponential)

**Windows and blocks.** A spike of step s acts first in step s + 1 + delay, so within a window
of ``W = 1 + min(delay)`` steps no neuron depends on another's spikes of the same window: the
kernel advances each block of neurons through a whole window on its own, adding the events of
earlier windows that land in the block, then handles the window's spikes. :func:`set_threads`
splits the neurons in one block per thread (at least ``MIN_NEURONS_PER_THREAD`` each). The
threads stay in one Numba parallel region for the whole call: each claims blocks of the current
window, and the one that completes its last block opens the next window while the others
spin. A parallel region per window paid for waking the threads each
time and was slower than one thread without a delay (a window of one step). A table row whose
targets ascend (every table :func:`neuro.projections.from_edges` builds from edges sorted by
target, and all of :mod:`neuro.models.coba`'s) is cut once, on the first call, into one segment
per block; a row out of that order is scanned whole by each block, which keeps its own targets
(same sums, more work). Per target the events are added in the order of the reference
(ascending source, then table slot), so the conductances are the same sums in the same order,
whatever the number of threads. While it adds one spike's row the kernel prefetches the row of
the spike ``AHEAD`` places later (at N = 400,000 the rows are cache misses).

The uniform delay lines keep the reference's state (the ``[delay, N]`` buffer of past spikes and
its position, so a run may continue with either path), but the kernel reads them through a ring
of the spike lists of the last ``max(delay) + 1 + W`` steps (O(spikes) per step, not O(N)),
scratch carried between chunks with the rows' segments, and brings the buffer up to date once
per call (the slots the call rewrites: cleared before it, written after it). The kernel runs whole windows
of about ``CHUNK_BYTES / N`` steps per call (fewer calls, fewer times the threads are woken)
and the monitors are applied to each chunk's ``[steps, N]`` spikes under ``jax.vmap``.

**Narrow counters.** With forward Euler and ``n_ref <= NARROW_REF`` (127 steps) the neuron loop
counts the refractory steps in int8 scratch, converted from and back to the state's int32 once
per call (with exponential Euler's loop int8 counters measured slower: 5.8 against 4.8 us per
step at N = 4,000). A counter above 127 (set by hand; it stays legitimate) enters as 127 and its
excess is kept aside and paid back one a step, so it counts down exactly as the reference's.

The sink of each trace (the slot that table padding adds into) is 0 after every step, as in the
reference (its decay is 0); with several blocks padding is not delivered at all.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from neuro.monitors import SpikeSums

Array = jax.Array
#: bytes of records per kernel call (uint8 spikes, steps x neurons; or a SpikeSums monitor's
#: sums, steps x blocks x columns): bounds the kernel's output buffer
CHUNK_BYTES = 1 << 22
#: the fewest neurons a thread gets (smaller networks run on fewer threads)
MIN_NEURONS_PER_THREAD = 1 << 13
#: the longest refractory period (steps) that the neuron loop counts in int8
NARROW_REF = 127
_threads = 1


def set_threads(n: int) -> None:
    """Run the fused kernel on ``n`` threads (default 1; ``0``: one per CPU this process may
    use). Results do not depend on it: each thread updates its own blocks of neurons. The
    compiled loops of :mod:`neuro.run` are dropped, so the next run is traced with it."""
    global _threads
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
        raise ValueError(f"threads must be an int >= 0; got {n!r}")
    if n == 0:
        n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
            os.cpu_count() or 1
    if int(n) != _threads:
        from neuro import run  # imports this module: imported here

        run._compiled_scan.clear_cache()
    _threads = int(n)


def get_threads() -> int:
    """The fused kernel's thread count (:func:`set_threads`)."""
    return _threads


# ----------------------------------------------------------------------------- pattern


def _fused_projections(net: Any) -> dict:
    """The Sparse projections with ``backend="fused"`` (a fused Dense one is :mod:`.fast_rnn`'s)."""
    from neuro.projections.sparse import Sparse

    return {n: p for n, p in net.projections.items()
            if isinstance(p, Sparse) and p.backend == "fused"}


def _pattern(net: Any) -> tuple[str, Any]:
    """The population of the pattern of the module docstring, or a ConfigError naming what
    does not fit."""
    from neuro.neurons.conductance import ConductanceLIF
    from neuro.projections.sparse import Sparse
    from neuro.synapses.exponential import Exponential
    from neuro.validation import ConfigError

    def fail(why: str):
        raise ConfigError(f"backend='fused' runs one population of conductance_lif neurons with "
                          f"exponential synapses and its recurrent Sparse projections: {why} "
                          f"(use backend='event')")

    if len(net.populations) != 1:
        fail(f"the network has {len(net.populations)} populations")
    if net.inputs or net.modulators or net.readouts:
        fail("the network has inputs, modulators or readouts")
    (name, pop), = net.populations.items()
    if not isinstance(pop.neuron, ConductanceLIF):
        fail(f"population {name!r} has {type(pop.neuron).__name__} neurons")
    if not isinstance(pop.synapse, Exponential):
        fail(f"population {name!r} has synapse {type(pop.synapse).__name__}")
    if pop.synapse.kind == "conductance" and pop.neuron.n_channels != pop.synapse.n_channels:
        fail("the neuron's reversal potentials do not match the synapse channels")
    for pname, proj in net.projections.items():
        if not isinstance(proj, Sparse) or proj.backend != "fused":
            fail(f"projection {pname!r} is not a Sparse projection with backend='fused'")
        if proj.delays is not None:
            fail(f"projection {pname!r} has per-synapse delays")
    dtypes = {jnp.result_type(x) for x in jax.tree_util.tree_leaves(pop)
              if jnp.issubdtype(jnp.result_type(x), jnp.floating)}
    dtypes |= {p.weights.dtype for p in net.projections.values()}
    if len(dtypes) != 1:
        fail(f"its float parameters and weights have several dtypes {sorted(map(str, dtypes))}")
    return name, pop


def applies() -> bool:
    """Whether the kernel can run here: XLA:CPU, Numba importable and not disabled by
    ``NEURO_EVENT_KERNEL=jax`` (the switch of :mod:`neuro.projections._events`)."""
    from neuro.projections import _native

    return (jax.default_backend() == "cpu" and _native.available()
            and os.environ.get("NEURO_EVENT_KERNEL", "auto") != "jax")


def _reads_v(monitors: Any, outputs: dict, select: Any) -> bool:
    """Whether the monitors read the membrane output ``"v"`` (a callable is traced, shapes
    only, on the outputs without it)."""
    if monitors is None:
        return True
    if callable(monitors):
        try:
            jax.eval_shape(lambda o: select(o, monitors), outputs)
        except KeyError:
            return True
        return False
    return any(m.split(".")[0] == "v" for m in monitors)


# ----------------------------------------------------------------------------- run


def fused_scan(net: Any, state: Any, inputs: Any, monitors: Any, remat_chunk: int | None,
               length: int, select: Any) -> tuple[Any, Any] | None:
    """``length`` steps of ``net`` by the fused kernel: ``(final state, records)`` where the
    records stack ``select(outputs, monitors)`` of every step (applied per chunk, so the spikes
    of the whole run are never held at once), or ``None`` when ``net`` has no fused projection
    or the kernel cannot run here (module docstring). Called by :func:`neuro.run.scan_steps`
    (``every = 1``)."""
    from neuro.validation import ConfigError

    if not _fused_projections(net):
        return None
    name, pop = _pattern(net)
    if inputs is not None:
        raise ConfigError("backend='fused' runs a network without inputs (n_steps=)")
    if remat_chunk is not None:
        raise ConfigError("backend='fused' has no derivative: remat_chunk does not apply "
                          "(use backend='event' to differentiate)")
    if not applies():
        return None
    z0 = state.z[name]
    if z0.ndim != 1:
        return _batched(net, state, monitors, length, select)
    n = pop.size
    dtype = z0.dtype
    probe = {"spikes": {name: jax.ShapeDtypeStruct((n,), dtype)}, "readout": {},
             "modulators": {}}
    sums = (isinstance(monitors, SpikeSums) and monitors.sums_suffice
            and monitors.population == name and monitors.columns.shape[0] == n)
    if sums:  # the kernel adds the monitor's columns per spike: no dense spikes
        call = _Kernel(net, name, pop, dtype, False, monitors.columns, monitors.head)
        per_chunk = CHUNK_BYTES // (np.dtype(dtype).itemsize * call.n_blocks * call.n_sums
                                    + monitors.head)
    else:
        call = _Kernel(net, name, pop, dtype, _reads_v(monitors, probe, select))
        per_chunk = CHUNK_BYTES // max(n, 1)
    # whole windows per call (a window's blocks advance together)
    per_chunk = min(length, max(call.window, per_chunk - per_chunk % call.window))
    n_chunks, tail = divmod(length, per_chunk)
    want_v = call.want_v

    def run(carry, steps):
        if sums:
            carry, (s, head) = call(carry, steps)
            return carry, jax.vmap(monitors.from_sums)(s, head)
        carry, (spikes, v) = call(carry, steps)
        outputs = {"spikes": {name: spikes.astype(dtype)}, "readout": {}, "modulators": {}}
        if want_v:
            outputs["v"] = {name: v}
        return carry, jax.vmap(lambda o: select(o, monitors))(outputs)

    carry = call.init(state)
    records = []
    if n_chunks:
        carry, rec = jax.lax.scan(lambda c, _: run(c, per_chunk), carry, None, length=n_chunks)
        records.append(jax.tree_util.tree_map(lambda r: r.reshape(-1, *r.shape[2:]), rec))
    if tail:
        carry, rec = run(carry, tail)
        records.append(rec)
    records = records[0] if len(records) == 1 else jax.tree_util.tree_map(
        lambda *r: jnp.concatenate(r), *records)
    return call.final(state, carry), records


def _batched(net, state, monitors, length, select):
    """Leading batch axes: one fused run per network state (``jax.vmap``: sequential calls).
    The delay buffers hold the batch behind their slot axis, and share one position."""
    batch = state.z[next(iter(state.z))].shape[:-1]
    size = int(np.prod(batch))
    lead = lambda a: a.reshape(size, *a.shape[len(batch):])
    projections, proj_axes, out_proj = {}, {}, {}
    for pname, ps in state.projections.items():
        line = ps.line
        if line is not None:
            line = line._replace(buffer=line.buffer.reshape(line.buffer.shape[0], size, -1))
        projections[pname] = ps._replace(line=line)
        proj_axes[pname] = ps._replace(line=None if line is None else
                                       line._replace(buffer=1, position=None))
        out_proj[pname] = ps._replace(line=None if line is None else
                                      line._replace(buffer=1, position=0))
    flat = state._replace(neurons=jax.tree_util.tree_map(lead, state.neurons),
                          synapses=jax.tree_util.tree_map(lead, state.synapses),
                          z=jax.tree_util.tree_map(lead, state.z), projections=projections)
    axes = state._replace(neurons=0, synapses=0, z=0, projections=proj_axes, modulators=0,
                          readouts=0)
    new, records = jax.vmap(lambda s: fused_scan(net, s, None, monitors, None, length, select),
                            in_axes=(axes,),
                            out_axes=(axes._replace(projections=out_proj), 1))(flat)
    unlead = lambda a: a.reshape(*batch, *a.shape[1:])
    projections = {}
    for pname, ps in new.projections.items():
        line = ps.line
        if line is not None:
            line = line._replace(buffer=line.buffer.reshape(line.buffer.shape[0], *batch, -1),
                                 position=line.position[0])  # the same in every run
        projections[pname] = ps._replace(line=line)
    new = new._replace(neurons=jax.tree_util.tree_map(unlead, new.neurons),
                       synapses=jax.tree_util.tree_map(unlead, new.synapses),
                       z=jax.tree_util.tree_map(unlead, new.z), projections=projections)
    records = jax.tree_util.tree_map(lambda r: r.reshape(r.shape[0], *batch, *r.shape[2:]),
                                     records)
    return new, records


class _Kernel:
    """The custom call for one network (static layout) and its carry: ``(v, ref, g, z,
    positions, lists, counts, buffers, offsets, extents)``; ``lists``/``counts`` hold the ring
    of the last steps' spikes by block, ``offsets`` each row's block segments and ``extents``
    its slots up to the last synapse (scratch, built by the first call; computing the extents
    in XLA cost 113 ms per run at N = 400,000, in-degree 80). With ``columns`` (``[N, k]``, a
    :class:`neuro.monitors.SpikeSums`) a call returns the sums ``[steps, k]`` of every step and
    the spikes ``[steps, head]`` of its first ``head`` neurons instead of all spikes."""

    def __init__(self, net, name, pop, dtype, want_v, columns=None, head=0):
        self.name, self.pop, self.dtype, self.want_v = name, pop, dtype, want_v
        self.columns = None if columns is None else jnp.asarray(columns, dtype).reshape(-1)
        self.n_sums = 0 if columns is None else int(np.shape(columns)[1])
        self.head = int(head)
        self.projs = list(net.projections.items())
        neuron, synapse = pop.neuron, pop.synapse
        n = pop.size
        self.n = n
        self.kind = synapse.kind
        self.n_channels = synapse.n_channels
        params = [neuron.dt / neuron.tau_m, neuron.v_rest, neuron.v_reset, neuron.v_th,
                  neuron.bias]
        self.per_neuron = any(np.ndim(p) > 0 and np.size(p) > 1 for p in params)
        width = n if self.per_neuron else 1
        self.params = jnp.stack([jnp.broadcast_to(jnp.asarray(p, dtype), (width,))
                                 .reshape(-1) for p in params]).reshape(-1)
        rev = neuron.reversal if neuron.n_channels else jnp.zeros((1,), dtype)
        self.reversal = jnp.asarray(rev, dtype)
        decay = synapse.decay(n).astype(dtype)
        self.decay_full = bool(np.ndim(synapse.tau) > 1 and np.shape(synapse.tau)[-1] > 1)
        self.decay = decay if self.decay_full else decay[::n][: self.n_channels]
        self.delays = [int(p.delay) for _, p in self.projs]
        self.window = 1 + min(self.delays)
        self.n_slots = max(self.delays) + 1 + self.window
        self.threads = max(1, min(get_threads(), n // MIN_NEURONS_PER_THREAD))
        self.block, self.n_blocks = _blocks(n, self.threads)
        self.target = _fused_target(np.dtype(dtype).name, self.n_channels, self.kind,
                                    neuron.method, self.per_neuron, self.decay_full, want_v,
                                    len(self.projs), self.threads > 1, self.n_sums,
                                    int(neuron.n_ref) <= NARROW_REF
                                    and neuron.method == "euler")
        pdims = []
        for (_, p), d in zip(self.projs, self.delays, strict=True):
            pdims += [p.targets.shape[1], p.weights.shape[1], d, p.channel * p.n_post, p.sink]
        self.pdims = np.array(pdims, np.int32)

    def init(self, state):
        name = self.name
        neuron = state.neurons[name]
        buffers, positions = [], []
        for (pname, _), d in zip(self.projs, self.delays, strict=True):
            line = state.projections[pname].line
            if d:
                buffers.append(line.buffer.reshape(-1).astype(self.dtype))
                positions.append(line.position)
            else:
                buffers.append(jnp.zeros((1,), self.dtype))
                positions.append(jnp.int32(0))
        positions = jnp.stack(positions).astype(jnp.int32)
        lists = jnp.zeros((self.n_slots * self.n,), jnp.int32)
        # [slot, block] spike counts, then the ring's next slot and -1: build on the first call
        counts = jnp.zeros((self.n_slots * self.n_blocks + 2,), jnp.int32).at[-1].set(-1)
        size = (self.n + 1) * (self.n_blocks + 1) if self.n_blocks > 1 else 1
        offsets = tuple(jnp.zeros((size,), jnp.int32) for _ in self.projs)
        extents = tuple(jnp.zeros((self.n + 1,), jnp.int32) for _ in self.projs)
        return (neuron.v, neuron.refractory.astype(jnp.int32), state.synapses[name],
                state.z[name], positions, lists, counts, tuple(buffers), offsets, extents)

    def __call__(self, carry, steps):
        v, ref, g, z, positions, lists, counts, buffers, offsets, extents = carry
        n, dtype = self.n, self.dtype
        dims = np.array([n, self.n_channels, steps, int(self.pop.neuron.n_ref), self.block,
                         self.n_blocks, self.window, self.n_slots, _pool(self.threads),
                         self.head], np.int32)
        state = (v, ref, g, z, positions, lists, counts, *buffers, *offsets, *extents)
        args = [*state, self.params, self.reversal, self.decay, dims, self.pdims]
        for _, p in self.projs:
            args += [p.targets, p.weights]
        shapes = [jax.ShapeDtypeStruct(a.shape, a.dtype) for a in state]
        if self.n_sums:  # one step of spikes (scratch), the sums per step and block
            args.append(self.columns)
            shapes += [jax.ShapeDtypeStruct((n,), jnp.uint8),
                       jax.ShapeDtypeStruct((steps, self.n_blocks, self.n_sums), dtype),
                       jax.ShapeDtypeStruct((steps, max(self.head, 1)), jnp.uint8)]
        else:
            shapes.append(jax.ShapeDtypeStruct((steps, n), jnp.uint8))
        if self.want_v:
            shapes.append(jax.ShapeDtypeStruct((steps, n), dtype))
        aliases = {i: i for i in range(len(state))}
        call = jax.ffi.ffi_call(self.target, shapes, input_output_aliases=aliases,
                                vmap_method="sequential")
        res = call(*args)
        k, P = 7, len(self.projs)
        new = (*res[:k], *(tuple(res[k + j * P:k + (j + 1) * P]) for j in range(3)))
        k += 3 * P
        if self.n_sums:  # the blocks' sums, added in block order; the first neurons' spikes
            return new, (jnp.sum(res[k + 1], axis=1), res[k + 2][:, :self.head] != 0)
        return new, (res[k], res[k + 1] if self.want_v else None)

    def final(self, state, carry):
        v, ref, g, z, positions, _, _, buffers, _, _ = carry
        name = self.name
        old = state.neurons[name]
        neurons = {**state.neurons, name: old._replace(v=v, refractory=ref.astype(
            old.refractory.dtype))}
        projections = dict(state.projections)
        for i, ((pname, _), d) in enumerate(zip(self.projs, self.delays, strict=True)):
            ps = state.projections[pname]
            if d:
                line = ps.line._replace(buffer=buffers[i].reshape(ps.line.buffer.shape)
                                        .astype(ps.line.buffer.dtype), position=positions[i])
                ps = ps._replace(line=line)
            projections[pname] = ps
        return state._replace(neurons=neurons, synapses={**state.synapses, name: g},
                              z={**state.z, name: z}, projections=projections)


def _pool(threads: int) -> int:
    """The threads Numba can give (``NUMBA_NUM_THREADS``: the CPUs, unless set lower)."""
    import numba

    return max(1, min(threads, numba.config.NUMBA_NUM_THREADS))


def _blocks(n: int, threads: int) -> tuple[int, int]:
    """``(block size, number of blocks)``: one block of neurons per thread (a multiple of 8
    neurons). Smaller blocks, for cache locality over a window, measured no faster on one
    thread at N = 400,000 (the neuron pass is not bound by memory bandwidth there) and cost a
    segment lookup per spike and block."""
    block = -(-n // threads)
    block = -(-block // 8) * 8
    return block, -(-n // block)


# ----------------------------------------------------------------------------- kernel


@functools.cache
def _exp32():
    """A branch-free (vectorisable) float32 ``exp``: Cephes' ``expf`` polynomial (as Eigen and
    XLA:CPU's own, within ~2 ulp of libm), where libm's scalar ``expf`` call would keep the
    neuron loop from being vectorised (measured ~4 ns per neuron at N = 4,000)."""
    import numba
    from llvmlite import ir
    from numba import types
    from numba.extending import intrinsic

    @intrinsic
    def as_float32(typingctx, bits):
        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], ir.FloatType())

        return types.float32(types.int32), codegen

    f = np.float32
    lo, hi, log2e, half, one = f(-87.3), f(88.3762626647950), f(1.44269504088896341), f(0.5), \
        f(1.0)
    c1, c2 = f(0.693359375), f(-2.12194440e-4)
    p0, p1, p2, p3, p4, p5 = (f(1.9875691500e-4), f(1.3981999507e-3), f(8.3334519073e-3),
                              f(4.1665795894e-2), f(1.6666665459e-1), f(5.0000001201e-1))

    @numba.njit(inline="always")
    def exp32(x):
        x = min(max(x, lo), hi)
        fx = np.floor(x * log2e + half)
        x = x - fx * c1
        x = x - fx * c2
        z = x * x
        y = ((((p0 * x + p1) * x + p2) * x + p3) * x + p4) * x + p5
        y = y * z + x + one
        return y * as_float32(np.int32((np.int32(fx) + 127) << 23))

    return exp32


@functools.cache
def _pointer_casts():
    """``(ptr, address)`` for Numba code: ``ptr(int64) -> void*`` and ``address(void*) ->
    int64`` (LLVM ``inttoptr`` / ``ptrtoint``)."""
    from llvmlite import ir
    from numba import types
    from numba.extending import intrinsic

    @intrinsic
    def ptr(typingctx, address):
        def codegen(context, builder, signature, args):
            return builder.inttoptr(args[0], ir.IntType(8).as_pointer())

        return types.voidptr(types.int64), codegen

    @intrinsic
    def address(typingctx, pointer):
        def codegen(context, builder, signature, args):
            return builder.ptrtoint(args[0], ir.IntType(64))

        return types.int64(types.voidptr), codegen

    return ptr, address


@functools.cache
def _prefetch_intrinsic():
    """``prefetch(array)``: its first element's cache line, for reading (``llvm.prefetch``)."""
    from llvmlite import ir
    from numba import types
    from numba.core import cgutils
    from numba.extending import intrinsic

    @intrinsic
    def prefetch(typingctx, array):
        def codegen(context, builder, signature, args):
            data = context.make_array(signature.args[0])(context, builder, args[0]).data
            i8p = ir.IntType(8).as_pointer()
            i32 = ir.IntType(32)
            fn = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
                "llvm.prefetch.p0")
            builder.call(fn, [builder.bitcast(data, i8p), i32(0), i32(3), i32(1)])
            return context.get_dummy_value()

        return types.none(array), codegen

    return prefetch


@functools.cache
def _atomic_intrinsics() -> dict:
    """Sequentially consistent ``load(a, i)``, ``store(a, i, v)``, ``add(a, i, v)`` (returns
    the old value) and ``cas(a, i, expected, new)`` (returns whether it swapped) on an int64
    array's element, and ``pause()`` (the x86 spin-wait hint; nothing elsewhere)."""
    import platform

    from llvmlite import ir
    from numba import types
    from numba.core import cgutils
    from numba.extending import intrinsic

    def element(context, builder, sig, args):
        data = context.make_array(sig.args[0])(context, builder, args[0]).data
        return builder.gep(data, [args[1]])

    @intrinsic
    def load(typingctx, a, i):
        def codegen(context, builder, sig, args):
            return builder.load_atomic(element(context, builder, sig, args), "seq_cst", 8)

        return types.int64(a, i), codegen

    @intrinsic
    def store(typingctx, a, i, v):
        def codegen(context, builder, sig, args):
            value = context.cast(builder, args[2], sig.args[2], types.int64)
            builder.store_atomic(value, element(context, builder, sig, args), "seq_cst", 8)
            return context.get_dummy_value()

        return types.none(a, i, v), codegen

    @intrinsic
    def add(typingctx, a, i, v):
        def codegen(context, builder, sig, args):
            value = context.cast(builder, args[2], sig.args[2], types.int64)
            return builder.atomic_rmw("add", element(context, builder, sig, args), value,
                                      "seq_cst")

        return types.int64(a, i, v), codegen

    @intrinsic
    def cas(typingctx, a, i, expected, new):
        def codegen(context, builder, sig, args):
            old = context.cast(builder, args[2], sig.args[2], types.int64)
            value = context.cast(builder, args[3], sig.args[3], types.int64)
            pair = builder.cmpxchg(element(context, builder, sig, args), old, value, "seq_cst",
                                   "seq_cst")
            return builder.extract_value(pair, 1)

        return types.boolean(a, i, expected, new), codegen

    x86 = platform.machine().lower() in ("x86_64", "amd64", "i686", "x86")

    @intrinsic
    def pause(typingctx):
        def codegen(context, builder, sig, args):
            if x86:
                fn = cgutils.get_or_insert_function(
                    builder.module, ir.FunctionType(ir.VoidType(), []), "llvm.x86.sse2.pause")
                builder.call(fn, [])
            return context.get_dummy_value()

        return types.none(), codegen

    return {"load": load, "store": store, "add": add, "cas": cas, "pause": pause}


@functools.cache
def _fma_intrinsic():
    """``fma(x, y, z) = x y + z`` rounded once (LLVM's ``llvm.fma``) for Numba code."""
    from llvmlite import ir
    from numba.extending import intrinsic

    @intrinsic
    def fma(typingctx, x, y, z):
        def codegen(context, builder, signature, args):
            ty = args[0].type
            fn = builder.module.declare_intrinsic("llvm.fma", [ty],
                                                  ir.FunctionType(ty, [ty, ty, ty]))
            return builder.call(fn, args)

        return x(x, y, z), codegen

    return fma


@functools.cache
def _fused_target(dtype: str, n_channels: int, kind: str, method: str, per_neuron: bool,
                  decay_full: bool, want_v: bool, n_proj: int, parallel: bool,
                  n_sums: int = 0, narrow: bool = False) -> str:
    """Compile and register the kernel for this static layout; return its target name.
    ``n_sums > 0``: instead of the ``[steps, N]`` spikes, the kernel writes per step and block
    the sums of ``n_sums`` columns over the block's spikes (:class:`neuro.monitors.SpikeSums`)
    and the spikes of its first ``head`` neurons, and uses one step of spikes as scratch.
    ``narrow``: the neuron loop counts refractory steps in int8 (module docstring)."""
    import numba
    from numba import types
    from numba.np.unsafe.ndarray import to_fixed_tuple

    from neuro.projections._native import register_cfunc

    f = numba.from_dtype(np.dtype(dtype))
    ubits = {4: types.uint32, 8: types.uint64}[np.dtype(dtype).itemsize]
    mask = ubits((1 << (8 * np.dtype(dtype).itemsize - 1)) - 1)  # z != 0 on the bit pattern
    i32 = types.int32
    C = n_channels
    NREV = max(C, 1)
    conductance = kind == "conductance"
    exp_euler = method == "exp_euler"
    P = n_proj
    one = f(1.0)
    zero = f(0.0)
    # aliased outputs: v, ref, g, z, positions, lists, counts, P buffers, P offsets, P extents
    n_state = 7 + 3 * P
    fma = _fma_intrinsic()
    exp = _exp32() if np.dtype(dtype) == np.float32 else np.exp

    # exponential Euler indexes the traces unsigned: Numba then adds no negative-index
    # wraparound, a select that kept that loop from being vectorised ("cannot identify array
    # bounds"); the forward-Euler loop is vectorised with signed indices, and measured 2.5x
    # slower with unsigned ones
    if exp_euler:
        u = numba.njit(inline="always")(lambda i: types.uintp(i))
    else:
        u = numba.njit(inline="always")(lambda i: i)

    @numba.njit(inline="always", error_model="numpy")  # no ZeroDivisionError branch
    def integrate(v, r, g, j, n, a, v_rest, v_reset, v_th, bias, rev):
        """One neuron: the equations of neuro.neurons.conductance (same operation order)."""
        r = r - 1
        r = r if r > 0 else i32(0)
        # XLA:CPU fuses a multiply into the add that consumes it (one FMA, one rounding),
        # the first operand's multiply when both are products: the same FMAs are written
        # out here, so that both round alike
        if conductance:
            g0 = g[u(j)]
            total = one + g0
            for c in range(1, C):
                total = total + g[u(c * n + j)]
            if exp_euler:
                num = fma(g0, rev[0], v_rest)
                for c in range(1, C):
                    num = fma(g[u(c * n + j)], rev[c], num)
                v_inf = (num + bias) / total
                v_new = fma(v - v_inf, exp(-a * total), v_inf)
            else:
                if C == 1:
                    x = fma(g0, rev[0] - v, v_rest - v) + bias
                else:
                    s = fma(g0, rev[0] - v, g[u(n + j)] * (rev[1] - v))
                    for c in range(2, C):
                        s = fma(g[u(c * n + j)], rev[c] - v, s)
                    x = ((v_rest - v) + s) + bias
                v_new = fma(a, x, v)
        else:
            cur = g[u(j)]
            for c in range(1, C):
                cur = cur + g[u(c * n + j)]
            v_inf = v_rest + (cur + bias)
            if exp_euler:
                v_new = fma(v - v_inf, exp(-a), v_inf)
            else:
                v_new = fma(a, v_inf - v, v)
        v = v_new if r == 0 else v
        fired = (r == 0) & (v > v_th)
        v = v_reset if fired else v
        return v, fired

    # The buffers are handed down as addresses and viewed (numba.carray) where they are
    # used: a view made in the function has no reference count, whereas an array passed in
    # gets one increment and decrement per use, which kept the neuron loop from being
    # vectorised (measured 2.8x slower at N = 40,000)
    fsize = np.dtype(dtype).itemsize
    IN = n_state + 3  # addrs: the outputs (state; spikes, membrane; or scratch, sums, head),
    # then the inputs
    K = n_sums
    n_in = n_state + 5 + 2 * P + (1 if K else 0)
    ptr, addr = _pointer_casts()
    prefetch = _prefetch_intrinsic()
    AHEAD = 8  # spikes
    # from FAR neurons on, a row's extent and weight are prefetched with it: 434 to 419 us per
    # step at N = 400,000; at 4,000 (all in cache) they cost 3 % of a step
    FAR = 1 << 16

    @numba.njit(inline="always")
    def view(addrs, k, size, dtype, start=0, itemsize=4):
        """Buffer k of addrs from element start on (of itemsize bytes), as size elements."""
        return numba.carray(ptr(addrs[k] + start * itemsize), (size,), dtype)

    # narrow: the refractory counters of the neuron loop are int8 scratch (addrs[NR]; a
    # quarter of the bytes of the state's int32, measured 21 % of a step without spikes at
    # N = 400,000), the part of a counter above 127 is kept aside (addrs[NR + 1 .. NR + 3]:
    # per block the range of its entries, their neurons and excesses) and paid back one a
    # step, so that such a counter stays at 127 until its excess is spent
    NR = IN + n_in
    if narrow:
        @numba.njit(inline="always")
        def ref_view(addrs, size, lo):
            return view(addrs, NR, size, types.int8, lo, 1)
    else:
        @numba.njit(inline="always")
        def ref_view(addrs, size, lo):
            return view(addrs, 1, size, i32, lo)

    @numba.njit(error_model="numpy")
    def block_window(b, t0, n_steps, slot0, addrs):
        """Steps t0 .. t0 + n_steps - 1 of the neurons of block b (module docstring): each
        step delivers the events of earlier windows that land in the block, integrates its
        neurons and lists its spikes in the ring slot of the step."""
        dims = view(addrs, IN + n_state + 3, 10, i32)
        # the sizes are >= 0: masking the sign bit tells the compiler so
        n, n_ref, B, nb, R = dims[0] & 0x7FFFFFFF, dims[3], dims[4] & 0x7FFFFFFF, dims[5], dims[7]
        H = dims[9]  # with sums: the neurons 0 .. H - 1 whose spikes are written
        m = C * n + 1
        pdims = view(addrs, IN + n_state + 4, 5 * P, i32)
        g = view(addrs, 2, m, f)
        lists = view(addrs, 5, R * n, i32)
        counts = view(addrs, 6, R * nb + 2, i32)
        params = view(addrs, IN + n_state, 5 * (n if per_neuron else 1), f)
        rev = view(addrs, IN + n_state + 1, max(C, 1), f)
        decay = view(addrs, IN + n_state + 2, m if decay_full else C, f)
        # the reversal potentials as scalars: loaded in the loop, only under r == 0, they
        # became masked gathers of the vectorised loop
        rv = to_fixed_tuple(rev, NREV)
        lo = b * B
        hi = min(n, lo + B)
        for k in range(n_steps):
            # 1. the events of each projection's delayed step that land in [lo, hi)
            for p in range(P):
                width, w_cols, d, offset, sink = (pdims[5 * p], pdims[5 * p + 1],
                                                  pdims[5 * p + 2], pdims[5 * p + 3],
                                                  pdims[5 * p + 4])
                targets = view(addrs, IN + n_state + 5 + 2 * p, (n + 1) * width, i32)
                weights = view(addrs, IN + n_state + 6 + 2 * p, (n + 1) * w_cols, f)
                extent = view(addrs, 7 + 2 * P + p, n + 1, i32)
                offs = view(addrs, 7 + P + p, (n + 1) * (nb + 1), i32)
                src = (slot0 + k - 1 - d) % R
                identity = offset == 0 and sink == m - 1
                for sb in range(nb):
                    row = src * n + sb * B
                    cnt = counts[src * nb + sb]
                    for q in range(cnt):
                        i = lists[row + q]
                        first = i * width
                        if q + AHEAD < cnt:  # the table row of a later spike, into cache
                            ahead = view(addrs, IN + n_state + 5 + 2 * p, width, i32,
                                         lists[row + q + AHEAD] * width)
                            for line in range(0, width, 16):
                                prefetch(ahead[line:])
                            if nb > 1:  # and its segments
                                prefetch(offs[lists[row + q + AHEAD] * (nb + 1) + b:])
                            if n >= FAR:  # its extent and weight, cache misses there too
                                prefetch(extent[lists[row + q + AHEAD]:])
                                if w_cols == 1:
                                    prefetch(weights[lists[row + q + AHEAD]:])
                        head = i * (nb + 1)
                        ordered = nb == 1 or offs[head] >= 0
                        start, stop = (0, extent[i]) if nb == 1 else (offs[head + b],
                                                                      offs[head + b + 1])
                        if ordered and w_cols == 1 and identity:  # the common case
                            w = weights[i]
                            tb = view(addrs, IN + n_state + 5 + 2 * p, stop - start, i32,
                                      first + start)
                            for s in range(stop - start):
                                g[tb[s]] += w  # padding (one block) adds into the sink
                        elif ordered:  # padding only when there is one block
                            for s in range(start, stop):
                                tk = targets[first + s]
                                g[m - 1 if tk == sink else tk + offset] += (
                                    weights[i] if w_cols == 1 else weights[first + s])
                        else:  # a row out of block order: its targets in [lo, hi)
                            for s in range(extent[i]):
                                tk = targets[first + s]
                                if tk != sink:
                                    j = tk + offset
                                    while j >= n:
                                        j -= n
                                    if lo <= j < hi:
                                        g[tk + offset] += (weights[i] if w_cols == 1
                                                           else weights[first + s])
            # on views from lo indexed from 0 (and n known >= 0): Numba's negative-index
            # wraparound then folds away and the loop is vectorised
            o = 0 if K else (t0 + k) * n  # with sums, one step of spikes as scratch
            size = hi - lo
            vb = view(addrs, 0, size, f, lo, fsize)
            rb = ref_view(addrs, size, lo)
            gb = view(addrs, 2, m - lo, f, lo, fsize)
            zb = view(addrs, n_state, size, types.uint8, o + lo, 1)
            if per_neuron:
                pb = view(addrs, IN + n_state, 5 * n - lo, f, lo, fsize)
                db = view(addrs, IN + n_state + 2, m - lo, f, lo, fsize) if decay_full else decay
                for j in range(size):
                    vj, fired = integrate(vb[j], rb[j], gb, j, n, pb[j], pb[n + j],
                                          pb[2 * n + j], pb[3 * n + j], pb[4 * n + j], rv)
                    vb[j] = vj
                    rb[j] = n_ref if fired else max(rb[j] - 1, 0)
                    zb[j] = 1 if fired else 0
                    for c in range(C):
                        gb[u(c * n + j)] = gb[u(c * n + j)] * db[c * n + j if decay_full else c]
            else:
                a, v_rest, v_reset, v_th, bias = (params[0], params[1], params[2], params[3],
                                                  params[4])
                db = view(addrs, IN + n_state + 2, m - lo, f, lo, fsize) if decay_full else decay
                for j in range(size):
                    vj, fired = integrate(vb[j], rb[j], gb, j, n, a, v_rest, v_reset, v_th,
                                          bias, rv)
                    vb[j] = vj
                    rb[j] = n_ref if fired else max(rb[j] - 1, 0)
                    zb[j] = 1 if fired else 0
                    for c in range(C):
                        gb[u(c * n + j)] = gb[u(c * n + j)] * db[c * n + j if decay_full else c]
            if hi == n:  # the sink (decay 0: padding adds nothing that lasts)
                g[m - 1] = g[m - 1] * (decay[m - 1] if decay_full else zero)
            if narrow:  # counters above 127: 126 (refractory, so just decremented) back to 127
                bounds = view(addrs, NR + 1, nb + 1, i32)
                if bounds[b + 1] > bounds[b]:
                    over = view(addrs, NR + 2, bounds[nb], i32)
                    excess = view(addrs, NR + 3, bounds[nb], i32)
                    for q in range(bounds[b], bounds[b + 1]):
                        if excess[q] > 0:
                            rb[over[q] - lo] += 1
                            excess[q] -= 1
            # 4. the block's spikes of this step (ascending): 32 bytes of spike flags per test
            # as four 8-byte words (aligned), a byte at a time only to the first aligned byte
            # and after the last word; byte by byte, the scan had cost 15 % of a step without
            # spikes at N = 400,000
            slot = (slot0 + k) % R
            lb = view(addrs, 5, size, i32, slot * n + lo)
            cnt = 0
            j = 0
            base = addrs[n_state] + o + lo
            while j < size and (base + j) & 7:
                if zb[j]:
                    lb[cnt] = lo + j
                    cnt += 1
                j += 1
            words = (size - j) >> 3
            zw = numba.carray(ptr(base + j), (words,), types.uint64)
            w = 0
            while w < words:
                if w + 4 <= words:
                    if (zw[w] | zw[w + 1] | zw[w + 2] | zw[w + 3]) == 0:
                        w += 4
                        continue
                if zw[w]:
                    for jj in range(j + 8 * w, j + 8 * w + 8):
                        if zb[jj]:
                            lb[cnt] = lo + jj
                            cnt += 1
                w += 1
            j += 8 * words
            while j < size:
                if zb[j]:
                    lb[cnt] = lo + j
                    cnt += 1
                j += 1
            counts[slot * nb + b] = cnt
            if K:  # the step's sums over the block's spikes, in ascending order
                sums = view(addrs, n_state + 1, K, f, ((t0 + k) * nb + b) * K, fsize)
                columns = view(addrs, IN + n_in - 1, n * K, f)
                for c in range(K):
                    sums[c] = zero
                for q in range(cnt):
                    at = lb[q] * K
                    for c in range(K):
                        sums[c] += columns[at + c]
                if lo < H:  # and the spikes of neurons 0 .. H - 1
                    hb = view(addrs, n_state + 2, min(hi, H) - lo, types.uint8,
                              (t0 + k) * H + lo, 1)
                    for j in range(min(hi, H) - lo):
                        hb[j] = zb[j]
            if want_v:
                vo = view(addrs, n_state + 1, size, f, o + lo, fsize)
                for jj in range(size):
                    vo[jj] = vb[jj]

    @numba.njit(error_model="numpy")
    def delay_lines(steps, slot0, addrs, after):
        """The delay lines of the reference state, for a call of ``steps`` steps from ring slot
        ``slot0``: at call step k, slot ``position + k`` (mod d) receives the spikes of step
        k - 1 in place of those of step k - 1 - d. Only the kernel's ring is read during a
        call, so the slots that the call rewrites are cleared before it (their spikes from
        before the call) and written ``after`` it (the call's last steps), O(spikes), instead
        of twice per step (two cache misses per spike at N = 400,000)."""
        dims = view(addrs, IN + n_state + 3, 10, i32)
        n, B, nb, R = dims[0], dims[4], dims[5], dims[7]
        pdims = view(addrs, IN + n_state + 4, 5 * P, i32)
        positions = view(addrs, 4, P, i32)
        lists = view(addrs, 5, R * n, i32)
        counts = view(addrs, 6, R * nb + 2, i32)
        for p in range(P):
            d = pdims[5 * p + 2]
            if d == 0:
                continue
            buf = view(addrs, 7 + p, d * n, f)
            pos = positions[p]
            # the same slots either way: the first min(steps, d) the call reaches, which hold
            # the spikes of steps -1 - d .. -2 before it, or its last min(steps, d)
            first = max(0, steps - d) if after else 0
            value = one if after else zero
            for k in range(first, first + min(steps, d)):
                src = (slot0 + k - 1 - (0 if after else d)) % R
                at = ((pos + k) % d) * n
                for sb in range(nb):
                    for q in range(counts[src * nb + sb]):
                        buf[at + lists[src * n + sb * B + q]] = value
            if after:
                positions[p] = (pos + steps) % d

    if parallel:
        atomic = _atomic_intrinsics()
        load, cas, add, store, pause = (atomic["load"], atomic["cas"], atomic["add"],
                                        atomic["store"], atomic["pause"])

        @numba.njit(parallel=True, error_model="numpy")
        def run_windows(steps, W, slot0, R, nb, threads, addrs, ctr):
            """The call's windows on threads that stay in one parallel region: each claims
            the blocks of the current window (ctr[0]: the window in its high 32 bits, the
            next unclaimed block below), the thread that completes its last block (ctr[1]
            counts them) opens the next window; the others spin
            until it does. Any thread may take any block, so none waits for a given one."""
            numba.set_num_threads(threads)
            n_windows = (steps + W - 1) // W
            for _ in numba.prange(threads):
                while True:
                    gen = load(ctr, 0) >> 32
                    if gen >= n_windows:
                        break
                    t0 = gen * W
                    n_steps = min(W, steps - t0)
                    s0 = (slot0 + t0) % R
                    while True:
                        cur = load(ctr, 0)
                        if (cur >> 32) != gen or (cur & 0xFFFFFFFF) >= nb:
                            break
                        if cas(ctr, 0, cur, cur + 1):
                            block_window(cur & 0xFFFFFFFF, t0, n_steps, s0, addrs)
                            if add(ctr, 1, 1) == nb - 1:  # the window's last block
                                store(ctr, 1, 0)
                                store(ctr, 0, (gen + 1) << 32)
                    while (load(ctr, 0) >> 32) == gen:
                        pause()
    else:
        @numba.njit(error_model="numpy")
        def run_windows(steps, W, slot0, R, nb, threads, addrs, ctr):
            t0 = 0
            while t0 < steps:
                n_steps = min(W, steps - t0)
                s0 = (slot0 + t0) % R
                for b in range(nb):
                    block_window(b, t0, n_steps, s0, addrs)
                t0 += n_steps

    @numba.njit(error_model="numpy")
    def row_extents(n, width, sink, targets, extent):
        """Per table row, the slots up to its last synapse: the rest is padding, which adds
        only into the sink (whose trace decays to 0 every step). From the row's end, so only
        the padding and one synapse are read."""
        for i in range(n + 1):
            s = width
            while s > 0 and targets[i * width + s - 1] == sink:
                s -= 1
            extent[i] = s

    @numba.njit(error_model="numpy")
    def build_offsets(n, B, nb, width, offset, sink, targets, extent, offs):
        """Per table row, where the targets of each block start: block b is the row's slots
        offs[b] .. offs[b + 1] when the row is in block order (its target neurons ascending
        by block, padding last, as in a table sorted by target), else offs[0] = -1."""
        for i in range(n + 1):
            head = i * (nb + 1)
            first = i * width
            blk = 0  # the block of the last slot seen (nb: padding)
            ordered = True
            for s in range(extent[i]):
                tk = targets[first + s]
                if tk == sink:
                    new = nb
                else:
                    j = tk + offset
                    while j >= n:  # the neuron of a channel's slot
                        j -= n
                    if j < blk * B:
                        ordered = False
                        break
                    new = blk
                    while new + 1 < nb and j >= (new + 1) * B:
                        new += 1
                while blk < new:  # blocks blk + 1 .. new start at slot s
                    blk += 1
                    offs[head + blk] = s
            if ordered:
                while blk < nb:
                    blk += 1
                    offs[head + blk] = extent[i]
                offs[head] = 0
            else:
                offs[head] = -1

    sig = types.void(types.CPointer(types.voidptr), types.CPointer(types.voidptr))
    n_out = n_state + (3 if K else 2 if want_v else 1)

    @numba.njit(error_model="numpy")
    def narrow_counters(n, B, nb, ref, addrs):
        """The int8 counters of the state's (addrs[NR ...], the narrow comment above); return
        the scratch arrays, which must outlive the call. A negative counter becomes 0: either
        is decremented to 0 in the first step."""
        r8 = np.empty(max(n, 1), np.int8)
        n_over = 0
        for i in range(n):
            c = ref[i]
            n_over += c > 127
            r8[i] = min(max(c, 0), 127)
        over = np.empty(max(n_over, 1), np.int32)
        excess = np.empty(max(n_over, 1), np.int32)
        bounds = np.zeros(nb + 1, np.int32)
        if n_over:
            q = 0
            for i in range(n):
                if ref[i] > 127:
                    over[q], excess[q] = i, ref[i] - 127
                    q += 1
                    bounds[i // B + 1] = q
            for b in range(nb):
                bounds[b + 1] = max(bounds[b + 1], bounds[b])
        addrs[NR], addrs[NR + 1] = r8.ctypes.data, bounds.ctypes.data
        addrs[NR + 2], addrs[NR + 3] = over.ctypes.data, excess.ctypes.data
        return r8, bounds, over, excess

    @numba.cfunc(sig, nopython=True, error_model="numpy")
    def kernel(out, ins):
        addrs = np.zeros(IN + n_in + 4, np.int64)
        for k in range(n_out):
            addrs[k] = addr(out[k])
        for k in range(n_in):
            addrs[IN + k] = addr(ins[k])
        dims = numba.carray(ins[n_state + 3], (10,), i32)
        n, steps, B, nb, W, R, threads = (dims[0], dims[2], dims[4], dims[5], dims[6], dims[7],
                                          dims[8])
        pdims = numba.carray(ins[n_state + 4], (5 * P,), i32)
        z = numba.carray(out[3], (n,), f)
        zb = numba.carray(out[3], (n,), ubits)
        positions = numba.carray(out[4], (P,), i32)
        lists = numba.carray(out[5], (R * n,), i32)
        counts = numba.carray(out[6], (R * nb + 2,), i32)
        dmax = 0
        for p in range(P):
            dmax = max(dmax, pdims[5 * p + 2])

        # the first call: the rows' block segments, and the ring's spikes of the steps before
        # this run (z, then the delay buffers: slot position - k holds the spikes of k steps
        # before z's, in the longest line)
        if counts[R * nb + 1] == -1:
            for p in range(P):
                width = pdims[5 * p]
                targets = numba.carray(ins[n_state + 5 + 2 * p], ((n + 1) * width,), i32)
                extent = numba.carray(out[7 + 2 * P + p], (n + 1,), i32)
                row_extents(n, width, pdims[5 * p + 4], targets, extent)
                if nb > 1:  # one block: every row is one segment
                    build_offsets(n, B, nb, width, pdims[5 * p + 3], pdims[5 * p + 4], targets,
                                  extent, numba.carray(out[7 + P + p], ((n + 1) * (nb + 1),),
                                                       i32))
            for s in range(R * nb):
                counts[s] = 0
            longest = 0
            for p in range(P):
                if pdims[5 * p + 2] > pdims[5 * longest + 2]:
                    longest = p
            bufb = numba.carray(out[7 + longest], (max(1, dmax * n),), ubits)
            for k in range(dmax + 1):
                slot = (R - 1 - k) % R
                for i in range(n):
                    if k == 0:
                        on = zb[i] & mask
                    else:
                        on = bufb[((positions[longest] - k) % dmax) * n + i] & mask
                    if on:
                        blk = i // B
                        lists[slot * n + blk * B + counts[slot * nb + blk]] = i
                        counts[slot * nb + blk] += 1
            counts[R * nb] = 0
            counts[R * nb + 1] = 0
        slot0 = counts[R * nb]

        if narrow:
            r8, bounds, over, excess = narrow_counters(
                n, B, nb, numba.carray(out[1], (n,), i32), addrs)
        delay_lines(steps, slot0, addrs, False)
        run_windows(steps, W, slot0, R, nb, threads, addrs, np.zeros(2, np.int64))
        delay_lines(steps, slot0, addrs, True)
        if narrow:
            ref = numba.carray(out[1], (n,), i32)
            for i in range(n):
                ref[i] = r8[i]
            for q in range(bounds[nb]):
                ref[over[q]] += excess[q]
        slot0 = (slot0 + steps) % R
        counts[R * nb] = slot0
        # z: the spikes of the last step
        last = (slot0 - 1) % R
        for i in range(n):
            z[i] = zero
        for sb in range(nb):
            for q in range(counts[last * nb + sb]):
                z[lists[last * n + sb * B + q]] = one

    name = (f"neuro_fused_lif_{dtype}_{C}_{kind}_{method}_{int(per_neuron)}_{int(decay_full)}_"
            f"{int(want_v)}_{P}_{int(parallel)}_{K}_{int(narrow)}")
    return register_cfunc(name, kernel, n_in, n_out)
