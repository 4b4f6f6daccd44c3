"""Short-term plasticity on any projection: Tsodyks-Markram release scales what is delivered.

``STP(projection, model)`` wraps a projection: each presynaptic neuron's spikes ``z_i`` are
replaced by the released fraction ``r_i = z_i u_i x_i`` of the Tsodyks-Markram model
(:mod:`neuro.synapses.stp`), so every synapse of neuron ``i`` transmits ``w_ik r_i`` (the
presynaptic form: synapses of one neuron share its spike train and parameters, so their
``u, x`` are equal). ``glio`` (extracellular gliotransmitter, uM) can be supplied by a modulator
through the network; it modulates the resting release probability.
"""

from __future__ import annotations

from typing import Any

import jax

from neuro._pytree import pytree_dataclass
from neuro.synapses.stp import TsodyksMarkram
from neuro.validation import ArgumentTypeError

Array = jax.Array


@pytree_dataclass
class STP:
    """A projection whose presynaptic values pass through Tsodyks-Markram release first."""

    projection: Any
    model: TsodyksMarkram

    def __getattr__(self, name: str) -> Any:  # source, target, channel, n_pre, ... of the inner
        if name in ("projection", "model"):
            raise AttributeError(name)
        return getattr(self.projection, name)

    def init_state(self, batch: tuple[int, ...], dtype: Any = None) -> tuple:
        return (self.model.init_state((*batch, self.projection.n_pre)),
                self.projection.init_state(batch, dtype))

    def release(self, state: tuple, z: Array, glio: Array | float = 0.0) -> tuple[Any, Array]:
        tm, r = self.model.step(state[0], z, glio)
        return tm, r

    def deliver_into(self, state: tuple, z: Array, acc: Array, *, binary: bool = False,
                     glio: Array | float = 0.0) -> tuple[tuple, Array]:
        tm, r = self.release(state, z, glio)
        inner, acc = self.projection.deliver_into(state[1], r, acc, binary=False)
        return (tm, inner), acc

    def deliver(self, state: tuple, z: Array, *, binary: bool = False) -> tuple[tuple, Array]:
        tm, r = self.release(state, z)
        inner, out = self.projection.deliver(state[1], r, binary=False)
        return (tm, inner), out


def stp(projection: Any, model: TsodyksMarkram) -> STP:
    """Wrap ``projection`` with short-term plasticity ``model``."""
    if not isinstance(model, TsodyksMarkram):
        raise ArgumentTypeError(f"model must be a TsodyksMarkram (neuro.synapses.tsodyks_markram); got "
                                f"{type(model).__name__}")
    return STP(projection, model)
