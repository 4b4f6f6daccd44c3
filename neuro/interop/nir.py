"""NIR interchange: export a :class:`~neuro.network.Network` to the Neuromorphic Intermediate
Representation and import NIR graphs (snnTorch, Norse, Spyx, Sinabs, Rockpool, Lava-DL, ...).

NIR (Pedersen et al. 2024, Nat. Commun. 15:8122; package ``nir``, ``pip install 'neuro[nir]'``)
describes a network as continuous-time nodes joined by instantaneous edges. neuro steps in
discrete time, so each node's ODE is mapped to a per-step decay ``d`` and every node relaxes
towards its steady-state target with weight ``1 - d``, exactly the form of neuro's
exponential-Euler steps::

    NIR LIF     tau dv/dt = (v_leak - v) + R I, spike v > v_threshold, then v <- v_reset
    neuro LIF   v_t = v_leak + a (v_{t-1} - v_leak) + (1 - a) R I_t,  hard reset to v_reset

The decay per step of a NIR time constant ``tau`` (seconds) at step ``dt`` (seconds) depends on
``method``:

* ``"euler"`` (default): ``d = 1 - dt / tau``, forward Euler, the discretisation snnTorch, Spyx,
  Norse and Sinabs use when they read and write NIR (snnTorch: ``beta = 1 - dt / tau``); neuro's
  own time constant becomes ``tau_neuro = -dt / log(1 - dt / tau)`` (ms) so that its
  ``exp(-dt / tau_neuro)`` equals that ``d``. Needs ``dt < tau``.
* ``"exact"``: ``d = exp(-dt / tau)``, the exact solution for input held over the step; neuro's
  time constants equal NIR's (times 1000, ms).

The parameters then map as follows (``dt`` the step in NIR's time unit, seconds; neuro's step
is ``1000 dt`` ms):

============  ==============================================================================
NIR           neuro
============  ==============================================================================
``LIF``       population of :func:`neurons.lif` (``reset="hard"``): ``tau`` from ``d``,
              ``resistance = r``, ``v_rest = v_leak``, ``v_th``, ``v_reset``
``CubaLIF``   the same LIF with a one-channel :func:`synapses.current_synapse` (decay from
              ``tau_syn``, method as above); NIR's input weight ``(1 - d_syn) w_in`` is folded
              into the columns of every incoming projection (neuro's trace adds arrivals
              unscaled); export writes ``w_in = 1 / (1 - d_syn)``
``IF``        :func:`neurons.integrate_and_fire` (``reset="hard"``), ``resistance = r dt``
``Threshold`` :class:`ThresholdUnit` (stateless ``z = H(I - threshold)``)
``LI``        :func:`readouts.leaky` (``scale_input=True``) after an ``Affine``: ``kappa = d``,
              ``W_neuro = r W^T``, ``b_neuro = r b + v_leak``; export writes ``r = 1``,
              ``v_leak = 0`` (``r = 1 / (1 - kappa)`` for ``scale_input=False``)
``Affine``    :func:`projections.dense` with bias, ``w = weight^T`` (NIR weights are
``Linear``    ``[out, in]``, neuro's ``[pre, post]``); chains of them (and ``Scale``) are
              multiplied out
``Delay``     the projection's ``delay`` in whole steps (uniform over neurons)
``Flatten``   nothing: neuro inputs and populations are flat vectors
``Conv2d``    :func:`projections.conv` (``groups = 1``, symmetric padding, no pooling), kernels
              OIHW -> HWIO. NIR's image tensors are channel-first ``(C, H, W)``, neuro's
              populations channel-last: per-neuron parameters are reordered, and the
              ``Affine`` after a ``Flatten`` of an image has its columns permuted, so feed the
              imported network HWC-flattened frames (:func:`neuro.projections.conv.flatten`)
============  ==============================================================================

Parts without a NIR primitive are refused with an error naming the node: ALIF (adaptive
threshold), conductance-based neurons and synapses (COBA), multi-channel synapses with different
time constants, soft or no reset, MPR, refractoriness, short-term plasticity, per-synapse delays,
modulators (astrocytes, online plasticity), and brainpy.state adapters.

Nodes that export adds are named ``<part>_delay``, ``<part>_flatten``, ``<readout>_affine`` and
``<part>_output`` (no dots: torch-based readers take dots for submodule paths).

**Timing.** In NIR an edge is instantaneous; in neuro a population's spikes reach their targets
one step later (the minimum synaptic delay). Import therefore runs node ``n`` ``lag[n]`` steps
behind the NIR time line (``lag`` = number of population-to-population edges on the longest
path from an input) and adds delays to shorter paths so every node sees its inputs aligned: the
imported network gives the NIR network's outputs delayed by ``lag`` steps, exactly. An edge of a
cycle (a population projecting onto itself) carries one implicit step in NIR's discrete
simulators (snnTorch's ``RLeaky``) as in neuro; longer cycles are refused. Export by default
writes neuro's one-step population latency implicitly (``explicit_latency=False``: the graph
describes the network every discrete NIR simulator runs); ``explicit_latency=True`` writes it as
``Delay`` nodes so that a continuous-time reader reproduces neuro's timing. Both round-trip
exactly through :func:`from_nir` for networks whose paths from the inputs to a population all
cross the same number of populations; otherwise use ``explicit_latency=True``. The equality is
exact from rest (neuro starts every neuron at ``v_leak``; NIR leaves the initial state to the
simulator, snnTorch starts at 0); a bias onto a population with ``lag > 0`` (torch's
``nn.Linear`` has one by default) already acts during that population's first ``lag`` steps,
before its input arrives: a transient that the NIR time line does not have.

neuro fires at ``v >= v_th``, NIR at ``v > v_th``: spikes differ only where ``v`` lands exactly
on the threshold.
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from neuro import readouts as readouts_mod
from neuro._pytree import pytree_dataclass, replace, static_field
from neuro.network import Network, network, population
from neuro.neurons.drive import as_drive, modulated_current, reject_conductance, scaled_threshold
from neuro.neurons.lif import LIF, integrate_and_fire, lif
from neuro.projections.conv import Conv, conv
from neuro.projections.dense import Dense, dense
from neuro.projections.sparse import Sparse
from neuro.readouts import Leaky
from neuro.spikes import Surrogate, spike, surrogate
from neuro.synapses.exponential import current_synapse

Array = jax.Array
METHODS = ("euler", "exact")
_TIME = 1e3  # neuro's time unit (ms) per NIR's (s)


def _nir():
    try:
        import nir
    except ImportError as exc:
        raise ImportError("NIR interchange needs the package nir: pip install 'neuro[nir]'") from exc
    return nir


@pytree_dataclass
class ThresholdUnit:
    """Stateless threshold (NIR's ``Threshold``): ``z_t = H(I_t - threshold)``.

    ``I_t`` is this step's input current; the state keeps it as the reported membrane ``v``.
    The surrogate gives the spike a gradient (default sigmoid, as :func:`neurons.lif`).
    """

    threshold: Array
    surrogate: Surrogate = static_field(default=Surrogate())

    binary = True

    def init_state(self, shape: tuple[int, ...] | int) -> Array:
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        return jnp.zeros(shape, float)

    @staticmethod
    def membrane(state: Array) -> Array:
        return state

    def step(self, state: Array, drive: Any) -> tuple[Array, Array]:
        drive = as_drive(drive)
        reject_conductance(self, drive)
        current = modulated_current(drive)
        return current, spike(current - scaled_threshold(self.threshold, drive), self.surrogate)


def threshold_unit(threshold: float | Array = 1.0, *, surrogate_fn: str | Surrogate = "sigmoid"
                   ) -> ThresholdUnit:
    """A :class:`ThresholdUnit` (validated: a finite ``threshold``)."""
    t = jnp.asarray(threshold, dtype=float)
    if not bool(jnp.all(jnp.isfinite(t))):
        raise ValueError(f"threshold must be finite; got {threshold!r}")
    return ThresholdUnit(t, surrogate(surrogate_fn))


class Imported(NamedTuple):
    """What :func:`from_nir` returns.

    ``net``: the network; ``outputs``: NIR output node -> the monitor path of
    :func:`neuro.run.simulate` that holds it (``"spikes.<population>"`` or
    ``"readout.<name>"``); ``lag``: NIR output node -> steps by which neuro's output trails the
    NIR time line; ``dt``: neuro's step in ms. Parts keep their NIR node names (inlined nested
    graphs: ``outer.inner``); a name with a dot is monitored with a callable, e.g.
    ``monitors=lambda out: out["spikes"]["1.lif"]``.
    """

    net: Network
    outputs: dict[str, str]
    lag: dict[str, int]
    dt: float


# ----------------------------------------------------------------------------- time constants

def _decay(tau: np.ndarray, dt: float, method: str, what: str) -> np.ndarray:
    tau = np.asarray(tau, np.float64)
    if np.any(~np.isfinite(tau)) or np.any(tau <= 0):
        raise ValueError(f"{what}: time constants must be positive and finite; got {tau}")
    if method == "exact":
        return np.exp(-dt / tau)
    if np.any(tau <= dt):
        raise ValueError(f"{what}: forward-Euler discretisation needs dt < tau; got dt={dt:g} s "
                         f"and tau down to {tau.min():g} s (use method='exact' or a smaller dt)")
    return 1.0 - dt / tau


def _tau_of_decay(d: np.ndarray, dt: float, method: str, what: str) -> np.ndarray:
    d = np.asarray(d, np.float64)
    if np.any(d <= 0) or np.any(d >= 1):
        raise ValueError(f"{what}: decay per step must lie in (0, 1); got {d}")
    return dt / (1.0 - d) if method == "euler" else -dt / np.log(d)


def _neuro_tau(d: np.ndarray, dt_ms: float) -> np.ndarray:
    """neuro's tau (ms) whose ``exp(-dt/tau)`` is the decay ``d``."""
    return -dt_ms / np.log(d)


def _vec(x: Any, n: int) -> np.ndarray:
    """A per-neuron vector of ``n`` values; NIR's image-shaped ``(C, H, W)`` parameters are
    reordered to neuro's channel-last (HWC) population layout."""
    a = np.asarray(x, np.float64)
    if a.ndim == 3 and a.size == n:
        a = a.transpose(1, 2, 0).reshape(-1)
    return np.broadcast_to(a, (n,)).astype(np.float32)


def _hwc_order(chw: tuple[int, int, int]) -> np.ndarray:
    """``order[k]``: the NIR (CHW-flat) index of neuro's (HWC-flat) element ``k``."""
    c, h, w = chw
    return np.arange(c * h * w).reshape(c, h, w).transpose(1, 2, 0).reshape(-1)


def _nir_layout(v: np.ndarray, hwc: tuple[int, int, int] | None) -> np.ndarray:
    """neuro's flat HWC vector as NIR's ``(C, H, W)`` array (unchanged without an image shape)."""
    return v if hwc is None else v.reshape(hwc).transpose(2, 0, 1).copy()


# ----------------------------------------------------------------------------- export

def to_nir(net: Network, *, dt: float | None = None, method: str = "euler",
           explicit_latency: bool = False) -> Any:
    """The :class:`nir.NIRGraph` of ``net`` (see the module docstring for the mapping).

    ``dt``: the step in seconds the graph assumes (default: the parts' own step, ``dt_ms/1000``);
    ``method``: ``"euler"`` or ``"exact"`` discretisation; ``explicit_latency``: write neuro's
    one-step population latency as ``Delay`` nodes. Stored in ``graph.metadata`` so that
    :func:`from_nir` reads the graph back with the same step and method.
    """
    nir = _nir()
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}")
    if net.modulators:
        name = next(iter(net.modulators))
        raise ValueError(f"modulator {name!r} ({type(net.modulators[name]).__name__}) has no NIR "
                         "primitive; remove it to export the network")
    dt_ms = _common_dt(net)
    dt = dt_ms / _TIME if dt is None else float(dt)
    if not dt > 0:
        raise ValueError(f"dt must be positive (seconds); got {dt!r}")

    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []

    def add(name: str, node: Any) -> None:
        if name in nodes:
            raise ValueError(f"two parts are named {name!r}; NIR node names must be unique")
        nodes[name] = node

    images = _image_shapes(net)
    chw = lambda name: None if name not in images else np.array(
        [images[name][2], images[name][0], images[name][1]])
    for name, n in net.inputs:
        add(name, nir.Input(input_type=np.array([n]) if name not in images else chw(name)))
    for name, pop in net.populations.items():
        add(name, _export_population(nir, name, pop, dt, dt_ms, method, images.get(name)))

    _check_cycles(net)
    for name, proj in net.projections.items():
        src = proj.source
        if isinstance(proj, Conv):
            node, delay = _export_conv(nir, name, proj), int(proj.delay)
        else:
            if proj.target in images:
                raise ValueError(f"projection {name!r}: a dense projection into the "
                                 f"convolutional population {proj.target!r} has no NIR form")
            w, b, delay = _export_projection(name, proj)
            w = w.T
            if src in images:  # NIR flattens (C, H, W) maps channel-first
                w = np.empty_like(w)
                w[:, _hwc_order(tuple(chw(src)))] = _export_projection(name, proj)[0].T
            node = (nir.Linear(weight=w.astype(np.float32)) if b is None else
                    nir.Affine(weight=w.astype(np.float32), bias=b.astype(np.float32)))
        add(name, node)
        steps = delay
        if explicit_latency and src in net.populations and src != proj.target:
            steps += 1
        head = src
        if steps:
            shape = (proj.n_pre,) if src not in images else tuple(chw(src))
            add(f"{name}_delay", nir.Delay(delay=np.full(shape, steps * dt, np.float32)))
            edges.append((head, f"{name}_delay"))
            head = f"{name}_delay"
        if src in images and not isinstance(proj, Conv):
            add(f"{name}_flatten", nir.Flatten(input_type={"input": chw(src)}, start_dim=0))
            edges.append((head, f"{name}_flatten"))
            head = f"{name}_flatten"
        edges += [(head, name), (name, proj.target)]

    read = set()
    for name, r in net.readouts.items():
        if r.source in images:
            raise ValueError(f"readout {name!r} reads the convolutional population "
                             f"{r.source!r}; add a dense population in between to export it")
        w, b = np.asarray(r.w, np.float64), np.asarray(r.b, np.float64)
        kappa = np.exp(-dt_ms / _vec(r.tau, r.n_out).astype(np.float64))
        r_nir = np.ones(r.n_out) if r.scale_input else 1.0 / (1.0 - kappa)
        add(f"{name}_affine", nir.Affine(weight=w.T.astype(np.float32), bias=b.astype(np.float32)))
        add(name, nir.LI(tau=_tau_of_decay(kappa, dt, method, f"readout {name!r}").astype(np.float32),
                         r=r_nir.astype(np.float32), v_leak=np.zeros(r.n_out, np.float32)))
        add(f"{name}_output", nir.Output(output_type=np.array([r.n_out])))
        edges += [(r.source, f"{name}_affine"), (f"{name}_affine", name), (name, f"{name}_output")]
        read.add(r.source)
    sources = {p.source for p in net.projections.values()}
    for name, pop in net.populations.items():
        if name not in sources and name not in read:
            shape = np.array([pop.size]) if name not in images else chw(name)
            add(f"{name}_output", nir.Output(output_type=shape))
            edges.append((name, f"{name}_output"))
    metadata = {"neuro_dt": dt, "neuro_method": method}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata)


def _common_dt(net: Network) -> float:
    steps = set()
    for pop in net.populations.values():
        if hasattr(pop.neuron, "dt"):
            steps.add(float(pop.neuron.dt))
        if pop.synapse is not None:
            steps.add(float(pop.synapse.dt))
    steps |= {float(r.dt) for r in net.readouts.values()}
    if len(steps) > 1:
        raise ValueError(f"the parts of the network step with different dt {sorted(steps)} ms; "
                         "NIR export needs one step")
    return steps.pop() if steps else 1.0


def _image_shapes(net: Network) -> dict[str, tuple[int, int, int]]:
    """``(H, W, C)`` of every input or population that a convolution reads or drives."""
    images: dict[str, tuple[int, int, int]] = {}
    for name, proj in net.projections.items():
        if isinstance(proj, Conv):
            for part, shape in ((proj.source, tuple(proj.in_shape)),
                                (proj.target, tuple(proj.out_shape))):
                if images.setdefault(part, shape) != shape:
                    raise ValueError(f"projection {name!r}: {part!r} has image shape "
                                     f"{images[part]} elsewhere, {shape} here")
    return images


def _export_conv(nir, name: str, proj: Any) -> Any:
    if proj.pool_window is not None:
        raise ValueError(f"projection {name!r}: pooling inside a convolution has no NIR export "
                         "here (NIR's pooling nodes are not mapped)")
    (top, bottom), (left, right) = proj.padding
    if top != bottom or left != right:
        raise ValueError(f"projection {name!r}: asymmetric padding {proj.padding} has no NIR "
                         "Conv2d form (one padding per side pair)")
    w = np.asarray(proj.w, np.float32).transpose(3, 2, 0, 1)  # HWIO -> NIR's OIHW
    b = np.zeros(w.shape[0], np.float32) if proj.b is None else np.asarray(proj.b, np.float32)
    return nir.Conv2d(input_shape=tuple(proj.in_shape[:2]), weight=w, stride=tuple(proj.stride),
                      padding=(top, left), dilation=tuple(proj.dilation), groups=1, bias=b)


def _export_population(nir, name: str, pop, dt: float, dt_ms: float, method: str,
                       image: tuple[int, int, int] | None = None) -> Any:
    node = _export_flat_population(nir, name, pop, dt, dt_ms, method)
    if image is None:
        return node
    fields = {k: v for k, v in vars(node).items() if k not in ("input_type", "output_type",
                                                                 "metadata")}
    return type(node)(**{k: _nir_layout(np.asarray(v), image) for k, v in fields.items()})


def _export_flat_population(nir, name: str, pop, dt: float, dt_ms: float, method: str) -> Any:
    neuron, n = pop.neuron, pop.size
    what = f"population {name!r}"
    if isinstance(neuron, ThresholdUnit):
        if pop.synapse is not None:
            raise ValueError(f"{what}: a Threshold with synaptic kinetics has no NIR primitive")
        return nir.Threshold(threshold=_vec(neuron.threshold, n))
    if not isinstance(neuron, LIF):
        raise ValueError(f"{what}: {type(neuron).__name__} has no NIR primitive (NIR has LIF, "
                         "CubaLIF, IF, LI and Threshold; adaptive, conductance-based and adapted "
                         "brainpy.state neurons cannot be exported)")
    if neuron.reset != "hard":
        raise ValueError(f"{what}: NIR neurons reset to v_reset (reset='hard'); this population "
                         f"uses reset={neuron.reset!r}, which NIR cannot express")
    if neuron.mpr is not None or neuron.n_ref > 0:
        raise ValueError(f"{what}: MPR and refractoriness have no NIR counterpart")
    v_th, v_reset, r = (_vec(getattr(neuron, f), n) for f in ("v_th", "v_reset", "resistance"))
    if not neuron.leak:
        if pop.synapse is not None:
            raise ValueError(f"{what}: an IF neuron with synaptic kinetics has no NIR primitive")
        return nir.IF(r=(r / dt).astype(np.float32), v_threshold=v_th, v_reset=v_reset)
    d_mem = np.exp(-dt_ms / _vec(neuron.tau, n).astype(np.float64))
    tau = _tau_of_decay(d_mem, dt, method, what).astype(np.float32)
    v_leak = _vec(neuron.v_rest, n)
    if pop.synapse is None:
        return nir.LIF(tau=tau, r=r, v_leak=v_leak, v_threshold=v_th, v_reset=v_reset)
    syn = pop.synapse
    if syn.kind != "current":
        raise ValueError(f"{what}: conductance-based synapses (COBA) have no NIR primitive")
    d_syn = np.asarray(syn.decay(n)[:-1], np.float64).reshape(syn.n_channels, n)
    if not np.allclose(d_syn, d_syn[0], rtol=0, atol=1e-7):
        raise ValueError(f"{what}: its {syn.n_channels} synaptic channels have different time "
                         "constants; NIR's CubaLIF has one synaptic current")
    d_syn = d_syn[0]
    tau_syn = _tau_of_decay(d_syn, dt, method, what).astype(np.float32)
    return nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau, r=r, v_leak=v_leak, v_threshold=v_th,
                       v_reset=v_reset, w_in=(1.0 / (1.0 - d_syn)).astype(np.float32))


def _export_projection(name: str, proj: Any) -> tuple[np.ndarray, np.ndarray | None, int]:
    if isinstance(proj, Dense):
        b = None if proj.b is None else np.asarray(proj.b, np.float64)
        return np.asarray(proj.weights, np.float64), b, int(proj.delay)
    if isinstance(proj, Sparse):
        if proj.delays is not None:
            raise ValueError(f"projection {name!r}: per-synapse delays have no NIR primitive "
                             "(NIR's Delay is per presynaptic neuron)")
        if proj.n_channels != 1:
            raise ValueError(f"projection {name!r}: a multi-channel projection has no NIR primitive")
        return np.asarray(proj.to_dense()[0], np.float64), None, int(proj.delay)
    raise ValueError(f"projection {name!r}: {type(proj).__name__} has no NIR primitive (short-term "
                     "plasticity and other projection kinds cannot be exported)")


def _check_cycles(net: Network) -> None:
    succ: dict[str, set[str]] = {p: set() for p in net.populations}
    for proj in net.projections.values():
        if proj.source in net.populations and proj.source != proj.target:
            succ[proj.source].add(proj.target)
    _topological(succ)


def _topological(succ: dict[str, set[str]]) -> list[str]:
    """Topological order of a graph without self-loops; raise on a cycle naming its nodes."""
    order, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        if state.get(node) == 1:
            cycle = path[path.index(node):] + [node]
            raise ValueError("populations " + " -> ".join(map(repr, cycle)) + " form a cycle; "
                             "only a population projecting onto itself is supported (a longer "
                             "cycle has no single discrete-time reading in NIR)")
        if state.get(node) == 2:
            return
        state[node] = 1
        for nxt in sorted(succ.get(node, ())):
            visit(nxt, [*path, node])
        state[node] = 2
        order.append(node)

    for node in sorted(succ):
        visit(node, [])
    return order[::-1]


# ----------------------------------------------------------------------------- import

_SPIKING = ("LIF", "CubaLIF", "IF", "Threshold")
_OPS = ("Affine", "Linear", "Scale", "Delay", "Flatten", "Identity", "Conv2d", "_Pass")


class _Chain(NamedTuple):
    source: str
    w: np.ndarray | None  # [pre, post]; None: identity
    b: np.ndarray | None
    delay: int
    name: str
    conv: Any = None  # a NIR Conv2d node: the chain is that convolution (and delays)


def from_nir(graph: Any, *, dt: float | None = None, method: str | None = None,
             surrogate_fn: str | Surrogate = "sigmoid") -> Imported:
    """A neuro network from a NIR graph (a :class:`nir.NIRGraph` or a path to a NIR file).

    ``dt``: the step in seconds (default: the graph's ``neuro_dt`` metadata, else 1e-3 s, i.e.
    neuro's 1 ms; snnTorch writes graphs for ``dt = 1e-4``); ``method``: ``"euler"`` (default,
    or the graph's ``neuro_method``) or ``"exact"``. ``surrogate_fn`` gives the imported neurons
    their spike gradient. Returns :class:`Imported`; see the module docstring for the timing.
    """
    nir = _nir()
    if isinstance(graph, str | os.PathLike):
        graph = nir.read(graph)
    meta = dict(getattr(graph, "metadata", None) or {})
    dt = float(meta.get("neuro_dt", 1e-3)) if dt is None else float(dt)
    method = str(meta.get("neuro_method", "euler")) if method is None else method
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}")
    if not dt > 0:
        raise ValueError(f"dt must be positive (seconds); got {dt!r}")
    dt_ms = dt * _TIME
    nodes, edges = _flatten_graph(graph, nir)
    kinds = {}
    for name, node in nodes.items():
        kind = type(node).__name__
        if kind not in (*_SPIKING, *_OPS, "Input", "Output", "LI"):
            raise ValueError(f"NIR node {name!r} is a {kind}, which neuro cannot import "
                             f"(supported: {', '.join(('Input', 'Output', 'LI', *_SPIKING, *_OPS[:-1]))}, "
                             "and nested graphs of them)")
        kinds[name] = kind
    preds: dict[str, list[str]] = {n: [] for n in nodes}
    for src, dst in edges:
        for end in (src, dst):
            if end not in nodes:
                raise ValueError(f"NIR edge ({src!r}, {dst!r}) names the unknown node {end!r}")
        preds[dst].append(src)

    inputs = {n: int(np.prod(np.asarray(nodes[n].input_type["input"]))) for n, k in kinds.items()
              if k == "Input"}
    pops = [n for n, k in kinds.items() if k in _SPIKING]
    if not pops:
        raise ValueError("the NIR graph has no spiking node (LIF, CubaLIF, IF or Threshold)")
    chains = {n: [_chain(nodes, kinds, preds, p, n, dt) for p in preds[n]] for n in pops}
    sizes = {**inputs, **{n: _node_size(nodes[n]) for n in pops}}

    # lags: node n runs lag[n] steps behind the NIR time line
    succ = {p: {c.source for c in chains[p]} for p in pops}
    rev: dict[str, set[str]] = {p: set() for p in pops}
    for p, srcs in succ.items():
        for s in srcs:
            if s in rev and s != p:
                rev[s].add(p)
    lag = {n: 0 for n in inputs}
    for p in _topological(rev):
        incoming = [c for c in chains[p] if c.source != p]
        lag[p] = max([0] + [lag[c.source] + (c.source in rev) - c.delay for c in incoming])

    populations, projections = {}, {}
    for p in pops:
        neuron, synapse, w_in = _import_neuron(nodes[p], kinds[p], p, dt, dt_ms, method,
                                               surrogate_fn)
        populations[p] = population(neuron, sizes[p], synapse=synapse)
        for c in chains[p]:
            if c.source == p:
                steps = c.delay
            else:
                steps = lag[p] + c.delay - lag[c.source] - (c.source in rev)
            w = c.w
            if w is None and c.conv is None:
                if sizes[c.source] != sizes[p]:
                    raise ValueError(f"NIR edge {c.source!r} -> {p!r} joins {sizes[c.source]} to "
                                     f"{sizes[p]} neurons without a weight matrix")
                w = np.eye(sizes[p])
            if c.conv is not None:
                proj = _import_conv(c, p, w_in, int(steps))
                name = c.name if c.name not in projections else f"{c.name}->{p}"
                projections[name] = proj
                continue
            b = c.b
            if w_in is not None:
                w, b = w * w_in, (None if b is None else b * w_in)
            proj = dense(c.source, p, w, bias=b is not None, delay=int(steps))
            if b is not None:
                proj = replace(proj, b=jnp.asarray(b, proj.w.dtype))
            name = c.name if c.name not in projections else f"{c.name}->{p}"
            projections[name] = proj

    readouts, outputs, out_lag = {}, {}, {}
    for name, kind in kinds.items():
        if kind == "LI":
            readouts[name] = _import_readout(nodes, kinds, preds, name, lag, dt, dt_ms, method)
    for name, kind in kinds.items():
        if kind != "Output":
            continue
        if len(preds[name]) != 1:
            raise ValueError(f"NIR output {name!r} must have exactly one incoming edge")
        src = preds[name][0]
        while kinds[src] in ("Flatten", "Identity", "_Pass"):
            src = preds[src][0]
        if kinds[src] in _SPIKING:
            outputs[name], out_lag[name] = f"spikes.{src}", lag[src]
        elif kinds[src] == "LI":
            outputs[name], out_lag[name] = f"readout.{src}", lag[readouts[src].source]
        else:
            raise ValueError(f"NIR output {name!r} reads a {kinds[src]} node {src!r}; neuro "
                             "outputs are spikes of a population or a readout")
    net = network(populations, projections, readouts=readouts, inputs=inputs)
    return Imported(net, outputs, out_lag, dt_ms)


def _import_conv(c: _Chain, target: str, w_in: np.ndarray | None, delay: int) -> Conv:
    n = c.conv
    c_out, c_in, _, _ = np.asarray(n.weight).shape
    h, wd = (int(v) for v in n.input_shape)
    w = np.asarray(n.weight, np.float64).transpose(2, 3, 1, 0)  # OIHW -> neuro's HWIO
    b = np.asarray(n.bias, np.float64).reshape(-1) * np.ones(c_out)
    if w_in is not None:  # a CubaLIF target: its input weight per output channel
        per = w_in.reshape(-1, c_out)
        if not np.allclose(per, per[0]):
            raise ValueError(f"NIR node {c.name!r}: the CubaLIF behind it scales its input per "
                             "neuron, which a convolution cannot carry")
        w, b = w * per[0], b * per[0]
    padding = n.padding if isinstance(n.padding, str) else \
        tuple((int(p), int(p)) for p in np.broadcast_to(np.asarray(n.padding), (2,)))
    proj = conv(c.source, target, (h, wd, int(c_in)), w, stride=tuple(int(v) for v in
                np.broadcast_to(np.asarray(n.stride), (2,))), padding=padding,
                dilation=tuple(int(v) for v in np.broadcast_to(np.asarray(n.dilation), (2,))),
                bias=True, delay=delay)
    return replace(proj, b=jnp.asarray(b, proj.w.dtype))


class _Pass(NamedTuple):
    """The Input or Output node of a nested graph: an identity inside the outer graph."""

    output_type: dict


def _flatten_graph(graph: Any, nir) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Inline nested :class:`nir.NIRGraph` nodes (snnTorch writes each ``RLeaky`` as one):
    inner nodes are named ``outer.inner``, inner inputs and outputs become identities."""
    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    entry: dict[str, list[str]] = {}
    exit_: dict[str, list[str]] = {}
    for name, node in graph.nodes.items():
        if not isinstance(node, nir.NIRGraph):
            nodes[name] = node
            continue
        inner_nodes, inner_edges = _flatten_graph(node, nir)
        for inner, sub in inner_nodes.items():
            kind = type(sub).__name__
            nodes[f"{name}.{inner}"] = (_Pass({"output": sub.output_type["output"]})
                                        if kind in ("Input", "Output") else sub)
        edges += [(f"{name}.{a}", f"{name}.{b}") for a, b in inner_edges]
        entry[name] = [f"{name}.{k}" for k, v in inner_nodes.items() if type(v).__name__ == "Input"]
        exit_[name] = [f"{name}.{k}" for k, v in inner_nodes.items()
                       if type(v).__name__ == "Output"]
        if len(entry[name]) != 1 or len(exit_[name]) != 1:
            raise ValueError(f"nested NIR graph {name!r} must have one input and one output")
    for src, dst in graph.edges:
        edges.append((exit_[src][0] if src in exit_ else src,
                      entry[dst][0] if dst in entry else dst))
    return nodes, edges


def _node_size(node: Any) -> int:
    return int(np.prod(np.asarray(node.output_type["output"])))


def _chain(nodes, kinds, preds, source: str, sink: str, dt: float) -> _Chain:
    """Walk back from edge ``source -> sink`` through operator nodes to an input or population,
    composing them into one ``x W + b`` with a uniform delay."""
    ops = []
    node = source
    while kinds[node] in _OPS:
        ops.append(node)
        if len(preds[node]) != 1:
            raise ValueError(f"NIR node {node!r} ({kinds[node]}) must have exactly one incoming "
                             f"edge; it has {len(preds[node])}")
        node = preds[node][0]
    if kinds[node] not in (*_SPIKING, "Input"):
        raise ValueError(f"NIR node {sink!r} is driven by the {kinds[node]} node {node!r}; neuro "
                         "projections start at an input or a spiking population")
    w = b = conv = None
    delay = 0
    name = f"{node}->{sink}"
    shape = np.asarray(nodes[node].output_type["output"]).reshape(-1)
    image = tuple(int(v) for v in shape) if shape.size == 3 else None  # (C, H, W)
    convs = [op for op in ops if kinds[op] == "Conv2d"]
    if convs and any(kinds[op] not in ("Conv2d", "Delay", "Identity", "_Pass") for op in ops):
        raise ValueError(f"NIR node {convs[0]!r}: a Conv2d combined with other operators "
                         f"between {node!r} and {sink!r} is not imported (conv, then neurons)")
    for op in reversed(ops):  # forward order
        n = nodes[op]
        kind = kinds[op]
        if kind == "Conv2d":
            if conv is not None or int(n.groups) != 1:
                raise ValueError(f"NIR node {op!r}: neuro imports one ungrouped Conv2d per edge")
            conv, name = n, op
        elif kind in ("Affine", "Linear"):
            a = np.asarray(n.weight, np.float64)
            if a.ndim != 2:
                raise ValueError(f"NIR node {op!r}: neuro imports 2-D weights only; got shape "
                                 f"{a.shape}")
            if w is None and image is not None:  # NIR's flatten is channel-first, neuro's last
                a = a[:, _hwc_order(image)]
            w = a.T if w is None else w @ a.T
            b = None if b is None else b @ a.T
            if kind == "Affine":
                b = np.asarray(n.bias, np.float64) if b is None else b + np.asarray(n.bias)
            name = op
        elif kind == "Scale":
            s = np.asarray(n.scale, np.float64)
            w = np.diag(s) if w is None else w * s
            b = None if b is None else b * s
        elif kind == "Delay":
            d = np.asarray(n.delay, np.float64) / dt
            steps = np.rint(d)
            if np.any(np.abs(d - steps) > 1e-4) or np.any(steps < 0):
                raise ValueError(f"NIR Delay {op!r}: delays {np.unique(d * dt)} s are not whole "
                                 f"steps of dt={dt:g} s")
            if np.unique(steps).size != 1:
                raise ValueError(f"NIR Delay {op!r} has different delays per neuron; neuro's dense "
                                 "projections delay uniformly")
            delay += int(steps.flat[0])
        # Flatten, Identity: the vector is already flat (channel-last for images)
    return _Chain(node, w, b, delay, name, conv)


def _import_neuron(node, kind: str, name: str, dt: float, dt_ms: float, method: str, sg):
    what = f"NIR node {name!r}"
    n = _node_size(node)
    if kind == "Threshold":
        return threshold_unit(_vec(node.threshold, n), surrogate_fn=sg), None, None
    v_th, v_reset = _vec(node.v_threshold, n), _vec(node.v_reset, n)
    r = _vec(node.r, n)
    if kind == "IF":
        cell = integrate_and_fire(v_th, v_reset, r * dt, dt=dt_ms, reset="hard", surrogate_fn=sg)
        return cell, None, None
    tau_mem = node.tau if kind == "LIF" else node.tau_mem
    d_mem = _decay(_vec(tau_mem, n), dt, method, what)
    cell = lif(_neuro_tau(d_mem, dt_ms), v_th, v_reset, _vec(node.v_leak, n), r, dt=dt_ms,
               reset="hard", surrogate_fn=sg)
    if kind == "LIF":
        return cell, None, None
    d_syn = _decay(_vec(node.tau_syn, n), dt, method, what)
    # neuro's synapse applies the same discretisation to the same tau (ms)
    syn = current_synapse(_vec(node.tau_syn, n)[None, :] * _TIME, dt=dt_ms, method=method)
    w_in = (1.0 - d_syn) * _vec(node.w_in, n)
    return cell, syn, w_in


def _import_readout(nodes, kinds, preds, name, lag, dt, dt_ms, method) -> Leaky:
    li = nodes[name]
    if len(preds[name]) != 1:
        raise ValueError(f"NIR LI node {name!r} must have exactly one incoming edge (a neuro "
                         "readout reads one population)")
    c = _chain(nodes, kinds, preds, preds[name][0], name, dt)
    if kinds[c.source] not in _SPIKING:
        raise ValueError(f"NIR LI node {name!r} reads the input {c.source!r}; a neuro readout "
                         "reads a spiking population")
    if c.delay:
        raise ValueError(f"NIR LI node {name!r}: a delay before a readout has no neuro counterpart")
    n = _node_size(li)
    n_in = _node_size(nodes[c.source])
    w = np.eye(n_in) if c.w is None else c.w
    b = np.zeros(n) if c.b is None else c.b
    r, v_leak = _vec(li.r, n).astype(np.float64), _vec(li.v_leak, n).astype(np.float64)
    kappa = _decay(_vec(li.tau, n), dt, method, f"NIR node {name!r}")
    out = readouts_mod.leaky(c.source, n, w=w * r, tau=_neuro_tau(kappa, dt_ms), dt=dt_ms)
    return replace(out, b=jnp.asarray(b * r + v_leak, out.w.dtype))


# ----------------------------------------------------------------------------- files

def write_nir(path: str | os.PathLike, net_or_graph: Any, **kwargs: Any) -> None:
    """Write a network (exported with ``to_nir(net, **kwargs)``) or a NIR graph to ``path``."""
    nir = _nir()
    graph = net_or_graph if isinstance(net_or_graph, nir.NIRGraph) else to_nir(net_or_graph,
                                                                               **kwargs)
    nir.write(path, graph)


def read_nir(path: str | os.PathLike, **kwargs: Any) -> Imported:
    """Read a NIR file into neuro: ``from_nir(nir.read(path), **kwargs)``."""
    return from_nir(_nir().read(path), **kwargs)


__all__ = ["Imported", "ThresholdUnit", "from_nir", "read_nir", "threshold_unit", "to_nir",
           "write_nir"]
