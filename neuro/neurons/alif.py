"""Adaptive leaky integrate-and-fire neuron (ALIF, Bellec et al. 2018 and 2020).

Two published forms, chosen by ``form`` (neurons.md §4; both from the authors' code):

``"eprop"`` (Bellec et al. 2020, eligibility_propagation ``ALIF``)::

    v_t = alpha v_{t-1} + I_t - thr z_{t-1}                 (reset by the base threshold)
    b_t = rho b_{t-1} + z_{t-1};    A_t = thr + beta b_t
    z_t = H((v_t - A_t) / thr),     0 while refractory

``"lsnn"`` (Bellec et al. 2018, LSNN-official ``ALIF``)::

    b_t = rho b_{t-1} + (1 - rho) z_{t-1};    A_t = thr + beta b_t
    v_t = alpha v_{t-1} + (1 - alpha) I_t - z_{t-1} A_t dt   (dt = 1 in step units)
    z_t = H((v_{t-1} - A_t) / A_t)                 (the official code thresholds the previous v)

with ``alpha = exp(-dt/tau_m)``, ``rho = exp(-dt/tau_a)``. The default pseudo-derivative is the
triangle surrogate ``0.3 max(0, 1 - |x|)`` of both papers; with the e-prop scaling it equals
``(0.3/thr) max(0, 1 - |(v - A)/thr|)`` with respect to ``v``. ``beta = 0`` gives a LIF neuron,
so mixed LIF/ALIF populations use a per-neuron ``beta``.

Defaults (project design, neurons.md §4.3): tau_m = 20 ms, tau_a = 200 ms, thr = 0.03,
beta = 1.6, no refractoriness.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from neuro._pytree import pytree_dataclass, static_field
from neuro.neurons.drive import (
    Drive,
    SpikingNeuron,
    as_drive,
    modulated_current,
    reject_conductance,
    scaled_threshold,
)
from neuro.spikes import Surrogate, spike, surrogate
from neuro.validation import ConfigError, check_choice, check_finite, check_positive, check_scalar

Array = jax.Array
FORMS = ("eprop", "lsnn")
PSEUDO_DERIVATIVE = Surrogate("triangle", 0.3, 1.0)  # 0.3 max(0, 1 - |x|), LSNN and e-prop


class ALIFState(NamedTuple):
    """Membrane ``v``, threshold adaptation ``b``, last spikes ``z`` and refractory counter."""

    v: Array
    b: Array
    z: Array
    refractory: Array


@pytree_dataclass
class ALIF(SpikingNeuron):
    """Parameters of an ALIF population; see the module docstring for the equations."""

    tau_m: Array
    tau_a: Array
    thr: Array
    beta: Array
    dt: float = static_field(default=1.0)
    form: str = static_field(default="eprop")
    detach_reset: bool = static_field(default=False)
    surrogate: Surrogate = static_field(default=PSEUDO_DERIVATIVE)
    n_ref: int = static_field(default=0)

    @property
    def alpha(self) -> Array:
        return jnp.exp(-self.dt / self.tau_m)

    @property
    def rho(self) -> Array:
        return jnp.exp(-self.dt / self.tau_a)

    def threshold(self, state: ALIFState) -> Array:
        """The adaptive threshold ``A = thr + beta b`` of a state."""
        return self.thr + self.beta * state.b

    def init_state(self, shape: tuple[int, ...] | int) -> ALIFState:
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        zeros = jnp.zeros(shape, dtype=float)
        return ALIFState(zeros, zeros, zeros, jnp.zeros(shape, jnp.int32))

    def step(self, state: ALIFState, drive: Drive | Array) -> tuple[ALIFState, Array]:
        """One step with ``drive`` (a :class:`~neuro.neurons.drive.Drive` or a current array);
        ``drive.threshold`` scales the base threshold ``thr`` (and so the adaptive threshold)."""
        drive = as_drive(drive)
        reject_conductance(self, drive)
        current = modulated_current(drive)
        thr = scaled_threshold(self.thr, drive)
        z_prev = jax.lax.stop_gradient(state.z) if self.detach_reset else state.z
        a, r = self.alpha, self.rho
        if self.form == "eprop":
            v = a * state.v + current - thr * z_prev
            b = r * state.b + state.z
            adaptive = thr + self.beta * b
            z = spike((v - adaptive) / thr, self.surrogate)
        else:
            b = r * state.b + (1.0 - r) * state.z
            adaptive = thr + self.beta * b
            v = a * state.v + (1.0 - a) * current - z_prev * adaptive * self.dt
            z = spike((state.v - adaptive) / adaptive, self.surrogate)
        ref = state.refractory
        if self.n_ref > 0:
            z = z * (ref <= 0).astype(z.dtype)
            ref = jnp.clip(ref + self.n_ref * z.astype(ref.dtype) - 1, 0, self.n_ref)
        return ALIFState(v, b, z, ref), z


def alif(
    tau_m: float | Array = 20.0,
    tau_a: float | Array = 200.0,
    thr: float | Array = 0.03,
    beta: float | Array = 1.6,
    *,
    dt: float = 1.0,
    form: str = "eprop",
    detach_reset: bool = False,
    surrogate_fn: str | Surrogate = PSEUDO_DERIVATIVE,
    refractory_steps: int = 0,
) -> ALIF:
    """Validated ALIF parameters (see :class:`ALIF`). Errors name the offending parameter."""
    check_positive("tau_m", tau_m)
    check_positive("tau_a", tau_a)
    check_positive("thr", thr)
    dt = check_scalar("dt", dt)
    check_positive("dt", dt)
    check_finite("beta", beta)
    check_choice("form", form, FORMS)
    if not isinstance(refractory_steps, int) or refractory_steps < 0:
        raise ConfigError(f"refractory_steps must be a non-negative int; got {refractory_steps!r}")
    f = lambda x: jnp.asarray(x, dtype=float)
    return ALIF(f(tau_m), f(tau_a), f(thr), f(beta), float(dt), form, bool(detach_reset),
                surrogate(surrogate_fn), refractory_steps)
