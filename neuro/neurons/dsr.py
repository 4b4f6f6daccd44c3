"""DSR-style LIF neuron of HLOP, with its rate-based gradient (``jax.custom_vjp``).

DSR = Differentiation on Spike Representation (Meng et al., CVPR 2022), as HLOP's code uses it
(Xiao et al., ICLR 2024; pkuxmq/HLOP-SNN ``modules/neuron_dsr.py``; neurons.md §5). Dimensionless
time, step ``dt`` (default 0.05), membrane time constant ``tau`` (default 1), ``T`` steps::

    beta   = exp(-dt / tau)
    u_t    = beta u_{t-1} + (1 - beta) I_t                  (u_0 = 0)
    z_t    = H(u_t - kappa V_th)                           (kappa = 0.3, V_th = 0.3)
    u_t   <- u_t - V_th z_t                                 (soft reset by V_th, not kappa V_th)
    out_t  = z_t V_th / dt                                  (each spike carries V_th/dt)

The threshold ``kappa V_th`` and the reset amount ``V_th`` differ on purpose: that is the
reference code's pairing (``spike = (u >= alpha*Vth) * Vth; u -= spike``), checked against a
NumPy transcription in ``tests/neurons/test_dsr.py``.

Weighted firing rate (readout and Hebbian input), ``w_t = exp(-(T - t) dt / tau)``, t = 1..T::

    wfr(s) = sum_t w_t s_t / sum_t w_t

Backward (replaces BPTT). With ``r = wfr(I)`` the weighted rate of the input current and ``G_t``
the cotangent of ``out_t``::

    g     = T wfr(G) / tau     where 0 < r < V_th tau / dt, else 0
    dL/dI_t = g / T            (the same for every step)
    dL/dV_th = dt * sum(T wfr(G) where r > V_th tau / dt)

In the reference, ``V_th`` is trainable on task 0 only (lower bound 5e-4); ``neuro``'s spiking MLP
keeps it fixed at 0.3 by default, as the reduced-scale reference measurements did (hlop.md §8.2),
and trains it on task 0 on request (``neuro.tasks.continual.RunConfig(train_threshold=True)``).

:func:`rate_surrogate` is the same gradient written in the rate domain (forward value from the
spikes, backward ``gain * cotangent``): a network whose layers are linear in the spikes can route
its whole backward pass through ``[B, N]`` rates instead of ``[T, B, N]`` spike trains, which is
exact because the DSR gradient is the same at every step (see :mod:`neuro.models.spiking_mlp`).
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from neuro._pytree import pytree_dataclass, static_field
from neuro.neurons.drive import Drive, as_drive, modulated_current, reject_conductance, scaled_threshold
from neuro.validation import check_positive

Array = jax.Array


class DSRState(NamedTuple):
    """Membrane potential ``u`` (post-reset)."""

    u: Array


@pytree_dataclass
class DSRLIF:
    """Parameters of a DSR-style LIF population (see the module docstring)."""

    v_th: Array
    tau: float = static_field(default=1.0)
    dt: float = static_field(default=0.05)
    kappa: float = static_field(default=0.3)
    output: str = static_field(default="spike")

    @property
    def binary(self) -> bool:
        """Spikes are exactly 0 or 1 (``output="spike"``); ``"amplitude"`` emits ``z V_th/dt``."""
        return self.output == "spike"

    @property
    def beta(self) -> Array:
        """Membrane decay per step, ``exp(-dt/tau)``."""
        return float(np.exp(-self.dt / self.tau))

    @property
    def amplitude(self) -> Array:
        """Output value of one spike, ``V_th / dt``."""
        return self.v_th / self.dt

    def init_state(self, shape: tuple[int, ...] | int) -> DSRState:
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        return DSRState(jnp.zeros(shape, jnp.float32))

    @staticmethod
    def membrane(state) -> Array:
        """The membrane potential reported as ``v``."""
        return state.u

    def step(self, state: DSRState, drive: Drive | Array) -> tuple[DSRState, Array]:
        """One forward step; returns spikes in {0, 1} (``output="spike"``) or the DSR output
        ``z V_th/dt`` (``output="amplitude"``, what HLOP's layers pass on)."""
        drive = as_drive(drive)
        reject_conductance(self, drive)
        current = modulated_current(drive)
        b = self.beta
        u = b * state.u + (1.0 - b) * current
        v_th = scaled_threshold(self.v_th, drive)
        z = (u >= self.kappa * v_th).astype(u.dtype)
        out = z if self.output == "spike" else z * (v_th / self.dt)
        return DSRState(u - z * v_th), out

    def __call__(self, currents: Array) -> Array:
        """Output ``out_t = z_t V_th/dt`` for currents ``[T, ...]``, with the DSR gradient."""
        return dsr_lif(currents, self.v_th, self.tau, self.dt, self.kappa)


def dsr_neuron(
    v_th: float = 0.3, tau: float = 1.0, *, dt: float = 0.05, kappa: float = 0.3,
    output: str = "spike",
) -> DSRLIF:
    """Validated DSR LIF parameters (defaults of HLOP's PMNIST script); ``tau`` is static.

    ``output``: ``"spike"`` (z in {0, 1}) or ``"amplitude"`` (``z V_th/dt``, the value HLOP's
    layers transmit, so that a downstream projection's weights are the reference's)."""
    check_positive("v_th", v_th)
    check_positive("tau", tau)
    check_positive("dt", dt)
    check_positive("kappa", kappa)
    if output not in ("spike", "amplitude"):
        raise ValueError(f"output must be 'spike' or 'amplitude'; got {output!r}")
    return DSRLIF(jnp.asarray(v_th, jnp.float32), float(tau), float(dt), float(kappa), output)


def rate_weights(timesteps: int, tau: float, dt: float) -> Array:
    """Normalised weights ``w_t / sum w`` of the weighted firing rate, shape ``[T]``."""
    t = jnp.arange(1, timesteps + 1, dtype=jnp.float32)
    w = jnp.exp(-(timesteps - t) * dt / tau)
    return w / jnp.sum(w)


def weighted_firing_rate(x: Array, tau: float = 1.0, dt: float = 0.05) -> Array:
    """``wfr(x) = sum_t w_t x_t / sum_t w_t`` over the leading (time) axis of ``x``."""
    w = rate_weights(x.shape[0], tau, dt)
    return jnp.tensordot(w, x, axes=1)


def _spike_train(currents: Array, v_th: Array, tau: float, dt: float, kappa: float) -> Array:
    beta = float(np.exp(-dt / tau))

    def body(u, i_t):
        u = beta * u + (1.0 - beta) * i_t
        z = (u >= kappa * v_th).astype(u.dtype)
        return u - z * v_th, z

    u0 = jnp.zeros(jnp.broadcast_shapes(currents.shape[1:], jnp.shape(v_th)), currents.dtype)
    _, z = jax.lax.scan(body, u0, currents)
    return z


@partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def dsr_lif(currents: Array, v_th: Array, tau: float, dt: float = 0.05,
            kappa: float = 0.3) -> Array:
    """DSR LIF over time: ``currents [T, ...] -> out [T, ...]`` (``out_t = z_t V_th/dt``).

    The backward pass is HLOP's rate gradient (module docstring), not BPTT. ``tau``, ``dt`` and
    ``kappa`` are static floats; ``v_th`` is differentiable (scalar or broadcastable).
    """
    return _spike_train(currents, v_th, tau, dt, kappa) * (v_th / dt)


def _dsr_fwd(currents, v_th, tau, dt, kappa):
    return dsr_lif(currents, v_th, tau, dt, kappa), (currents, v_th)


def _dsr_bwd(tau, dt, kappa, res, g_out):
    currents, v_th = res
    steps = currents.shape[0]
    rate_in = weighted_firing_rate(currents, tau, dt)
    coding = weighted_firing_rate(g_out, tau, dt) * steps
    upper = v_th * tau / dt
    g_in = jnp.where((rate_in > 0) & (rate_in < upper), coding / tau, 0.0)
    g_in = jnp.broadcast_to(g_in / steps, currents.shape)
    g_vth = jnp.where(rate_in > upper, coding, 0.0) * dt
    return g_in, _sum_to_shape(g_vth, jnp.shape(v_th))


def _sum_to_shape(x: Array, shape: tuple[int, ...]) -> Array:
    extra = x.ndim - len(shape)
    x = jnp.sum(x, axis=tuple(range(extra))) if extra > 0 else x
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and x.shape[i] != 1)
    return jnp.sum(x, axis=axes, keepdims=True).reshape(shape) if axes else x.reshape(shape)


dsr_lif.defvjp(_dsr_fwd, _dsr_bwd)


def dsr_gate(rate_in: Array, v_th: Array, tau: float, dt: float) -> Array:
    """DSR pass-through mask ``0 < wfr(I) < V_th tau / dt`` as a float array."""
    upper = v_th * tau / dt
    return ((rate_in > 0) & (rate_in < upper)).astype(rate_in.dtype)


@jax.custom_vjp
def rate_surrogate(drive: Array, value: Array, gain: Array, v_th: Array, vth_gain: Array
                   ) -> Array:
    """Return ``value``; backward sends ``gain * cotangent`` to ``drive`` and
    ``sum(vth_gain * cotangent)`` to the threshold ``v_th`` (nothing to the others).

    The rate-domain form of :func:`dsr_lif`'s gradient: ``drive`` is the differentiable summed
    input current, ``value`` the spike-derived rate (forward), ``gain`` the DSR mask over ``tau``
    times the readout factor, ``vth_gain`` the threshold factor ``dt T [r > V_th tau/dt]`` (times
    the readout factor); ``v_th`` is a scalar or broadcasts to ``value``.
    """
    del drive, gain, v_th, vth_gain
    return value


def _rs_fwd(drive, value, gain, v_th, vth_gain):
    return value, (gain, v_th, vth_gain)


def _rs_bwd(res, g):
    gain, v_th, vth_gain = res
    g_vth = _sum_to_shape(vth_gain * g, jnp.shape(v_th))
    return g * gain, jnp.zeros_like(g), jnp.zeros_like(gain), g_vth, jnp.zeros_like(vth_gain)


rate_surrogate.defvjp(_rs_fwd, _rs_bwd)
