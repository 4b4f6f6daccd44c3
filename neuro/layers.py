"""Building blocks of spiking networks: dense weights, recurrent spiking layers, exponential
synaptic current and a leaky readout. Each is a pytree; each stateful block has ``init_state`` and
a pure ``step(state, x) -> (state, out)``.

Conventions (neurons.md §0): inputs ``x_t`` are ``[batch, n_in]``, weights ``[n_in, n_out]``, the
dense product ``x @ W`` is the reference implementation.

* :class:`Dense`: ``y = x W + b``; init ``W ~ N(0, gain^2 / n_in)``.
* :class:`SpikingDense`: ``z_t = neuron(x_t W + b)`` (feed-forward spiking layer).
* :class:`Recurrent`: ``I_t = x_t W_in + z_{t-1} W_rec + b``, ``z_t = neuron(I_t)``; the diagonal of
  ``W_rec`` is masked when ``self_connections=False`` (as in LSNN / e-prop). The input projection
  does not depend on the state, so :meth:`Recurrent.project` computes it for all steps at once
  (one large matmul outside the time loop) and :meth:`Recurrent.step_projected` consumes it.
* :class:`ExpSynapse`: ``I_t = exp(-dt/tau) I_{t-1} + x_t`` (exponential current synapse, exact).
* :class:`LeakyReadout`: ``v_t = kappa v_{t-1} + (1 - kappa)(z_t W + b)``, ``kappa = exp(-dt/tau)``,
  the non-spiking output layer of e-prop / LSNN.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from neuro._pytree import pytree_dataclass, static_field
from neuro.validation import check_last_dim, check_positive

Array = jax.Array


@pytree_dataclass
class Dense:
    """Affine map ``x @ w + b`` with ``w: [n_in, n_out]``."""

    w: Array
    b: Array

    @property
    def n_in(self) -> int:
        return self.w.shape[0]

    @property
    def n_out(self) -> int:
        return self.w.shape[1]

    def __call__(self, x: Array) -> Array:
        return x @ self.w + self.b


def dense(key: Array, n_in: int, n_out: int, *, gain: float = 1.0, bias: bool = True) -> Dense:
    """A :class:`Dense` with ``W ~ N(0, gain^2/n_in)`` and zero bias (``bias=False``: fixed zero)."""
    for name, n in (("n_in", n_in), ("n_out", n_out)):
        if not isinstance(n, int) or n <= 0:
            raise ValueError(f"{name} must be a positive int; got {n!r}")
    check_positive("gain", gain, allow_zero=True)
    w = jax.random.normal(key, (n_in, n_out)) * (gain / jnp.sqrt(n_in))
    return Dense(w, jnp.zeros((n_out,)))


@pytree_dataclass
class SpikingDense:
    """Feed-forward spiking layer ``z_t = neuron(x_t W + b)``."""

    dense: Dense
    neuron: Any

    def init_state(self, batch: int) -> Any:
        return self.neuron.init_state((batch, self.dense.n_out))

    def step(self, state: Any, x: Array) -> tuple[Any, Array]:
        return self.neuron.step(state, self.dense(x))


class RecurrentState(NamedTuple):
    """Neuron state and the previous step's spikes ``z`` (fed back through ``W_rec``)."""

    neuron: Any
    z: Array


@pytree_dataclass
class Recurrent:
    """Recurrent spiking layer; see the module docstring."""

    w_in: Array
    w_rec: Array
    b: Array
    neuron: Any
    self_connections: bool = static_field(default=False)

    @property
    def size(self) -> int:
        return self.w_rec.shape[0]

    @property
    def recurrent_weights(self) -> Array:
        """``W_rec`` with the diagonal removed unless self-connections are allowed."""
        if self.self_connections:
            return self.w_rec
        return self.w_rec * (1.0 - jnp.eye(self.size, dtype=self.w_rec.dtype))

    def init_state(self, batch: int) -> RecurrentState:
        shape = (batch, self.size)
        return RecurrentState(self.neuron.init_state(shape), jnp.zeros(shape, dtype=float))

    def project(self, xs: Array) -> Array:
        """Input currents ``x_t W_in + b`` for every step of ``xs`` ``[T, batch, n_in]`` at once."""
        return xs @ self.w_in + self.b

    def step_projected(self, state: RecurrentState, current: Array) -> tuple[RecurrentState, Array]:
        """One step given the projected input current ``x_t W_in + b``."""
        neuron, z = self.neuron.step(state.neuron, current + state.z @ self.recurrent_weights)
        return RecurrentState(neuron, z), z

    def step(self, state: RecurrentState, x: Array) -> tuple[RecurrentState, Array]:
        return self.step_projected(state, x @ self.w_in + self.b)


def recurrent(
    key: Array, n_in: int, n: int, neuron: Any, *, in_gain: float = 1.0, rec_gain: float = 1.0,
    self_connections: bool = False,
) -> Recurrent:
    """A :class:`Recurrent` layer with ``W_in ~ N(0, in_gain^2/n_in)``, ``W_rec ~ N(0, rec_gain^2/n)``."""
    k_in, k_rec = jax.random.split(key)
    w_in = dense(k_in, n_in, n, gain=in_gain).w
    w_rec = dense(k_rec, n, n, gain=rec_gain).w
    return Recurrent(w_in, w_rec, jnp.zeros((n,)), neuron, self_connections)


@pytree_dataclass
class ExpSynapse:
    """Exponential current synapse ``I_t = exp(-dt/tau) I_{t-1} + x_t`` (tau in ms)."""

    tau: Array
    dt: float = static_field(default=1.0)

    def init_state(self, shape: tuple[int, ...]) -> Array:
        return jnp.zeros(shape, dtype=float)

    def step(self, current: Array, x: Array) -> tuple[Array, Array]:
        current = jnp.exp(-self.dt / self.tau) * current + x
        return current, current


def exp_synapse(tau: float | Array = 5.0, *, dt: float = 1.0) -> ExpSynapse:
    check_positive("tau", tau)
    check_positive("dt", dt)
    return ExpSynapse(jnp.asarray(tau, dtype=float), float(dt))


@pytree_dataclass
class LeakyReadout:
    """Leaky non-spiking readout ``v_t = kappa v_{t-1} + (1 - kappa)(z_t W + b)`` (tau in ms)."""

    dense: Dense
    tau: Array
    dt: float = static_field(default=1.0)

    def init_state(self, batch: int) -> Array:
        return jnp.zeros((batch, self.dense.n_out), dtype=float)

    def step(self, v: Array, z: Array) -> tuple[Array, Array]:
        kappa = jnp.exp(-self.dt / self.tau)
        v = kappa * v + (1.0 - kappa) * self.dense(z)
        return v, v


def leaky_readout(key: Array, n_in: int, n_out: int, *, tau: float = 20.0, dt: float = 1.0,
                  gain: float = 1.0) -> LeakyReadout:
    check_positive("tau", tau)
    check_positive("dt", dt)
    return LeakyReadout(dense(key, n_in, n_out, gain=gain), jnp.asarray(tau, dtype=float), float(dt))


def check_input(name: str, x: Array, n_in: int) -> None:
    """Validate a user input array: last dimension ``n_in`` and no NaN (named in the error)."""
    check_last_dim(name, x, n_in)
    # NumPy, not jnp: a concrete array captured under jit must not become a tracer here.
    if not isinstance(x, jax.core.Tracer) and np.isnan(np.asarray(x)).any():
        raise ValueError(f"{name} contains NaN")
