"""What a population receives in one step: :class:`Drive`.

The network sums everything that acts on a population into one ``Drive`` and hands it to the
neuron's ``step(state, drive)``, so no part needs to know the type of another part:

* ``current``     ``[..., N]``: summed input current (delta and current-based synapses, slow inward
  currents of astrocytes, external drive), in the neuron's input units;
* ``conductance`` ``[..., C, N]`` or ``None``: per-channel synaptic conductances (in units of the
  leak conductance) for conductance-based neurons; each channel ``c`` pulls ``v`` towards the
  neuron's reversal potential ``E_c``;
* ``gain``        multiplicative input gain (1 = none), applied to ``current``;
* ``threshold``   multiplicative threshold scale (1 = none): ``V_th,eff = V_th * threshold``.

``gain`` and ``threshold`` carry modulation (e.g. the trainable astrocyte modulation). A neuron
that has no use for a field it is given rejects it at network construction (see
:func:`neuro.network.Network`), never silently.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from neuro.validation import ConfigError

Array = jax.Array


class Drive(NamedTuple):
    """Input of one population for one step; see the module docstring."""

    current: Array
    conductance: Array | None = None
    gain: Array | float = 1.0
    threshold: Array | float = 1.0


class SpikingNeuron:
    """Shared members of neurons whose state has a membrane ``v`` and whose spikes go through
    :func:`neuro.spikes.spike` with their ``surrogate`` (LIF, IF, ALIF)."""

    @staticmethod
    def membrane(state: Any) -> Array:
        """The membrane potential reported as ``v``."""
        return state.v

    @property
    def binary(self) -> bool:
        """Spikes are exactly 0 or 1 (event-driven projections skip the value product); not so
        for the smoothed map, whose spikes are graded (``surrogate.smooth``)."""
        return not self.surrogate.smooth


def as_drive(x: Any) -> Drive:
    """``x`` if it is a :class:`Drive`, else ``Drive(current=x)`` (a plain current array)."""
    if isinstance(x, Drive):
        return x
    return Drive(jnp.asarray(x))


def modulated_current(drive: Drive) -> Array:
    """``gain * current`` (skips the product when the gain is the literal 1.0)."""
    if isinstance(drive.gain, float) and drive.gain == 1.0:
        return drive.current
    return drive.gain * drive.current


def scaled_threshold(v_th: Array, drive: Drive) -> Array:
    """``V_th * threshold`` (skips the product when the scale is the literal 1.0)."""
    if isinstance(drive.threshold, float) and drive.threshold == 1.0:
        return v_th
    return v_th * drive.threshold


def reject_conductance(neuron: Any, drive: Drive) -> None:
    """Raise if a current-based neuron is handed conductances (they would otherwise be ignored)."""
    if drive.conductance is not None:
        raise ConfigError(f"{type(neuron).__name__} is current-based and cannot take synaptic "
                          "conductances; use neurons.conductance_lif or a current synapse")
