"""Heterogeneous per-neuron time constants (project design following HRSNN, neurons.md §6).

``tau_i ~ Gamma(k, theta)`` i.i.d. with mean ``k theta`` (CV ``1/sqrt(k)``), clipped to
``[low, high]`` ms. Default k = 4, mean 20 ms, bounds [2, 200] ms. For training, the decay can be
parametrised as ``alpha_i = sigmoid(a_i)`` so that ``0 < alpha_i < 1`` always holds
(Perez-Nieves et al., Nat. Commun. 2021).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from neuro.validation import ConfigError, check_positive


def gamma_time_constants(
    key: jax.Array, n: int, *, k: float = 4.0, mean: float = 20.0, low: float = 2.0,
    high: float = 200.0,
) -> jax.Array:
    """``n`` time constants (ms) drawn from Gamma(k, mean/k), clipped to ``[low, high]``."""
    if not isinstance(n, int) or n <= 0:
        raise ConfigError(f"n must be a positive int; got {n!r}")
    for name, value in (("k", k), ("mean", mean), ("low", low), ("high", high)):
        check_positive(name, value)
    if low >= high:
        raise ConfigError(f"low must be below high; got low={low}, high={high}")
    tau = jax.random.gamma(key, k, (n,)) * (mean / k)
    return jnp.clip(tau, low, high)


def decay_logit(tau: jax.Array, dt: float = 1.0) -> jax.Array:
    """The logit ``a`` with ``sigmoid(a) = exp(-dt/tau)``: a trainable, always-valid decay."""
    alpha = jnp.exp(-dt / jnp.asarray(tau, dtype=float))
    return jnp.log(alpha) - jnp.log1p(-alpha)


def tau_from_logit(a: jax.Array, dt: float = 1.0) -> jax.Array:
    """Inverse of :func:`decay_logit`: ``tau = -dt / log(sigmoid(a))``."""
    return -dt / jax.nn.log_sigmoid(a)
