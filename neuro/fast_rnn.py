"""Fused backend of a recurrent projection: the whole recurrent layer with a hand-written backward
pass (BPTT with fewer and larger matmuls).

It is a *backend of a part*: a recurrent :func:`neuro.projections.dense` projection built with
``backend="fused"`` (or ``"fused-event"``) makes :func:`neuro.run.scan_steps` (and so
:func:`neuro.run.simulate` and every loss under :class:`neuro.train.Trainer`) compute the run of
its network here instead of by one ``Network.step`` per time step. The values are those of the
reference (tests/models/test_rsnn.py checks spikes, readouts and gradients against plain autodiff
of the same Network with ``backend="xla"``). :func:`fused_scan` applies when the network has the
recurrent-layer pattern

* one population ``p`` with delta synapses (no kinetics) and one channel, any neuron of
  :mod:`neuro.neurons` with a current drive;
* one dense projection from a network input to ``p`` and one dense recurrent projection ``p -> p``
  (the fused one), both without delay; no modulators; any number of leaky readouts of ``p``;

and the monitors ask only for what it computes (``spikes``, ``readout``, or their dotted paths)
with ``every = 1``. Other monitors (``v``) make the loop take the reference step (same values).
A fused projection in a network without this pattern is an error, never a silent fallback.

Forward, for any neuron of ``neuro.neurons`` (a pure ``step(params, state, I) -> (state, z)``)::

    C            = X W_in + b                      (all steps at once: X is [T B, n_in])
    I_t          = C_t + z_{t-1} W
    (s_t, z_t)   = step(neuron, s_{t-1}, I_t)

Backward (reverse time). Write ``delta_t = dL/dI_t`` and ``e_t`` for the cotangent of the output
``z_t``. Per step only the neuron's elementwise vector-Jacobian product (``jax.vjp`` of ``step``,
so any neuron, reset or surrogate is differentiated exactly as plain autodiff would) and one
``[B, N] x [N, N]`` matmul remain::

    (ds_{t-1}, delta_t, dneuron_t) = vjp(step)(ds_t, e_t + delta_{t+1} W^T)

and the weight gradients are single large matmuls after the loop instead of ``T`` small ones
inside it (``Delta``, ``Z_prev``: ``[T B, N]``)::

    dW = Z_prev^T Delta,   dW_in = X^T Delta,   db = sum Delta,   dX = Delta W_in^T

Plain ``jax.grad`` through ``lax.scan`` keeps the ``z_{t-1}^T delta_t`` outer products inside the
reverse loop (``T`` small matmuls plus a ``[N, N]`` accumulator per step). ``dX`` is computed
only when the inputs need a gradient (XLA removes it otherwise). The residuals kept per step are
the neuron state before the step, ``z_t`` (``z_{t-1}`` is the same array shifted by a step) and
``I_t``.

Event-driven products (``backend="fused-event"``, ``events=True`` below): inputs ``X`` (e.g. 5 %
dense spikes) and spikes ``Z`` are mostly zero, so every product with them visits only their
non-zero entries (:mod:`neuro._event_kernels`: XLA custom calls compiled from LLVM IR by
llvmlite, ``pip install neuro[fast]``): a row of the result adds the weight rows of the active
inputs, ``sum_k x_rk W_k``, and a weight gradient adds each delta row into the rows of the
active presynaptic units, ``dW[k, :] += x_rk delta_r``. Forward and backward are both
event-driven through the sparse inputs and the sparse recurrence::

    forward:   C = X W_in + b          (events of X, all steps at once)
               I_t = C_t + z_{t-1} W   (events of z_{t-1}, every step)
    backward:  dW_in = X^T Delta       (events of X)
               dW = Z_prev^T Delta     (events of Z_prev)

and likewise the leaky readouts' drive ``Z W_out`` and its weight gradient ``Z^T g`` (the
readout's backward keeps the boolean spikes, not the float ones).

Only ``delta_t W^T`` stays dense: a surrogate gradient is non-zero almost everywhere. The
kernels use the values of ``X`` (not just their sign), so the result is the same product for any
input; it is only faster when the input is sparse. The spikes of a binary neuron
(``neuron.binary``) are kept as booleans (one byte an entry instead of four in the residuals;
the kernels then skip the value product). Without llvmlite (or off CPU) the dense products are
used. The kernels have no autodiff rules of their own: they run only inside this layer's forward
and backward passes; ``jax.vmap`` over a run calls them once per batch element.

The result equals plain autodiff of the same scan up to float rounding
(tests/models/test_rsnn.py checks it).
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp

from neuro.readouts import Leaky

Array = jax.Array
NeuronStep = Callable[[Any, Any, Array], tuple[Any, Array]]


@functools.cache
def events_available() -> bool:
    """True when the event-driven kernels can run: llvmlite (Numba's LLVM binding,
    ``neuro[fast]``) is installed (it is imported only when a kernel is first traced) and JAX's
    default backend is CPU."""
    return importlib.util.find_spec("llvmlite") is not None and jax.default_backend() == "cpu"


def _matmul(x: Array, w: Array, acc: Array, events: bool) -> Array:
    """``acc + x @ w`` for 2-D ``x``; event-driven (visits only the non-zero ``x``) when
    ``events`` and the kernels are available."""
    if events and events_available():
        from neuro import _event_kernels

        return _event_kernels.matmul(x, w, acc)
    return acc + x.astype(w.dtype) @ w


def _matmul_t(x: Array, d: Array, events: bool) -> Array:
    """``x.T @ d`` for 2-D ``x``, ``d``; event-driven (visits only the non-zero ``x``) when
    ``events`` and the kernels are available."""
    if events and events_available():
        from neuro import _event_kernels

        return _event_kernels.matmul_t(x, d)
    return x.astype(d.dtype).T @ d


def _compact(z: Array, binary: bool) -> Array:
    """Spikes as they are kept and fed to the products: boolean for a binary neuron (one byte an
    entry, and the event kernels skip the value product), else unchanged (graded spikes)."""
    return z != 0 if binary else z


def _is_float(x: Any) -> bool:
    return jnp.issubdtype(jnp.result_type(x), jnp.inexact)


def _zero_cotangent(x: Any) -> Any:
    """A zero cotangent for leaf ``x`` (``float0`` for integer leaves, as jax.vjp expects)."""
    if _is_float(x):
        return jnp.zeros_like(x)
    return jnp.zeros(jnp.shape(x), dtype=jax.dtypes.float0)


def _scan_forward(step, events, binary, neuron, w_in, b, w, xs, state0, z0):
    n_steps, batch = xs.shape[:2]
    n = w.shape[1]
    bias = jnp.broadcast_to(b.astype(w_in.dtype), (n_steps * batch, n))
    currents = _matmul(xs.reshape(n_steps * batch, -1), w_in, bias, events)
    currents = currents.reshape(n_steps, batch, n)

    def body(carry, c_t):
        state, z = carry
        i_t = _matmul(_compact(z, binary), w, c_t, events)
        state_new, z_new = step(neuron, state, i_t)
        return (state_new, z_new), (z_new, state, i_t)

    (state_t, z_t), (zs, states_prev, i_all) = jax.lax.scan(body, (state0, z0), currents)
    compact = _compact(zs, binary)
    return (zs, compact, state_t, z_t), (compact, states_prev, i_all)


@partial(jax.custom_vjp, nondiff_argnums=(0, 1, 2))
def recurrent_layer(step: NeuronStep, events: bool, binary: bool, neuron: Any, w_in: Array,
                    b: Array, w: Array, xs: Array, state0: Any, z0: Array
                    ) -> tuple[Array, Array, Any, Array]:
    """Run a recurrent spiking layer over time; return ``(z [T, B, N], the same spikes compact
    (boolean when ``binary``), final state, final z)``.

    ``I_t = x_t W_in + b + z_{t-1} W``; ``step(neuron, state, I) -> (state, z)`` is the neuron's
    pure step (e.g. ``LIF.step``); ``w`` is the (already masked) recurrent weight ``[N, N]``;
    ``xs`` ``[T, B, n_in]`` the inputs (float or bool); ``state0``/``z0`` the initial neuron
    state and spikes. ``events`` selects the event-driven products (module docstring);
    ``binary`` promises spikes in {0, 1} (``neuron.binary``): they are then kept as booleans.
    """
    return _scan_forward(step, events, binary, neuron, w_in, b, w, xs, state0, z0)[0]


def _fwd(step, events, binary, neuron, w_in, b, w, xs, state0, z0):
    outputs, (zs, states_prev, i_all) = _scan_forward(step, events, binary, neuron, w_in, b, w,
                                                      xs, state0, z0)
    return outputs, (neuron, w_in, b, w, xs, zs, _compact(z0, binary), states_prev, i_all)


def _bwd(step, events, binary, residuals, cotangents):
    neuron, w_in, b, w, xs, zs, z0, states_prev, i_all = residuals
    g_zs, g_compact, g_state_t, g_z_t = cotangents
    if not binary:  # the compact spikes are the spikes themselves
        g_zs = g_zs + g_compact
    n_steps, batch, n = i_all.shape
    w_t = w.T

    def body(carry, xs_t):
        g_state, g_zrec, g_neuron = carry
        state_prev, i_t, g_z = xs_t
        _, vjp = jax.vjp(lambda p, s, i: step(p, s, i), neuron, state_prev, i_t)
        d_neuron, d_state, delta = vjp((g_state, g_z + g_zrec))
        g_neuron = jax.tree_util.tree_map(jnp.add, g_neuron, d_neuron)
        return (d_state, delta @ w_t, g_neuron), delta

    g_neuron0 = jax.tree_util.tree_map(_zero_cotangent, neuron)
    (g_state0, g_z0, g_neuron), deltas = jax.lax.scan(
        body, (g_state_t, g_z_t, g_neuron0), (states_prev, i_all, g_zs), reverse=True
    )
    d2 = deltas.reshape(n_steps * batch, n)
    g_w_in = _matmul_t(xs.reshape(n_steps * batch, -1), d2, events)
    z_prev = jnp.concatenate([z0[None], zs[:-1]]).reshape(n_steps * batch, n)
    g_w = _matmul_t(z_prev, d2, events)
    g_b = d2.sum(axis=0).reshape(jnp.shape(b)) if jnp.ndim(b) else d2.sum()
    if jnp.issubdtype(xs.dtype, jnp.inexact):  # removed by XLA when xs needs no gradient
        g_xs = (d2 @ w_in.T).reshape(xs.shape).astype(xs.dtype)
    else:
        g_xs = _zero_cotangent(xs)
    return g_neuron, g_w_in, g_b, g_w, g_xs, g_state0, g_z0


recurrent_layer.defvjp(_fwd, _bwd)


# ----------------------------------------------------------------------------- network backend

_SERVED = ("spikes", "readout")


def _fused_projection(net: Any) -> tuple[str, Any] | None:
    found = [(n, p) for n, p in net.projections.items()
             if getattr(p, "backend", "xla") in ("fused", "fused-event")
             and hasattr(p, "mask")]  # a Dense projection
    if not found:
        return None
    if len(found) > 1:
        raise ValueError(f"only one projection may have a fused backend; got {[n for n, _ in found]}")
    return found[0]


def _pattern(net: Any, name: str, rec: Any) -> tuple[str, str, Any]:
    """``(population, input projection name, input projection)``; raises naming what differs."""
    def fail(why: str):
        raise ValueError(f"projection {name!r} has backend={rec.backend!r}, which needs a network of "
                         f"one population, one dense input projection and this recurrent one "
                         f"(neuro.fast_rnn); {why}")

    pop_name = rec.target
    if len(net.populations) != 1:
        fail(f"got populations {sorted(net.populations)}")
    pop = net.populations[pop_name]
    if pop.synapse is not None or pop.channels != 1:
        fail("the population must have delta synapses and one channel")
    if net.modulators:
        fail(f"got modulators {sorted(net.modulators)}")
    if rec.delay:
        fail(f"the recurrent projection has delay {rec.delay}")
    inputs = [(n, p) for n, p in net.projections.items() if n != name]
    if len(inputs) != 1 or not hasattr(inputs[0][1], "mask") or \
            inputs[0][1].source not in net.input_sizes:
        fail(f"other projections: {[n for n, _ in inputs]} (need exactly one dense projection "
             "from a network input)")
    in_name, proj_in = inputs[0]
    if proj_in.delay or proj_in.channel:
        fail(f"the input projection {in_name!r} must have no delay and channel 0")
    for r_name, readout in net.readouts.items():
        if not isinstance(readout, Leaky):
            fail(f"readout {r_name!r} is a {type(readout).__name__}, not a leaky readout")
    return pop_name, in_name, proj_in


def _served(monitors: Any) -> bool:
    if monitors is None or callable(monitors):
        return False
    return all(m.split(".")[0] in _SERVED for m in monitors)


def fused_scan(net: Any, state: Any, inputs: Any, monitors: Any, remat_chunk: int | None
               ) -> tuple[Any, dict] | None:
    """The run of ``net`` by its fused recurrent projection: ``(final state, outputs)`` with the
    outputs ``{"spikes": {p: [T, ...]}, "readout": {name: [T, ...]}}`` of every step, or ``None``
    when ``net`` has no fused projection or the monitors need outputs the backend does not compute
    (module docstring). Called by :func:`neuro.run.scan_steps`; ``every`` must be 1 there."""
    found = _fused_projection(net)
    if found is None:
        return None
    name, rec = found
    pop_name, _, proj_in = _pattern(net, name, rec)
    if not _served(monitors):
        return None
    xs = net._inputs(inputs)[proj_in.source]
    neuron = net.populations[pop_name].neuron
    events = rec.backend == "fused-event"
    binary = bool(getattr(neuron, "binary", False))
    b = proj_in.b if proj_in.b is not None else jnp.zeros((proj_in.n_post,), proj_in.w.dtype)
    w_in, w_rec = proj_in.weights, rec.weights
    args = (type(neuron).step, events, binary, neuron, w_in, b, w_rec)
    carry0 = (state.neurons[pop_name], state.z[pop_name])
    n_steps = xs.shape[0]
    if remat_chunk is None or remat_chunk >= n_steps:
        spikes, compact, s_t, z_t = recurrent_layer(*args, xs, *carry0)
    else:
        if n_steps % remat_chunk:
            raise ValueError(f"remat_chunk must divide the number of steps {n_steps}; "
                             f"got {remat_chunk}")

        @jax.checkpoint
        def chunk(carry, x):
            zs, zc, s, z = recurrent_layer(*args, x, *carry)
            return (s, z), (zs, zc)

        chunks = xs.reshape(n_steps // remat_chunk, remat_chunk, *xs.shape[1:])
        (s_t, z_t), (spikes, compact) = jax.lax.scan(chunk, carry0, chunks)
        spikes = spikes.reshape(n_steps, *spikes.shape[2:])
        compact = compact.reshape(spikes.shape)
    readouts, ys = {}, {}
    for r_name, readout in net.readouts.items():
        readouts[r_name], ys[r_name] = _leaky_run(readout, state.readouts[r_name], spikes,
                                                  compact, events)
    new = state._replace(neurons={**state.neurons, pop_name: s_t}, z={**state.z, pop_name: z_t},
                         readouts=readouts)
    return new, {"spikes": {pop_name: spikes}, "readout": ys}


def _leaky_run(readout: Leaky, y0: Array, spikes: Array, compact: Array, events: bool
               ) -> tuple[Array, Array]:
    """A leaky readout over a whole run: the product ``z_t W + b`` of all steps is one matmul
    (it is linear in the spikes, and event-driven with ``events``), then the filter
    ``y_t = kappa y_{t-1} + (1 - kappa) d_t``."""
    k = readout.kappa
    n_steps, batch = spikes.shape[:2]
    flat = (n_steps * batch, spikes.shape[-1])
    drive = _spike_product(events, spikes.reshape(flat), compact.reshape(flat), readout.w)
    drive = drive.reshape(n_steps, batch, -1) + readout.b
    if readout.scale_input:
        drive = (1.0 - k) * drive

    def leak(y, d):
        y = k * y + d
        return y, y

    return jax.lax.scan(leak, y0, drive)


@partial(jax.custom_vjp, nondiff_argnums=(0,))
def _spike_product(events: bool, z: Array, compact: Array, w: Array) -> Array:
    """``z @ w`` computed from ``compact`` (the same spikes, boolean for a binary neuron); the
    backward keeps only ``compact`` (not the float spikes) and adds the events' rows::

        dz = g W^T,   dW = Z^T g   (events of Z)
    """
    return _matmul(compact, w, jnp.zeros((z.shape[0], w.shape[1]), w.dtype), events)


def _spike_product_fwd(events, z, compact, w):
    return _spike_product(events, z, compact, w), (compact, w, jnp.zeros((), z.dtype))


def _spike_product_bwd(events, residuals, g):
    compact, w, z_like = residuals  # (z_like: the dtype of z's cotangent)
    return ((g @ w.T).astype(z_like.dtype), _zero_cotangent(compact),
            _matmul_t(compact, g, events).astype(w.dtype))


_spike_product.defvjp(_spike_product_fwd, _spike_product_bwd)
