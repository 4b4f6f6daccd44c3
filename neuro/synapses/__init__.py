"""Synaptic kinetics: exponential current/conductance traces and short-term plasticity."""

from neuro.synapses.exponential import (
    Exponential,
    channel_drive,
    conductance_synapse,
    current_synapse,
)
from neuro.synapses.stp import GliaRelease, TsodyksMarkram, glia_release, tsodyks_markram

__all__ = ["Exponential", "GliaRelease", "TsodyksMarkram", "channel_drive", "conductance_synapse",
           "current_synapse", "glia_release", "tsodyks_markram"]
