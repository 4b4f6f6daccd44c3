"""Recurrent spiking network with a leaky readout (LSNN / e-prop architecture).

``x_t -> Recurrent(LIF or ALIF) -> z_t -> LeakyReadout -> y_t``. The input projection
``x_t W_in + b`` is computed for all steps before the time loop (one large matmul).

:func:`run` has two equivalent paths (same forward values, same gradients up to float rounding):

* fused (default when only ``spikes``/``readout`` are monitored, ``every=1``): the input
  projection and the recurrent layer run in :func:`neuro.fast_rnn.recurrent_layer`, whose
  hand-written backward pass keeps only the neuron's elementwise VJP and ``delta_t W_rec^T``
  inside the reverse loop and computes the weight gradients (``sum_t z_{t-1}^T delta_t``,
  ``sum_t x_t^T delta_t``) as single large matmuls after it; with ``sparse_inputs`` the products
  with the (mostly zero) inputs and spikes are event-driven. The readout is linear in the
  spikes, so ``z_t W_out + b`` is one ``[T B, N] x [N, C]`` matmul after the loop, followed by the
  leaky filter ``v_t = kappa v_{t-1} + (1 - kappa) y_t`` (a cheap elementwise scan).
* generic (``fused=False``, or other monitors such as ``v``): :func:`step` in one
  :func:`neuro.run.scan_steps` loop, differentiated by plain autodiff.

``remat_chunk`` (both paths) trades compute for memory: the loop runs in chunks of that many steps,
each under ``jax.checkpoint``, so BPTT stores chunk-boundary states plus one chunk of residuals.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from neuro._pytree import pytree_dataclass
from neuro.fast_rnn import recurrent_layer
from neuro.layers import LeakyReadout, Recurrent, check_input, leaky_readout, recurrent
from neuro.neurons import alif
from neuro.run import scan_steps

Array = jax.Array


@pytree_dataclass
class RSNN:
    """A recurrent spiking layer and its leaky readout."""

    layer: Recurrent
    readout: LeakyReadout

    @property
    def n_in(self) -> int:
        return self.layer.w_in.shape[0]

    def init_state(self, batch: int) -> tuple[Any, Array]:
        return self.layer.init_state(batch), self.readout.init_state(batch)


def rsnn(
    key: Array, n_in: int, n_rec: int, n_out: int, *, neuron: Any = None, in_gain: float = 1.0,
    rec_gain: float = 1.0, readout_tau: float = 20.0, dt: float = 1.0,
) -> RSNN:
    """An :class:`RSNN`; the default neuron is :func:`neuro.neurons.alif` with its defaults."""
    neuron = alif(dt=dt) if neuron is None else neuron
    k_rec, k_out = jax.random.split(key)
    layer = recurrent(k_rec, n_in, n_rec, neuron, in_gain=in_gain, rec_gain=rec_gain)
    return RSNN(layer, leaky_readout(k_out, n_rec, n_out, tau=readout_tau, dt=dt))


def step(params: RSNN, state: tuple[Any, Array], current: Array) -> tuple[tuple, dict]:
    """One step from the projected input current; outputs spikes, readout and membrane."""
    rec_state, v_out = state
    rec_state, z = params.layer.step_projected(rec_state, current)
    v_out, _ = params.readout.step(v_out, z)
    return (rec_state, v_out), {"spikes": z, "readout": v_out, "v": rec_state.neuron.v}


def run(
    params: RSNN, xs: Array, *, monitors: Sequence[str] = ("spikes", "readout"),
    every: int = 1, remat_chunk: int | None = None, fused: bool = True,
    sparse_inputs: bool | None = None,
) -> dict[str, Array]:
    """Run on time-major input ``xs`` ``[T, batch, n_in]``; return the monitored records.

    ``fused=True`` takes the fused path (see the module docstring) whenever the monitors are a
    subset of ``("spikes", "readout")`` and ``every == 1``; otherwise the generic scan runs.
    ``sparse_inputs`` (fused path) uses event-driven products for ``xs W_in`` and the weight
    gradients (:mod:`neuro.fast_rnn`, needs Numba): worth it for spike inputs (a few % non-zero).
    ``None`` means: when ``xs`` is boolean (spikes given as events).
    """
    check_input("xs", xs, params.n_in)
    if xs.ndim != 3:
        raise ValueError(f"xs must have shape [time, batch, n_in]; got {xs.shape}")
    monitors = tuple(monitors)
    if fused and every == 1 and set(monitors) <= {"spikes", "readout"}:
        sparse = xs.dtype == jnp.bool_ if sparse_inputs is None else bool(sparse_inputs)
        records = _run_fused(params, xs, remat_chunk, sparse)
        return {m: records[m] for m in monitors}
    _, records = scan_steps(
        step, params, params.init_state(xs.shape[1]), params.layer.project(xs),
        monitors=monitors, every=every, remat_chunk=remat_chunk,
    )
    return records


def _run_fused(params: RSNN, xs: Array, remat_chunk: int | None,
               sparse: bool) -> dict[str, Array]:
    layer, readout = params.layer, params.readout
    (neuron0, z0), v0 = params.init_state(xs.shape[1])
    neuron_step = type(layer.neuron).step
    w_rec = layer.recurrent_weights
    n_steps = xs.shape[0]
    if remat_chunk is None or remat_chunk >= n_steps:
        spikes = recurrent_layer(neuron_step, sparse, layer.neuron, layer.w_in, layer.b, w_rec,
                                 xs, neuron0, z0)[0]
    else:
        if n_steps % remat_chunk:
            raise ValueError(
                f"remat_chunk must divide the number of steps {n_steps}; got {remat_chunk}"
            )

        @jax.checkpoint
        def chunk(carry, x):
            zs, state, z = recurrent_layer(neuron_step, sparse, layer.neuron, layer.w_in,
                                           layer.b, w_rec, x, *carry)
            return (state, z), zs

        chunks = xs.reshape(n_steps // remat_chunk, remat_chunk, *xs.shape[1:])
        _, spikes = jax.lax.scan(chunk, (neuron0, z0), chunks)
        spikes = spikes.reshape(n_steps, *spikes.shape[2:])
    kappa = jnp.exp(-readout.dt / readout.tau)

    def leak(v, y):
        v = kappa * v + (1.0 - kappa) * y
        return v, v

    _, out = jax.lax.scan(leak, v0, readout.dense(spikes))
    return {"spikes": spikes, "readout": out}
