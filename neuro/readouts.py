"""Readouts: the non-spiking outputs of a network.

:class:`Leaky` (e-prop / LSNN output layer; ``kappa = exp(-dt/tau)``, weights ``[pre, out]``)::

    y_t = kappa y_{t-1} + (1 - kappa) (z_t W + b)        (filtered, default)
    y_t = kappa y_{t-1} + z_t W + b                      (scale_input=False: a leaky sum)

It reads the spikes ``z_t`` that its ``source`` population emits in the same step.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from neuro._pytree import pytree_dataclass, static_field
from neuro.validation import (
    ConfigError,
    as_float_array,
    check_finite,
    check_memory,
    check_positive,
    check_scalar,
)

Array = jax.Array


@pytree_dataclass
class Leaky:
    """Leaky readout of population ``source``; see the module docstring."""

    w: Array
    b: Array
    tau: Array
    source: str = static_field()
    dt: float = static_field(default=1.0)
    scale_input: bool = static_field(default=True)

    @property
    def n_in(self) -> int:
        return int(self.w.shape[0])

    @property
    def n_out(self) -> int:
        return int(self.w.shape[1])

    @property
    def kappa(self) -> Array:
        return jnp.exp(-self.dt / self.tau)

    def init_state(self, batch: tuple[int, ...], dtype: Any = None) -> Array:
        return jnp.zeros((*batch, self.n_out), dtype or self.w.dtype)

    def step(self, y: Array, z: Array) -> tuple[Array, Array]:
        k = self.kappa
        drive = z.astype(self.w.dtype) @ self.w + self.b
        y = k * y + ((1.0 - k) * drive if self.scale_input else drive)
        return y, y


def leaky(
    source: str,
    n_out: int | None = None,
    *,
    key: Array | None = None,
    n_in: int | None = None,
    w: Any = None,
    tau: float | Array = 20.0,
    dt: float = 1.0,
    gain: float = 1.0,
    scale_input: bool = True,
    dtype: Any = None,
) -> Leaky:
    """A leaky readout of ``source``: ``w`` given, or ``W ~ N(0, gain^2/n_in)`` from ``key``."""
    check_positive("tau", tau)
    check_positive("dt", dt)
    dtype = dtype or float
    if w is None:
        if key is None or n_in is None or n_out is None:
            raise ConfigError("leaky needs either w or key, n_in and n_out")
        for name, n in (("n_in", n_in), ("n_out", n_out)):
            if isinstance(n, bool) or not isinstance(n, int | np.integer) or n <= 0:
                raise ConfigError(f"{name} must be a positive int; got {n!r}")
        gain = check_scalar("gain", gain)
        check_memory(f"readout weights {n_in} x {n_out}", 4.0 * n_in * n_out)
        w = jax.random.normal(key, (int(n_in), int(n_out))) * (gain / np.sqrt(n_in))
    w = as_float_array("w", w, dtype, finite=False)
    if w.ndim != 2:
        raise ConfigError(f"w must be a [n_in, n_out] matrix; got shape {w.shape}")
    check_finite("w", w)
    return Leaky(w, jnp.zeros((w.shape[1],), dtype), jnp.asarray(tau, dtype), source, float(dt),
                 bool(scale_input))
