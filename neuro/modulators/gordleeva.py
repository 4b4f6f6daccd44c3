"""Gordleeva et al. 2021 astrocyte gain and event logic (Front. Cell. Neurosci.).

From the paper's code (altergot/neuro-astro-network, ``src/*.m``; astrocytes.md section 2). The
astrocyte covering a postsynaptic neuron raises its synaptic conductance,
``g_eff = g_syn + aep I_astro`` with ``g_syn = 0.025, aep = 0.5``. The paper's ``I_astro`` is a
0/1 event held 250 ms after ``Ca > 0.15``; the differentiable gate (project design) is
``I_astro = sigmoid(s (Ca - Ca_th))`` (:class:`GordleevaGain`), used by
:func:`neuro.modulators.tripartite` as the input gain ``g_eff / g_syn`` of the covered neurons.
The paper's event timers (250 ms astrocyte event, 60 ms neuron -> astrocyte drive) are
:class:`GordleevaEvents`; its synaptic current is :func:`gordleeva_synaptic_current`.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from neuro._pytree import pytree_dataclass, static_field
from neuro.validation import check_positive

Array = jax.Array


@pytree_dataclass
class GordleevaGain:
    """``g_eff = g_syn + aep sigmoid(s (Ca - Ca_th))`` (paper: additive, 0/1 event -> sigmoid)."""

    g_syn: Array
    aep: Array
    ca_th: Array
    sharpness: Array

    def gate(self, ca: Array) -> Array:
        """Differentiable stand-in for the paper's 0/1 astrocyte event ``I_astro``."""
        return jax.nn.sigmoid(self.sharpness * (ca - self.ca_th))

    def conductance(self, ca_post: Array) -> Array:
        """Effective synaptic conductance onto neurons covered by astrocytes with ``Ca``."""
        return self.g_syn + self.aep * self.gate(ca_post)


def gordleeva_gain(g_syn: float = 0.025, aep: float = 0.5, ca_th: float = 0.15,
                   sharpness: float = 50.0) -> GordleevaGain:
    """Validated :class:`GordleevaGain` (paper values; ``sharpness`` in 1/uM is project design)."""
    check_positive("g_syn", g_syn, allow_zero=True)
    check_positive("aep", aep, allow_zero=True)
    check_positive("ca_th", ca_th)
    check_positive("sharpness", sharpness)
    f = lambda v: jnp.asarray(v, dtype=float)
    return GordleevaGain(f(g_syn), f(aep), f(ca_th), f(sharpness))


class GordleevaEventState(NamedTuple):
    """Time left (ms) of the astrocyte event, of the neuron->astrocyte drive, of the 10 ms window."""

    astro_left: Array
    neuro_left: Array
    window_left: Array


@pytree_dataclass
class GordleevaEvents:
    """The paper's event logic (src/step_astrocytes.m), per astrocyte, checked every ``dt`` ms.

    * trigger: ``I_astro = 1`` for ``astro_ms = 250`` ms when ``Ca > ca_th = 0.15`` and the zone's
      spike count reached ``>= 6`` at some step within the last ``window_ms = 10`` ms;
    * neuron -> astrocyte: when ``>= 8`` zone neurons are active, ``I_neuro = 5`` enters the IP3
      equation for ``neuro_ms = 60`` ms.

    Project design where the paper's code was not followed line by line: an event is not extended
    by triggers that arrive while it is on, so each lasts exactly its duration.
    """

    ca_th: Array
    i_neuro: Array
    dt: float = static_field(default=1.0)
    astro_ms: float = static_field(default=250.0)
    neuro_ms: float = static_field(default=60.0)
    window_ms: float = static_field(default=10.0)
    min_spikes: int = static_field(default=6)
    min_active: int = static_field(default=8)

    def init_state(self, shape: tuple[int, ...] | int) -> GordleevaEventState:
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        return GordleevaEventState(jnp.zeros(shape), jnp.zeros(shape), jnp.zeros(shape))

    def step(self, state: GordleevaEventState, ca: Array, zone_spikes: Array,
             zone_active: Array) -> tuple[GordleevaEventState, Array, Array]:
        """Advance; returns the state, ``I_astro`` (0/1) and ``I_neuro`` (0 or ``i_neuro``)."""
        dt = self.dt
        window = jnp.where(zone_spikes >= self.min_spikes, self.window_ms,
                           jnp.maximum(state.window_left - dt, 0.0))
        trigger = (ca > self.ca_th) & (window > 0) & (state.astro_left <= 0)
        astro = jnp.where(trigger, self.astro_ms, jnp.maximum(state.astro_left - dt, 0.0))
        start = (zone_active >= self.min_active) & (state.neuro_left <= 0)
        neuro = jnp.where(start, self.neuro_ms, jnp.maximum(state.neuro_left - dt, 0.0))
        i_astro = (astro > 0).astype(ca.dtype)
        return GordleevaEventState(astro, neuro, window), i_astro, self.i_neuro * (neuro > 0)


def gordleeva_events(*, ca_th: float = 0.15, i_neuro: float = 5.0, dt: float = 1.0
                     ) -> GordleevaEvents:
    """Validated :class:`GordleevaEvents` (paper values)."""
    check_positive("ca_th", ca_th)
    check_positive("i_neuro", i_neuro, allow_zero=True)
    check_positive("dt", dt)
    f = lambda v: jnp.asarray(v, dtype=float)
    return GordleevaEvents(f(ca_th), f(i_neuro), float(dt))


def gordleeva_synaptic_current(gain: GordleevaGain, ca_post: Array, pre_v: Array,
                               post_v: Array, weights: Array, e_syn: float = 0.0) -> Array:
    """Gordleeva's synaptic current ``I_i = sum_j W_ji g_eff,i S(V_j) (E_syn - V_i)``.

    ``S(V) = 1/(1 + exp(-V/0.2))`` (src/step_neurons.m); ``weights [N_pre, N_post]`` is the 0/1
    (or weighted) connectivity and ``ca_post [..., N_post]`` the Ca of each neuron's astrocyte.
    """
    s = jax.nn.sigmoid(pre_v / 0.2)
    return gain.conductance(ca_post) * (s @ weights) * (e_syn - post_v)


__all__ = ["GordleevaEventState", "GordleevaEvents", "GordleevaGain", "gordleeva_events",
           "gordleeva_gain", "gordleeva_synaptic_current"]
