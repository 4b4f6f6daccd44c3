"""Fused recurrent spiking layer with a hand-written backward pass (BPTT, fewer and larger matmuls).

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
the neuron state before the step, ``z_{t-1}`` and ``I_t``.

Event-driven products (``events=True``): inputs ``X`` (e.g. 5 % dense spikes) and spikes
``Z_prev`` are mostly zero, so ``X W_in``, ``X^T Delta`` and ``Z_prev^T Delta`` are computed by
Numba kernels (through ``brainevent.numba_kernel``, an XLA FFI call) that visit only the non-zero
entries: a row of the result adds the weight rows of the active inputs, ``sum_k x_rk W_k``. The
kernels use the values of ``X`` (not just their sign), so the result is the same product for any
input; it is only faster when the input is sparse. Without Numba (or off CPU) the dense products
are used. These kernels have no autodiff or batching rules of their own: they run only inside
this layer's forward and backward passes (so ``jax.vmap`` over the layer needs ``events=False``).

The result equals plain autodiff of the same scan up to float rounding
(tests/models/test_rsnn.py checks it).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp

Array = jax.Array
NeuronStep = Callable[[Any, Any, Array], tuple[Any, Array]]


@functools.cache
def events_available() -> bool:
    """True when the event-driven kernels can run (Numba and brainevent importable, CPU)."""
    try:
        import brainevent  # noqa: F401
        import numba  # noqa: F401
    except ImportError:
        return False
    return jax.default_backend() == "cpu"


def _event_call(which: int, a: Array, b: Array, out_shape: tuple[int, int]) -> Array:
    import brainevent
    import numba

    from neuro import _event_kernels as kernels

    binary = a.dtype == jnp.bool_
    if not binary:
        a = a.astype(b.dtype)
    name = ("event_matmul", "event_matmul_t")[which] + ("_bool" if binary else "")
    out = jax.ShapeDtypeStruct(out_shape, b.dtype)
    split = jnp.zeros((max(1, numba.get_num_threads()),), jnp.int8)  # its length: thread count
    return brainevent.numba_kernel(getattr(kernels, name), outs=out)(a, b, split)


def _matmul(x: Array, w: Array, events: bool) -> Array:
    """``x @ w`` for 2-D ``x``; event-driven (skips zeros of ``x``) when ``events``."""
    if events and events_available():
        return _event_call(0, x, w, (x.shape[0], w.shape[1]))
    return x @ w.astype(jnp.result_type(x.dtype, w.dtype))


def _matmul_t(x: Array, d: Array, events: bool) -> Array:
    """``x.T @ d`` for 2-D ``x``, ``d``; event-driven (skips zeros of ``x``) when ``events``."""
    if events and events_available():
        return _event_call(1, x, d, (x.shape[1], d.shape[1]))
    return x.astype(d.dtype).T @ d


def _is_float(x: Any) -> bool:
    return jnp.issubdtype(jnp.result_type(x), jnp.inexact)


def _zero_cotangent(x: Any) -> Any:
    """A zero cotangent for leaf ``x`` (``float0`` for integer leaves, as jax.vjp expects)."""
    if _is_float(x):
        return jnp.zeros_like(x)
    return jnp.zeros(jnp.shape(x), dtype=jax.dtypes.float0)


def _scan_forward(step, events, neuron, w_in, b, w, xs, state0, z0):
    n_steps, batch = xs.shape[:2]
    currents = _matmul(xs.reshape(n_steps * batch, -1), w_in, events) + b
    currents = currents.reshape(n_steps, batch, -1)

    def body(carry, c_t):
        state, z = carry
        i_t = c_t + z @ w
        state_new, z_new = step(neuron, state, i_t)
        return (state_new, z_new), (z_new, z, state, i_t)

    (state_t, z_t), (zs, z_prev, states_prev, i_all) = jax.lax.scan(
        body, (state0, z0), currents
    )
    return (zs, state_t, z_t), (z_prev, states_prev, i_all)


@partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def recurrent_layer(step: NeuronStep, events: bool, neuron: Any, w_in: Array, b: Array, w: Array,
                    xs: Array, state0: Any, z0: Array) -> tuple[Array, Any, Array]:
    """Run a recurrent spiking layer over time; return ``(z [T, B, N], final state, final z)``.

    ``I_t = x_t W_in + b + z_{t-1} W``; ``step(neuron, state, I) -> (state, z)`` is the neuron's
    pure step (e.g. ``LIF.step``); ``w`` is the (already masked) recurrent weight ``[N, N]``;
    ``xs`` ``[T, B, n_in]`` the inputs (float or bool); ``state0``/``z0`` the initial neuron
    state and spikes. ``events`` selects the event-driven products (module docstring).
    """
    return _scan_forward(step, events, neuron, w_in, b, w, xs, state0, z0)[0]


def _fwd(step, events, neuron, w_in, b, w, xs, state0, z0):
    outputs, (z_prev, states_prev, i_all) = _scan_forward(step, events, neuron, w_in, b, w, xs,
                                                          state0, z0)
    return outputs, (neuron, w_in, b, w, xs, z_prev, states_prev, i_all)


def _bwd(step, events, residuals, cotangents):
    neuron, w_in, b, w, xs, z_prev, states_prev, i_all = residuals
    g_zs, g_state_t, g_z_t = cotangents
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
    x2 = xs.reshape(n_steps * batch, -1)
    g_w_in = _matmul_t(x2, d2, events)
    g_w = _matmul_t(z_prev.reshape(n_steps * batch, n), d2, events)
    g_b = d2.sum(axis=0).reshape(jnp.shape(b)) if jnp.ndim(b) else d2.sum()
    if jnp.issubdtype(xs.dtype, jnp.inexact):  # removed by XLA when xs needs no gradient
        g_xs = (d2 @ w_in.T).reshape(xs.shape).astype(xs.dtype)
    else:
        g_xs = _zero_cotangent(xs)
    return g_neuron, g_w_in, g_b, g_w, g_xs, g_state0, g_z0


recurrent_layer.defvjp(_fwd, _bwd)
