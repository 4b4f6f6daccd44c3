"""Tsodyks-Markram short-term plasticity with gliotransmitter modulation of release probability.

From the example code of Stimberg et al. 2018 (brian2 ``examples/frompapers/Stimberg_et_al_2018/
example_4_synrel.py``, after De Pitta et al.); reference: astrocytes.md section 3. Time in ms,
concentrations in uM.

Synapse (per synapse; ``u_S`` utilisation, ``x_S`` available resources, ``Gamma_S`` fraction of
presynaptic receptors bound by gliotransmitter)::

    du_S/dt = -Omega_f u_S;   dx_S/dt = Omega_d (1 - x_S)
    dGamma_S/dt = O_G G_A (1 - Gamma_S) - Omega_G Gamma_S
    on a presynaptic spike:  U_0 = (1 - Gamma_S) U_0* + alpha Gamma_S
                             u_S += U_0 (1 - u_S);  r_S = u_S x_S;  x_S -= r_S

Astrocyte gliotransmitter release (``x_A`` releasable fraction, ``G_A`` extracellular
gliotransmitter)::

    dx_A/dt = Omega_A (1 - x_A);   dG_A/dt = -Omega_e G_A
    when Ca crosses C_Theta upwards:  G_A += rho_e G_T U_A x_A;  x_A -= U_A x_A

Discrete time (project design): the linear relaxations are integrated exactly over a step (for
``Gamma_S`` with ``G_A`` held over the step), then the spike or release event is applied, as
Brian's event-driven update does at the spike time. ``alpha = 0`` makes gliotransmission
release-decreasing, ``alpha > U_0*`` release-increasing. A differentiable variant of the release
event replaces the crossing test by the rising edge of ``sigmoid(s (Ca - C_Theta))``
(``edge_sharpness = s > 0``); each step then releases the fraction ``1 - (1 - U_A)^e`` of the pool
for an edge increment ``e``, which is ``U_A`` for an event and sums to ``U_A`` over a smooth edge.

Constants (example file): U_0* = 0.6, Omega_f = 3.33/s, Omega_d = 2/s, O_G = 1.5/(uM s),
Omega_G = 0.5/(60 s), U_A = 0.6, Omega_A = 0.6/s, Omega_e = 60/s, rho_e = 6.5e-4, G_T = 200 mM,
C_Theta = 0.5 uM, alpha = 0.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from neuro._pytree import pytree_dataclass, static_field
from neuro.validation import check_in_range, check_positive

Array = jax.Array


class TMState(NamedTuple):
    """Utilisation ``u``, resources ``x`` and bound presynaptic receptor fraction ``gamma``."""

    u: Array
    x: Array
    gamma: Array


@pytree_dataclass
class TsodyksMarkram:
    """Tsodyks-Markram synapse with gliotransmitter-bound presynaptic receptors (per ms, uM)."""

    u0_star: Array
    omega_f: Array
    omega_d: Array
    o_g: Array
    omega_g: Array
    alpha: Array
    dt: float = static_field(default=1.0)

    def init_state(self, shape: tuple[int, ...] | int) -> TMState:
        """Rested synapse: ``u = 0``, ``x = 1``, no bound receptors."""
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        return TMState(jnp.zeros(shape), jnp.ones(shape), jnp.zeros(shape))

    def release_probability(self, gamma: Array) -> Array:
        """Resting release probability ``U_0 = (1 - Gamma_S) U_0* + alpha Gamma_S``."""
        return (1.0 - gamma) * self.u0_star + self.alpha * gamma

    def step(self, state: TMState, spikes: Array, glio: Array | float = 0.0
             ) -> tuple[TMState, Array]:
        """Advance one step; ``spikes`` in {0, 1}, ``glio`` = G_A (uM). Returns released ``r_S``."""
        dt = self.dt
        u = state.u * jnp.exp(-self.omega_f * dt)
        x = 1.0 - (1.0 - state.x) * jnp.exp(-self.omega_d * dt)
        k = self.o_g * glio + self.omega_g
        g_inf = self.o_g * glio / k
        gamma = g_inf + (state.gamma - g_inf) * jnp.exp(-k * dt)
        u0 = self.release_probability(gamma)
        u = u + spikes * u0 * (1.0 - u)
        r = spikes * u * x
        return TMState(u, x - r, gamma), r


def tsodyks_markram(*, u0_star: float = 0.6, omega_f: float = 3.33e-3, omega_d: float = 2.0e-3,
                    o_g: float = 1.5e-3, omega_g: float = 0.5 / 60e3, alpha: float = 0.0,
                    dt: float = 1.0) -> TsodyksMarkram:
    """Validated synapse parameters (rates per ms; defaults from Stimberg et al. 2018)."""
    check_in_range("u0_star", u0_star, 0.0, 1.0)
    check_in_range("alpha", alpha, 0.0, 1.0)
    for name, value in (("omega_f", omega_f), ("omega_d", omega_d), ("omega_g", omega_g),
                        ("dt", dt)):
        check_positive(name, value)
    check_positive("o_g", o_g, allow_zero=True)
    f = lambda v: jnp.asarray(v, dtype=float)
    return TsodyksMarkram(f(u0_star), f(omega_f), f(omega_d), f(o_g), f(omega_g), f(alpha),
                          float(dt))


class GliaReleaseState(NamedTuple):
    """Releasable gliotransmitter fraction ``x_a``, extracellular ``g_a`` (uM), previous Ca."""

    x_a: Array
    g_a: Array
    ca_prev: Array


@pytree_dataclass
class GliaRelease:
    """Astrocytic gliotransmitter release triggered by Ca crossing ``C_Theta`` upwards."""

    c_theta: Array
    u_a: Array
    omega_a: Array
    omega_e: Array
    quantum: Array  # rho_e G_T (uM): gliotransmitter per fully released vesicle pool
    dt: float = static_field(default=1.0)
    edge_sharpness: float = static_field(default=0.0)

    def init_state(self, shape: tuple[int, ...] | int, ca0: float = 0.0) -> GliaReleaseState:
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        return GliaReleaseState(jnp.ones(shape), jnp.zeros(shape), jnp.full(shape, ca0))

    def crossing(self, ca_prev: Array, ca: Array) -> Array:
        """1 on an upward crossing of ``C_Theta`` (or its smooth rising edge), else 0."""
        if self.edge_sharpness > 0:
            s = self.edge_sharpness
            up = jax.nn.sigmoid(s * (ca - self.c_theta)) - jax.nn.sigmoid(s * (ca_prev - self.c_theta))
            return jnp.maximum(up, 0.0)
        return ((ca > self.c_theta) & (ca_prev <= self.c_theta)).astype(ca.dtype)

    def step(self, state: GliaReleaseState, ca: Array) -> tuple[GliaReleaseState, Array]:
        """Advance with the astrocyte's Ca (uM); return the new state and ``G_A``."""
        x_a = 1.0 - (1.0 - state.x_a) * jnp.exp(-self.omega_a * self.dt)
        g_a = state.g_a * jnp.exp(-self.omega_e * self.dt)
        e = self.crossing(state.ca_prev, ca)
        # released fraction 1 - (1 - U_A)^e: U_A for an event (e = 1); a smooth edge spread over
        # steps (sum of e = 1) releases the same total fraction U_A of the pool.
        frac = 1.0 - (1.0 - self.u_a) ** e
        g_a = g_a + self.quantum * frac * x_a
        x_a = x_a - frac * x_a
        return GliaReleaseState(x_a, g_a, ca), g_a


def glia_release(*, c_theta: float = 0.5, u_a: float = 0.6, omega_a: float = 0.6e-3,
                 omega_e: float = 60e-3, rho_e: float = 6.5e-4, g_t: float = 200e3,
                 dt: float = 1.0, edge_sharpness: float = 0.0) -> GliaRelease:
    """Validated release parameters (per ms, uM; ``g_t = 200 mM``; Stimberg et al. 2018)."""
    check_positive("c_theta", c_theta)
    check_in_range("u_a", u_a, 0.0, 1.0)
    for name, value in (("omega_a", omega_a), ("omega_e", omega_e), ("dt", dt)):
        check_positive(name, value)
    check_positive("rho_e", rho_e, allow_zero=True)
    check_positive("g_t", g_t, allow_zero=True)
    check_positive("edge_sharpness", edge_sharpness, allow_zero=True)
    f = lambda v: jnp.asarray(v, dtype=float)
    return GliaRelease(f(c_theta), f(u_a), f(omega_a), f(omega_e), f(rho_e * g_t), float(dt),
                       float(edge_sharpness))


__all__ = ["GliaRelease", "GliaReleaseState", "TMState", "TsodyksMarkram", "glia_release",
           "tsodyks_markram"]
