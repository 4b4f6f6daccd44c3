"""Conductance-based leaky integrate-and-fire neuron (the COBA neuron; NEST ``iaf_cond_exp``).

Potentials in mV, conductances ``g_c`` in units of the leak conductance, time in ms::

    tau_m dV/dt = (E_L - V) + sum_c g_c (E_c - V) + I

with ``I = gain * drive.current + bias``. One step of ``dt`` (Brian2's schedule order):

1. refractory counter ``r <- max(r - 1, 0)``; the neuron integrates only when ``r == 0``
   (``V`` is clamped during the refractory period, as Brian2's ``(unless refractory)`` and NEST);
2. exponential Euler (default; exact for ``g`` held over the step, Brian2's default for these
   equations, BrainPy's ``exp_auto``)::

       G = 1 + sum_c g_c,  V_inf = (E_L + sum_c g_c E_c + I) / G,
       V <- V_inf + (V - V_inf) exp(-dt G / tau_m)

   or forward Euler (``method="euler"``). Without conductances (current-based synapses, CUBA)
   ``G = 1`` and ``V_inf = E_L + I``;
3. spike ``z = (V > V_th) and r == 0`` (strict, as Brian2's ``v > Vt``; the surrogate gradient of
   ``V - V_th`` flows through it), then ``V <- V_reset`` and ``r <- n_ref`` where ``z``.

Defaults: the COBA benchmark of Brette et al. (2007): tau_m = 20 ms, E_L = V_reset = -60 mV,
V_th = -50 mV, E = (0, -80) mV, 5 ms refractory (``n_ref = round(5 / dt)``), dt = 0.1 ms.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from neuro._pytree import pytree_dataclass, static_field
from neuro.neurons.drive import Drive, as_drive, modulated_current, scaled_threshold
from neuro.spikes import Surrogate, spike, surrogate
from neuro.validation import check_choice, check_finite, check_positive

Array = jax.Array
METHODS = ("exp_euler", "euler")


class ConductanceLIFState(NamedTuple):
    """Membrane potential ``v`` (mV) and refractory steps left."""

    v: Array
    refractory: Array


@pytree_dataclass
class ConductanceLIF:
    """Parameters of a conductance-based LIF population; see the module docstring."""

    tau_m: Array
    v_rest: Array
    v_reset: Array
    v_th: Array
    reversal: Array  # (n_channels,) mV
    bias: Array
    dt: float = static_field(default=0.1)
    n_ref: int = static_field(default=50)
    method: str = static_field(default="exp_euler")
    surrogate: Surrogate = static_field(default=Surrogate())

    binary = True
    per_channel = ("reversal",)  # not per neuron: kept whole by network.select_neurons

    @property
    def n_channels(self) -> int:
        return int(self.reversal.shape[0])

    def init_state(self, shape: tuple[int, ...] | int, v0: Array | None = None
                   ) -> ConductanceLIFState:
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        v = self.v_rest if v0 is None else v0
        return ConductanceLIFState(jnp.broadcast_to(jnp.asarray(v, self.v_rest.dtype), shape),
                                   jnp.zeros(shape, jnp.int32))

    @staticmethod
    def membrane(state: ConductanceLIFState) -> Array:
        return state.v

    def step(self, state: ConductanceLIFState, drive: Drive | Array
             ) -> tuple[ConductanceLIFState, Array]:
        drive = as_drive(drive)
        ref = jnp.maximum(state.refractory - 1, 0)
        active = ref == 0
        v = state.v
        i_ext = modulated_current(drive) + self.bias
        a = self.dt / self.tau_m
        g = drive.conductance
        if g is not None:
            total, num = 1.0, self.v_rest
            for c in range(self.n_channels):  # fixed left-to-right order (bitwise with Brian2)
                total = total + g[..., c, :]
                num = num + g[..., c, :] * self.reversal[c]
            if self.method == "exp_euler":
                v_inf = (num + i_ext) / total
                v_new = v_inf + (v - v_inf) * jnp.exp(-a * total)
            else:
                v_new = v + a * ((self.v_rest - v) + sum(
                    g[..., c, :] * (self.reversal[c] - v) for c in range(self.n_channels)) + i_ext)
        else:
            v_inf = self.v_rest + i_ext
            v_new = v_inf + (v - v_inf) * jnp.exp(-a) if self.method == "exp_euler" \
                else v + a * (v_inf - v)
        v = jnp.where(active, v_new, v)
        v_th = scaled_threshold(self.v_th, drive)
        soft = spike(v - v_th, self.surrogate)
        hard = (active & (v > v_th)).astype(soft.dtype)
        z = hard + (soft - jax.lax.stop_gradient(soft)) * active  # strict forward, surrogate grad
        fired = hard > 0
        v = jnp.where(fired, self.v_reset, v)
        ref = jnp.where(fired, self.n_ref, ref)
        return ConductanceLIFState(v, ref), z


def conductance_lif(
    tau_m: float | Array = 20.0,
    v_rest: float | Array = -60.0,
    v_reset: float | Array = -60.0,
    v_th: float | Array = -50.0,
    reversal=(0.0, -80.0),
    bias: float | Array = 0.0,
    *,
    dt: float = 0.1,
    tau_ref: float = 5.0,
    method: str = "exp_euler",
    surrogate_fn: str | Surrogate = "sigmoid",
    dtype=None,
) -> ConductanceLIF:
    """Validated conductance-based LIF parameters (module docstring). ``reversal=()`` makes a
    current-based LIF with the same integration and refractory clamp (the CUBA neuron)."""
    check_positive("tau_m", tau_m)
    check_positive("dt", dt)
    check_positive("tau_ref", tau_ref, allow_zero=True)
    check_choice("method", method, METHODS)
    for name, value in (("v_rest", v_rest), ("v_reset", v_reset), ("v_th", v_th),
                        ("reversal", reversal), ("bias", bias)):
        check_finite(name, value)
    if np.any(np.asarray(v_th) <= np.asarray(v_reset)):
        raise ValueError("v_th must be greater than v_reset")
    if dt > float(np.min(tau_m)):
        raise ValueError(f"dt must not exceed tau_m ({float(np.min(tau_m)):g} ms); got {dt:g}")
    f = lambda x: jnp.asarray(x, dtype=dtype or float)
    return ConductanceLIF(f(tau_m), f(v_rest), f(v_reset), f(v_th),
                          f(np.atleast_1d(np.asarray(reversal, float))), f(bias), float(dt),
                          int(round(tau_ref / dt)), method, surrogate(surrogate_fn))
