"""Exponential synapses: current-based (CUBA) and conductance-based (COBA).

Each receptor channel ``c`` (e.g. 0 = excitatory, 1 = inhibitory) has a trace ``g_c`` that decays
with time constant ``tau_c`` (ms) and jumps by the summed weights of the spikes it receives::

    g_c <- g_c * d_c + x_c,      d_c = exp(-dt / tau_c)   (method "exact", default)
                                 d_c = 1 - dt / tau_c     (method "euler", forward Euler)

where ``x`` is the propagated input of this step (see :func:`neuro.connect.propagate`). The
postsynaptic drive is

* current-based:      ``I = sum_c g_c``                   (g in the units of the input, e.g. mV)
* conductance-based:  ``I = sum_c g_c (E_c - V)``         (g in units of the leak conductance)

Sources: Vogels & Abbott (2005), Brette et al. (2007) Benchmarks 1 and 2 (see
``shared/reference/coba.md``). Short-term plasticity lives in :mod:`neuro.stp`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from neuro._pytree import pytree_dataclass, static_field
from neuro.validation import check_choice, check_finite, check_positive

Array = jax.Array
METHODS = ("exact", "euler")
KINDS = ("current", "conductance")


@pytree_dataclass
class ExponentialSynapse:
    """Parameters of exponential synapses with one trace per channel; see module docstring."""

    tau: Array  # (n_channels,) ms
    reversal: Array  # (n_channels,) mV (used by conductance synapses)
    dt: float = static_field(default=0.1)
    method: str = static_field(default="exact")
    kind: str = static_field(default="current")

    @property
    def n_channels(self) -> int:
        return int(self.tau.shape[0])

    @property
    def decay(self) -> Array:
        """Per-step decay factor ``d_c`` of every channel, shape ``(n_channels, 1)``."""
        if self.method == "exact":
            d = jnp.exp(-self.dt / self.tau)
        else:
            d = 1.0 - self.dt / self.tau
        return d[:, None]

    def init_state(self, n_post: int, dtype=None) -> Array:
        """Zero traces, shape ``(n_channels, n_post)``."""
        return jnp.zeros((self.n_channels, n_post), dtype=dtype or self.tau.dtype)

    def step(self, g: Array, inputs: Array) -> Array:
        """Decay the traces one step and add this step's propagated ``inputs``."""
        return g * self.decay + inputs

    def current(self, g: Array, v: Array) -> Array:
        """Postsynaptic drive: ``sum_c g_c`` or ``sum_c g_c (E_c - v)``."""
        if self.kind == "current":
            return jnp.sum(g, axis=0)
        return jnp.sum(g * (self.reversal[:, None] - v[None, :]), axis=0)


def _build(tau, reversal, dt, method, kind) -> ExponentialSynapse:
    tau = np.atleast_1d(np.asarray(tau, dtype=float))
    check_positive("tau", tau)
    check_positive("dt", dt)
    check_choice("method", method, METHODS)
    if method == "euler" and np.any(dt >= tau):
        raise ValueError(f"dt must be smaller than the smallest synaptic tau {tau.min():g} ms "
                         f"for Euler decay; got {dt:g}")
    reversal = np.broadcast_to(np.asarray(reversal, dtype=float), tau.shape)
    check_finite("reversal", reversal)
    return ExponentialSynapse(jnp.asarray(tau, dtype=float), jnp.asarray(reversal, dtype=float),
                              float(dt), method, kind)


def current_synapse(tau=(5.0, 10.0), *, dt: float = 0.1,
                    method: str = "exact") -> ExponentialSynapse:
    """Current-based exponential synapses (CUBA); defaults tau_E = 5 ms, tau_I = 10 ms."""
    return _build(tau, 0.0, dt, method, "current")


def conductance_synapse(tau=(5.0, 10.0), reversal=(0.0, -80.0), *, dt: float = 0.1,
                        method: str = "exact") -> ExponentialSynapse:
    """Conductance-based exponential synapses (COBA); defaults tau = (5, 10) ms,
    E = (0, -80) mV (Vogels & Abbott 2005)."""
    return _build(tau, reversal, dt, method, "conductance")
