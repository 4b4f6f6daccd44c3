"""neuro: differentiable, XLA-compiled spiking and neuromorphic simulation on JAX."""

from neuro import neurons
from neuro.run import SimulationResult, scan_steps, simulate
from neuro.spikes import Surrogate, spike, surrogate

__version__ = "0.1.0"
__all__ = ["SimulationResult", "Surrogate", "neurons", "scan_steps", "simulate", "spike", "surrogate"]
