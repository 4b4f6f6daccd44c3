"""Leaky integrate-and-fire neuron (LIF) and the non-leaky integrate-and-fire neuron (IF).

Discrete time, step ``dt`` in ms, exponential Euler (exact for input held constant over a step)::

    alpha   = exp(-dt / tau)
    v~_t    = V_rest + alpha (v_{t-1} - V_rest) + (1 - alpha) R I_t        (LIF)
    v~_t    = v_{t-1} + R I_t                                              (IF)
    z_t     = H(x(v~_t)),  then reset (soft / hard / none), refractoriness, optional MPR

(see :mod:`neuro.neurons._firing`). Refractoriness (``refractory_steps = n``): the spike step and
the ``n - 1`` steps after it; by default the membrane is clamped there (no integration, Brian2's
``(unless refractory)`` and NEST), ``refractory_mode="integrate"`` only suppresses spikes.
``neuro`` stores the post-reset ``v_t``; brainpy.state stores the pre-reset value and resets at
the start of the next step: the spikes are identical.

Defaults (project design, neurons.md §1): tau = 20 ms, V_th = 1, V_reset = 0, V_rest = 0, R = 1,
sigmoid surrogate (alpha = 4), soft reset, surrogate argument ``(v - V_th)/(V_th - V_reset)``.
``tau``, ``v_th`` (and the others) may be per-neuron arrays; all are pytree leaves, so they are
trainable and can be heterogeneous (see :mod:`neuro.neurons.heterogeneity`).

Sources: soft reset and MPR, Guo et al. ECCV 2022 (reconstructed forms, neurons.md §2).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from neuro._pytree import pytree_dataclass, static_field
from neuro.neurons._firing import MPR_MODES, REFRACTORY_MODES, RESETS, SCALES, fire_and_reset
from neuro.neurons.drive import (
    Drive,
    SpikingNeuron,
    as_drive,
    modulated_current,
    reject_conductance,
    scaled_threshold,
)
from neuro.spikes import Surrogate, surrogate
from neuro.validation import (
    ConfigError,
    ShapeError,
    as_float_array,
    check_choice,
    check_finite,
    check_int,
    check_positive,
    check_scalar,
)

Array = jax.Array


class LIFState(NamedTuple):
    """Membrane potential ``v`` (post-reset) and refractory counter ``refractory`` (steps left)."""

    v: Array
    refractory: Array


@pytree_dataclass
class LIF(SpikingNeuron):
    """Parameters of a LIF (``leak=True``) or IF (``leak=False``) population; see module docstring."""

    tau: Array
    v_th: Array
    v_reset: Array
    v_rest: Array
    resistance: Array
    dt: float = static_field(default=1.0)
    reset: str = static_field(default="soft")
    detach_reset: bool = static_field(default=False)
    surrogate: Surrogate = static_field(default=Surrogate())
    scale: str = static_field(default="reset")
    mpr: str | None = static_field(default=None)
    mpr_k: float = static_field(default=4.0)
    n_ref: int = static_field(default=0)
    leak: bool = static_field(default=True)
    refractory_mode: str = static_field(default="clamp")

    def __post_init__(self) -> None:
        # Runs on construction, on neuro._pytree.replace and on dataclasses.replace (never when
        # JAX unflattens); traced values are skipped by the checks.
        for name in ("tau", "v_th", "v_reset", "v_rest", "resistance"):
            value = getattr(self, name)
            if not isinstance(value, jax.Array | jax.core.Tracer):
                object.__setattr__(self, name, jnp.asarray(value, dtype=float))
        if self.leak:
            check_positive("tau", self.tau)
        check_positive("dt", self.dt)
        check_choice("reset", self.reset, RESETS)
        check_choice("scale", self.scale, SCALES)
        check_choice("mpr", self.mpr, MPR_MODES)
        check_choice("refractory_mode", self.refractory_mode, REFRACTORY_MODES)
        for name in ("v_th", "v_reset", "v_rest", "resistance"):
            check_finite(name, getattr(self, name))
        for name in ("tau", "v_th", "v_reset", "v_rest", "resistance"):
            if getattr(self, name).size == 0:
                raise ShapeError(f"{name} is empty; give a number or one value per neuron")
        check_int("refractory_steps", self.n_ref, low=0)
        check_positive("mpr_k", self.mpr_k)
        if self.scale != "none" or self.mpr is not None:
            gap = self.v_th - self.v_reset
            if not isinstance(gap, jax.core.Tracer) and bool(jnp.any(gap <= 0)):
                raise ConfigError("v_th must be greater than v_reset")

    @property
    def alpha(self) -> Array:
        """Membrane decay per step, ``exp(-dt/tau)``."""
        return jnp.exp(-self.dt / self.tau)

    def init_state(self, shape: tuple[int, ...] | int, v0: Array | None = None) -> LIFState:
        """Resting state (or ``v0``) for a population of the given shape."""
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        v = jnp.broadcast_to(self.v_rest, shape) if v0 is None else jnp.broadcast_to(v0, shape)
        return LIFState(jnp.asarray(v, dtype=float), jnp.zeros(shape, jnp.int32))

    def step(self, state: LIFState, drive: Drive | Array) -> tuple[LIFState, Array]:
        """Advance one step with ``drive`` (a :class:`~neuro.neurons.drive.Drive` or a current
        array); return the new state and spikes in {0, 1}. ``drive.gain`` multiplies the current,
        ``drive.threshold`` scales ``V_th`` (the reset amount ``V_th - V_reset`` follows it)."""
        drive = as_drive(drive)
        reject_conductance(self, drive)
        current = modulated_current(drive)
        v_th = scaled_threshold(self.v_th, drive)
        if self.leak:
            a = self.alpha
            v_tilde = self.v_rest + a * (state.v - self.v_rest) + (1.0 - a) * self.resistance * current
        else:
            v_tilde = state.v + self.resistance * current
        v, ref, z = fire_and_reset(
            v_tilde,
            state.refractory,
            v_th=v_th,
            v_reset=self.v_reset,
            reset=self.reset,
            detach_reset=self.detach_reset,
            surrogate=self.surrogate,
            scale=self.scale,
            mpr=self.mpr,
            mpr_k=self.mpr_k,
            n_ref=self.n_ref,
            v_prev=state.v,
            refractory_mode=self.refractory_mode,
        )
        return LIFState(v, ref), z


def lif(
    tau: float | Array = 20.0,
    v_th: float | Array = 1.0,
    v_reset: float | Array = 0.0,
    v_rest: float | Array = 0.0,
    resistance: float | Array = 1.0,
    *,
    dt: float = 1.0,
    reset: str = "soft",
    detach_reset: bool = False,
    surrogate_fn: str | Surrogate = "sigmoid",
    scale: str = "reset",
    mpr: str | None = None,
    mpr_k: float = 4.0,
    refractory_steps: int = 0,
    refractory_mode: str = "clamp",
) -> LIF:
    """Validated LIF parameters (see :class:`LIF`). Errors name the offending parameter."""
    return _build(
        tau, v_th, v_reset, v_rest, resistance, dt, reset, detach_reset, surrogate_fn, scale,
        mpr, mpr_k, refractory_steps, refractory_mode, leak=True,
    )


def integrate_and_fire(
    v_th: float | Array = 1.0,
    v_reset: float | Array = 0.0,
    resistance: float | Array = 1.0,
    *,
    dt: float = 1.0,
    reset: str = "soft",
    detach_reset: bool = False,
    surrogate_fn: str | Surrogate = "sigmoid",
    scale: str = "reset",
    refractory_steps: int = 0,
    refractory_mode: str = "clamp",
) -> LIF:
    """Validated non-leaky IF parameters: ``v~_t = v_{t-1} + R I_t`` (neurons.md §3)."""
    return _build(
        jnp.inf, v_th, v_reset, v_reset, resistance, dt, reset, detach_reset, surrogate_fn, scale,
        None, 4.0, refractory_steps, refractory_mode, leak=False,
    )


def _build(tau, v_th, v_reset, v_rest, resistance, dt, reset, detach_reset, surrogate_fn, scale,
           mpr, mpr_k, refractory_steps, refractory_mode, *, leak) -> LIF:
    dt, mpr_k = check_scalar("dt", dt), check_scalar("mpr_k", mpr_k)  # static floats
    check_positive("dt", dt)  # the rest is checked by LIF.__post_init__
    check_positive("mpr_k", mpr_k)
    check_int("refractory_steps", refractory_steps, low=0)
    f = lambda name, x: as_float_array(name, x, finite=False)  # f32, or f64 under x64
    return LIF(
        tau=f("tau", tau), v_th=f("v_th", v_th), v_reset=f("v_reset", v_reset),
        v_rest=f("v_rest", v_rest), resistance=f("resistance", resistance), dt=float(dt),
        reset=reset, detach_reset=bool(detach_reset),
        surrogate=surrogate(surrogate_fn), scale=scale, mpr=mpr, mpr_k=float(mpr_k),
        n_ref=refractory_steps, leak=leak, refractory_mode=refractory_mode,
    )
