"""Spiking neuron models: each a pytree of parameters with ``init_state`` and ``step``.

``step(state, drive) -> (state, spikes)`` is pure (``drive`` a :class:`Drive` or a current
array); ``Neuron.step(params, state, drive)`` is the same call written as a function of the
parameters, so it composes with jit, grad and vmap. ``membrane(state)`` gives the potential that
networks report as ``v``; ``binary`` says the spikes are exactly 0 or 1.
"""

from neuro.neurons.alif import ALIF, ALIFState, alif
from neuro.neurons.conductance import ConductanceLIF, ConductanceLIFState, conductance_lif
from neuro.neurons.drive import Drive, as_drive
from neuro.neurons.dsr import DSRLIF, dsr_lif, dsr_neuron, weighted_firing_rate  # noqa: F401
from neuro.neurons.heterogeneity import decay_logit, gamma_time_constants, tau_from_logit
from neuro.neurons.lif import LIF, LIFState, integrate_and_fire, lif

__all__ = [
    "ALIF", "ALIFState", "ConductanceLIF", "ConductanceLIFState", "DSRLIF", "Drive", "LIF",
    "LIFState", "alif", "as_drive", "conductance_lif", "dsr_neuron", "decay_logit", "gamma_time_constants",
    "integrate_and_fire", "lif", "tau_from_logit",
]
