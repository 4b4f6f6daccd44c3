"""Astrocytes as differentiable members of a spiking network.

Three models share one convention: parameters are a pytree, the state is a ``NamedTuple``, and one
pure ``step`` advances one time step, so an astrocyte population joins the neuron state inside the
same ``lax.scan`` (see :mod:`neuro.run`). Reference: ``shared/reference/astrocytes.md``.

1. **Li-Rinzel astrocyte with slow inward current** (NEST ``astrocyte_lr_1994``; from the
   simulator's code). State ``IP3`` (uM), ``Ca`` (uM), ``h``; time in ms::

       m_inf = IP3/(IP3 + Kd_IP3_1);  n_inf = Ca/(Ca + Kd_act);  Ca_ER = (Ca_tot - Ca)/r_ER
       J_chan = r_ER rate_IP3R m_inf^3 n_inf^3 h^3 (Ca_ER - Ca)
       J_leak = r_ER rate_L (Ca_ER - Ca);   J_pump = rate_SERCA Ca^2/(Km_SERCA^2 + Ca^2)
       alpha_h = k_IP3R Kd_inh (IP3 + Kd_IP3_1)/(IP3 + Kd_IP3_2);  beta_h = k_IP3R Ca

   Discrete time (project design: explicit Euler, dt <= 1 ms; NEST uses adaptive RKF45)::

       IP3 <- IP3 + dt (IP3_0 - IP3)/tau_IP3 + delta_IP3 sum_j w_j s_j     (w_j >= 0)
       Ca  <- clip(Ca + dt (J_chan - J_pump + J_leak), 0, Ca_tot)
       h   <- h + dt (alpha_h (1 - h) - beta_h h)
       y = 1000 (Ca - SIC_th)  [nM];   I_SIC = SIC_scale ln(y) if y > 1 else 0

   The ``Ca`` and ``h`` updates use the state before the IP3 input of the same step (all three
   derivatives are evaluated at the old state). ``sic_softness > 0`` (project design) replaces
   ``ln(max(y, 1))`` by ``ln(1 + softplus_s(y - 1))`` so the current has a gradient below threshold.
   Defaults are NEST's; the network scaling of NEST's ``astrocyte_brunel`` example is
   ``delta_IP3 = 0.5, tau_IP3 = 2 ms``. The SIC reaches neurons through a fixed astrocyte ->
   neuron map ``A``: ``I_i += sum_a A[a, i] I_SIC,a`` (:class:`Tripartite`).

2. **Gordleeva et al. 2021 gain** (Front. Cell. Neurosci.; from altergot/neuro-astro-network).
   The astrocyte covering a postsynaptic neuron raises its synaptic conductance,
   ``g_eff = g_syn + aep I_astro`` with ``g_syn = 0.025, aep = 0.5``. The paper's ``I_astro`` is a
   0/1 event held 250 ms after ``Ca > 0.15``; the differentiable gate (project design) is
   ``I_astro = sigmoid(s (Ca - Ca_th))`` (:class:`GordleevaGain`). The paper's event timers
   (250 ms astrocyte event, 60 ms neuron -> astrocyte drive) are :class:`GordleevaEvents`.

3. **Astrocyte-modulated spiking unit** (project design in the spirit of AM-SU, Shen et al.
   arXiv 2312.07625; the paper's equations are unknown). Neurons are assigned to astrocyte groups
   ``g`` (contiguous blocks or a sparse map); each group carries a slow state ``c_g``::

       gain_i  = 1 + kappa_g[g(i)] tanh c_{g(i), t-1}
       V_th,i  = V_th max(1 + kappa_th[g(i)] tanh c_{g(i), t-1}, 0.1)
       LIF/ALIF step with input gain_i I_i and threshold V_th,i           -> z_t
       c_{g,t} = lambda_g c_{g,t-1} + (1 - lambda_g) D mean_{i in g} z_{i,t},  lambda_g = sigmoid(l_g)

   ``D`` (``drive_scale``, default 1 as in the reference design) sets the unit of ``c``. With
   ``D = 1`` ``c`` is the group's spike probability per step (about 0.1 at 10 Hz and 10 ms steps),
   so ``tanh c ~ c`` and the gains must grow to O(10) before the astrocyte matters; training
   from zero gains then barely moves them (measured, see tasks/memory.py). ``D = 1/(f0 dt)``
   measures the rate against a reference rate ``f0`` (``c ~ 1`` at ``f0``), which the memory
   networks use (project design, an improvement on the reference's unit).

   ``l_g, kappa_th, kappa_g`` are trainable; with ``kappa_th = kappa_g = 0`` the unit is the plain
   neuron bit for bit (:class:`AstroModulation`, :func:`astro_unit_step`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from neuro._pytree import pytree_dataclass, replace, static_field
from neuro.neurons import ALIF, LIF, ALIFState, LIFState
from neuro.neurons.heterogeneity import decay_logit
from neuro.validation import check_finite, check_positive

Array = jax.Array

# --------------------------------------------------------------------------------------------
# 1. Li-Rinzel astrocyte (NEST astrocyte_lr_1994)
# --------------------------------------------------------------------------------------------

#: NEST ``astrocyte_lr_1994`` defaults (uM, ms).
LR_DEFAULTS: dict[str, float] = {
    "ca_tot": 2.0, "ip3_0": 0.16, "kd_ip3_1": 0.13, "kd_ip3_2": 0.9434, "kd_act": 0.08234,
    "kd_inh": 1.049, "km_serca": 0.1, "sic_scale": 1.0, "sic_th": 0.19669, "delta_ip3": 0.0002,
    "k_ip3r": 0.0002, "rate_ip3r": 0.006, "rate_l": 0.00011, "rate_serca": 0.0009,
    "ratio_er_cyt": 0.185, "tau_ip3": 7142.0,
}
LR_CA0, LR_H0 = 0.073, 0.793


class LiRinzelState(NamedTuple):
    """IP3 and Ca concentrations (uM) and the IP3-receptor inactivation gate ``h``."""

    ip3: Array
    ca: Array
    h: Array


@pytree_dataclass
class LiRinzel:
    """Parameters of a Li-Rinzel astrocyte population (module docstring, section 1)."""

    ca_tot: Array
    ip3_0: Array
    kd_ip3_1: Array
    kd_ip3_2: Array
    kd_act: Array
    kd_inh: Array
    km_serca: Array
    sic_scale: Array
    sic_th: Array
    delta_ip3: Array
    k_ip3r: Array
    rate_ip3r: Array
    rate_l: Array
    rate_serca: Array
    ratio_er_cyt: Array
    tau_ip3: Array
    dt: float = static_field(default=0.1)
    sic_softness: float = static_field(default=0.0)

    def init_state(self, shape: tuple[int, ...] | int, ca0: float = LR_CA0,
                   h0: float = LR_H0) -> LiRinzelState:
        """NEST's initial state: ``IP3 = IP3_0``, ``Ca = 0.073 uM``, ``h = 0.793``."""
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        full = lambda v: jnp.broadcast_to(jnp.asarray(v, dtype=float), shape)
        return LiRinzelState(full(self.ip3_0), full(ca0), full(h0))

    def derivatives(self, ip3: Array, ca: Array, h: Array) -> tuple[Array, Array, Array]:
        """``(dIP3/dt, dCa/dt, dh/dt)`` per ms without input (the NEST right-hand side)."""
        m_inf = ip3 / (ip3 + self.kd_ip3_1)
        n_inf = ca / (ca + self.kd_act)
        ca_er = (self.ca_tot - ca) / self.ratio_er_cyt
        j_chan = self.ratio_er_cyt * self.rate_ip3r * (m_inf * n_inf * h) ** 3 * (ca_er - ca)
        j_leak = self.ratio_er_cyt * self.rate_l * (ca_er - ca)
        j_pump = self.rate_serca * ca**2 / (self.km_serca**2 + ca**2)
        alpha_h = self.k_ip3r * self.kd_inh * (ip3 + self.kd_ip3_1) / (ip3 + self.kd_ip3_2)
        beta_h = self.k_ip3r * ca
        d_ip3 = (self.ip3_0 - ip3) / self.tau_ip3
        d_ca = j_chan - j_pump + j_leak
        d_h = alpha_h * (1.0 - h) - beta_h * h
        return d_ip3, d_ca, d_h

    def sic(self, ca: Array) -> Array:
        """Slow inward current ``SIC_scale ln(y)`` for ``y = 1000 (Ca - SIC_th) > 1`` nM, else 0."""
        y = 1000.0 * (ca - self.sic_th)
        if self.sic_softness > 0:
            s = self.sic_softness
            return self.sic_scale * jnp.log1p(jax.nn.softplus(s * (y - 1.0)) / s)
        # The inner `where` keeps log's argument >= 1, so the gradient is finite everywhere.
        return jnp.where(y > 1.0, self.sic_scale * jnp.log(jnp.maximum(y, 1.0)), 0.0)

    def step(self, state: LiRinzelState, drive: Array) -> tuple[LiRinzelState, Array]:
        """One Euler step; ``drive = sum_j w_j s_j`` (weighted presynaptic spikes, >= 0).

        Returns the new state and the slow inward current of the new state.
        """
        d_ip3, d_ca, d_h = self.derivatives(state.ip3, state.ca, state.h)
        ip3 = state.ip3 + self.dt * d_ip3 + self.delta_ip3 * drive
        ca = jnp.clip(state.ca + self.dt * d_ca, 0.0, self.ca_tot)
        h = state.h + self.dt * d_h
        return LiRinzelState(ip3, ca, h), self.sic(ca)


def li_rinzel(*, dt: float = 0.1, sic_softness: float = 0.0, **overrides: float) -> LiRinzel:
    """Validated Li-Rinzel parameters: NEST defaults, overridable by name (e.g. ``tau_ip3=2.0``).

    Concentrations, rates and time constants must be positive (``delta_ip3`` and ``sic_scale``
    may be 0); ``ratio_er_cyt`` must lie in (0, 1]; ``sic_th`` must lie in (0, Ca_tot).
    """
    unknown = set(overrides) - set(LR_DEFAULTS)
    if unknown:
        raise TypeError(f"unknown Li-Rinzel parameters {sorted(unknown)}; known: {sorted(LR_DEFAULTS)}")
    p = {**LR_DEFAULTS, **overrides}
    check_positive("dt", dt)
    check_positive("sic_softness", sic_softness, allow_zero=True)
    for name, value in p.items():
        check_positive(name, value, allow_zero=name in ("delta_ip3", "sic_scale"))
    if np.any(np.asarray(p["ratio_er_cyt"]) > 1.0):
        raise ValueError("ratio_er_cyt (ER-to-cytosol volume ratio) must lie in (0, 1]")
    if np.any(np.asarray(p["sic_th"]) >= np.asarray(p["ca_tot"])):
        raise ValueError("sic_th must be below ca_tot (the total calcium content)")
    if dt > 0.1 * float(np.min(p["tau_ip3"])):
        raise ValueError(
            f"dt must be <= 0.1 tau_ip3 for the explicit Euler step; got dt={dt}, "
            f"tau_ip3={float(np.min(p['tau_ip3']))}"
        )
    f = lambda v: jnp.asarray(v, dtype=float)
    return LiRinzel(**{k: f(v) for k, v in p.items()}, dt=float(dt),
                    sic_softness=float(sic_softness))


@pytree_dataclass
class Tripartite:
    """Neuron -> astrocyte weights ``w_in [N_pre, N_astro] >= 0`` and SIC map ``A [N_astro, N_post]``.

    Build with :func:`tripartite` (which rejects negative weights). ``step`` advances the
    astrocytes with the presynaptic spikes and returns the SIC each postsynaptic neuron receives.
    """

    astro: LiRinzel
    w_in: Array
    sic_map: Array

    def init_state(self, batch: tuple[int, ...] = ()) -> LiRinzelState:
        return self.astro.init_state((*batch, self.w_in.shape[1]))

    def step(self, state: LiRinzelState, pre_spikes: Array) -> tuple[LiRinzelState, Array]:
        state, sic = self.astro.step(state, pre_spikes @ self.w_in)
        return state, sic @ self.sic_map


def tripartite(astro: LiRinzel, w_in: Any, sic_map: Any) -> Tripartite:
    """Validated :class:`Tripartite`: ``w_in`` must be non-negative (astrocytes sense release)."""
    w_in, sic_map = np.asarray(w_in, dtype=float), np.asarray(sic_map, dtype=float)
    check_positive("w_in", w_in, allow_zero=True)
    check_finite("sic_map", sic_map)
    if w_in.ndim != 2 or sic_map.ndim != 2 or w_in.shape[1] != sic_map.shape[0]:
        raise ValueError(
            f"w_in must be [N_pre, N_astro] and sic_map [N_astro, N_post]; got {w_in.shape} "
            f"and {sic_map.shape}"
        )
    return Tripartite(astro, jnp.asarray(w_in), jnp.asarray(sic_map))


# --------------------------------------------------------------------------------------------
# Group assignment (astrocyte group -> neurons)
# --------------------------------------------------------------------------------------------


@pytree_dataclass
class GroupAssignment:
    """Which astrocyte group covers each neuron: contiguous blocks or a fixed sparse map.

    Blocks (``group_size`` set) pool by a reshape; a map stores ``member [N, G]`` (0/1, each
    neuron in exactly one group). ``pool`` averages spikes per group, ``expand`` gives each
    neuron its group's value.
    """

    member: Array | None
    n_neurons: int = static_field()
    n_groups: int = static_field()
    group_size: int | None = static_field(default=None)

    def pool(self, z: Array) -> Array:
        """Mean of ``z [..., N]`` over each group -> ``[..., G]``."""
        if self.group_size is not None:
            return z.reshape(*z.shape[:-1], self.n_groups, self.group_size).mean(-1)
        return (z @ self.member) / jnp.sum(self.member, axis=0)

    def expand(self, c: Array) -> Array:
        """Group values ``[..., G]`` -> per-neuron values ``[..., N]``."""
        if self.group_size is not None:
            return jnp.repeat(c, self.group_size, axis=-1)
        return c @ self.member.T


def block_groups(n_neurons: int, group_size: int) -> GroupAssignment:
    """Contiguous blocks of ``group_size`` neurons; ``group_size`` must divide ``n_neurons``."""
    for name, v in (("n_neurons", n_neurons), ("group_size", group_size)):
        if not isinstance(v, int | np.integer) or v <= 0:
            raise ValueError(f"{name} must be a positive int; got {v!r}")
    if n_neurons % group_size:
        raise ValueError(
            f"group_size must divide the population size; {group_size} does not divide {n_neurons}"
        )
    return GroupAssignment(None, int(n_neurons), int(n_neurons // group_size), int(group_size))


def map_groups(group_of_neuron: Any, n_groups: int | None = None) -> GroupAssignment:
    """A fixed sparse map: ``group_of_neuron[i]`` is the group (0..G-1) covering neuron ``i``."""
    idx = np.asarray(group_of_neuron)
    if idx.ndim != 1 or idx.size == 0 or not np.issubdtype(idx.dtype, np.integer):
        raise ValueError("group_of_neuron must be a non-empty 1-D integer array")
    n_groups = int(idx.max()) + 1 if n_groups is None else int(n_groups)
    if idx.min() < 0 or idx.max() >= n_groups:
        raise ValueError(f"group_of_neuron must lie in [0, {n_groups - 1}]")
    member = np.zeros((idx.size, n_groups))
    member[np.arange(idx.size), idx] = 1.0
    if np.any(member.sum(0) == 0):
        raise ValueError("every astrocyte group must cover at least one neuron")
    return GroupAssignment(jnp.asarray(member), int(idx.size), n_groups, None)


# --------------------------------------------------------------------------------------------
# 2. Gordleeva et al. 2021 gain with a differentiable gate
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# 3. Astrocyte-modulated spiking unit (project design)
# --------------------------------------------------------------------------------------------


@pytree_dataclass
class AstroModulation:
    """Trainable per-group astrocyte parameters: decay logit ``l``, ``kappa_th``, ``kappa_g``."""

    c_logit: Array
    kappa_th: Array
    kappa_g: Array
    drive_scale: float = static_field(default=1.0)

    @property
    def decay(self) -> Array:
        """``lambda = sigmoid(l) = exp(-dt/tau_c)``."""
        return jax.nn.sigmoid(self.c_logit)


def astro_modulation(n_groups: int, *, tau_c: float | Array = 500.0, dt: float = 1.0,
                     kappa_th: float | Array = 0.0, kappa_g: float | Array = 0.0,
                     drive_scale: float = 1.0) -> AstroModulation:
    """Per-group astrocyte parameters; default ``tau_c = 500 ms`` and zero gains (plain LIF).

    ``drive_scale`` multiplies the pooled spikes (``c`` then tracks the group rate in units of
    ``1/drive_scale`` spikes per step; ``1/(f0 dt)`` measures it against a reference rate f0).
    """
    if not isinstance(n_groups, int | np.integer) or n_groups <= 0:
        raise ValueError(f"n_groups must be a positive int; got {n_groups!r}")
    check_positive("tau_c", tau_c)
    check_positive("dt", dt)
    check_finite("kappa_th", kappa_th)
    check_finite("kappa_g", kappa_g)
    check_positive("drive_scale", drive_scale)
    shape = (int(n_groups),)
    full = lambda v: jnp.broadcast_to(jnp.asarray(v, dtype=float), shape)
    return AstroModulation(full(decay_logit(jnp.asarray(tau_c, dtype=float), dt)),
                           full(kappa_th), full(kappa_g), float(drive_scale))


class AstroUnitState(NamedTuple):
    """Neuron state (LIF or ALIF) and the per-group astrocyte state ``c [..., G]``."""

    neuron: Any
    c: Array


def astro_unit_init(neuron: LIF | ALIF, groups: GroupAssignment,
                    batch: tuple[int, ...] = ()) -> AstroUnitState:
    """Resting state: neuron at rest, ``c = 0``."""
    return AstroUnitState(neuron.init_state((*batch, groups.n_neurons)),
                          jnp.zeros((*batch, groups.n_groups)))


def modulated_neuron(neuron: LIF | ALIF, mod: AstroModulation, groups: GroupAssignment,
                     c: Array) -> tuple[LIF | ALIF, Array]:
    """The neuron parameters with the astrocyte threshold, and the per-neuron input gain."""
    tc = groups.expand(jnp.tanh(c))
    gain = 1.0 + groups.expand(mod.kappa_g) * tc
    th_scale = jnp.maximum(1.0 + groups.expand(mod.kappa_th) * tc, 0.1)
    if isinstance(neuron, ALIF):
        return replace(neuron, thr=neuron.thr * th_scale), gain
    return replace(neuron, v_th=neuron.v_th * th_scale), gain


def astro_unit_step(neuron: LIF | ALIF, mod: AstroModulation, groups: GroupAssignment,
                    state: AstroUnitState, current: Array) -> tuple[AstroUnitState, Array]:
    """One step of the astrocyte-modulated unit (module docstring, section 3).

    With ``kappa_th = kappa_g = 0`` the gain is exactly 1 and the threshold exactly ``V_th``, so
    the neuron update is the plain ``neuron.step`` bit for bit.
    """
    modded, gain = modulated_neuron(neuron, mod, groups, state.c)
    nstate, z = modded.step(state.neuron, gain * current)
    lam = mod.decay
    c = lam * state.c + (1.0 - lam) * mod.drive_scale * groups.pool(z)
    return AstroUnitState(nstate, c), z


__all__ = [
    "ALIFState", "AstroModulation", "AstroUnitState", "GordleevaEventState", "GordleevaEvents",
    "GordleevaGain", "GroupAssignment",
    "LIFState", "LR_DEFAULTS", "LiRinzel", "LiRinzelState", "Tripartite", "astro_modulation",
    "astro_unit_init", "astro_unit_step", "block_groups", "gordleeva_events", "gordleeva_gain",
    "gordleeva_synaptic_current", "li_rinzel", "map_groups", "modulated_neuron", "tripartite",
]
