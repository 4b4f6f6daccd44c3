"""One network: populations, projections, modulators and readouts in one pytree with one step.

A :class:`Network` is data (a pytree: float leaves are weights and parameters, structure and
configuration are static) plus ONE pure ``step(state, x) -> (state, outputs)``. Every model of
the package is a constructor that returns a ``Network``; the only time loop is
:func:`neuro.run.scan_steps` / :func:`neuro.run.simulate`, and the only training loop is
:class:`neuro.train.Trainer`.

Schedule of one step ``t`` (Brian2's order; every part sees the same values):

1. **deliver**: every projection carries its source's activity to its target's synaptic
   accumulator: an input's ``x_t``, or a population's spikes ``z_{t-1}`` (a population's spikes
   reach their targets the step after they are emitted: the minimum synaptic delay is one step;
   a projection's ``delay`` adds whole steps). Modulators may override a projection's weights
   first (online plasticity keeps its weights in its own state), and hand projections extra
   inputs (``Modulator.projection_inputs``: an astrocyte's gliotransmitter for STP release).
2. **synapses**: a population with kinetics (:mod:`neuro.synapses`) adds the arrivals onto its
   decayed traces; one without (delta synapses) receives them as this step's current. Either
   becomes the population's :class:`~neuro.neurons.Drive` (current or conductances).
3. **modulators** (:class:`Modulator.modulate`) read the step so far and add current or scale
   gain and threshold of the populations they cover (astrocytes).
4. **integrate, fire, reset**: every population's ``neuron.step(state, drive) -> (state, z_t)``.
   Synaptic traces decay for the next step.
5. **plasticity** (:class:`Modulator.learn`): modulators see the new spikes and update their state
   (e.g. plastic weights).
6. **readouts** read the spikes ``z_t`` of their source population.

Outputs have the same keys for every network: ``{"spikes": {pop: z_t}, "v": {pop: membrane},
"readout": {name: y_t}, "modulators": {name: state_t}}`` (the monitors of
:func:`neuro.run.simulate` select among them, e.g. ``"spikes"`` or ``"spikes.e"``).

Inputs: ``inputs={"x": n}`` names the external inputs and their sizes; ``x`` passed to ``step`` is
an array when there is one input, a dict by name otherwise. Leading (batch) axes are free:
``init_state(batch)`` fixes them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from neuro._pytree import pytree_dataclass, replace, static_field
from neuro.neurons.drive import Drive
from neuro.synapses.exponential import channel_drive
from neuro.validation import ArgumentTypeError, ConfigError, check_input_shapes, check_memory

Array = jax.Array
OUTPUT_KEYS = ("spikes", "v", "readout", "modulators")


@pytree_dataclass
class Population:
    """A group of ``size`` neurons of one model, with optional synaptic kinetics.

    Without ``synapse`` (delta synapses) the population has ``n_channels`` receptor channels
    whose arrivals are summed into the current of the same step.
    """

    neuron: Any
    synapse: Any | None
    size: int = static_field()
    n_channels: int = static_field(default=1)

    @property
    def channels(self) -> int:
        return self.synapse.n_channels if self.synapse is not None else self.n_channels

    @property
    def kind(self) -> str:
        return self.synapse.kind if self.synapse is not None else "current"


def population(neuron: Any, size: int, *, synapse: Any = None, n_channels: int = 1) -> Population:
    """A :class:`Population`; ``synapse`` from :mod:`neuro.synapses` (None: delta synapses)."""
    if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 1:
        raise ConfigError(f"size must be a positive int; got {size!r}")
    if not hasattr(neuron, "step") or not hasattr(neuron, "init_state"):
        raise ArgumentTypeError(f"neuron must be a neuron model (neuro.neurons); got {type(neuron).__name__}")
    if synapse is not None and synapse.kind == "conductance" and not hasattr(neuron, "reversal"):
        raise ConfigError(f"a conductance synapse needs a conductance-based neuron "
                          f"(neurons.conductance_lif); got {type(neuron).__name__}")
    if synapse is not None and synapse.kind == "conductance" and \
            neuron.n_channels != synapse.n_channels:
        raise ConfigError(f"the neuron has {neuron.n_channels} reversal potentials but the synapse "
                          f"{synapse.n_channels} channels")
    if isinstance(n_channels, bool) or not isinstance(n_channels, int) or n_channels < 1:
        raise ConfigError(f"n_channels must be a positive int; got {n_channels!r}")
    _check_fits(neuron, int(size))
    return Population(neuron, synapse, int(size), int(n_channels))


def _check_fits(neuron: Any, size: int) -> None:
    """Raise ShapeError unless the neuron's (per-neuron) parameters fit ``size`` neurons: one
    abstract step (shapes only, nothing computed or compiled)."""
    from neuro.validation import ShapeError

    current = jax.ShapeDtypeStruct((size,), jnp.float32)
    conductance = None
    if hasattr(neuron, "reversal"):
        conductance = jax.ShapeDtypeStruct((int(np.shape(neuron.reversal)[0]), size), jnp.float32)
    try:  # gain and threshold stay the literal 1.0 (not traced), as in a network step
        jax.eval_shape(lambda i, g: neuron.step(neuron.init_state(size), Drive(i, g)), current,
                       conductance)
    except (TypeError, ValueError) as exc:
        shapes = {jax.tree_util.keystr(k): np.shape(v)
                  for k, v in jax.tree_util.tree_flatten_with_path(neuron)[0] if np.ndim(v)}
        raise ShapeError(f"the parameters of {type(neuron).__name__} do not fit a population "
                         f"of {size} neurons (per-neuron arrays need shape ({size},)); shapes "
                         f"{shapes}") from exc


class NetworkState(NamedTuple):
    """Everything that changes in time, by part name."""

    neurons: dict
    synapses: dict  # population -> decayed flat trace [..., C N + 1] (None: delta synapses)
    z: dict  # population -> the spikes of the last step
    projections: dict
    modulators: dict
    readouts: dict


class StepView(NamedTuple):
    """What a modulator sees within a step: the state at its start, the inputs, the synaptic
    accumulators after delivery (flat ``[..., C N + 1]``) and, for ``learn``, the new spikes."""

    state: NetworkState
    inputs: dict
    arrivals: dict
    z: dict | None


@pytree_dataclass
class Modulator:
    """Base of parts that read and write other parts within a step (astrocytes, plasticity).

    Subclasses are pytrees too (decorate them with ``neuro._pytree.pytree_dataclass``) and
    override what they need; the defaults do nothing.
    """

    def init_state(self, net: Network, batch: tuple[int, ...], dtype: Any) -> Any:
        return None

    def projection_weights(self, state: Any) -> dict[str, dict[str, Array]]:
        """Weights that replace projection fields this step: ``{projection: {field: array}}``."""
        return {}

    def projection_inputs(self, state: Any) -> dict[str, dict[str, Array]]:
        """Extra keyword inputs of projections' ``deliver_into`` this step, ``{projection:
        {name: array}}`` (e.g. the gliotransmitter ``glio`` of an STP projection)."""
        return {}

    def modulate(self, state: Any, view: StepView) -> tuple[Any, dict[str, Drive]]:
        """Effects on populations before they integrate: ``{population: Drive(current=added,
        gain=multiplied, threshold=multiplied)}``."""
        return state, {}

    def learn(self, state: Any, view: StepView) -> Any:
        """Update after the populations fired (``view.z`` holds the new spikes)."""
        return state

    def select(self, keep: Mapping[str, np.ndarray]) -> Modulator:
        """This modulator for the network restricted to the neurons ``keep`` (by population,
        see :func:`select_neurons`). The default refuses: a modulator that holds per-neuron maps,
        parameters or per-synapse state must say how it is cut (return ``self`` if it has none)."""
        raise NotImplementedError(f"{type(self).__name__} does not say how to cut it to fewer "
                                  "neurons (Modulator.select)")


def _with_float_dtype(tree: Any, dtype: Any) -> Any:
    """``tree`` with its float leaves in ``dtype`` (the state's dtype decides; integer counters
    keep theirs)."""
    return jax.tree_util.tree_map(
        lambda a: a.astype(dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a, tree)


def _merge(drive: Drive, effect: Drive) -> Drive:
    return Drive(drive.current + effect.current, drive.conductance,
                 _times(drive.gain, effect.gain), _times(drive.threshold, effect.threshold))


def _times(a, b):
    if isinstance(b, float) and b == 1.0:
        return a
    if isinstance(a, float) and a == 1.0:
        return b
    return a * b


@pytree_dataclass
class Network:
    """Populations, projections, modulators and readouts; see the module docstring."""

    populations: dict
    projections: dict
    modulators: dict
    readouts: dict
    inputs: tuple = static_field(default=())

    @property
    def input_sizes(self) -> dict[str, int]:
        return dict(self.inputs)

    def num_neurons(self) -> int:
        return sum(p.size for p in self.populations.values())

    def num_synapses(self, projections: Any = None) -> int:
        """Synapses of the given projections (default: those between populations)."""
        names = projections or [n for n, p in self.projections.items()
                                if p.source in self.populations]
        return sum(self.projections[n].num_synapses() for n in names)

    def init_state(self, batch: int | tuple[int, ...] = (), dtype: Any = None) -> NetworkState:
        """The network at rest for leading axes ``batch``."""
        batch = (batch,) if isinstance(batch, int) else tuple(batch)
        dtype = jnp.zeros(0, dtype=dtype or float).dtype
        # ~4 floats of neuron state, the last spikes and a synaptic trace per channel
        slots = sum(p.size * (6 + p.channels) for p in self.populations.values())
        check_memory(f"the state of {self.num_neurons():,} neurons x batch {batch}",
                     float(np.prod(batch)) * slots * dtype.itemsize, hint="use a smaller batch")
        neurons, synapses, z = {}, {}, {}
        for name, pop in self.populations.items():
            neurons[name] = _with_float_dtype(pop.neuron.init_state((*batch, pop.size)), dtype)
            synapses[name] = (None if pop.synapse is None else
                              pop.synapse.init_state(batch, pop.size, dtype))
            z[name] = jnp.zeros((*batch, pop.size), dtype)
        projections = {n: p.init_state(batch, dtype) for n, p in self.projections.items()}
        state = NetworkState(neurons, synapses, z, projections, {}, {})
        modulators = {n: m.init_state(self, batch, dtype) for n, m in self.modulators.items()}
        readouts = {n: r.init_state(batch, dtype) for n, r in self.readouts.items()}
        return state._replace(modulators=modulators, readouts=readouts)

    def _inputs(self, x: Any) -> dict:
        names = [n for n, _ in self.inputs]
        if isinstance(x, Mapping):
            return dict(x)
        if len(names) != 1:
            raise ConfigError(f"this network has inputs {names}: pass x as a dict by name")
        return {names[0]: x}

    def step(self, state: NetworkState, x: Any = None) -> tuple[NetworkState, dict]:
        """One step of the schedule in the module docstring."""
        inputs = self._inputs(x) if self.inputs else {}
        if inputs:  # static shapes: checked once per trace, nothing in the compiled step
            batch = next(iter(state.z.values())).shape[:-1]
            check_input_shapes(self.input_sizes, batch, inputs, time_axis=False)
        projections = dict(self.projections)
        extra: dict[str, dict] = {}
        for name, mod in self.modulators.items():
            for pname, fields in mod.projection_weights(state.modulators[name]).items():
                projections[pname] = replace(projections[pname], **fields)
            for pname, kwargs in mod.projection_inputs(state.modulators[name]).items():
                extra.setdefault(pname, {}).update(kwargs)

        acc = {}
        for name, pop in self.populations.items():
            g = state.synapses[name]
            if g is None:
                batch = state.z[name].shape[:-1]
                g = jnp.zeros((*batch, pop.channels * pop.size + 1), state.z[name].dtype)
            acc[name] = g
        proj_states = {}
        for name, proj in projections.items():
            if proj.source in inputs:
                src, binary = inputs[proj.source], False
            else:
                src = state.z[proj.source]
                binary = bool(getattr(self.populations[proj.source].neuron, "binary", False))
            proj_states[name], acc[proj.target] = proj.deliver_into(
                state.projections[name], src, acc[proj.target], binary=binary,
                **extra.get(name, {}))

        drives = {}
        for name, pop in self.populations.items():
            current, conductance = channel_drive(acc[name], pop.channels, pop.size, pop.kind)
            drives[name] = Drive(current, conductance)
        mod_states = {}
        view = StepView(state, inputs, acc, None)
        for name, mod in self.modulators.items():
            mod_states[name], effects = mod.modulate(state.modulators[name], view)
            for pop_name, effect in effects.items():
                drives[pop_name] = _merge(drives[pop_name], effect)

        neurons, z, v, synapses = {}, {}, {}, {}
        for name, pop in self.populations.items():
            neurons[name], z[name] = pop.neuron.step(state.neurons[name], drives[name])
            v[name] = pop.neuron.membrane(neurons[name])
            synapses[name] = (None if pop.synapse is None else
                              pop.synapse.next_state(acc[name], pop.size))
        view = StepView(state, inputs, acc, z)
        for name, mod in self.modulators.items():
            mod_states[name] = mod.learn(mod_states[name], view)

        readouts, ys = {}, {}
        for name, readout in self.readouts.items():
            readouts[name], ys[name] = readout.step(state.readouts[name], z[readout.source])
        new = NetworkState(neurons, synapses, z, proj_states, mod_states, readouts)
        return new, {"spikes": z, "v": v, "readout": ys, "modulators": mod_states}


def network(
    populations: Mapping[str, Population],
    projections: Mapping[str, Any] | None = None,
    modulators: Mapping[str, Modulator] | None = None,
    readouts: Mapping[str, Any] | None = None,
    *,
    inputs: Mapping[str, int] | None = None,
) -> Network:
    """A validated :class:`Network`. Errors name the part and what was expected."""
    populations = dict(populations)
    projections = dict(projections or {})
    modulators = dict(modulators or {})
    readouts = dict(readouts or {})
    inputs = dict(inputs or {})
    if not populations:
        raise ConfigError("a network needs at least one population")
    for name, n in inputs.items():
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
            raise ConfigError(f"input {name!r} must have a positive int size; got {n!r}")
        if name in populations:
            raise ConfigError(f"input {name!r} has the name of a population")
    for name, pop in populations.items():
        if not isinstance(pop, Population):
            raise ArgumentTypeError(f"population {name!r} must be a Population (neuro.network.population); "
                                    f"got {type(pop).__name__}")
    sizes = {**{n: p.size for n, p in populations.items()}, **inputs}
    for name, proj in projections.items():
        if proj.source not in sizes:
            raise ConfigError(f"projection {name!r}: source {proj.source!r} is neither a "
                              f"population nor an input ({sorted(sizes)})")
        if proj.target not in populations:
            raise ConfigError(f"projection {name!r}: target {proj.target!r} is not a population "
                              f"({sorted(populations)})")
        if proj.n_pre != sizes[proj.source]:
            raise ConfigError(f"projection {name!r} has {proj.n_pre} presynaptic neurons but "
                              f"{proj.source!r} has {sizes[proj.source]}")
        target = populations[proj.target]
        if proj.n_post != target.size:
            raise ConfigError(f"projection {name!r} has {proj.n_post} postsynaptic neurons but "
                              f"{proj.target!r} has {target.size}")
        if proj.channel + proj.n_channels > target.channels:
            raise ConfigError(f"projection {name!r} drives channels {proj.channel}.."
                              f"{proj.channel + proj.n_channels - 1} but {proj.target!r} has "
                              f"{target.channels}")
    for name, readout in readouts.items():
        if readout.source not in populations:
            raise ConfigError(f"readout {name!r}: source {readout.source!r} is not a population")
        if readout.n_in != populations[readout.source].size:
            raise ConfigError(f"readout {name!r} reads {readout.n_in} neurons but "
                              f"{readout.source!r} has {populations[readout.source].size}")
    for name, mod in modulators.items():
        if not isinstance(mod, Modulator):
            raise ArgumentTypeError(f"modulator {name!r} must subclass neuro.network.Modulator; got "
                                    f"{type(mod).__name__}")
    return Network(populations, projections, modulators, readouts, tuple(sorted(inputs.items())))


def select_neurons(net: Network, keep: Mapping[str, Any]) -> Network:
    """The network restricted to the neurons ``keep[population]`` (index arrays, in the order
    given), with every neuron-indexed part cut consistently: per-neuron parameters of neurons and
    synapses, the rows and columns of every projection (sparse tables are rebuilt, keeping each
    synapse's weight, channel and delay), readout rows, and modulators (:meth:`Modulator.select`).
    Populations not in ``keep`` are unchanged. Host-side (NumPy); the result runs in the same loop.
    """
    keep = {name: np.asarray(k, dtype=np.int64).reshape(-1) for name, k in keep.items()}
    for name, k in keep.items():
        if name not in net.populations:
            raise ConfigError(f"keep names {name!r}, which is not a population "
                              f"({sorted(net.populations)})")
        size = net.populations[name].size
        if k.size == 0 or k.min() < 0 or k.max() >= size or np.unique(k).size != k.size:
            raise ConfigError(f"keep[{name!r}] must hold distinct indices in [0, {size}), at least one")
    populations = {}
    for name, pop in net.populations.items():
        if name not in keep:
            populations[name] = pop
            continue
        k = keep[name]
        populations[name] = Population(
            _take_per_neuron(pop.neuron, k, pop.size),
            None if pop.synapse is None else _take_per_neuron(pop.synapse, k, pop.size),
            int(k.size), pop.n_channels)
    projections = {n: _select_projection(p, keep) for n, p in net.projections.items()}
    readouts = {}
    for name, r in net.readouts.items():
        readouts[name] = r if r.source not in keep else replace(r, w=r.w[keep[r.source]])
    modulators = {n: m.select(keep) for n, m in net.modulators.items()}
    return Network(populations, projections, modulators, readouts, net.inputs)


def _take_per_neuron(part: Any, k: np.ndarray, size: int) -> Any:
    """Index the per-neuron (last axis == ``size``) float fields of a neuron or synapse;
    fields named in the part's ``per_channel`` attribute are left alone."""
    skip = set(getattr(part, "per_channel", ()))
    changes = {}
    for field in dataclasses.fields(part):
        value = getattr(part, field.name)
        if field.name in skip or field.metadata.get("static") or not hasattr(value, "shape"):
            continue
        if np.ndim(value) >= 1 and value.shape[-1] == size:
            changes[field.name] = value[..., k]
    return replace(part, **changes) if changes else part


def _select_projection(proj: Any, keep: Mapping[str, np.ndarray]) -> Any:
    from neuro.projections import Dense, Sparse, from_edges, sparse

    pre_keep = keep.get(proj.source)
    post_keep = keep.get(proj.target)
    if pre_keep is None and post_keep is None:
        return proj
    if hasattr(proj, "projection") and hasattr(proj, "model"):  # a wrapper such as STP
        inner = _select_projection(proj.projection, keep)
        model = proj.model if pre_keep is None else _take_per_neuron(proj.model, pre_keep,
                                                                     proj.n_pre)
        return replace(proj, projection=inner, model=model)
    if isinstance(proj, Dense):
        rows = slice(None) if pre_keep is None else pre_keep
        cols = slice(None) if post_keep is None else post_keep
        w = proj.w[rows][:, cols]
        mask = None if proj.mask is None else proj.mask[rows][:, cols]
        b = None if proj.b is None else proj.b[cols]
        return replace(proj, w=w, mask=mask, b=b)
    if isinstance(proj, Sparse):
        targets = np.asarray(proj.targets)
        weights = np.asarray(proj.weights)
        rows, cols = np.nonzero(targets[:-1] != proj.sink)
        flat = targets[rows, cols]
        post, channel = flat % proj.n_post, flat // proj.n_post
        homogeneous = weights.shape[1] == 1
        w = weights[rows, 0] if homogeneous else weights[rows, cols]
        delays = None if proj.delays is None else np.asarray(proj.delays)[rows, cols]
        source_channel = np.zeros(proj.n_pre, np.int64)
        source_channel[rows] = channel
        pre_map = _index_map(pre_keep, proj.n_pre)
        post_map = _index_map(post_keep, proj.n_post)
        ok = (pre_map[rows] >= 0) & (post_map[post] >= 0)
        new_pre, new_post = pre_map[rows[ok]], post_map[post[ok]]
        n_pre = proj.n_pre if pre_keep is None else pre_keep.size
        n_post = proj.n_post if post_keep is None else post_keep.size
        src = source_channel if pre_keep is None else source_channel[pre_keep]
        if homogeneous:
            per_source = weights[:-1, 0] if pre_keep is None else weights[:-1, 0][pre_keep]
            conn = from_edges(new_pre, new_post, n_pre, n_post, source_weights=per_source,
                              source_channels=src, n_channels=proj.n_channels,
                              dtype=weights.dtype)
        else:
            conn = from_edges(new_pre, new_post, n_pre, n_post, weights=w[ok],
                              source_channels=src, n_channels=proj.n_channels,
                              dtype=weights.dtype)
        table = None
        if delays is not None:
            table = _edge_table(conn, new_pre, delays[ok])
        return sparse(proj.source, proj.target, conn, delay=proj.delay, delays=table,
                      channel=proj.channel, backend=proj.backend,
                      spikes_per_round=proj.spikes_per_round)
    raise ArgumentTypeError(f"cannot select neurons of a {type(proj).__name__} projection")


def _index_map(keep: np.ndarray | None, n: int) -> np.ndarray:
    """old index -> new index (-1 where dropped)."""
    if keep is None:
        return np.arange(n)
    out = np.full(n, -1, np.int64)
    out[keep] = np.arange(keep.size)
    return out


def _edge_table(conn: Any, pre: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per-edge values laid out like ``conn.targets`` (the layout :func:`from_edges` used)."""
    from neuro.projections.connectivity import edge_layout

    order, col, _ = edge_layout(pre, conn.n_pre)
    table = np.zeros(conn.targets.shape, np.int64)
    table[pre[order], col] = values[order]
    return table


def network_step(net: Network, state: NetworkState, x: Any) -> tuple[NetworkState, dict]:
    """``net.step(state, x)`` as a module-level function (a stable static key for the loop)."""
    return net.step(state, x)
