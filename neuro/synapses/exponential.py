"""Exponential synapses: current-based (CUBA) and conductance-based (COBA) kinetics.

Each receptor channel ``c`` of a population (e.g. 0 = excitatory, 1 = inhibitory) has a trace
``g_c`` per neuron that decays with time constant ``tau_c`` (ms) and jumps by the weights of the
events that arrive in a step::

    g_c,t = d_c g_c,t-1 + arrivals_c,t,    d_c = exp(-dt / tau_c)  (method "exact", default)
                                           d_c = 1 - dt / tau_c    (method "euler")

The network keeps the *decayed* trace ``d_c g_c,t-1`` as the state, so this step's arrivals are
added onto it in place (in the order the events are delivered, as Brian2 and NEST add them) and
the neuron integrates with ``g_c,t``. The trace reaches the neuron as

* current-based:      ``Drive.current = sum_c g_c``     (g in the neuron's input units, e.g. mV)
* conductance-based:  ``Drive.conductance = g``         (units of the leak conductance; the
  neuron holds the reversal potentials, as NEST's ``iaf_cond_exp`` does)

Layout: a flat ``[..., C n_post + 1]`` vector; the last slot is the sink that absorbs the padding
of event tables (its decay is 0). Sources: Vogels & Abbott (2005), Brette et al. (2007)
Benchmarks 1 and 2 (``shared/reference/coba.md``).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from neuro._pytree import pytree_dataclass, static_field
from neuro.validation import ConfigError, check_choice, check_positive, check_scalar

Array = jax.Array
METHODS = ("exact", "euler")
KINDS = ("current", "conductance")


@pytree_dataclass
class Exponential:
    """Exponential traces, one per channel (``tau [C]`` or per neuron ``[C, n_post]``)."""

    tau: Array
    dt: float = static_field(default=0.1)
    method: str = static_field(default="exact")
    kind: str = static_field(default="current")

    @property
    def n_channels(self) -> int:
        return int(self.tau.shape[0])

    def decay(self, n_post: int) -> Array:
        """Per-step decay of the flat trace ``[C n_post + 1]`` (0 for the sink)."""
        d = jnp.exp(-self.dt / self.tau) if self.method == "exact" else 1.0 - self.dt / self.tau
        d = jnp.broadcast_to(d.reshape(self.n_channels, -1), (self.n_channels, n_post))
        return jnp.append(d.reshape(-1), jnp.zeros((1,), d.dtype))

    def init_state(self, batch: tuple[int, ...], n_post: int, dtype: Any = None) -> Array:
        return jnp.zeros((*batch, self.n_channels * n_post + 1), dtype or self.tau.dtype)

    def drive(self, g: Array, n_post: int) -> tuple[Array, Array | None]:
        """``(current, conductance)`` of the flat trace ``g`` for the neuron."""
        return channel_drive(g, self.n_channels, n_post, self.kind)

    def next_state(self, g: Array, n_post: int) -> Array:
        """The decayed trace carried to the next step."""
        return g * self.decay(n_post)


def channel_drive(g: Array, n_channels: int, n_post: int, kind: str) -> tuple[Array, Array | None]:
    """Split a flat ``[..., C n_post + 1]`` trace into the neuron's current or conductances."""
    per = g[..., : n_channels * n_post].reshape(*g.shape[:-1], n_channels, n_post)
    if kind == "conductance":
        return jnp.zeros(per.shape[:-2] + (n_post,), g.dtype), per
    current = per[..., 0, :]
    for c in range(1, n_channels):  # fixed left-to-right order
        current = current + per[..., c, :]
    return current, None


def _build(tau, dt, method, kind) -> Exponential:
    check_positive("tau", tau)
    tau = np.atleast_1d(np.asarray(tau, dtype=float))
    dt = check_scalar("dt", dt)
    check_positive("dt", dt)
    check_choice("method", method, METHODS)
    if method == "euler" and np.any(dt >= tau):
        raise ConfigError(f"dt must be smaller than the smallest synaptic tau {tau.min():g} ms "
                          f"for Euler decay; got {dt:g}")
    return Exponential(jnp.asarray(tau, dtype=float), float(dt), method, kind)


def current_synapse(tau=(5.0, 10.0), *, dt: float = 0.1, method: str = "exact") -> Exponential:
    """Current-based exponential synapses (CUBA); defaults tau_E = 5 ms, tau_I = 10 ms."""
    return _build(tau, dt, method, "current")


def conductance_synapse(tau=(5.0, 10.0), *, dt: float = 0.1, method: str = "exact") -> Exponential:
    """Conductance-based exponential synapses (COBA); defaults tau = (5, 10) ms (Vogels & Abbott
    2005). The reversal potentials belong to the neuron (:func:`neuro.neurons.conductance_lif`)."""
    return _build(tau, dt, method, "conductance")
