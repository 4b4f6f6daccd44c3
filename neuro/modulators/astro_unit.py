"""Trainable astrocyte modulation of threshold and gain (project design, in the spirit of AM-SU).

Shen et al., arXiv 2312.07625 (2023), "AM-SU" / AstroSNN: the paper's equations are unknown; this
is the project design of ``shared/reference/astrocytes.md`` section 4. Each astrocyte ``a`` of a
:class:`~neuro.modulators.coverage.Coverage` ``A [G, N]`` of population ``population`` carries a
slow state ``c_a``; within the network step ``t`` (:mod:`neuro.network`)::

    modulate (before the neurons):   gain_i  = 1 + sum_a A[a, i] kappa_g[a]  tanh c_{a, t-1}
                                     thr_i   = max(1 + sum_a A[a, i] kappa_th[a] tanh c_{a, t-1}, 0.1)
                                     -> Drive(gain=gain, threshold=thr)  (V_th,eff = V_th thr_i)
    learn (after the neurons fired): c_{a, t} = lambda_a c_{a, t-1} + (1 - lambda_a) D pool_a(z_t),
                                     lambda_a = sigmoid(l_a) = exp(-dt / tau_c,a)

``pool_a`` is the mean spike of the astrocyte's domain; ``D`` (``drive_scale``, default 1) sets
the unit of ``c``: with ``D = 1`` ``c`` is the domain's spike probability per step (about 0.1 at
10 Hz and 10 ms steps), so the gains must grow to O(10) before the astrocyte matters and training
from zero gains barely moves them (measured, see ``tasks/memory.py``); ``D = 1/(f0 dt)`` measures
the rate against a reference rate ``f0`` (``c ~ 1`` at ``f0``), which the memory networks use.
The previous step's ``c`` is used (causal: no algebraic loop). ``l, kappa_th, kappa_g`` are
trainable float leaves. With ``kappa_th = kappa_g = 0`` the gain and threshold factors are exactly
1, so the population steps bit for bit as without the modulator (tests/modulators).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from neuro._pytree import pytree_dataclass, static_field
from neuro.modulators._attach import population_size
from neuro.modulators.coverage import Coverage, as_coverage
from neuro.network import Modulator, StepView
from neuro.neurons.drive import Drive
from neuro.neurons.heterogeneity import decay_logit
from neuro.validation import check_finite, check_positive

Array = jax.Array


@pytree_dataclass
class AstroModulation(Modulator):
    """Per-astrocyte decay logit ``c_logit``, ``kappa_th`` and ``kappa_g`` on ``population``."""

    c_logit: Array
    kappa_th: Array
    kappa_g: Array
    coverage: Coverage
    population: str = static_field()
    drive_scale: float = static_field(default=1.0)

    @property
    def decay(self) -> Array:
        """``lambda = sigmoid(l) = exp(-dt/tau_c)``."""
        return jax.nn.sigmoid(self.c_logit)

    def init_state(self, net: Any, batch: tuple[int, ...], dtype: Any) -> Array:
        """``c = 0`` ``[..., G]``."""
        n = population_size(net, self.population, "astro_modulation")
        if n != self.coverage.n_neurons:
            raise ValueError(f"astro_modulation: the coverage maps {self.coverage.n_neurons} "
                             f"neurons but population {self.population!r} has {n}")
        return jnp.zeros((*batch, self.coverage.n_astro), dtype)

    def factors(self, c: Array) -> tuple[Array, Array]:
        """Per-neuron ``(gain, threshold)`` factors for the astrocyte state ``c``."""
        tc = jnp.tanh(c)
        gain = 1.0 + self.coverage.expand(self.kappa_g * tc)
        threshold = jnp.maximum(1.0 + self.coverage.expand(self.kappa_th * tc), 0.1)
        return gain, threshold

    def modulate(self, c: Array, view: StepView) -> tuple[Array, dict[str, Drive]]:
        gain, threshold = self.factors(c)
        return c, {self.population: Drive(0.0, None, gain, threshold)}

    def learn(self, c: Array, view: StepView) -> Array:
        z = view.z[self.population].astype(c.dtype)
        lam = self.decay
        return lam * c + (1.0 - lam) * self.drive_scale * self.coverage.pool(z)

    def select(self, keep) -> AstroModulation:
        """Cut to the kept neurons of ``population``; astrocytes left covering none are dropped."""
        if self.population not in keep:
            return self
        coverage, astro = self.coverage.select(keep[self.population])
        return type(self)(self.c_logit[astro], self.kappa_th[astro], self.kappa_g[astro],
                          coverage, self.population, self.drive_scale)

    def without_gains(self) -> AstroModulation:
        """The same modulator with ``kappa_th = kappa_g = 0`` (the no-astrocyte ablation)."""
        return type(self)(self.c_logit, jnp.zeros_like(self.kappa_th),
                          jnp.zeros_like(self.kappa_g), self.coverage, self.population,
                          self.drive_scale)


def astro_modulation(
    population: str,
    covers: Coverage | int,
    n_neurons: int | None = None,
    *,
    tau_c: float | Array = 500.0,
    dt: float = 1.0,
    kappa_th: float | Array = 0.0,
    kappa_g: float | Array = 0.0,
    drive_scale: float = 1.0,
) -> AstroModulation:
    """Astrocyte modulation of ``population``; default ``tau_c = 500 ms``, zero gains.

    ``covers``: a :class:`~neuro.modulators.coverage.Coverage`, or a block size (then
    ``n_neurons`` is required). ``tau_c`` (ms), ``kappa_th`` and ``kappa_g`` are scalars or
    per-astrocyte arrays ``[G]``. ``drive_scale``: the unit of ``c`` (module docstring).
    """
    if not isinstance(covers, Coverage):
        if n_neurons is None:
            raise ValueError("astro_modulation: give n_neurons with a block size, or a Coverage")
        covers = as_coverage(covers, int(n_neurons))
    elif n_neurons is not None and n_neurons != covers.n_neurons:
        raise ValueError(f"n_neurons = {n_neurons} but the coverage maps {covers.n_neurons}")
    check_positive("tau_c", tau_c)
    check_positive("dt", dt)
    check_finite("kappa_th", kappa_th)
    check_finite("kappa_g", kappa_g)
    check_positive("drive_scale", drive_scale)
    shape = (covers.n_astro,)
    for name, v in (("tau_c", tau_c), ("kappa_th", kappa_th), ("kappa_g", kappa_g)):
        if np.ndim(v) and np.shape(v) != shape:
            raise ValueError(f"{name} must be a scalar or have shape {shape}; got {np.shape(v)}")
    full = lambda v: jnp.broadcast_to(jnp.asarray(v, dtype=float), shape)
    return AstroModulation(full(decay_logit(jnp.asarray(tau_c, dtype=float), dt)),
                           full(kappa_th), full(kappa_g), covers, str(population),
                           float(drive_scale))


__all__ = ["AstroModulation", "astro_modulation"]
