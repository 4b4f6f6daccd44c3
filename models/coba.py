"""The COBA and CUBA E/I networks of Vogels & Abbott (2005) / Brette et al. (2007) as a Network.

N leaky integrate-and-fire neurons, 80 % excitatory, 20 % inhibitory, Bernoulli connectivity with
probability ``80 / N`` from every source to every target (in-degree 80 at any N, self-connections
allowed), exponential synapses, 5 ms refractory period (``shared/reference/coba.md``).

COBA (Benchmark 1; conductances in units of the leak conductance, potentials in mV)::

    tau_m dV/dt = (E_L - V) + g_E (E_E - V) + g_I (E_I - V) + I
    tau_m = 20, E_L = V_reset = -60, V_th = -50, E_E = 0, E_I = -80, tau_E = 5, tau_I = 10 ms,
    dg_E = 0.6, dg_I = 6.7

CUBA (Benchmark 2, brian2 examples/CUBA.py; g in mV)::

    tau_m dV/dt = (E_L - V) + g_E + g_I,   E_L = -49, V_reset = -60, V_th = -50,
    w_E = 1.62 mV, w_I = -9 mV

Variants: ``"standard"`` (self-sustained, no drive; COBA V_0 ~ N(-65, 5), g_E,0 ~ N(4, 1.5),
g_I,0 ~ N(20, 12) unclipped; CUBA V_0 ~ U(V_reset, V_th), g_0 = 0), ``"brainpy"`` (the BrainPy /
ANNarchy benchmark: constant drive I = 20 mV, V_0 ~ N(-55, 5), g_0 = 0) and ``"auryn"`` (COBA
only: the network of Auryn's ``sim_coba_benchmark``, Zenke & Gerstner 2014: dg_E = 0.4,
dg_I = 5.1, I = 20 mV, V_0 = -60 mV, forward Euler for V, V clamped for the 50 steps after a
spike, a 0.8 ms axonal delay: a spike of step s is transmitted at the end of step s + 8 and first
acts on V in step s + 9; connection probability 0.02 at N = 4000, in-degree 80 at any N).

The network (:func:`ei_network`) is one population ``"n"`` of :func:`neuro.neurons.conductance_lif`
(``reversal=()`` for CUBA) with exponential synapses (:mod:`neuro.synapses`) and one recurrent
event-driven projection ``"recurrent"`` (:func:`neuro.projections.sparse`; channel 0 = E -> g_E,
1 = I -> g_I). One step of dt = 0.1 ms is the network's schedule (:mod:`neuro.network`):

1. spikes of the previous step are added onto the decayed traces, ``g <- g + W^T z_{t-1}``;
2. refractory counter ``r <- max(r - 1, 0)``; ``V`` integrates with ``g`` where ``r == 0``, by
   exponential Euler (default; Brian2's default for these equations)::

       G = 1 + g_E + g_I,  V_inf = (E_L + g_E E_E + g_I E_I + I) / G,
       V <- V_inf + (V - V_inf) exp(-dt G / tau_m)                        (COBA)
       V <- V_inf + (V - V_inf) exp(-dt / tau_m),  V_inf = E_L + (g_E + g_I) + I  (CUBA)

   or forward Euler (``method="euler"``);
3. spike ``z = (V > V_th) and r == 0``, ``V <- V_reset``, ``r <- round(tau_ref / dt)`` where ``z``;
   the traces decay exactly, ``g <- g exp(-dt / tau)``, for the next step.

So a spike at step s holds V at V_reset for steps s+1 .. s+49 (tau_ref = 5 ms) and its synaptic
effect enters the membrane update of step s+1, as in Brian2. The initial conductances of the
standard COBA variant are the synapse state (the decayed trace the first step adds onto).

Run it with the package's loop, e.g. with the per-step activity monitor of :func:`monitor`::

    net, state = coba_network(4000)
    result = neuro.run.simulate(net, state, n_steps=10000, monitors=monitor(net, record=100))
    result.records["spikes"], result.records["events"], result.records["raster"]

Performance: ``benchmarks/coba.py`` runs this network against Auryn and Brian2 in one invocation
and prints CPU seconds per biological second and nanoseconds per synaptic event. Use
``backend="fused"`` (:mod:`neuro.fast_coba`: the whole run in a native kernel, many steps per
call) for simulation; ``backend="event"`` (one :meth:`Network.step` per step: pure JAX plus the
native event kernel of :mod:`neuro.projections._native`) where gradients are needed: its small
XLA operations per step cost more in dispatch than in work. XLA's intra-op thread pool slows that
loop down (tiny tensors, many hand-offs), so ``neuro simulate`` and ``benchmarks/coba.py`` start
JAX with one thread (:func:`neuro.cli.simulate.limit_cpu_threads`).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from neuro import neurons, projections, synapses
from neuro.monitors import SpikeSums
from neuro.network import Network, NetworkState, network, population
from neuro.projections.procedural import procedural
from neuro.validation import check_choice, check_finite, check_positive

Array = jax.Array
KINDS = ("coba", "cuba")
VARIANTS = ("standard", "brainpy", "auryn")
CONNECTIVITIES = ("table", "procedural")
METHODS = ("exp_euler", "euler")
IN_DEGREE = 80
MAX_DENSE = 10000  # the dense reference backend holds 2 N^2 weights
EXC_FRACTION = 0.8
POPULATION = "n"
PROJECTION = "recurrent"

#: default parameters (mV, ms); "coba"/"cuba" select the Brette 2007 benchmark.
DEFAULTS = {
    "coba": dict(tau_m=20.0, v_rest=-60.0, v_reset=-60.0, v_th=-50.0, e_exc=0.0, e_inh=-80.0,
                 tau_exc=5.0, tau_inh=10.0, w_exc=0.6, w_inh=6.7, tau_ref=5.0),
    "cuba": dict(tau_m=20.0, v_rest=-49.0, v_reset=-60.0, v_th=-50.0, e_exc=0.0, e_inh=0.0,
                 tau_exc=5.0, tau_inh=10.0, w_exc=1.62, w_inh=-9.0, tau_ref=5.0),
}
#: Auryn's sim_coba_benchmark (TIFGroup defaults, weights 0.4 / 5.1 g_leak, 0.8 ms delay).
#: Auryn clamps V for 50 steps *after* the spike step (neuro's counter includes the spike step,
#: so tau_ref = 5.1 ms gives the same 50 clamped steps).
AURYN = dict(w_exc=0.4, w_inh=5.1, tau_ref=5.1, drive=20.0, v0=-60.0, method="euler",
             delay_ms=0.8)


def num_excitatory(n: int) -> int:
    """Excitatory neurons of an ``n``-neuron network: ``round(0.8 n)``, at least one of each."""
    return min(max(int(round(EXC_FRACTION * n)), 1), n - 1)


def ei_network(
    kind: str = "coba",
    n: int = 4000,
    *,
    variant: str = "standard",
    seed: int = 0,
    dt: float = 0.1,
    method: str | None = None,
    backend: str = "event",
    drive: float | None = None,
    in_degree: float = IN_DEGREE,
    spikes_per_round: int | None = None,
    conn: projections.Connectivity | None = None,
    connectivity: str = "table",
    v0: Any = None,
    dtype: Any = None,
    **overrides: float,
) -> tuple[Network, NetworkState]:
    """Build a COBA or CUBA :class:`~neuro.network.Network` and its initial state.

    ``n`` neurons (:func:`num_excitatory` of them excitatory), connection probability
    ``in_degree / n``. ``variant`` selects initial state, drive and (``"auryn"``) weights, method
    and delay (module docstring). ``method``: ``"exp_euler"`` (default) or ``"euler"``.
    ``backend``: ``"event"``, ``"fused"`` (the event step, and whole runs in the native CPU
    kernel of :mod:`neuro.fast_coba`: same values, no derivative) or the ``"dense"`` reference
    (``n <= 10000``). ``conn`` / ``v0``
    override the sampled connectivity / initial potentials (to load one network into several
    simulators). ``connectivity="procedural"`` regenerates the synapses from ``seed`` every step
    instead of storing them (:mod:`neuro.projections.procedural`: exactly ``round(in_degree)``
    synapses per source with uniformly drawn targets, so the mean in-degree is ``in_degree``;
    memory O(N) instead of O(N in_degree); event backend only). ``overrides``: any key of
    ``DEFAULTS[kind]``. Connectivity is sampled with NumPy from ``seed``; the initial state with
    ``seed + 1``.
    """
    check_choice("kind", kind, KINDS)
    check_choice("variant", variant, VARIANTS)
    if variant == "auryn" and kind != "coba":
        raise ValueError("variant='auryn' is a COBA network; use kind='coba'")
    if method is None:
        method = AURYN["method"] if variant == "auryn" else "exp_euler"
    check_choice("method", method, METHODS)
    check_choice("backend", backend, projections.BACKENDS)
    check_choice("connectivity", connectivity, CONNECTIVITIES)
    if connectivity == "procedural" and (backend != "event" or conn is not None):
        raise ValueError("connectivity='procedural' generates its synapses: it needs "
                         "backend='event' and no conn")
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 2:
        raise ValueError(f"n (number of neurons) must be an integer >= 2; got {n!r}")
    n = int(n)
    unknown = set(overrides) - set(DEFAULTS[kind])
    if unknown:
        raise ValueError(f"unknown parameters {sorted(unknown)}; known: {sorted(DEFAULTS[kind])}")
    base = dict(DEFAULTS[kind])
    if variant == "auryn":
        base.update(w_exc=AURYN["w_exc"], w_inh=AURYN["w_inh"], tau_ref=AURYN["tau_ref"])
    p = {**base, **overrides}
    for key, value in p.items():
        check_finite(key, value)
    for key in ("tau_m", "tau_exc", "tau_inh"):
        check_positive(key, p[key])
    check_positive("tau_ref", p["tau_ref"], allow_zero=True)
    check_positive("dt", dt)
    smallest = min(p["tau_m"], p["tau_exc"], p["tau_inh"])
    if dt > smallest:
        raise ValueError(f"dt must not exceed the smallest time constant ({smallest:g} ms); "
                         f"got {dt:g}")
    if p["v_th"] <= p["v_reset"]:
        raise ValueError("v_th must be greater than v_reset")
    check_positive("in_degree", in_degree)
    if in_degree > n:
        raise ValueError(f"in_degree must be at most n={n}; got {in_degree:g}")
    if backend == "dense" and n > MAX_DENSE:
        raise ValueError(f"backend='dense' (the reference) stores 2 n^2 weights; use it for "
                         f"n <= {MAX_DENSE}, got n={n}")
    n_exc = num_excitatory(n)
    if drive is None:
        drive = 20.0 if variant in ("brainpy", "auryn") else 0.0
    check_finite("drive", drive)
    dtype = jnp.zeros(0, dtype=dtype if dtype is not None else float).dtype

    if connectivity == "procedural":
        pass
    elif conn is None:
        conn = projections.excitatory_inhibitory(
            projections.fixed_probability, seed, n_exc, n - n_exc, p["w_exc"], p["w_inh"],
            in_degree / n, dtype=dtype)
    else:
        if not isinstance(conn, projections.Connectivity):
            raise TypeError(f"conn must be a neuro.projections.Connectivity; got "
                            f"{type(conn).__name__}")
        if conn.n_pre != n or conn.n_post != n:
            raise ValueError(f"conn must connect n={n} neurons to themselves; got "
                             f"{conn.n_pre} -> {conn.n_post}")
        if conn.n_channels != 2:
            raise ValueError(f"conn must have 2 channels (E, I); got {conn.n_channels}")
    tau = (p["tau_exc"], p["tau_inh"])
    if kind == "coba":
        neuron = neurons.conductance_lif(
            p["tau_m"], p["v_rest"], p["v_reset"], p["v_th"], reversal=(p["e_exc"], p["e_inh"]),
            bias=drive, dt=dt, tau_ref=p["tau_ref"], method=method, dtype=dtype)
        synapse = synapses.conductance_synapse(tau, dt=dt)
    else:
        neuron = neurons.conductance_lif(p["tau_m"], p["v_rest"], p["v_reset"], p["v_th"],
                                         reversal=(), bias=drive, dt=dt, tau_ref=p["tau_ref"],
                                         method=method, dtype=dtype)
        synapse = synapses.current_synapse(tau, dt=dt)
    delay = 0
    if variant == "auryn":
        # Auryn transmits a spike of step s at the end of step s + 8 (MINDELAY): it first acts
        # on V in step s + 9, i.e. 8 steps beyond the network's one-step minimum
        delay = int(round(AURYN["delay_ms"] / dt))
    if connectivity == "procedural":
        is_inh = np.arange(n) >= n_exc
        proj = procedural(POPULATION, POPULATION, n, n, max(int(round(in_degree)), 1),
                          weights=np.where(is_inh, p["w_inh"], p["w_exc"]),
                          source_channels=is_inh.astype(np.int64), n_channels=2, seed=seed,
                          delay=delay, spikes_per_round=spikes_per_round, dtype=dtype)
    else:
        proj = projections.sparse(POPULATION, POPULATION, conn, backend=backend, delay=delay,
                                  spikes_per_round=spikes_per_round, dtype=dtype)
    net = network({POPULATION: population(neuron, n, synapse=synapse)}, {PROJECTION: proj})
    return net, initial_state(net, kind, variant, seed + 1, v0=v0)


def initial_state(net: Network, kind: str, variant: str, seed: int, *, v0: Any = None
                  ) -> NetworkState:
    """Initial conditions of the given variant (module docstring), sampled with NumPy: the
    potentials go into the neuron state, the initial conductances into the synapse state."""
    rng = np.random.default_rng(seed)
    pop = net.populations[POPULATION]
    n = pop.size
    ge = np.zeros(n)
    gi = np.zeros(n)
    if variant == "brainpy":
        v = rng.normal(-55.0, 5.0, n)
    elif variant == "auryn":
        v = np.full(n, AURYN["v0"])
    elif kind == "coba":
        v = rng.normal(-65.0, 5.0, n)
        ge = rng.normal(4.0, 1.5, n)
        gi = rng.normal(20.0, 12.0, n)
    else:
        v_reset, v_th = float(pop.neuron.v_reset), float(pop.neuron.v_th)
        v = v_reset + rng.random(n) * (v_th - v_reset)
    if v0 is not None:
        v = np.asarray(v0, dtype=float)
        if v.shape != (n,):
            raise ValueError(f"v0 must have shape ({n},); got {v.shape}")
    dtype = pop.neuron.v_rest.dtype
    state = net.init_state((), dtype)
    neuron = state.neurons[POPULATION]._replace(v=jnp.asarray(v, dtype))
    g = jnp.asarray(np.concatenate([ge, gi, [0.0]]), dtype)
    return state._replace(neurons={POPULATION: neuron}, synapses={POPULATION: g})


def coba_network(n: int = 4000, **kwargs: Any) -> tuple[Network, NetworkState]:
    """The COBA network (Brette et al. 2007 Benchmark 1); see :func:`ei_network`."""
    return ei_network("coba", n, **kwargs)


def cuba_network(n: int = 4000, **kwargs: Any) -> tuple[Network, NetworkState]:
    """The CUBA network (Brette et al. 2007 Benchmark 2); see :func:`ei_network`."""
    return ei_network("cuba", n, **kwargs)


def connectivity(net: Network) -> projections.Connectivity:
    """The recurrent E/I connectivity table of an :func:`ei_network` (host NumPy; a procedural
    projection materialises its synapses)."""
    return net.projections[PROJECTION].connectivity()


class Activity(SpikeSums):
    """Monitor of one population's activity per step (for :func:`neuro.run.simulate`):
    ``{"spikes": count, "events": synaptic events caused, "raster": z of the first record
    neurons}`` (no raster when ``record == 0``). Events are the spikes weighted by the out-degree
    of their neuron. Hashable by value, so equal monitors share one compiled loop.

    Both sums are one :class:`neuro.monitors.SpikeSums`, ``[z != 0] @ [1, nibbles of the
    degrees]`` with the raster as its ``head``: the fused backend (:mod:`neuro.fast_coba`) adds
    them per spike and writes the spikes of the recorded neurons only. Their float32 sums are
    exact integers: each is at most ``15 N < 2^24`` (``N`` up to 1,118,481; above that the sums
    are int32 ``jnp.sum``)."""

    def __init__(self, degrees: np.ndarray, record: int = 0, population: str = POPULATION):
        self.degrees = np.asarray(degrees, dtype=np.int32)
        self.record = int(record)
        self.uniform = bool(self.degrees.size) and bool(np.all(self.degrees == self.degrees[0]))
        # the columns: ones (the count), then 4-bit digits of the degrees
        digits = 0 if self.uniform else max(1, -(-int(self.degrees.max()).bit_length() // 4))
        super().__init__(np.stack([np.ones_like(self.degrees)] +
                                  [(self.degrees >> (4 * k)) & 15 for k in range(digits)], 1),
                         population, self.record)
        # exact float32 sums (each at most 15 N < 2^24): else the int32 sums of __call__
        self.sums_suffice = 15 * self.degrees.size < 1 << 24
        key = (self.degrees.size, int(self.degrees[0])) if self.uniform else \
            self.degrees.tobytes()
        self._key = (population, self.record, key)

    def from_sums(self, sums: Array, head: Array) -> dict:
        sums = sums.astype(jnp.int32)
        spikes = sums[..., 0]
        events = spikes * int(self.degrees[0]) if self.uniform else sum(
            sums[..., 1 + k] << (4 * k) for k in range(self.columns.shape[1] - 1))
        return self._record(spikes, events, head)

    def _record(self, spikes: Array, events: Array, head: Array) -> dict:
        out = {"spikes": spikes, "events": events}
        if self.record:
            out["raster"] = head
        return out

    def __call__(self, outputs: dict) -> dict:
        if self.sums_suffice:
            return super().__call__(outputs)
        z = outputs["spikes"][self.population]
        fired = z != 0
        spikes = jnp.sum(fired, axis=-1, dtype=jnp.int32)
        events = spikes * int(self.degrees[0]) if self.uniform else \
            jnp.sum(jnp.where(fired, self.degrees, 0), axis=-1, dtype=jnp.int32)
        return self._record(spikes, events, fired[..., : self.record])


def monitor(net: Network, record: int = 0) -> Activity:
    """The :class:`Activity` monitor of an :func:`ei_network`, recording a raster of the first
    ``record`` neurons."""
    n = net.populations[POPULATION].size
    if isinstance(record, bool) or not isinstance(record, int | np.integer) or \
            not 0 <= record <= n:
        raise ValueError(f"record must be an int in [0, {n}]; got {record!r}")
    degrees = np.zeros(n, np.int32)
    for proj in net.projections.values():
        if proj.source == POPULATION:
            if hasattr(proj, "out_degree"):  # procedural: a fixed out-degree, nothing stored
                degrees += proj.out_degree
            else:
                degrees += proj.connectivity().degrees().astype(np.int32)
    return Activity(degrees, int(record))


# ----------------------------------------------------------------------------- statistics


def cv_isi(raster: np.ndarray, min_spikes: int = 3) -> float:
    """Mean coefficient of variation of the inter-spike intervals over neurons with at least
    ``min_spikes`` spikes in the ``(T, n)`` raster (NaN if none has)."""
    raster = np.asarray(raster, dtype=bool)
    cvs = []
    for j in range(raster.shape[1]):
        t = np.nonzero(raster[:, j])[0]
        if t.size >= min_spikes:
            isi = np.diff(t).astype(float)
            cvs.append(isi.std() / isi.mean())
    return float(np.mean(cvs)) if cvs else float("nan")
