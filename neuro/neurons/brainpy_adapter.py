"""brainpy.state neuron models as neuro populations.

brainpy.state (``brainpy.state``, built on brainstate) holds its neurons as stateful modules:
``init_state(batch_size)`` creates ``HiddenState`` objects, ``update(x)`` advances them by the
step ``dt`` of ``brainstate.environ`` and returns the spikes. :func:`brainpy_neuron` wraps such a
module into neuro's functional neuron protocol, so any of brainpy.state's point-neuron models
(AdEx, Izhikevich, Hodgkin-Huxley, QuaIF, Gif, the NEST ports, ...) is a population of a
:class:`~neuro.network.Network` and runs in its compiled loop::

    state = init_state((*batch, n))     -> BrainpyState(values, t)
    state, z = step(state, drive)       # one call of module.update(I * current_unit) at dt

The wrapper splits the module once into its graph definition and state tree
(``brainstate.graph.treefy_split``). Each step merges the graph with the current values
(``treefy_merge``), calls ``update`` under ``brainstate.environ.context(dt=dt ms, t=t)``, and
splits the result again: the step is a pure function of ``state`` (the module itself is never
mutated), so it composes with ``jit``, ``lax.scan``, ``grad`` and ``vmap``. The state is kept
unit-free: ``values`` maps each hidden state's name (``"V"``, ``"w"``, ``"m"``, ...) to its
mantissa in the unit the model initialises it with; ``membrane`` reports ``values["V"]``
(mV for brainpy.state's models).

The current a population receives (neuro's :class:`~neuro.neurons.Drive` ``current``) is
multiplied by ``current_unit`` (default: the unit of the ``x`` argument of the model's
``update``: pA for AdExIF, uA for HH, mV/ms for Izhikevich). Conductances and threshold
modulation are refused: the model's own equations decide how input acts. Spikes are those
``update`` returns (brainpy.state's surrogate spike functions: 0 or 1 forward, their surrogate
gradient backward). Initial values come from the model's initializers.

Requires ``brainpy>=2.8.2`` (``brainpy.state``) and ``brainstate``; checked against
brainpy.state's own simulation in ``tests/neurons/test_brainpy_adapter.py``.
"""

from __future__ import annotations

import inspect
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from neuro._pytree import pytree_dataclass, static_field
from neuro.neurons.drive import as_drive, reject_conductance

Array = jax.Array


class BrainpyState(NamedTuple):
    """Mantissas of the model's hidden states by name, and the time ``t`` (ms) of the last step."""

    values: dict
    t: Array


@pytree_dataclass
class BrainpyNeuron:
    """A brainpy.state neuron module as a functional neuro neuron; see the module docstring."""

    graphdef: Any = static_field()
    treedef: Any = static_field()
    names: tuple = static_field()
    units: tuple = static_field()
    module: Any = static_field()
    current_unit: Any = static_field()
    dt: float = static_field(default=0.1)
    size: int = static_field(default=1)

    #: brainpy.state's spike functions give 0 or 1 in the forward pass
    binary = True

    def _context(self, t: Any = 0.0):
        import brainstate
        import brainunit as u

        return brainstate.environ.context(dt=self.dt * u.ms, t=t * u.ms)

    def init_state(self, shape: tuple[int, ...] | int) -> BrainpyState:
        """The model's initial state (its initializers) for leading axes ``shape[:-1]``."""
        import brainstate

        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        if shape[-1] != self.size:
            raise ValueError(f"this brainpy.state model has {self.size} neurons; asked for "
                             f"shape {shape}")
        batch = shape[:-1]
        b = int(np.prod(batch)) if batch else None
        with self._context():
            self.module.init_state(batch_size=b)
        _, leaves = _quantities(brainstate.graph.treefy_split(self.module)[1])
        values = {n: jnp.reshape(_mantissa(q, unit, float), shape)
                  for n, q, unit in zip(self.names, leaves, self.units, strict=True)}
        return BrainpyState(values, jnp.zeros((), float))

    @staticmethod
    def membrane(state: BrainpyState) -> Array:
        """The membrane potential ``V`` (mantissa, mV for brainpy.state's models)."""
        return state.values["V"]

    def step(self, state: BrainpyState, drive: Any) -> tuple[BrainpyState, Array]:
        """One ``module.update(current * current_unit)`` at time ``t + dt``."""
        import brainstate

        drive = as_drive(drive)
        reject_conductance(self, drive)
        if not (isinstance(drive.threshold, float) and drive.threshold == 1.0):
            raise ValueError("brainpy.state models take no threshold modulation (Drive.threshold)")
        current = drive.current if isinstance(drive.gain, float) and drive.gain == 1.0 else \
            drive.gain * drive.current
        import brainunit as u

        tree = jax.tree_util.tree_unflatten(self.treedef, [
            state.values[n] if unit is None else u.Quantity(state.values[n], unit=unit)
            for n, unit in zip(self.names, self.units, strict=True)])
        module = brainstate.graph.treefy_merge(self.graphdef, tree)
        t = state.t + self.dt
        with self._context(t):
            z = module.update(current * self.current_unit)
        _, leaves = _quantities(brainstate.graph.treefy_split(module)[1])
        values = {n: _mantissa(q, unit, state.values[n].dtype)
                  for n, q, unit in zip(self.names, leaves, self.units, strict=True)}
        z = jnp.asarray(getattr(z, "mantissa", z), current.dtype)
        return BrainpyState(values, t), z


def brainpy_neuron(module: Any, *, dt: float = 0.1, current_unit: Any = None) -> BrainpyNeuron:
    """Wrap a brainpy.state neuron (e.g. ``brainpy.state.AdExIF(100)``) as a neuro neuron.

    ``dt``: the step in ms (brainpy.state's ``environ`` dt during each update); ``current_unit``:
    a brainunit unit for neuro's unit-free input current (default: the unit of the default of
    ``module.update``'s ``x``). The population built from it must have ``module``'s size.
    """
    try:
        import brainstate
        import brainunit as u
    except ImportError as exc:
        raise ImportError("brainpy_neuron needs brainpy.state: pip install 'brainpy>=2.8.2'") from exc
    if not (hasattr(module, "update") and hasattr(module, "init_state") and
            hasattr(module, "varshape")):
        raise TypeError(f"module must be a brainpy.state neuron (brainpy.state.Neuron); got "
                        f"{type(module).__name__}")
    if not (isinstance(dt, int | float) and dt > 0):
        raise ValueError(f"dt must be a positive step in ms; got {dt!r}")
    if len(module.varshape) != 1:
        raise ValueError(f"the model must be a 1-D population; got varshape {module.varshape}")
    if current_unit is None:
        param = inspect.signature(module.update).parameters.get("x")
        default = None if param is None else param.default
        current_unit = u.get_unit(default) if default is not inspect.Parameter.empty else None
        if current_unit is None:
            raise ValueError(f"cannot infer the input unit of {type(module).__name__}.update; "
                             "pass current_unit")
    with brainstate.environ.context(dt=float(dt) * u.ms, t=0.0 * u.ms):
        module.init_state()
    graphdef, tree = brainstate.graph.treefy_split(module)
    treedef, leaves = _quantities(tree)
    paths, _ = jax.tree_util.tree_flatten_with_path(tree, is_leaf=_is_quantity)
    names = tuple(_name(path) for path, _ in paths)
    if "V" not in names:
        raise ValueError(f"{type(module).__name__} has no membrane state 'V' (states: {names})")
    units = tuple(u.get_unit(q) if _is_quantity(q) else None for q in leaves)
    return BrainpyNeuron(graphdef, treedef, names, units, module, current_unit, float(dt),
                         int(module.varshape[0]))


def _is_quantity(x: Any) -> bool:
    import brainunit as u

    return isinstance(x, u.Quantity)


def _quantities(tree: Any) -> tuple[Any, list]:
    """Leaves of a brainstate state tree, a Quantity counting as one leaf."""
    leaves, treedef = jax.tree_util.tree_flatten(tree, is_leaf=_is_quantity)
    return treedef, leaves


def _mantissa(q: Any, unit: Any, dtype: Any) -> Array:
    """The value of ``q`` in ``unit`` (the unit the state had at initialisation)."""
    if unit is None:
        return jnp.asarray(q, dtype)
    return jnp.asarray(q.to_decimal(unit), dtype)


def _name(path: tuple) -> str:
    keys = [getattr(k, "key", None) for k in path]
    return ".".join(str(k) for k in keys if isinstance(k, str)) or jax.tree_util.keystr(path)


__all__ = ["BrainpyNeuron", "BrainpyState", "brainpy_neuron"]
