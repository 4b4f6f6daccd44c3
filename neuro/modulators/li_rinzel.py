"""Li-Rinzel astrocytes as a network modulator: tripartite synapses, SIC, Gordleeva gain, glia.

**Li-Rinzel astrocyte with slow inward current** (NEST ``astrocyte_lr_1994``; from the simulator's
code; ``shared/reference/astrocytes.md`` section 1). State ``IP3`` (uM), ``Ca`` (uM), ``h``; time
in ms::

    m_inf = IP3/(IP3 + Kd_IP3_1);  n_inf = Ca/(Ca + Kd_act);  Ca_ER = (Ca_tot - Ca)/r_ER
    J_chan = r_ER rate_IP3R m_inf^3 n_inf^3 h^3 (Ca_ER - Ca)
    J_leak = r_ER rate_L (Ca_ER - Ca);   J_pump = rate_SERCA Ca^2/(Km_SERCA^2 + Ca^2)
    alpha_h = k_IP3R Kd_inh (IP3 + Kd_IP3_1)/(IP3 + Kd_IP3_2);  beta_h = k_IP3R Ca

Discrete time (project design: explicit Euler, dt <= 1 ms; NEST integrates with adaptive RKF45)::

    IP3 <- IP3 + dt (IP3_0 - IP3)/tau_IP3 + delta_IP3 sum_j w_j s_j     (w_j >= 0)
    Ca  <- clip(Ca + dt (J_chan - J_pump + J_leak), 0, Ca_tot)
    h   <- h + dt (alpha_h (1 - h) - beta_h h)
    y = 1000 (Ca - SIC_th)  [nM];   I_SIC = SIC_scale ln(y) if y > 1 else 0

The ``Ca`` and ``h`` updates use the state before the IP3 input of the same step (all three
derivatives at the old state). ``sic_softness > 0`` (project design) replaces ``ln(max(y, 1))``
by ``ln(1 + softplus_s(y - 1))`` so the current has a gradient below threshold. Defaults are
NEST's; the network scaling of NEST's ``astrocyte_brunel`` example is ``delta_IP3 = 0.5,
tau_IP3 = 2 ms``.

**Tripartite modulator** (:func:`tripartite`; NEST's ``TripartiteConnect`` as a part of the
network). Astrocytes ``a`` cover the neurons of ``population`` through a
:class:`~neuro.modulators.coverage.Coverage` ``A [G, N]`` and sense the synapses of projection
``synapses`` onto them: presynaptic neuron ``j`` reaches astrocyte ``a`` with weight
``w_in[j, a] = w_sense sum_k C[j, k] A[a, k]`` (``C`` the projection's 0/1 structure, so one
pre->astrocyte connection per covered synapse, as NEST's ``third_in``). Within the network step
(:mod:`neuro.network`; ``s_j`` what arrives at the synapses this step: the source's spikes of the
previous step, or an input's ``x_t``; the projection's extra delay is not applied)::

    modulate:  (IP3, Ca, h) <- Li-Rinzel step with drive sum_j s_j w_in[j, a]
               I_i   += sic_gain_i sum_a A[a, i] I_SIC,a          (slow inward current, NEST's
                                                                 sic_connection; Drive.current)
               gain_i *= 1 + (aep/g_syn) sum_a A[a, i] sigmoid(s (Ca_a - Ca_th))
                                        (Gordleeva et al. 2021, differentiable gate; Drive.gain)
               G_A   <- glia release step with Ca (:class:`neuro.synapses.stp.GliaRelease`)
    next step: the STP projection ``synapses`` receives glio_j = sum_a F[a, j] G_A,a
               (F: the fraction of j's synapses covered by a), which binds presynaptic receptors
               and shifts the release probability U_0 (De Pitta / Stimberg et al. 2018).

``sic_gain = 0``, ``aep = 0`` (or no ``gordleeva``) and no ``release`` leave the network exactly
as without the modulator (tests/modulators). The step is differentiable except for the ``Ca``
clip and the SIC kink (use ``sic_softness > 0``) and the glia release event (use its
``edge_sharpness > 0``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from neuro._pytree import pytree_dataclass, static_field
from neuro.modulators._attach import population_size, presynaptic, projection
from neuro.modulators.coverage import Coverage, as_coverage
from neuro.modulators.gordleeva import GordleevaGain
from neuro.network import Modulator, StepView
from neuro.neurons.drive import Drive
from neuro.synapses.stp import GliaRelease, GliaReleaseState
from neuro.validation import check_finite, check_positive

Array = jax.Array

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


class TripartiteState(NamedTuple):
    """Astrocyte state and gliotransmitter release state (None without release)."""

    astro: LiRinzelState
    glia: GliaReleaseState | None


@pytree_dataclass
class Tripartite(Modulator):
    """Li-Rinzel astrocytes attached to ``population`` and the synapses from ``source``."""

    astro: LiRinzel
    w_in: Array  # [n_pre, G] >= 0
    coverage: Coverage
    sic_gain: Array  # scalar or [N]
    gordleeva: GordleevaGain | None
    release: GliaRelease | None
    glio_map: Array | None  # [G, n_pre]
    population: str = static_field()
    source: str = static_field()
    glio_projection: str | None = static_field(default=None)

    def init_state(self, net: Any, batch: tuple[int, ...], dtype: Any) -> TripartiteState:
        n = population_size(net, self.population, "tripartite")
        if n != self.coverage.n_neurons:
            raise ValueError(f"tripartite: the coverage maps {self.coverage.n_neurons} neurons "
                             f"but population {self.population!r} has {n}")
        sizes = {**{k: p.size for k, p in net.populations.items()}, **net.input_sizes}
        if self.source not in sizes or sizes[self.source] != self.w_in.shape[0]:
            raise ValueError(f"tripartite: source {self.source!r} must be a population or input "
                             f"of {self.w_in.shape[0]} neurons ({sizes})")
        if self.glio_projection is not None:
            proj = projection(net, self.glio_projection, "tripartite")
            if not hasattr(proj, "release"):
                raise ValueError(f"tripartite: gliotransmitter release needs projection "
                                 f"{self.glio_projection!r} wrapped in projections.stp")
        cast = lambda t: jax.tree_util.tree_map(lambda a: a.astype(dtype), t)
        g = self.coverage.n_astro
        astro = cast(self.astro.init_state((*batch, g)))
        glia = None if self.release is None else cast(
            self.release.init_state((*batch, g), ca0=float(LR_CA0)))
        return TripartiteState(astro, glia)

    def projection_inputs(self, state: TripartiteState) -> dict[str, dict[str, Array]]:
        if self.release is None:
            return {}
        return {self.glio_projection: {"glio": state.glia.g_a @ self.glio_map}}

    def modulate(self, state: TripartiteState, view: StepView
                 ) -> tuple[TripartiteState, dict[str, Drive]]:
        dtype = state.astro.ca.dtype
        s = presynaptic(view, self.source, dtype)
        astro, sic = self.astro.step(state.astro, s @ self.w_in.astype(dtype))
        current = self.sic_gain * self.coverage.expand(sic)
        gain = 1.0
        if self.gordleeva is not None:
            g = self.gordleeva
            gain = 1.0 + (g.aep / g.g_syn) * self.coverage.expand(g.gate(astro.ca))
        glia = state.glia
        if self.release is not None:
            glia, _ = self.release.step(glia, astro.ca)
        return TripartiteState(astro, glia), {self.population: Drive(current, None, gain)}


def synapse_structure(proj: Any) -> np.ndarray:
    """The 0/1 structure ``C [n_pre, n_post]`` of a Dense, Sparse or STP-wrapped projection
    (any channel, any delay): 1 where a synapse exists (a Sparse table entry counts even if its
    weight is 0; a Dense synapse exists where its mask allows it)."""
    inner = getattr(proj, "projection", proj)
    if hasattr(inner, "targets"):
        c = np.zeros((inner.n_pre, inner.n_post))
        t = np.asarray(inner.targets)[:-1]
        rows, cols = np.nonzero(t != inner.sink)
        c[rows, t[rows, cols] % inner.n_post] = 1.0
        return c
    if inner.mask is None:
        return np.ones((inner.n_pre, inner.n_post))
    return np.asarray(inner.mask, float)


def tripartite(
    population: str,
    covers: Coverage | int,
    *,
    synapses: tuple[str, Any] | None = None,
    source: str | None = None,
    w_in: Any = None,
    astro: LiRinzel | None = None,
    sense_weight: float = 1.0,
    sic_gain: float | Array = 1.0,
    gordleeva: GordleevaGain | None = None,
    release: GliaRelease | None = None,
) -> Tripartite:
    """Li-Rinzel astrocytes covering ``population`` (see the module docstring).

    Either ``synapses=(name, projection)`` (the astrocytes sense that projection's synapses onto
    ``population``: ``w_in = sense_weight C A^T``; ``release`` then sends gliotransmitter to that
    projection, which must be wrapped in :func:`neuro.projections.stp`), or ``source`` (a
    population or input) with an explicit non-negative ``w_in [n_pre, G]``. ``covers``: a
    Coverage or a block size. ``astro`` defaults to :func:`li_rinzel` with NEST's values.
    ``sic_gain`` (scalar or ``[N]``) scales the SIC into the neurons' current.
    """
    astro = li_rinzel() if astro is None else astro
    if not isinstance(astro, LiRinzel):
        raise TypeError(f"astro must be a LiRinzel (li_rinzel()); got {type(astro).__name__}")
    check_positive("sense_weight", sense_weight, allow_zero=True)
    check_finite("sic_gain", sic_gain)
    if (synapses is None) == (source is None):
        raise ValueError("tripartite needs either synapses=(name, projection) or source with w_in")
    glio_projection, glio_map = None, None
    if synapses is not None:
        name, proj = synapses
        if proj.target != population:
            raise ValueError(f"tripartite: projection {name!r} targets {proj.target!r}, not the "
                             f"covered population {population!r}")
        cov = as_coverage(covers, proj.n_post)
        counts = synapse_structure(proj) @ cov.matrix().T  # [n_pre, G]
        w_in = sense_weight * counts
        source = proj.source
        if release is not None:
            tot = counts.sum(1, keepdims=True)
            glio_map = jnp.asarray((counts / np.where(tot > 0, tot, 1.0)).T)
            glio_projection = name
    else:
        if w_in is None:
            raise ValueError("tripartite: give w_in [n_pre, n_astro] with source")
        if release is not None:
            raise ValueError("tripartite: gliotransmitter release needs synapses=(name, stp "
                             "projection)")
        w_in = np.asarray(w_in, float)
        if not isinstance(covers, Coverage):
            raise ValueError("tripartite: with source and w_in, covers must be a Coverage")
        cov = covers
    w_in = np.asarray(w_in, float)
    check_positive("w_in", w_in, allow_zero=True)  # astrocytes sense release: no negative weights
    if w_in.ndim != 2 or w_in.shape[1] != cov.n_astro:
        raise ValueError(f"w_in must be [n_pre, {cov.n_astro}]; got shape {w_in.shape}")
    if gordleeva is not None and not isinstance(gordleeva, GordleevaGain):
        raise TypeError("gordleeva must be a GordleevaGain (gordleeva_gain())")
    if gordleeva is not None and float(np.min(np.asarray(gordleeva.g_syn))) <= 0:
        raise ValueError("gordleeva.g_syn must be positive (the gain is g_eff / g_syn)")
    if release is not None and not isinstance(release, GliaRelease):
        raise TypeError("release must be a GliaRelease (neuro.synapses.stp.glia_release())")
    return Tripartite(astro, jnp.asarray(w_in), cov, jnp.asarray(sic_gain, dtype=float),
                      gordleeva, release, glio_map, str(population), str(source),
                      glio_projection)


__all__ = ["LR_CA0", "LR_DEFAULTS", "LR_H0", "LiRinzel", "LiRinzelState", "Tripartite",
           "TripartiteState", "li_rinzel", "synapse_structure", "tripartite"]
