"""Lyapunov spectra of driven discrete-time maps by the QR (Benettin) method, and linearisation.

A *map* is a pure function ``f(params, state, x_t) -> state`` (any pytree state, any input pytree);
it is driven by an input sequence ``inputs`` (leading axis = time). Its Lyapunov exponents are the
average exponential growth rates of infinitesimal perturbations along the driven trajectory.

Algorithm (Benettin et al. 1980; Shimada & Nagashima 1979), lnp.md §4. With the state flattened to a
vector ``s`` of size ``N`` and ``Q_0`` a random orthonormal ``N x k`` matrix::

    s_t        = f(s_{t-1}, x_t)
    M_t        = J_t Q_{t-1},         J_t = df/ds at s_{t-1}   (k Jacobian-vector products)
    Q_t R_t    = qr(M_t)              (signs fixed so that diag R_t > 0)
    lambda_i   = sum_{t > T_b} log R_t,ii / ((T - T_b) dt)

``M_t`` is computed with ``jax.linearize`` once per step and the JVP ``vmap``-ed over the ``k``
columns, so no ``N x N`` Jacobian is ever formed; time is one ``lax.scan``. The first ``burn_in``
steps align ``Q`` with the dominant directions and are not accumulated. Exponents come out sorted
in decreasing order, in units of 1/(time unit of ``dt``) (1/ms for networks with ``dt`` in ms).
A zero ``R_ii`` (a rank-deficient step, e.g. ``k`` above the rank of ``J``) contributes
``log(tiny)`` instead of ``-inf``.

Spiking networks have a discontinuous map (the Heaviside spike), whose Jacobian is zero almost
everywhere; as lnp.md §4 prescribes (project design), the spectrum of a spiking network is the
spectrum of its *smoothed map*, in which ``H`` is replaced by ``sigmoid(beta_s (v - V_th)/V_th)`` in
the spike output and in the reset, driven by the same input sequence (``beta_s = 4``).
:func:`smoothed` gives that map for a :class:`~neuro.network.Network` of one LIF population
(:func:`smoothed_step`: ``u_{t-1} -> u_t`` on the pre-reset potential, computed by the network's
own step with the smoothed spikes as the presynaptic activity).

Linearisation helpers: :func:`jacobian` (dense ``J_t``), :func:`jacobian_diagonals` (``diag J_t``
along a trajectory), :func:`local_rates` (the per-unit proxy ``mean_t log|J_t,ii| / dt`` of lnp.md
§4) and :func:`mean_log_det` (the right-hand side of the determinant identity
``sum_i lambda_i = mean_t log|det J_t| / dt`` for ``k = N``).

Validated (tests/test_dynamics.py) against the Lorenz-63 flow (0.906, 0, -14.57), the Henon map
(0.419, -1.623), the logistic map at r = 4 (ln 2), uncoupled leaky units (exactly ``-1/tau_i``),
constant linear maps (``log|mu_i|/dt``) and the determinant identity.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from neuro._pytree import pytree_dataclass, replace, static_field
from neuro.neurons._firing import surrogate_argument
from neuro.run import num_steps

Map = Callable[[Any, Any, Any], Any]


class LyapunovResult(NamedTuple):
    """Exponents (decreasing, 1/time unit) and their running estimates.

    ``running[j]`` is the estimate after ``times[j]`` accumulated steps (``times`` in units of
    ``dt``, counted after the burn-in); ``final_state`` is the state at the end of the trajectory.
    """

    exponents: np.ndarray
    running: np.ndarray
    times: np.ndarray
    final_state: Any

    @property
    def lambda_max(self) -> float:
        return float(self.exponents[0])

    def convergence(self, tail: float = 0.25) -> np.ndarray:
        """Spread (max - min) of each running estimate over the last ``tail`` of the run.

        A small spread relative to the exponent's size says the estimate has converged.
        """
        if not 0.0 < tail <= 1.0:
            raise ValueError(f"tail must lie in (0, 1]; got {tail}")
        start = int(len(self.running) * (1.0 - tail))
        window = self.running[start:]
        return window.max(axis=0) - window.min(axis=0)


def _flat_map(f: Map, unravel: Callable, params: Any, flat: jax.Array, x: Any) -> jax.Array:
    return ravel_pytree(f(params, unravel(flat), x))[0]


def _qr_step(f, unravel, params, carry, x):
    flat, q = carry
    new, jvp = jax.linearize(lambda s: _flat_map(f, unravel, params, s, x), flat)
    m = jax.vmap(jvp, in_axes=1, out_axes=1)(q)
    q, r = jnp.linalg.qr(m)
    d = jnp.diagonal(r)
    sign = jnp.where(d < 0, -1.0, 1.0).astype(q.dtype)
    q = q * sign[None, :]  # diag(R) > 0
    tiny = jnp.finfo(d.dtype).tiny
    return (new, q), jnp.log(jnp.maximum(jnp.abs(d), tiny))


@functools.partial(jax.jit, static_argnames=("f", "k", "burn_in"))
def _spectrum_core(f: Map, params: Any, state0: Any, inputs: Any, key: jax.Array, k: int,
                   burn_in: int):
    flat0, unravel = ravel_pytree(state0)
    n = flat0.shape[0]
    q0, _ = jnp.linalg.qr(jax.random.normal(key, (n, k), dtype=flat0.dtype))
    body = functools.partial(_qr_step, f, unravel, params)
    head = jax.tree_util.tree_map(lambda a: a[:burn_in], inputs)
    tail = jax.tree_util.tree_map(lambda a: a[burn_in:], inputs)
    carry = (flat0, q0)
    if burn_in > 0:
        carry, _ = jax.lax.scan(body, carry, head)
    carry, logs = jax.lax.scan(body, carry, tail)
    return unravel(carry[0]), logs


def lyapunov_spectrum(
    f: Map,
    state0: Any,
    inputs: Any,
    *,
    params: Any = None,
    k: int = 1,
    dt: float = 1.0,
    burn_in: int = 500,
    key: jax.Array | None = None,
    num_records: int = 200,
) -> LyapunovResult:
    """The ``k`` largest Lyapunov exponents of ``f`` driven by ``inputs`` (see module docstring).

    Args:
        f: pure map ``f(params, state, x_t) -> state``; a module-level function (it is a static
            compilation key: pass the same object each call to reuse the compiled loop).
        state0: initial state (any pytree of floating arrays).
        inputs: pytree of arrays with a common leading time axis of length ``T > burn_in``; use
            ``jnp.zeros((T, 0))`` for an autonomous map.
        params: parameters passed to ``f`` (traced: new values do not recompile).
        k: number of exponents (1 <= k <= state size).
        dt: time per step; exponents are per unit of ``dt``'s time (``dt = 1`` gives per step).
        burn_in: steps run before accumulation (``T_b``).
        key: PRNG key for ``Q_0`` (default ``PRNGKey(0)``).
        num_records: number of points of the running estimate returned.
    """
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive int; got {k!r}")
    if not dt > 0:
        raise ValueError(f"dt must be positive; got {dt}")
    if not isinstance(burn_in, int) or burn_in < 0:
        raise ValueError(f"burn_in must be a non-negative int; got {burn_in!r}")
    n_state = ravel_pytree(state0)[0].shape[0]
    if k > n_state:
        raise ValueError(f"k must not exceed the state size {n_state}; got {k}")
    total = num_steps(inputs)
    if total <= burn_in:
        raise ValueError(f"inputs must be longer than burn_in={burn_in}; got {total} steps")
    key = jax.random.PRNGKey(0) if key is None else key
    final, logs = _spectrum_core(f, params, state0, inputs, key, k, burn_in)
    return _result(logs, dt, num_records, final)


def _result(logs: Any, dt: float, num_records: int, final: Any) -> LyapunovResult:
    """Exponents (sorted, decreasing) and running estimates from the per-step ``log R_ii``."""
    logs = np.asarray(logs, dtype=np.float64)
    steps = logs.shape[0]
    cum = np.cumsum(logs, axis=0)
    exps = cum[-1] / (steps * dt)
    order = np.argsort(-exps, kind="stable")
    idx = np.unique(np.linspace(1, steps, min(num_records, steps)).astype(int))
    running = cum[idx - 1] / (idx[:, None] * dt)
    return LyapunovResult(exps[order], running[:, order], idx * dt, final)


def lambda_max(f: Map, state0: Any, inputs: Any, **kwargs: Any) -> float:
    """The maximal Lyapunov exponent (``k = 1``) of ``f`` along ``inputs``."""
    return lyapunov_spectrum(f, state0, inputs, k=1, **kwargs).lambda_max


# --------------------------------------------------------------------------- smoothed map

@pytree_dataclass
class Smoothed:
    """The smoothed map of a one-population LIF Network (see :func:`smoothed`)."""

    net: Any
    population: str = static_field()
    beta: float = static_field(default=4.0)

    @property
    def neuron(self) -> Any:
        return self.net.populations[self.population].neuron

    @property
    def size(self) -> int:
        return self.net.populations[self.population].size

    def spikes(self, u: jax.Array) -> jax.Array:
        """The smoothed spike ``s(u) = sigmoid(beta x(u))``, ``x`` the neuron's surrogate
        argument (``(u - V_th)/V_th`` for ``scale="threshold"``)."""
        n = self.neuron
        return jax.nn.sigmoid(self.beta * surrogate_argument(u, n.v_th, n.v_reset, n.scale))

    def gain(self, u: jax.Array) -> jax.Array:
        """``ds/du`` (``beta s (1 - s) / V_th`` for ``scale="threshold"``)."""
        n = self.neuron
        s = self.spikes(u)
        scale = {"reset": n.v_th - n.v_reset, "threshold": n.v_th, "none": 1.0}[n.scale]
        return self.beta / scale * s * (1.0 - s)

    def pre_reset(self, v: jax.Array, z: jax.Array) -> jax.Array:
        """The pre-reset potential ``u`` from a spiking run's post-reset ``v`` and spikes ``z``."""
        n = self.neuron
        if n.reset == "soft":
            return v + (n.v_th - n.v_reset) * z
        if n.reset == "none":
            return v
        raise ValueError("the pre-reset potential of a hard reset is not recoverable from v")


def smoothed(net: Any, *, population: str | None = None, beta: float = 4.0) -> Smoothed:
    """The smoothed map of ``net`` for Lyapunov analysis (lnp.md §4, project design).

    In the spiking network, ``z_t = H(x(u_t))`` and the reset subtracts ``(V_th - V_reset) z_t``;
    the smoothed map replaces ``H`` by ``sigmoid(beta x)`` in both places (it is *not* the
    spiking network: it is its differentiable surrogate, whose Jacobian is non-zero)::

        s_{t-1} = sigmoid(beta x(u_{t-1}))
        u_t     = a (u_{t-1} - (V_th - V_reset) s_{t-1}) + (1 - a) R I_t(s_{t-1}, x_t)

    ``I_t`` is what the network's projections deliver with ``s_{t-1}`` as the presynaptic
    activity (graded values: dense projections, and sparse ones evaluated by their dense backend,
    are exact). Supported: one population of
    :func:`neuro.neurons.lif` (soft or no reset, no refractoriness, no MPR), delta synapses, no
    delays, no modulators (the state is then exactly ``u``); anything else raises.
    """
    if population is None:
        if len(net.populations) != 1:
            raise ValueError(f"smoothed: name the population; the network has "
                             f"{sorted(net.populations)}")
        population = next(iter(net.populations))
    if population not in net.populations or len(net.populations) != 1:
        raise ValueError(f"smoothed needs a network of one population; got "
                         f"{sorted(net.populations)}")
    pop = net.populations[population]
    n = pop.neuron
    if not all(hasattr(n, a) for a in ("v_th", "v_reset", "scale", "reset", "leak")):
        raise ValueError(f"smoothed needs LIF neurons (neuro.neurons.lif); got {type(n).__name__}")
    if n.reset not in ("soft", "none") or n.n_ref or n.mpr is not None:
        raise ValueError("smoothed supports soft or no reset without refractoriness or MPR; got "
                         f"reset={n.reset!r}, refractory_steps={n.n_ref}, mpr={n.mpr!r}")
    if pop.synapse is not None or net.modulators:
        raise ValueError("smoothed supports delta synapses and no modulators")
    for name, proj in net.projections.items():
        if getattr(proj, "delay", 0) or getattr(proj, "delays", None) is not None:
            raise ValueError(f"smoothed supports projections without delay; {name!r} has one")
    if not beta > 0:
        raise ValueError(f"beta must be positive; got {beta}")
    return Smoothed(net, population, float(beta))


def smoothed_step(m: Smoothed, u: jax.Array, x: Any) -> jax.Array:
    """One step ``u_{t-1} -> u_t`` of the smoothed map (:func:`smoothed`); a module-level map
    for :func:`lyapunov_spectrum` (``params=m``)."""
    net, p = m.net, m.population
    n = m.neuron
    s = m.spikes(u)
    v = u - (n.v_th - n.v_reset) * s if n.reset == "soft" else u
    # The presynaptic values are graded here, but a spiking population promises binary spikes to
    # its projections (the event-driven Sparse backend then skips the value product): evaluate
    # sparse projections by their dense backend, exact for any value.
    projections = {name: replace(q, backend="dense") if getattr(q, "backend", None) == "event"
                   else q for name, q in net.projections.items()}
    free = replace(net, populations={p: replace(net.populations[p],
                                                neuron=replace(n, reset="none"))},
                   projections=projections)
    state = net.init_state(u.shape[:-1], dtype=u.dtype)
    state = state._replace(neurons={p: state.neurons[p]._replace(v=v)}, z={p: s})
    new, _ = free.step(state, x)
    return new.neurons[p].v  # reset "none": the pre-reset potential


def initial_potential(m: Smoothed, batch: tuple[int, ...] = ()) -> jax.Array:
    """The pre-reset potential of the network at rest."""
    n = m.neuron
    return jnp.broadcast_to(n.v_rest, (*batch, m.size)).astype(jnp.result_type(float))


# --------------------------------------------------------------------------- linearisation

@functools.partial(jax.jit, static_argnames=("f",))
def jacobian(f: Map, params: Any, state: Any, x: Any) -> jax.Array:
    """Dense Jacobian ``df/ds`` of the flattened state at ``(state, x)`` (``jax.jacfwd``)."""
    flat, unravel = ravel_pytree(state)
    return jax.jacfwd(lambda s: _flat_map(f, unravel, params, s, x))(flat)


@functools.partial(jax.jit, static_argnames=("f", "every"))
def _diag_core(f, params, state0, inputs, every):
    flat0, unravel = ravel_pytree(state0)
    n = _num_steps_traced(inputs)

    def step(flat, x):
        return _flat_map(f, unravel, params, flat, x)

    def one(flat, x):
        return step(flat, x), flat

    _, traj = jax.lax.scan(one, flat0, inputs)  # traj[t] = state before input t
    xs = jax.tree_util.tree_map(lambda a: a[::every], inputs)
    ss = traj[: n : every]
    return jax.vmap(lambda s, x: jnp.diagonal(jax.jacfwd(lambda u: step(u, x))(s)))(ss, xs)


def _num_steps_traced(inputs: Any) -> int:
    return jax.tree_util.tree_leaves(inputs)[0].shape[0]


def jacobian_diagonals(f: Map, state0: Any, inputs: Any, *, params: Any = None,
                       every: int = 10) -> np.ndarray:
    """``diag J_t`` at every ``every``-th step of the trajectory from ``state0`` (shape [T', N]).

    Each sampled diagonal costs one dense Jacobian (N JVPs); sampling keeps that affordable.
    """
    if not isinstance(every, int) or every < 1:
        raise ValueError(f"every must be a positive int; got {every!r}")
    num_steps(inputs)
    return np.asarray(_diag_core(f, params, state0, inputs, every))


def local_rates(f: Map, state0: Any, inputs: Any, *, params: Any = None, dt: float = 1.0,
                every: int = 10) -> np.ndarray:
    """Per-unit local contraction rates ``mean_t log|J_t,ii| / dt`` (lnp.md §4 proxy)."""
    diag = jacobian_diagonals(f, state0, inputs, params=params, every=every)
    tiny = np.finfo(diag.dtype).tiny
    return np.log(np.maximum(np.abs(diag), tiny)).mean(axis=0) / dt


@functools.partial(jax.jit, static_argnames=("f",))
def _logdet_core(f, params, state0, inputs):
    flat0, unravel = ravel_pytree(state0)

    def one(flat, x):
        step = lambda s: _flat_map(f, unravel, params, s, x)
        _, logdet = jnp.linalg.slogdet(jax.jacfwd(step)(flat))
        return step(flat), logdet

    return jax.lax.scan(one, flat0, inputs)[1]


def mean_log_det(f: Map, state0: Any, inputs: Any, *, params: Any = None, dt: float = 1.0,
                 burn_in: int = 0) -> float:
    """``mean_t log|det J_t| / dt`` over the steps after ``burn_in`` (equals the sum of all
    Lyapunov exponents, the determinant identity)."""
    logdets = np.asarray(_logdet_core(f, params, state0, inputs), dtype=np.float64)
    return float(logdets[burn_in:].mean() / dt)


# --------------------------------------------------------------------------- plots

def plot_lyapunov(result: LyapunovResult, path: str, title: str = "") -> None:
    """Save the spectrum and the running estimates (convergence) to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.5))
    a.plot(np.arange(1, len(result.exponents) + 1), result.exponents, "o-", ms=3)
    a.axhline(0.0, color="k", lw=0.5)
    a.set_xlabel("index i")
    a.set_ylabel("lambda_i")
    a.set_title("Lyapunov spectrum")
    b.plot(result.times, result.running[:, : min(5, result.running.shape[1])])
    b.axhline(0.0, color="k", lw=0.5)
    b.set_xlabel("accumulated time")
    b.set_ylabel("running estimate")
    b.set_title("convergence")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ----------------------------------------------------------------------------- any Network

JACOBIANS = ("smoothed", "surrogate")


def smoothed_network(net: Any) -> Any:
    """``net`` with every spike ``H(x)`` replaced by the antiderivative ``G(x)`` of its surrogate
    (``sigmoid(alpha x)`` for the default surrogate: lnp.md §4's smoothed map with
    ``beta_s = alpha``), in the output and wherever the neuron reuses it (reset, adaptation).

    Neurons whose step does not go through :func:`neuro.spikes.spike` alone (refractory counters,
    the conductance LIF's strict threshold and clamp, DSR) have no smoothed map and are refused:
    analyse them with ``jacobian="surrogate"``.
    """
    from neuro.spikes import smoothed as smooth_surrogate

    populations = {}
    for name, pop in net.populations.items():
        neuron = pop.neuron
        kind = type(neuron).__name__
        if not hasattr(neuron, "surrogate") or kind in ("ConductanceLIF", "DSRLIF") or \
                getattr(neuron, "n_ref", 0):
            raise ValueError(f"population {name!r} ({kind}) has no smoothed map (it needs a "
                             "neuron whose spikes all go through neuro.spikes.spike, without "
                             "refractoriness); use jacobian='surrogate'")
        populations[name] = replace(pop, neuron=replace(neuron,
                                                        surrogate=smooth_surrogate(neuron.surrogate)))
    return replace(net, populations=populations)


def _network_map(net: Any, state: Any, x: Any) -> Any:
    return net.step(state, x)[0]


def _split_state(state: Any) -> tuple[jax.Array, Callable, Any]:
    from neuro._pytree import partition

    diff, rest = partition(state)
    flat, unravel = ravel_pytree(diff)
    return flat, unravel, rest


def state_index(state: Any, select: Callable[[Any], Any]) -> np.ndarray:
    """Positions in the flat float state (the vector the Jacobians act on) of the leaf
    ``select(state)``, e.g. ``lambda s: s.neurons["e"].v``."""
    from neuro._pytree import combine

    flat, unravel, rest = _split_state(state)
    labels = combine(unravel(jnp.arange(flat.shape[0], dtype=flat.dtype)), rest)
    target = select(labels)
    if not hasattr(target, "dtype") or not jnp.issubdtype(target.dtype, jnp.floating):
        raise ValueError("select must return a float leaf of the state")
    return np.asarray(target).reshape(-1).astype(np.int64)


def _flat_step(net: Any, unravel: Callable, flat: jax.Array, rest: Any, x: Any
               ) -> tuple[jax.Array, Any]:
    """One network step on the flat float state; the non-float part is carried alongside."""
    from neuro._pytree import combine, partition

    diff, rest = partition(net.step(combine(unravel(flat), rest), x)[0])
    return ravel_pytree(diff)[0], rest


def _map_for(net: Any, jacobian: str) -> Any:
    if jacobian not in JACOBIANS:
        raise ValueError(f"jacobian must be one of {JACOBIANS}; got {jacobian!r}")
    return smoothed_network(net) if jacobian == "smoothed" else net


@functools.partial(jax.jit, static_argnames=("every",))
def _network_jacobians(net, state0, inputs, every):
    flat0, unravel, rest0 = _split_state(state0)

    f = functools.partial(_flat_step, net, unravel)

    def one(carry, x):
        flat, rest = carry
        return f(flat, rest, x), (flat, rest)

    _, (traj, rests) = jax.lax.scan(one, (flat0, rest0), inputs)
    pick = lambda a: a[::every]
    xs = jax.tree_util.tree_map(pick, inputs)
    return jax.vmap(lambda s, r, x: jax.jacfwd(lambda u: f(u, r, x)[0])(s))(
        pick(traj), jax.tree_util.tree_map(pick, rests), xs)


def network_jacobians(net: Any, inputs: Any, *, jacobian: str, state0: Any = None,
                      every: int = 10) -> np.ndarray:
    """Full-state Jacobians ``J_t = d s_t / d s_{t-1}`` ``[T / every, S, S]`` of any Network along
    its trajectory driven by ``inputs`` (every ``every``-th step). ``s`` is the flat vector of all
    float state (membranes, adaptation, synaptic traces, delay lines, modulator states, last
    spikes; integer counters are carried, not differentiated). ``jacobian="smoothed"``: the
    Jacobian of :func:`smoothed_network` along its own trajectory; ``"surrogate"``: the Jacobian
    that the surrogate gradients define along the spiking trajectory."""
    net = _map_for(net, jacobian)
    state0 = net.init_state() if state0 is None else state0
    if not isinstance(every, int) or every < 1:
        raise ValueError(f"every must be a positive int; got {every!r}")
    return np.asarray(_network_jacobians(net, state0, inputs, every))


@functools.partial(jax.jit, static_argnames=("k", "burn_in"))
def _network_spectrum_core(net, state0, inputs, key, k, burn_in):
    from neuro._pytree import combine

    flat0, unravel, rest0 = _split_state(state0)
    q0, _ = jnp.linalg.qr(jax.random.normal(key, (flat0.shape[0], k), flat0.dtype))

    f = functools.partial(_flat_step, net, unravel)

    def step(carry, x):
        flat, rest, q = carry
        (new, rest_new), jvp = jax.linearize(lambda u: f(u, rest, x), flat)
        m = jax.vmap(lambda col: jvp(col)[0], in_axes=1, out_axes=1)(q)
        q, r = jnp.linalg.qr(m)
        d = jnp.diagonal(r)
        sign = jnp.where(d < 0, -1.0, 1.0).astype(q.dtype)
        q = q * sign[None, :]
        tiny = jnp.finfo(q.dtype).tiny
        return (new, rest_new, q), jnp.log(jnp.maximum(jnp.abs(d), tiny))

    (flat, rest, _), logs = jax.lax.scan(step, (flat0, rest0, q0), inputs)
    return combine(unravel(flat), rest), logs[burn_in:]


def network_spectrum(net: Any, inputs: Any, *, jacobian: str, k: int = 1, dt: float | None = None,
                     burn_in: int = 500, key: jax.Array | None = None, state0: Any = None,
                     num_records: int = 200) -> LyapunovResult:
    """The ``k`` largest Lyapunov exponents of any Network driven by ``inputs`` over its whole
    float state (see :func:`network_jacobians` for ``jacobian``; QR method of the module
    docstring). ``dt`` defaults to the first population's ``dt`` (exponents per ms)."""
    net_map = _map_for(net, jacobian)
    state0 = net_map.init_state() if state0 is None else state0
    if dt is None:
        dt = float(next(iter(net.populations.values())).neuron.dt)
    n_state = _split_state(state0)[0].shape[0]
    if not isinstance(k, int) or not 1 <= k <= n_state:
        raise ValueError(f"k must be an int in [1, {n_state}] (the float state size); got {k!r}")
    total = num_steps(inputs)
    if not isinstance(burn_in, int) or not 0 <= burn_in < total:
        raise ValueError(f"burn_in must be an int in [0, {total}); got {burn_in!r}")
    key = jax.random.PRNGKey(0) if key is None else key
    final, logs = _network_spectrum_core(net_map, state0, inputs, key, k, burn_in)
    return _result(logs, dt, num_records, final)
