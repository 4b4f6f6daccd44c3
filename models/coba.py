"""The COBA and CUBA E/I networks of Vogels & Abbott (2005) / Brette et al. (2007).

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
g_I,0 ~ N(20, 12) unclipped; CUBA V_0 ~ U(V_reset, V_th), g_0 = 0) and ``"brainpy"`` (the BrainPy /
ANNarchy benchmark: constant drive I = 20 mV, V_0 ~ N(-55, 5), g_0 = 0).

Discrete step (project design; one step of dt = 0.1 ms, in Brian2's schedule order):

1. refractory counter ``r <- max(r - 1, 0)``; a neuron integrates only when ``r == 0``;
2. ``V`` integrates with the conductances of the previous step, by exponential Euler (default;
   exact for g held over the step, Brian2's default for these equations, BrainPy's ``exp_auto``)::

       G = 1 + g_E + g_I,  V_inf = (E_L + g_E E_E + g_I E_I + I) / G,
       V <- V_inf + (V - V_inf) exp(-dt G / tau_m)                           (COBA)
       V <- V_inf + (V - V_inf) exp(-dt / tau_m),  V_inf = E_L + g_E + g_I + I  (CUBA)

   or forward Euler (``method="euler"``); the traces decay exactly, ``g <- g exp(-dt / tau)``;
3. spike ``z = (V > V_th) and r == 0``; then ``g += W^T z`` (event-driven or dense, see
   :mod:`neuro.connect`), ``V <- V_reset`` and ``r <- round(tau_ref / dt)`` where ``z``.

So a spike at step s holds V at V_reset for steps s+1 .. s+49 (tau_ref = 5 ms) and its synaptic
effect enters the membrane update of step s+1 (no extra delay), as in Brian2.

State layout for speed: the two conductances are one flat vector ``[g_E; g_I; sink]`` that the
event-driven propagation scatter-adds into in place (see :mod:`neuro.connect`).

Performance (XLA:CPU, measured on a shared 2-core machine, f32, N = 4000, ~25 Hz): ~0.28 s per
biological second on one thread, about half in the per-neuron update (exponential Euler, ~4 ns
per neuron-step including the loop) and half in spike propagation (~20 ns per synaptic event,
dominated by the fixed cost of selecting the spiking rows, not by the ~2.6 ns per event of the
gather + scatter itself). XLA's intra-op thread pool makes this loop ~2x *slower* (tiny
tensors, many hand-offs): ``neuro simulate`` and ``benchmarks/coba.py`` start JAX with one
thread (:func:`neuro.cli.simulate.limit_cpu_threads`).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from neuro import connect
from neuro._pytree import pytree_dataclass, static_field
from neuro.validation import check_choice, check_finite, check_positive

Array = jax.Array
KINDS = ("coba", "cuba")
VARIANTS = ("standard", "brainpy")
METHODS = ("exp_euler", "euler")
IN_DEGREE = 80
MAX_DENSE = 10000  # the dense reference backend holds 2 N^2 weights
EXC_FRACTION = 0.8

#: default parameters (mV, ms); "coba"/"cuba" select the Brette 2007 benchmark.
DEFAULTS = {
    "coba": dict(tau_m=20.0, v_rest=-60.0, v_reset=-60.0, v_th=-50.0, e_exc=0.0, e_inh=-80.0,
                 tau_exc=5.0, tau_inh=10.0, w_exc=0.6, w_inh=6.7, tau_ref=5.0),
    "cuba": dict(tau_m=20.0, v_rest=-49.0, v_reset=-60.0, v_th=-50.0, e_exc=0.0, e_inh=0.0,
                 tau_exc=5.0, tau_inh=10.0, w_exc=1.62, w_inh=-9.0, tau_ref=5.0),
}


class EIState(NamedTuple):
    """Membrane potentials, flat conductances ``[g_E; g_I; sink]``, refractory steps left."""

    v: Array
    g: Array
    refractory: Array


@pytree_dataclass
class EINetwork:
    """Parameters of a COBA/CUBA E/I network; see module docstring."""

    conn: connect.Connectivity
    degrees: Array  # int32 (N + 1,) out-degree per source, 0 for the padding row
    dense: connect.DenseConnectivity | None
    decay: Array  # (2 N + 1,) per-step decay of the flat conductance vector
    tau_m: Array
    v_rest: Array
    v_reset: Array
    v_th: Array
    e_exc: Array
    e_inh: Array
    drive: Array
    dt: float = static_field(default=0.1)
    n_ref: int = static_field(default=50)
    kind: str = static_field(default="coba")
    method: str = static_field(default="exp_euler")
    backend: str = static_field(default="event")
    spikes_per_round: int = static_field(default=32)
    n_exc: int = static_field(default=3200)

    @property
    def n(self) -> int:
        return self.conn.n_post


def network_step(net: EINetwork, state: EIState) -> tuple[EIState, Array, Array, Array]:
    """One step of ``dt``; returns the new state, the spikes (bool, shape (N,)), their number
    and the number of synaptic events they caused."""
    n = net.n
    ge, gi = state.g[:n], state.g[n:2 * n]
    ref = jnp.maximum(state.refractory - 1, 0)
    active = ref == 0
    v = state.v
    a = net.dt / net.tau_m
    if net.kind == "coba":
        if net.method == "exp_euler":
            total = 1.0 + ge + gi
            v_inf = (net.v_rest + ge * net.e_exc + gi * net.e_inh + net.drive) / total
            v_new = v_inf + (v - v_inf) * jnp.exp(-a * total)
        else:
            v_new = v + a * ((net.v_rest - v) + ge * (net.e_exc - v) + gi * (net.e_inh - v)
                             + net.drive)
    else:
        v_inf = net.v_rest + ge + gi + net.drive
        if net.method == "exp_euler":
            v_new = v_inf + (v - v_inf) * jnp.exp(-a)
        else:
            v_new = v + a * (v_inf - v)
    v = jnp.where(active, v_new, v)
    z = active & (v > net.v_th)
    g = state.g * net.decay
    if net.backend == "dense":
        inc = connect.propagate(net.dense, z)
        g = g + jnp.concatenate([inc.reshape(-1), jnp.zeros(1, g.dtype)])
        count = jnp.sum(z, dtype=jnp.int32)
        events = jnp.sum(jnp.where(z, net.degrees[:-1], 0), dtype=jnp.int32)
    else:
        g, count, events = connect.propagate_into(
            net.conn, g, z, spikes_per_round=net.spikes_per_round, degrees=net.degrees)
    v = jnp.where(z, net.v_reset, v)
    ref = jnp.where(z, net.n_ref, ref)
    return EIState(v, g, ref), z, count, events


def _scan(net: EINetwork, state: EIState, n_steps: int, record: int, unroll: int):
    def body(s, _):
        s, z, count, events = network_step(net, s)
        return s, (count, events, z[:record])

    return lax.scan(body, state, None, length=n_steps, unroll=unroll)


_compiled = jax.jit(_scan, static_argnames=("n_steps", "record", "unroll"))


class RunResult(NamedTuple):
    """Final state; spikes and synaptic events per step ``(T,)``; the ``(T, record)`` raster of
    the first ``record`` neurons (``None`` when ``record=0``)."""

    state: EIState
    counts: Array
    events: Array
    raster: Array | None


def compile_run(net: EINetwork, state: EIState, n_steps: int, *, record: int = 0,
                unroll: int = 1):
    """Ahead-of-time compile :func:`run`; returns ``(fn, seconds)`` where ``fn(net, state)``
    gives the same outputs as ``run`` (``(state, (counts, events, raster))``)."""
    import time

    start = time.perf_counter()
    fn = _compiled.lower(net, state, n_steps=n_steps, record=record, unroll=unroll).compile()
    return fn, time.perf_counter() - start


def run(net: EINetwork, state: EIState, n_steps: int, *, record: int = 0,
        unroll: int = 1) -> RunResult:
    """Compiled run of ``n_steps`` steps (compiled once per network shape and static options)."""
    if not isinstance(n_steps, int) or n_steps < 1:
        raise ValueError(f"n_steps must be a positive int; got {n_steps!r}")
    if not isinstance(record, int) or not 0 <= record <= net.n:
        raise ValueError(f"record must be an int in [0, {net.n}]; got {record!r}")
    state, (counts, events, raster) = _compiled(net, state, n_steps=n_steps, record=record,
                                                unroll=unroll)
    return RunResult(state, counts, events, raster if record else None)


def ei_network(
    kind: str = "coba",
    n: int = 4000,
    *,
    variant: str = "standard",
    seed: int = 0,
    dt: float = 0.1,
    method: str = "exp_euler",
    backend: str = "event",
    drive: float | None = None,
    in_degree: float = IN_DEGREE,
    spikes_per_round: int | None = None,
    conn: connect.Connectivity | None = None,
    v0: Array | None = None,
    dtype=None,
    **overrides: float,
) -> tuple[EINetwork, EIState]:
    """Build a COBA or CUBA network and its initial state (see module docstring).

    ``n`` neurons (``round(0.8 n)`` excitatory), connection probability ``in_degree / n``.
    ``variant="brainpy"`` adds the constant drive I = 20 mV and starts from V ~ N(-55, 5) mV with
    zero conductances. ``conn``/``v0`` override the sampled connectivity / initial potentials
    (to load one network into several simulators). ``overrides``: any key of ``DEFAULTS[kind]``.
    Connectivity is sampled with NumPy from ``seed``; initial state with ``seed + 1``.
    """
    check_choice("kind", kind, KINDS)
    check_choice("variant", variant, VARIANTS)
    check_choice("method", method, METHODS)
    check_choice("backend", backend, connect.BACKENDS)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"n (number of neurons) must be an integer >= 2; got {n!r}")
    n = int(n)
    unknown = set(overrides) - set(DEFAULTS[kind])
    if unknown:
        raise ValueError(f"unknown parameters {sorted(unknown)}; known: {sorted(DEFAULTS[kind])}")
    p = {**DEFAULTS[kind], **overrides}
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
    n_exc = int(round(EXC_FRACTION * n))
    n_exc = min(max(n_exc, 1), n - 1)
    if drive is None:
        drive = 20.0 if variant == "brainpy" else 0.0
    check_finite("drive", drive)
    dtype = jnp.zeros(0, dtype=dtype if dtype is not None else float).dtype

    if conn is None:
        conn = connect.excitatory_inhibitory(
            connect.fixed_probability, seed, n_exc, n - n_exc, p["w_exc"], p["w_inh"],
            in_degree / n, dtype=dtype)
    else:
        if conn.n_pre != n or conn.n_post != n:
            raise ValueError(f"conn must connect n={n} neurons to themselves; got "
                             f"{conn.n_pre} -> {conn.n_post}")
        if conn.n_channels != 2:
            raise ValueError(f"conn must have 2 channels (E, I); got {conn.n_channels}")
    dense = connect.to_dense(conn) if backend == "dense" else None
    decay = np.concatenate([np.full(n, np.exp(-dt / p["tau_exc"])),
                            np.full(n, np.exp(-dt / p["tau_inh"])), [0.0]])
    f = lambda x: jnp.asarray(x, dtype=dtype)
    net = EINetwork(
        conn=conn, degrees=conn.degree_table(), dense=dense, decay=f(decay), tau_m=f(p["tau_m"]),
        v_rest=f(p["v_rest"]),
        v_reset=f(p["v_reset"]), v_th=f(p["v_th"]), e_exc=f(p["e_exc"]), e_inh=f(p["e_inh"]),
        drive=f(drive), dt=float(dt), n_ref=int(round(p["tau_ref"] / dt)), kind=kind,
        method=method, backend=backend,
        spikes_per_round=spikes_per_round or connect.default_spikes_per_round(n), n_exc=n_exc,
    )
    return net, initial_state(net, variant, seed + 1, v0=v0)


def initial_state(net: EINetwork, variant: str, seed: int, *, v0: Array | None = None) -> EIState:
    """Initial conditions of the given variant (see module docstring), sampled with NumPy."""
    rng = np.random.default_rng(seed)
    n = net.n
    ge = np.zeros(n)
    gi = np.zeros(n)
    if variant == "brainpy":
        v = rng.normal(-55.0, 5.0, n)
    elif net.kind == "coba":
        v = rng.normal(-65.0, 5.0, n)
        ge = rng.normal(4.0, 1.5, n)
        gi = rng.normal(20.0, 12.0, n)
    else:
        v_reset, v_th = float(net.v_reset), float(net.v_th)
        v = v_reset + rng.random(n) * (v_th - v_reset)
    if v0 is not None:
        v = np.asarray(v0, dtype=float)
        if v.shape != (n,):
            raise ValueError(f"v0 must have shape ({n},); got {v.shape}")
    dtype = net.decay.dtype
    g = np.concatenate([ge, gi, [0.0]])
    return EIState(jnp.asarray(v, dtype), jnp.asarray(g, dtype), jnp.zeros(n, jnp.int32))


def coba_network(n: int = 4000, **kwargs) -> tuple[EINetwork, EIState]:
    """The COBA network (Brette et al. 2007 Benchmark 1); see :func:`ei_network`."""
    return ei_network("coba", n, **kwargs)


def cuba_network(n: int = 4000, **kwargs) -> tuple[EINetwork, EIState]:
    """The CUBA network (Brette et al. 2007 Benchmark 2); see :func:`ei_network`."""
    return ei_network("cuba", n, **kwargs)


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
