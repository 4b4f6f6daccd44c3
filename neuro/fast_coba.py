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
are applied to them afterwards. A fused projection in a network without this pattern is an
error, never a silent fallback; off CPU, or without Numba, the reference step runs.

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

The uniform delay lines keep the reference's state (the ``[delay, N]`` buffer of past spikes and
its position, so a run may continue with either path), but the kernel reads and writes them
through lists of the spikes of each slot (O(spikes) per step, not O(N)); the lists are scratch
carried between chunks. Events are added in the order of the reference (ascending source, then
table slot), so the conductances are the same sums in the same order. The kernel runs
``CHUNK_BYTES / N`` steps per call (at least one) and the monitors are applied to each chunk's
``[steps, N]`` spikes under ``jax.vmap``: XLA:CPU materialises the reduction's operands, which
then stay in cache (a 4 MiB chunk cost 4x more per step at N = 4,000 than a 64 KiB one).

The kernel runs on one thread: a parallel region per step (neurons split between threads, each
adding the events that land on its neurons) pays a join per step, which lost to one thread on a
shared machine (``benchmarks/coba.py --threads 1 2`` measures both; the issue's closing note
gives the profile).
"""

from __future__ import annotations

import functools
import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array
#: spikes written per chunk (uint8, steps x neurons): bounds the kernel's output buffer
CHUNK_BYTES = 1 << 16


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
    want_v = _reads_v(monitors, probe, select)
    per_chunk = max(1, min(length, CHUNK_BYTES // max(n, 1)))
    n_chunks, tail = divmod(length, per_chunk)
    call = _Kernel(net, name, pop, dtype, want_v)

    def run(carry, steps):
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
    positions, lists, counts, buffers)``."""

    def __init__(self, net, name, pop, dtype, want_v):
        self.name, self.pop, self.dtype, self.want_v = name, pop, dtype, want_v
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
        self.list_size = max(1, sum(self.delays) * n)
        self.n_slots = max(1, sum(self.delays))
        self.target = _fused_target(np.dtype(dtype).name, self.n_channels, self.kind,
                                    neuron.method, self.per_neuron, self.decay_full, want_v,
                                    len(self.projs))
        pdims = []
        for (_, p), d in zip(self.projs, self.delays, strict=True):
            pdims += [p.targets.shape[1], p.weights.shape[1], d, p.channel * p.n_post, p.sink]
        self.pdims = np.array(pdims, np.int32)
        # per table row, the slots up to its last synapse (the rest is padding that only adds
        # into the sink, whose trace decays to 0 every step): once per run, not per chunk
        self.extents = [jnp.max(jnp.where(p.targets != p.sink,
                                          jnp.arange(1, p.targets.shape[1] + 1, dtype=jnp.int32),
                                          0), axis=1).astype(jnp.int32)
                        for _, p in self.projs]

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
        lists = jnp.zeros((self.list_size,), jnp.int32)
        counts = jnp.full((self.n_slots,), -1, jnp.int32)  # -1: build from the buffers
        return (neuron.v, neuron.refractory.astype(jnp.int32), state.synapses[name],
                state.z[name], positions, lists, counts, tuple(buffers))

    def __call__(self, carry, steps):
        v, ref, g, z, positions, lists, counts, buffers = carry
        n, dtype = self.n, self.dtype
        dims = np.array([n, self.n_channels, steps, int(self.pop.neuron.n_ref)], np.int32)
        args = [v, ref, g, z, positions, lists, counts, *buffers, self.params, self.reversal,
                self.decay, dims, self.pdims]
        for (_, p), extent in zip(self.projs, self.extents, strict=True):
            args += [p.targets, p.weights, extent]
        shapes = [jax.ShapeDtypeStruct(a.shape, a.dtype) for a in (v, ref, g, z, positions,
                                                                   lists, counts, *buffers)]
        shapes.append(jax.ShapeDtypeStruct((steps, n), jnp.uint8))
        if self.want_v:
            shapes.append(jax.ShapeDtypeStruct((steps, n), dtype))
        aliases = {i: i for i in range(7 + len(buffers))}
        call = jax.ffi.ffi_call(self.target, shapes, input_output_aliases=aliases,
                                custom_call_api_version=1, vmap_method="sequential")
        res = call(*args)
        k = 7 + len(buffers)
        new = (*res[:7], tuple(res[7:k]))
        out = (res[k], res[k + 1] if self.want_v else None)
        return new, out

    def final(self, state, carry):
        v, ref, g, z, positions, _, _, buffers = carry
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
                  decay_full: bool, want_v: bool, n_proj: int) -> str:
    """Compile and register the kernel for this static layout; return its target name."""
    import numba
    from numba import types

    from neuro.projections._native import _KEEP, _capsule

    f = numba.from_dtype(np.dtype(dtype))
    ubits = {4: types.uint32, 8: types.uint64}[np.dtype(dtype).itemsize]
    mask = ubits((1 << (8 * np.dtype(dtype).itemsize - 1)) - 1)  # z != 0 on the bit pattern
    i32 = types.int32
    C = n_channels
    conductance = kind == "conductance"
    exp_euler = method == "exp_euler"
    P = n_proj
    one = f(1.0)
    zero = f(0.0)
    n_state = 7 + P  # aliased outputs (v, ref, g, z, positions, lists, counts, buffers)
    fma = _fma_intrinsic()
    exp = _exp32() if np.dtype(dtype) == np.float32 else np.exp

    @numba.njit(inline="always", error_model="numpy")  # no ZeroDivisionError branch
    def integrate(v, r, g, j, n, a, v_rest, v_reset, v_th, bias, rev):
        """One neuron: the equations of neuro.neurons.conductance (same operation order)."""
        r = r - 1
        r = r if r > 0 else i32(0)
        # XLA:CPU fuses a multiply into the add that consumes it (one FMA, one rounding),
        # the first operand's multiply when both are products: the same FMAs are written
        # out here, so that both round alike
        if conductance:
            g0 = g[j]
            total = one + g0
            for c in range(1, C):
                total = total + g[c * n + j]
            if exp_euler:
                num = fma(g0, rev[0], v_rest)
                for c in range(1, C):
                    num = fma(g[c * n + j], rev[c], num)
                v_inf = (num + bias) / total
                v_new = fma(v - v_inf, exp(-a * total), v_inf)
            else:
                if C == 1:
                    x = fma(g0, rev[0] - v, v_rest - v) + bias
                else:
                    s = fma(g0, rev[0] - v, g[n + j] * (rev[1] - v))
                    for c in range(2, C):
                        s = fma(g[c * n + j], rev[c] - v, s)
                    x = ((v_rest - v) + s) + bias
                v_new = fma(a, x, v)
        else:
            cur = g[j]
            for c in range(1, C):
                cur = cur + g[c * n + j]
            v_inf = v_rest + (cur + bias)
            if exp_euler:
                v_new = fma(v - v_inf, exp(-a), v_inf)
            else:
                v_new = fma(a, v_inf - v, v)
        v = v_new if r == 0 else v
        fired = (r == 0) & (v > v_th)
        v = v_reset if fired else v
        return v, fired

    sig = types.void(types.CPointer(types.voidptr), types.CPointer(types.voidptr))

    @numba.cfunc(sig, nopython=True, error_model="numpy")
    def kernel(out, ins):
        dims = numba.carray(ins[n_state + 3], (4,), i32)
        n, steps, n_ref = dims[0], dims[2], dims[3]
        m = C * n + 1
        pdims = numba.carray(ins[n_state + 4], (5 * P,), i32)
        v = numba.carray(out[0], (n,), f)
        ref = numba.carray(out[1], (n,), i32)
        g = numba.carray(out[2], (m,), f)
        z = numba.carray(out[3], (n,), f)
        zb = numba.carray(out[3], (n,), ubits)
        positions = numba.carray(out[4], (P,), i32)
        total_slots = 0
        for p in range(P):
            total_slots += pdims[5 * p + 2]
        lists = numba.carray(out[5], (max(1, total_slots * n),), i32)
        counts = numba.carray(out[6], (max(1, total_slots),), i32)
        params = numba.carray(ins[n_state], (5 * (n if per_neuron else 1),), f)
        rev = numba.carray(ins[n_state + 1], (max(C, 1),), f)
        decay = numba.carray(ins[n_state + 2], (m if decay_full else C,), f)
        spikes_out = numba.carray(out[n_state], (steps * n,), types.uint8)
        v_out = numba.carray(out[n_state + 1], (steps * n if want_v else 1,), f)
        cur = np.empty(n, np.int32)  # the spikes of the last step (z != 0), ascending

        # the lists of the delay slots, built from the buffers on the first call
        if counts[0] == -1:
            base = 0
            for p in range(P):
                d = pdims[5 * p + 2]
                if d:
                    bufb = numba.carray(out[7 + p], (d * n,), ubits)
                    for s in range(d):
                        cnt = 0
                        for i in range(n):
                            if bufb[s * n + i] & mask:
                                lists[(base + s) * n + cnt] = i
                                cnt += 1
                        counts[base + s] = cnt
                    base += d
            if total_slots == 0:
                counts[0] = 0
        n_cur = 0
        for i in range(n):
            if zb[i] & mask:
                cur[n_cur] = i
                n_cur += 1

        for t in range(steps):
            # 1. deliver the spikes of each projection's delay slot (or of the last step);
            # the slot then holds the last step's spikes (buffer and list)
            base = 0
            for p in range(P):
                width, w_cols, d, offset, sink = (pdims[5 * p], pdims[5 * p + 1],
                                                  pdims[5 * p + 2], pdims[5 * p + 3],
                                                  pdims[5 * p + 4])
                targets = numba.carray(ins[n_state + 5 + 3 * p], ((n + 1) * width,), i32)
                weights = numba.carray(ins[n_state + 6 + 3 * p], ((n + 1) * w_cols,), f)
                extent = numba.carray(ins[n_state + 7 + 3 * p], (n + 1,), i32)
                identity = offset == 0 and sink == m - 1
                row = 0
                slot = 0
                if d:
                    slot = positions[p]
                    row = (base + slot) * n
                    cnt = counts[base + slot]
                else:
                    cnt = n_cur
                for q in range(cnt):
                    i = lists[row + q] if d else cur[q]
                    first = i * width
                    if w_cols == 1 and identity:  # the common case: a bare gather-add
                        w = weights[i]
                        for k in range(extent[i]):
                            g[targets[first + k]] += w
                    else:
                        for k in range(extent[i]):
                            tk = targets[first + k]
                            g[m - 1 if tk == sink else tk + offset] += (
                                weights[i] if w_cols == 1 else weights[first + k])
                if d:
                    buf = numba.carray(out[7 + p], (d * n,), f)
                    for q in range(cnt):
                        buf[slot * n + lists[row + q]] = zero
                    for q in range(n_cur):
                        i = cur[q]
                        buf[slot * n + i] = z[i]
                        lists[row + q] = i
                    counts[base + slot] = n_cur
                    positions[p] = slot + 1 if slot + 1 < d else 0
                    base += d
            # 2. neurons and 3. the decay of their traces: one branch-free pass. Written out
            # twice on purpose: indexing the parameters by a stride (0 or 1), or the stores in
            # a helper function, made this loop 1.4x / 3x slower (not vectorised; measured)
            o = t * n
            if per_neuron:
                for j in range(n):
                    vj, fired = integrate(v[j], ref[j], g, j, n, params[j], params[n + j],
                                          params[2 * n + j], params[3 * n + j],
                                          params[4 * n + j], rev)
                    v[j] = vj
                    ref[j] = n_ref if fired else max(ref[j] - 1, 0)
                    z[j] = one if fired else zero
                    spikes_out[o + j] = 1 if fired else 0
                    for c in range(C):
                        g[c * n + j] = g[c * n + j] * decay[c * n + j if decay_full else c]
            else:
                a, v_rest, v_reset, v_th, bias = (params[0], params[1], params[2], params[3],
                                                  params[4])
                for j in range(n):
                    vj, fired = integrate(v[j], ref[j], g, j, n, a, v_rest, v_reset, v_th,
                                          bias, rev)
                    v[j] = vj
                    ref[j] = n_ref if fired else max(ref[j] - 1, 0)
                    z[j] = one if fired else zero
                    spikes_out[o + j] = 1 if fired else 0
                    for c in range(C):
                        g[c * n + j] = g[c * n + j] * decay[c * n + j if decay_full else c]
            g[m - 1] = g[m - 1] * (decay[m - 1] if decay_full else zero)
            # 4. the list of this step's spikes (ascending), 8 potentials at a time on the
            # bit pattern (and the membrane)
            n_cur = 0
            i = 0
            while i + 8 <= n:
                if (zb[i] | zb[i + 1] | zb[i + 2] | zb[i + 3] | zb[i + 4] | zb[i + 5]
                        | zb[i + 6] | zb[i + 7]) & mask:
                    for j in range(i, i + 8):
                        if z[j] != zero:
                            cur[n_cur] = j
                            n_cur += 1
                i += 8
            while i < n:
                if z[i] != zero:
                    cur[n_cur] = i
                    n_cur += 1
                i += 1
            if want_v:
                for j in range(n):
                    v_out[o + j] = v[j]

    name = (f"neuro_fused_lif_{dtype}_{C}_{kind}_{method}_{int(per_neuron)}_{int(decay_full)}_"
            f"{int(want_v)}_{P}")
    jax.ffi.register_ffi_target(name, _capsule(kernel.address), platform="cpu", api_version=0)
    _KEEP.append(kernel)
    return name
