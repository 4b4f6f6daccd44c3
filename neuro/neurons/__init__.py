"""Spiking neuron models: each a pytree of parameters with ``init_state`` and ``step``.

``step(state, current) -> (state, spikes)`` is pure; ``Neuron.step(params, state, current)`` is
the same call written as a function of the parameters, so it composes with jit, grad and vmap.
"""

from neuro.neurons.alif import ALIF, ALIFState, alif
from neuro.neurons.dsr import DSRLIF, dsr_lif, dsr_neuron, weighted_firing_rate  # noqa: F401
from neuro.neurons.heterogeneity import decay_logit, gamma_time_constants, tau_from_logit
from neuro.neurons.lif import LIF, LIFState, integrate_and_fire, lif

__all__ = [
    "ALIF", "ALIFState", "LIF", "LIFState", "alif", "decay_logit", "gamma_time_constants",
    "integrate_and_fire", "lif", "tau_from_logit",
]
