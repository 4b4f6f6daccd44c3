"""Modulators: parts that read and write other parts of a network within its step.

* :mod:`.coverage` which astrocyte covers which neurons (blocks or any many-to-many map);
* :mod:`.li_rinzel` Li-Rinzel astrocytes on tripartite synapses (:func:`tripartite`): IP3/Ca
  driven by the presynaptic activity of the synapses they cover, slow inward current, Gordleeva
  gain, gliotransmitter modulation of release through STP;
* :mod:`.gordleeva` Gordleeva et al. 2021 gain and event logic;
* :mod:`.astro_unit` the trainable astrocyte modulation of threshold and gain
  (:func:`astro_modulation`);
* :mod:`.plasticity` online STDP, Oja and Hebbian rules on a Dense or Sparse projection.

Each is a :class:`neuro.network.Modulator`: pass it in ``network(..., modulators={...})``.
"""

from neuro.modulators.astro_unit import AstroModulation, astro_modulation
from neuro.modulators.coverage import Coverage, assign, blocks, coverage_map
from neuro.modulators.gordleeva import (
    GordleevaEvents,
    GordleevaEventState,
    GordleevaGain,
    gordleeva_events,
    gordleeva_gain,
    gordleeva_synaptic_current,
)
from neuro.modulators.li_rinzel import (
    LR_DEFAULTS,
    LiRinzel,
    LiRinzelState,
    Tripartite,
    TripartiteState,
    li_rinzel,
    tripartite,
)
from neuro.modulators.plasticity import STDP, Hebbian, Oja, PlasticState, hebbian, oja, stdp

__all__ = [
    "LR_DEFAULTS", "STDP", "AstroModulation", "Coverage", "GordleevaEventState", "GordleevaEvents",
    "GordleevaGain", "Hebbian", "LiRinzel", "LiRinzelState", "Oja", "PlasticState", "Tripartite",
    "TripartiteState", "assign", "astro_modulation", "blocks", "coverage_map", "gordleeva_events",
    "gordleeva_gain", "gordleeva_synaptic_current", "hebbian", "li_rinzel", "oja", "stdp",
    "tripartite",
]
