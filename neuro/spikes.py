"""Spike function: exact Heaviside forward, surrogate gradient backward.

Forward ``H(x) = 1 if x >= 0 else 0`` (``H(0) = 1`` as in braintools). Backward replaces the Dirac
delta by a smooth pseudo-derivative ``g'(x)``; the surrogate is a hashable, static object, so one
compiled function exists per surrogate shape and its parameters.

Surrogate family (``x`` is the scaled distance to threshold; names follow braintools):

=================  ===========================================  =================
name               g'(x)                                         defaults
=================  ===========================================  =================
``sigmoid``        alpha * s(alpha x) (1 - s(alpha x))           alpha = 4
``triangle``       alpha * max(0, width - |x|)   (ReluGrad)      alpha = 0.3, width = 1
``inverse_square`` 1 / (alpha |x| + 1)^2         (InvSquareGrad) alpha = 100
``arctan``         (alpha/2) / (1 + (pi alpha x / 2)^2)          alpha = 2
``custom``         a user function ``g(x) -> array``
=================  ===========================================  =================

The sigmoid, arctan and inverse-square surrogates integrate to 1 (resp. 2/alpha), triangle to
alpha * width^2; ``g'(0)`` is alpha/4, alpha*width, 1 and alpha/2.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp

SURROGATES = ("sigmoid", "triangle", "inverse_square", "arctan", "custom")
_DEFAULTS = {
    "sigmoid": (4.0, 1.0),
    "triangle": (0.3, 1.0),
    "inverse_square": (100.0, 1.0),
    "arctan": (2.0, 1.0),
    "custom": (1.0, 1.0),
}


@dataclasses.dataclass(frozen=True)
class Surrogate:
    """A surrogate gradient shape: hashable, so it can be static configuration under ``jit``."""

    name: str = "sigmoid"
    alpha: float = 4.0
    width: float = 1.0
    fn: Callable[[jax.Array], jax.Array] | None = None
    smooth: bool = False

    def __post_init__(self) -> None:
        if self.name not in SURROGATES:
            raise ValueError(f"surrogate must be one of {SURROGATES}; got {self.name!r}")
        if self.name == "custom" and self.fn is None:
            raise ValueError("surrogate 'custom' needs fn, a function x -> g'(x)")
        if not (math.isfinite(self.alpha) and self.alpha > 0):
            raise ValueError(f"surrogate alpha must be positive and finite; got {self.alpha}")
        if not (math.isfinite(self.width) and self.width > 0):
            raise ValueError(f"surrogate width must be positive and finite; got {self.width}")

    def grad(self, x: jax.Array) -> jax.Array:
        """The pseudo-derivative g'(x)."""
        a, w = self.alpha, self.width
        if self.name == "sigmoid":
            s = jax.nn.sigmoid(a * x)
            return a * s * (1.0 - s)
        if self.name == "triangle":
            return a * jnp.maximum(0.0, w - jnp.abs(x))
        if self.name == "inverse_square":
            return 1.0 / (a * jnp.abs(x) + 1.0) ** 2
        if self.name == "arctan":
            return (a / 2.0) / (1.0 + (jnp.pi * a * x / 2.0) ** 2)
        return self.fn(x)  # custom

    def antiderivative(self, x: jax.Array) -> jax.Array:
        """``G(x) = int_{-inf}^x g'(s) ds``: the smooth function whose derivative is the surrogate
        (sigmoid ``s(alpha x)``; arctan ``1/2 + arctan(pi alpha x / 2)/pi``; the triangle's
        piecewise quadratic ramp to ``alpha width^2``; inverse-square's rational ramp to 2/alpha)."""
        a, w = self.alpha, self.width
        if self.name == "sigmoid":
            return jax.nn.sigmoid(a * x)
        if self.name == "arctan":
            return 0.5 + jnp.arctan(jnp.pi * a * x / 2.0) / jnp.pi
        if self.name == "triangle":
            xc = jnp.clip(x, -w, w)
            below = a * (xc + w) ** 2 / 2.0
            above = a * (w * w / 2.0 + w * xc - xc * xc / 2.0)
            return jnp.where(xc < 0, below, above)
        if self.name == "inverse_square":
            return jnp.where(x <= 0, 1.0 / (a * (1.0 - a * jnp.minimum(x, 0.0))),
                             (2.0 - 1.0 / (1.0 + a * jnp.maximum(x, 0.0))) / a)
        raise ValueError("a custom surrogate has no known antiderivative: the smoothed map needs "
                         "one of sigmoid, triangle, inverse_square, arctan")


def smoothed(s: Surrogate) -> Surrogate:
    """The same surrogate with ``smooth=True``: :func:`spike` then returns its antiderivative
    ``G(x)`` instead of ``H(x)`` (the smoothed map of a spiking network, lnp.md §4)."""
    s.antiderivative(jnp.zeros(()))  # raises for a custom surrogate
    return dataclasses.replace(s, smooth=True)


def surrogate(name: str | Surrogate = "sigmoid", **kwargs: float) -> Surrogate:
    """Build a surrogate by name with its default parameters, overridable by ``alpha``/``width``.

    >>> surrogate("triangle").alpha
    0.3
    """
    if isinstance(name, Surrogate):
        return dataclasses.replace(name, **kwargs) if kwargs else name
    if name not in _DEFAULTS:
        raise ValueError(f"surrogate must be one of {SURROGATES}; got {name!r}")
    alpha, width = _DEFAULTS[name]
    fn = kwargs.pop("fn", None)
    unknown = set(kwargs) - {"alpha", "width"}
    if unknown:
        raise TypeError(f"surrogate takes alpha, width (and fn for 'custom'); got {sorted(unknown)}")
    return Surrogate(name, float(kwargs.get("alpha", alpha)), float(kwargs.get("width", width)), fn)


@partial(jax.custom_jvp, nondiff_argnums=(1,))
def spike(x: jax.Array, surrogate: Surrogate = Surrogate()) -> jax.Array:
    """Heaviside step ``(x >= 0)`` in ``x.dtype`` with the surrogate's derivative as its gradient
    (``surrogate.smooth``: the antiderivative ``G(x)`` of the surrogate, whose true derivative it
    is)."""
    x = jnp.asarray(x)
    dtype = x.dtype if jnp.issubdtype(x.dtype, jnp.floating) else float
    if surrogate.smooth:
        return surrogate.antiderivative(x.astype(dtype)).astype(dtype)
    return (x >= 0).astype(dtype)


@spike.defjvp
def _spike_jvp(surrogate: Surrogate, primals: tuple, tangents: tuple) -> tuple:
    (x,), (dx,) = primals, tangents
    z = spike(x, surrogate)
    return z, surrogate.grad(jnp.asarray(x)).astype(z.dtype) * dx
