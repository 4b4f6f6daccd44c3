"""Lyapunov Noise Pruning (LNP) of recurrent spiking networks, and pruning baselines.

LNP (Chakraborty et al., ICLR 2024; lnp.md §1, §3, §5) prunes a large *untrained* heterogeneous
recurrent SNN into a small stable one, task-agnostically. The paper's method section was not
available: the pipeline below is the project design of lnp.md §5, with these choices:

1. *Probe* (:func:`probe`): drive the network with Gaussian noise through ``W_in`` (``T`` steps);
   rates ``r_i``; mean gain ``psi_i = mean_t sigma'(u_i)`` of the smoothed spike; per-neuron local
   Lyapunov rates ``lhat_i = mean_t log|J_t,ii| / dt`` on the smoothed map (:mod:`neuro.dynamics`).
2. *Linearise* (:func:`linearise`): the rate model of the network, ``tau_i du_i/dt = -u_i +
   sum_j W_ij s(u_j)``, gives ``J = D (-I + W G)``, ``D = diag(1/tau)``, ``G = diag(psi)`` (the
   reference writes ``-D + G W``; ours is the linearisation of *this* model). If ``J`` is not
   Hurwitz, ``W`` is scaled down (for the covariance only) until it is. The noise covariance ``C``
   solves ``J C + C J^T + sigma^2 I = 0`` (:func:`noise_covariance`, SciPy, outside jit).
3. *Sample synapses* (:func:`sample_synapses`, Moore & Chaudhuri 2020 rule weighted by Lyapunov
   rates): ``p_ij = min(1, k |w_ij| (C_ii + C_jj - 2 sgn(w_ij) C_ij) h_ij)`` with ``h_ij`` the
   harmonic mean of ``|lhat_i|`` and ``|lhat_j|``; keep ~ Bernoulli(p_ij), ``w_ij <- w_ij / p_ij``
   (unbiased); ``k`` bisected so the expected density hits the target.
4. *Prune nodes* (:func:`betweenness_keep`): drop the neurons of lowest betweenness centrality in
   the directed graph of the sampled ``W`` with edge length ``1/|w|`` (networkx).
5. *Delocalise* (:func:`delocalise`): while the size-normalised inverse participation ratio
   ``N * mean IPR`` of the 10 leading eigenvectors of ``W`` exceeds the dense network's, add edges
   between 2-hop neighbours of differing degree (weight = 10th percentile of ``|w|``, sign by
   Dale's law of the presynaptic neuron), up to ``max_added`` of the edges.
   Before this step the kept neurons' synapses are sampled again by the rule of step 3 from the
   dense subnetwork (``C`` and ``h`` restricted to the kept neurons) to the target count: the
   full-network dropout of step 3 decides *which neurons* stay; this pass sets the final density.
6. *Match density*: a second Bernoulli pass of the rule brings the density back to the target
   when the edges added in step 5 overshoot it.
7. *Tune timescales* (:func:`optimise_timescales`): Gaussian-process Bayesian optimisation
   (:func:`bayes_opt`; scikit-learn GP, expected improvement) over the Gamma shape ``k`` and mean
   of the time constants, ``tau_i = F^-1_Gamma(k, mean/k)(q_i)`` with each neuron's quantile
   ``q_i`` fixed (common random numbers keep the objective smooth). The default objective is
   task-agnostic: validation NRMSE of ridge reconstructions of the current and delayed values of
   a smooth random (Ornstein-Uhlenbeck) input (a fading-memory proxy, :func:`memory_loss`),
   plus a stability penalty ``c_pos max(0, lambda_max) + c_edge max(0, -lambda_max - eps)``
   that rejects chaos and rewards the edge of stability.

Parts the paper leaves open, as explicit options of :func:`lnp` (project design; the defaults
are the rule as written above): ``max_gain`` caps the ``1/p`` rescaling of every sampling pass
(``w_ij <- w_ij min(1/p_ij, max_gain)``; ``1`` = keep the sampled synapses at their dense
weights), ``spectral_radius`` renormalises the final weights to a radius (``"dense"``: the dense
network's) before step 7, ``node_score`` and ``mix`` change the ranking of step 4 and the
sampling scores of step 3. Measured effects: ``benchmarks/pruning.py`` (methods ``lnp-*``).

Targets: ``node_fraction`` of neurons removed, synapse *density* (non-zeros / (n (n-1))) reduced by
``synapse_fraction`` relative to the dense network (so "50 % synapse sparsity" is 50 % of the
dense density among the kept neurons). The readout is never pruned and never counted.

Baselines at equal neuron count and synapse count (lnp.md §6): :func:`activity_prune` (drop the
lowest-rate neurons of the *trained* dense network, measured on the task's training inputs, then
the smallest-magnitude synapses), :func:`random_prune` (uniform; optional ``1/p`` rescaling) and
:func:`magnitude_prune` (neurons of smallest total ``|in| + |out|`` weight, then a global ``|w|``
threshold). Every method returns a new, smaller :class:`~neuro.network.Network` of the same parts
(:func:`subnetwork`) that runs in the same loop.

Networks: a :class:`~neuro.network.Network` of one LIF population with a dense recurrent
projection (``[pre, post]``; zero = no synapse) and a dense input projection, e.g.
:func:`neuro.models.hrsnn.hrsnn`. Below ``W`` is the recurrent matrix written ``[post, pre]``
(:func:`recurrent_weights`), ``W_in`` ``[N, D]``; the smoothed map is
:func:`neuro.dynamics.smoothed` of the network. The E/I type of a neuron is the sign of its
outgoing weights (Dale's law; :func:`dale_signs`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg
import scipy.stats

from neuro._pytree import replace
from neuro.dynamics import (
    initial_potential,
    local_rates,
    lyapunov_spectrum,
    network_jacobians,
    network_spectrum,
    smoothed,
    smoothed_network,
    smoothed_step,
    state_index,
)
from neuro.network import Network, select_neurons
from neuro.projections import Dense, Sparse, from_dense, sparse
from neuro.run import simulate
from neuro.validation import check_in_range, check_positive

# ----------------------------------------------------------------------------- the network's parts

def _parts(net: Network, projection: str | None = None) -> tuple[str, str, Any]:
    """``(population, projection name, projection)`` of the recurrent projection to prune:
    ``projection`` by name, or the network's only population -> same population projection."""
    if projection is None:
        rec = [n for n, p in net.projections.items()
               if p.source == p.target and p.source in net.populations]
        if len(rec) != 1:
            raise ValueError(f"name the recurrent projection to prune (projection=...); the "
                             f"network has {rec or 'none'}")
        projection = rec[0]
    if projection not in net.projections:
        raise ValueError(f"projection {projection!r} is not in the network "
                         f"({sorted(net.projections)})")
    proj = net.projections[projection]
    if proj.source != proj.target or proj.source not in net.populations:
        raise ValueError(f"projection {projection!r} must be recurrent (a population onto "
                         f"itself); it goes {proj.source!r} -> {proj.target!r}")
    if not isinstance(proj, Dense | Sparse) or proj.n_channels != 1 or proj.delay or \
            getattr(proj, "delays", None) is not None:
        raise ValueError(f"projection {projection!r} must be a one-channel Dense or Sparse "
                         f"projection without delays to be pruned; got {type(proj).__name__}")
    return proj.source, projection, proj


def recurrent_weights(net: Network, projection: str | None = None) -> np.ndarray:
    """The recurrent weights ``[post, pre]`` (zero = no synapse) of the pruned projection."""
    proj = _parts(net, projection)[2]
    w = proj.weights if isinstance(proj, Dense) else proj.to_dense()[0]
    return np.asarray(w).T


def input_size(net: Network) -> int:
    """Size of the network's (single) input, which the noise probe drives."""
    sizes = net.input_sizes
    if len(sizes) != 1:
        raise ValueError(f"pruning drives one network input with noise; the network has {sizes}")
    return next(iter(sizes.values()))


def _tau_field(neuron: Any) -> str:
    for name in ("tau", "tau_m"):
        if hasattr(neuron, name):
            return name
    raise ValueError(f"{type(neuron).__name__} has no membrane time constant (tau or tau_m)")


def time_constants(net: Network, projection: str | None = None) -> np.ndarray:
    """The membrane time constants ``[N]`` (ms) of the pruned population."""
    p = net.populations[_parts(net, projection)[0]]
    return np.broadcast_to(np.asarray(getattr(p.neuron, _tau_field(p.neuron))), (p.size,))


def dale_signs(net: Network, projection: str | None = None) -> np.ndarray:
    """+1 for excitatory, -1 for inhibitory neurons: the sign of the outgoing recurrent weights
    (a neuron without outgoing synapses counts as excitatory)."""
    w = recurrent_weights(net, projection)
    return np.where((w < 0).any(axis=0), -1.0, 1.0)


def _dt(net: Network, projection: str | None = None) -> float:
    return float(net.populations[_parts(net, projection)[0]].neuron.dt)


def subnetwork(net: Network, keep: np.ndarray, w_rec: np.ndarray | None = None,
               projection: str | None = None) -> Network:
    """The network of the neurons ``keep`` (indices) of the pruned population, every
    neuron-indexed part cut consistently (:func:`neuro.network.select_neurons`: per-neuron
    parameters, other projections, readouts, modulators), with recurrent weights ``w_rec``
    ([post, pre], ``len(keep)`` square; default: this network's among ``keep``) as an
    event-driven :class:`~neuro.projections.Sparse` projection."""
    pop, name, proj = _parts(net, projection)
    keep = np.asarray(keep)
    w = recurrent_weights(net, name)[np.ix_(keep, keep)] if w_rec is None else np.asarray(w_rec)
    if w.shape != (len(keep), len(keep)):
        raise ValueError(f"w_rec must have shape {(len(keep), len(keep))}; got {w.shape}")
    small = select_neurons(net, {pop: keep})
    dtype = proj.weights.dtype
    conn = from_dense(np.asarray(w.T, np.float64), dtype=dtype)
    backend = proj.backend if isinstance(proj, Sparse) else "event"
    return replace(small, projections={**small.projections,
                                       name: sparse(pop, pop, conn, backend=backend)})


def with_tau(net: Network, tau: np.ndarray, projection: str | None = None) -> Network:
    """The network with membrane time constants ``tau`` [N] (ms) in the pruned population."""
    pop = _parts(net, projection)[0]
    p = net.populations[pop]
    field = _tau_field(p.neuron)
    neuron = replace(p.neuron, **{field: jnp.asarray(tau, getattr(p.neuron, field).dtype)})
    return replace(net, populations={**net.populations, pop: replace(p, neuron=neuron)})


# ----------------------------------------------------------------------------- probing

def potentials(net: Network, inputs: jax.Array) -> tuple[np.ndarray, np.ndarray]:
    """Spikes and pre-reset potentials ``u`` ([T, N]) of a spiking run from rest."""
    pop = _parts(net)[0]
    res = simulate(net, net.init_state(), inputs, monitors=(f"spikes.{pop}", f"v.{pop}"))
    z = res.records[f"spikes.{pop}"]
    return z, np.asarray(smoothed(net).pre_reset(jnp.asarray(res.records[f"v.{pop}"]),
                                                 jnp.asarray(z)))


def noise_drive(key: jax.Array, steps: int, n_in: int, scale: float = 1.0) -> jax.Array:
    """Gaussian white-noise input [steps, n_in] (the task-agnostic drive of LNP)."""
    return scale * jax.random.normal(key, (steps, n_in))


class Probe(NamedTuple):
    rates: np.ndarray  # spikes per step
    gain: np.ndarray  # mean smoothed-spike derivative psi_i
    local_rates: np.ndarray  # lhat_i, 1/ms


def probe(net: Network, inputs: jax.Array, *, every: int = 20) -> Probe:
    """Rates, mean gains and per-neuron local Lyapunov rates of ``net`` driven by ``inputs``."""
    m = smoothed(net)
    z, u = potentials(net, inputs)
    gain = np.asarray(jax.jit(m.gain)(jnp.asarray(u)))
    lhat = local_rates(smoothed_step, initial_potential(m), inputs, params=m, dt=_dt(net),
                       every=every)
    return Probe(z.mean(0), gain.mean(0), lhat)


def max_lyapunov(net: Network, inputs: jax.Array, *, k: int = 1, burn_in: int = 500,
                 key: jax.Array | None = None, jacobian: str = "smoothed"):
    """Lyapunov spectrum (``k`` largest, 1/ms) of ``net`` along ``inputs``.

    ``jacobian="smoothed"``: the smoothed map (lnp.md §4); for a network of one LIF population
    with delta synapses it runs on the pre-reset potentials (:func:`neuro.dynamics.smoothed`),
    otherwise on the whole float state (:func:`neuro.dynamics.network_spectrum`): the same map.
    ``"surrogate"``: the surrogate Jacobian along the spiking trajectory, any network."""
    if jacobian == "smoothed" and _rate_model_applies(net):
        m = smoothed(net)
        return lyapunov_spectrum(smoothed_step, initial_potential(m), inputs, params=m, k=k,
                                 dt=_dt(net), burn_in=burn_in, key=key)
    return network_spectrum(net, inputs, jacobian=jacobian, k=k, burn_in=burn_in, key=key)


def _rate_model_applies(net: Network) -> bool:
    """One LIF population, delta synapses, no modulators: the rate model of lnp.md §5 holds."""
    try:
        smoothed(net)
    except ValueError:
        return False
    return True


class NetworkLinearisation(NamedTuple):
    """Noise covariance of the pruned population's membranes and its local Lyapunov rates."""

    covariance: np.ndarray  # [N, N]
    local_rates: np.ndarray  # [N], 1/ms
    rates: np.ndarray  # [N], spikes per step
    shrink: float  # factor applied to the mean Jacobian to make it stable (1 = none)


def network_linearisation(net: Network, inputs: jax.Array, *, jacobian: str,
                          projection: str | None = None, sigma: float = 1.0,
                          every: int = 10) -> NetworkLinearisation:
    """The linearisation of any network for LNP, over its whole float state.

    With ``J_t`` the full-state Jacobians along the noise-driven trajectory
    (:func:`neuro.dynamics.network_jacobians`; adaptation, synaptic traces and modulator states
    included) and ``Jbar = mean_t J_t``, the noise covariance solves the discrete Lyapunov
    equation ``C = Jbar C Jbar^T + sigma^2 P`` with ``P`` the projector on the pruned population's
    membranes (``Jbar`` is scaled into the unit disk first if it is not stable; the factor is
    returned). ``C`` and ``lhat_i = mean_t log|J_t,ii| / dt`` are read on the membranes.
    """
    pop = _parts(net, projection)[0]
    state0 = (smoothed_network(net) if jacobian == "smoothed" else net).init_state()
    idx = state_index(state0, lambda st: st.neurons[pop].v)
    jac = network_jacobians(net, inputs, jacobian=jacobian, every=every).astype(np.float64)
    diag = np.abs(jac[:, idx, idx])
    lhat = np.mean(np.log(np.maximum(diag, np.finfo(np.float64).tiny)), axis=0) / _dt(net)
    jbar = jac.mean(axis=0)
    rho = float(np.max(np.abs(np.linalg.eigvals(jbar))))
    shrink = 1.0 if rho < 0.999 else 0.999 / rho
    q = np.zeros_like(jbar)
    q[idx, idx] = sigma ** 2
    c = scipy.linalg.solve_discrete_lyapunov(shrink * jbar, q)[np.ix_(idx, idx)]
    res = simulate(net, net.init_state(), inputs, monitors=(f"spikes.{pop}",))
    rates = np.asarray(res.records[f"spikes.{pop}"]).mean(0)
    return NetworkLinearisation(0.5 * (c + c.T), lhat, rates, shrink)


# ----------------------------------------------------------------------------- linearisation

def linearise(w: np.ndarray, tau: np.ndarray, gain: np.ndarray) -> np.ndarray:
    """Continuous-time Jacobian ``J = D(-I + c W G)`` (1/ms). ``c = 1`` unless ``J`` would not be
    Hurwitz; then ``c`` starts at ``0.9 / rho(W G)`` and shrinks by 0.9 until it is."""
    w, tau, gain = (np.asarray(a, np.float64) for a in (w, tau, gain))
    d = 1.0 / tau
    m = w * gain[None, :]
    eye = np.eye(len(tau))
    hurwitz = lambda jac: np.max(np.linalg.eigvals(jac).real) < -1e-6 * d.min()
    j = d[:, None] * (-eye + m)
    if hurwitz(j):
        return j
    rho = float(np.max(np.abs(np.linalg.eigvals(m))))
    c = 0.9 / rho if rho > 0 else 1.0
    for _ in range(60):
        j = d[:, None] * (-eye + c * m)
        if hurwitz(j):
            return j
        c *= 0.9
    raise ValueError("could not make the linearised network stable (check w_rec and tau)")


def noise_covariance(j: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    """Stationary covariance ``C`` of ``ds = J s dt + sigma dW``: ``J C + C J^T + sigma^2 I = 0``."""
    check_positive("sigma", sigma)
    c = scipy.linalg.solve_continuous_lyapunov(j, -(sigma ** 2) * np.eye(len(j)))
    return 0.5 * (c + c.T)


def harmonic_weights(lhat: np.ndarray) -> np.ndarray:
    """``h_ij = 2 |l_i| |l_j| / (|l_i| + |l_j|)`` (harmonic mean; robust to extreme values)."""
    a = np.abs(np.asarray(lhat, np.float64))
    s = a[:, None] + a[None, :]
    return np.where(s > 0, 2.0 * a[:, None] * a[None, :] / np.where(s > 0, s, 1.0), 0.0)


def synapse_scores(w: np.ndarray, c: np.ndarray, h: np.ndarray | None = None) -> np.ndarray:
    """``|w_ij| (C_ii + C_jj - 2 sgn(w_ij) C_ij) h_ij`` (zero where ``w_ij = 0``)."""
    w = np.asarray(w, np.float64)
    cd = np.diag(c)
    resist = cd[:, None] + cd[None, :] - 2.0 * np.sign(w) * c
    score = np.abs(w) * np.maximum(resist, 0.0)
    return score if h is None else score * h


def mixed_scores(scores: np.ndarray, w: np.ndarray, mix: float) -> np.ndarray:
    """Defensive mixture ``(1 - mix) s / mean(s) + mix |w| / mean|w|`` over the synapses: the
    ``|w|``-proportional part (the variance-minimising unbiased sampler) bounds the ``1/p``
    amplification of weak-score synapses."""
    check_in_range("mix", mix, 0.0, 1.0)
    nz = w != 0
    if mix == 0.0 or not nz.any():
        return scores
    a = np.abs(np.asarray(w, np.float64))
    return np.where(nz, (1 - mix) * scores / scores[nz].mean() + mix * a / a[nz].mean(), 0.0)


def keep_probabilities(scores: np.ndarray, target: int) -> np.ndarray:
    """``p = min(1, k scores)`` with ``k`` bisected so that ``sum p = target``."""
    nz = scores > 0
    if target >= nz.sum():
        return nz.astype(float)
    lo, hi = 0.0, 1.0
    while np.minimum(1.0, hi * scores).sum() < target:
        hi *= 2.0
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if np.minimum(1.0, mid * scores).sum() < target:
            lo = mid
        else:
            hi = mid
    return np.minimum(1.0, hi * scores)


def sample_synapses(rng: np.random.Generator, w: np.ndarray, scores: np.ndarray,
                    target: int, *, max_gain: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Keep synapse ``ij`` with probability ``p_ij`` (:func:`keep_probabilities`) and rescale it by
    ``min(1/p_ij, max_gain)``; return the new weights and ``p``. ``max_gain=None`` (the rule as
    specified): ``E[w_new] = w``; a cap trades that unbiasedness for bounded amplification of
    the rarely kept synapses (``max_gain=1``: no rescaling)."""
    if max_gain is not None:
        check_positive("max_gain", max_gain)
        if max_gain < 1.0:
            raise ValueError(f"max_gain must be >= 1 (1 = no rescaling); got {max_gain!r}")
    p = keep_probabilities(scores, int(target))
    kept = rng.random(w.shape) < p
    gain = 1.0 / np.where(p > 0, p, 1.0)
    if max_gain is not None:
        gain = np.minimum(gain, max_gain)
    w_new = np.where(kept, np.asarray(w, np.float64) * gain, 0.0)
    return w_new, p


# ----------------------------------------------------------------------------- graph steps

def betweenness_keep(w: np.ndarray, n_keep: int, *, groups: np.ndarray | None = None,
                     sources: int | None = 64, seed: int = 0,
                     weight: np.ndarray | None = None) -> np.ndarray:
    """Indices (sorted) of the ``n_keep`` neurons of highest betweenness centrality in the directed
    graph of ``w`` with edge lengths ``1/|w|`` (``sources`` sampled pivots; None = exact).

    With ``groups`` (e.g. the E/I sign of each neuron) the kept count is split across groups in
    proportion to their sizes, so that pruning keeps the E/I ratio (project design: removing
    mostly one type would unbalance the network and move its spectrum). ``weight`` (e.g. the
    noise-driven rates) multiplies the centrality before ranking."""
    import networkx as nx

    n = w.shape[0]
    post, pre = np.nonzero(w)
    g = nx.DiGraph()
    g.add_nodes_from(range(n))
    g.add_weighted_edges_from(zip(pre.tolist(), post.tolist(), (1.0 / np.abs(w[post, pre])).tolist(),
                                  strict=True))
    k = None if sources is None or sources >= n else sources
    bc = nx.betweenness_centrality(g, k=k, weight="weight", seed=seed)
    score = np.array([bc[i] for i in range(n)])
    if weight is not None:
        score = score * np.asarray(weight, np.float64)
    groups = np.zeros(n) if groups is None else np.asarray(groups)
    labels = np.unique(groups)
    quota = {lab: int(round(n_keep * np.mean(groups == lab))) for lab in labels}
    quota[labels[0]] += n_keep - sum(quota.values())  # rounding remainder to the first group
    keep = []
    for lab in labels:
        idx = np.flatnonzero(groups == lab)
        order = idx[np.lexsort((idx, -score[idx]))]  # highest first, ties by index
        keep.extend(order[: quota[lab]].tolist())
    return np.sort(np.asarray(keep, int))


def ipr(w: np.ndarray, top: int = 10) -> float:
    """Size-normalised inverse participation ratio ``N * mean_v sum_i |v_i|^4`` of the ``top``
    eigenvectors of largest modulus (1 = fully delocalised scale, N = localised on one neuron)."""
    vals, vecs = np.linalg.eig(np.asarray(w, np.float64))
    idx = np.argsort(-np.abs(vals))[:top]
    v = vecs[:, idx]
    v = v / np.linalg.norm(v, axis=0, keepdims=True)
    return float(w.shape[0] * np.mean(np.sum(np.abs(v) ** 4, axis=0)))


def delocalise(rng: np.random.Generator, w: np.ndarray, sign: np.ndarray, target_ipr: float, *,
               max_added: float = 0.05, rounds: int = 5) -> tuple[np.ndarray, int]:
    """Add edges between 2-hop neighbours of differing degree while :func:`ipr` exceeds
    ``target_ipr``; at most ``max_added`` x (current edges) in ``rounds`` equal batches. Returns
    the new weights and the number of edges added."""
    w = np.array(w, np.float64)
    base = np.count_nonzero(w)
    budget = int(max_added * base)
    if budget == 0:
        return w, 0
    mag = float(np.percentile(np.abs(w[w != 0]), 10))
    per_round = max(1, budget // rounds)
    added = 0
    for _ in range(rounds):
        if ipr(w) <= target_ipr or added >= budget:
            break
        a = (w != 0).astype(np.float64)
        und = np.minimum(a + a.T, 1.0)
        two_hop = (und @ und > 0) & (und == 0)
        np.fill_diagonal(two_hop, False)
        deg = und.sum(1)
        post, pre = np.nonzero(two_hop)
        if len(post) == 0:
            break
        diff = np.abs(deg[post] - deg[pre]) + 1e-9
        m = min(per_round, budget - added, len(post))
        pick = rng.choice(len(post), size=m, replace=False, p=diff / diff.sum())
        w[post[pick], pre[pick]] = mag * np.asarray(sign)[pre[pick]]
        added += m
    return w, added


# ----------------------------------------------------------------------------- Bayesian optimisation

def bayes_opt(objective: Callable[[np.ndarray], float], bounds: np.ndarray, *, trials: int = 20,
              initial: int = 6, seed: int = 0, candidates: int = 2000) -> tuple[np.ndarray, float,
                                                                                  np.ndarray]:
    """Minimise ``objective(x)`` over the box ``bounds`` [[lo, hi], ...] by GP regression
    (Matern 5/2 + white noise, scikit-learn) and expected improvement over random candidates.
    ``initial`` Latin-hypercube points first. Returns ``(x_best, y_best, history [trials, d+1])``."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

    bounds = np.asarray(bounds, np.float64)
    if bounds.ndim != 2 or bounds.shape[1] != 2 or np.any(bounds[:, 0] >= bounds[:, 1]):
        raise ValueError("bounds must be [[low, high], ...] with low < high")
    if not isinstance(trials, int) or trials < 1:
        raise ValueError(f"trials must be a positive int; got {trials!r}")
    rng = np.random.default_rng(seed)
    d = len(bounds)
    lo, span = bounds[:, 0], bounds[:, 1] - bounds[:, 0]
    n0 = min(initial, trials)
    lhs = (np.stack([rng.permutation(n0) for _ in range(d)], 1) + rng.random((n0, d))) / n0
    xs, ys = [], []
    for u in lhs:
        xs.append(u)
        ys.append(float(objective(lo + span * u)))
    kernel = ConstantKernel(1.0) * Matern(length_scale=np.full(d, 0.3), nu=2.5) + WhiteKernel(1e-3)
    while len(xs) < trials:
        x_arr, y_arr = np.array(xs), np.array(ys)
        mu_y, sd_y = y_arr.mean(), y_arr.std() + 1e-12
        gp = GaussianProcessRegressor(kernel, normalize_y=False, random_state=seed)
        with warnings.catch_warnings():  # hyper-parameter fits at the bounds are harmless here
            warnings.simplefilter("ignore", ConvergenceWarning)
            gp.fit(x_arr, (y_arr - mu_y) / sd_y)
        cand = rng.random((candidates, d))
        m, s = gp.predict(cand, return_std=True)
        best = (y_arr.min() - mu_y) / sd_y
        z = (best - m) / np.maximum(s, 1e-12)
        ei = (best - m) * scipy.stats.norm.cdf(z) + s * scipy.stats.norm.pdf(z)
        u = cand[int(np.argmax(ei))]
        xs.append(u)
        ys.append(float(objective(lo + span * u)))
    x_arr, y_arr = np.array(xs), np.array(ys)
    i = int(np.argmin(y_arr))
    hist = np.hstack([lo + span * x_arr, y_arr[:, None]])
    return lo + span * x_arr[i], float(y_arr[i]), hist


def gamma_quantiles(tau: np.ndarray, k: float, mean: float) -> np.ndarray:
    """Each ``tau_i``'s quantile under Gamma(k, mean/k) (kept fixed while (k, mean) change)."""
    q = scipy.stats.gamma.cdf(np.asarray(tau, np.float64), k, scale=mean / k)
    return np.clip(q, 1e-6, 1 - 1e-6)


def gamma_taus(q: np.ndarray, k: float, mean: float, low: float = 2.0,
               high: float = 200.0) -> np.ndarray:
    return np.clip(scipy.stats.gamma.ppf(q, k, scale=mean / k), low, high)


def smooth_drive(key: jax.Array, steps: int, n_in: int, corr: float = 20.0) -> np.ndarray:
    """Unit-variance Ornstein-Uhlenbeck input [steps, n_in] with correlation time ``corr`` steps
    (a task-agnostic, temporally structured drive)."""
    a = float(np.exp(-1.0 / corr))
    noise = np.asarray(jax.random.normal(key, (steps, n_in)), np.float64) * np.sqrt(1 - a * a)
    x = np.empty_like(noise)
    x[0] = noise[0] / np.sqrt(1 - a * a)
    for t in range(1, steps):
        x[t] = a * x[t - 1] + noise[t]
    return x.astype(np.float32)


def memory_loss(net: Network, inputs: np.ndarray, *, delays: tuple[int, ...] = (0, 10, 20, 40),
                stride: int = 5, washout: int = 200) -> float:
    """Task-agnostic readout loss (a fading-memory proxy): ridge (``lambda = 1e-2``)
    reconstructions of the delayed inputs ``x_{t-d}`` from the membrane potentials (sampled every
    ``stride`` steps), fitted on the first two thirds and scored (mean NRMSE) on the last third.
    The potentials are the pre-reset ``u`` of the rate model when it applies, else the
    membranes ``v`` that the network reports."""
    if _rate_model_applies(net):
        _, u = potentials(net, jnp.asarray(inputs))
    else:
        pop = _parts(net)[0]
        u = simulate(net, net.init_state(), jnp.asarray(inputs),
                     monitors=(f"v.{pop}",)).records[f"v.{pop}"]
    x = np.asarray(inputs, np.float64)
    m = max(delays)
    y = np.concatenate([x[m - d : len(x) - d] for d in delays], axis=1)
    s = np.asarray(u, np.float64)[m:]
    y, s = y[washout::stride], s[washout::stride]
    cut = 2 * len(s) // 3
    mu, sd = s[:cut].mean(0), s[:cut].std(0) + 1e-8
    s1 = np.hstack([(s - mu) / sd, np.ones((len(s), 1))])
    reg = 1e-2 * cut * np.eye(s1.shape[1])
    wout = np.linalg.solve(s1[:cut].T @ s1[:cut] + reg, s1[:cut].T @ y[:cut])
    err = s1[cut:] @ wout - y[cut:]
    return float(np.mean(np.sqrt(np.mean(err ** 2, 0)) / y[cut:].std(0)))


class TimescaleResult(NamedTuple):
    net: Any
    k: float
    mean: float
    lambda_max: float
    loss: float
    history: np.ndarray


def optimise_timescales(net: Network, key: jax.Array, *, k0: float = 4.0, mean0: float = 20.0,
                        trials: int = 12, steps: int = 4000,
                        lyap_steps: int = 1000,
                        k_bounds=(1.0, 16.0), mean_bounds=(5.0, 60.0), c_pos: float = 1.0,
                        c_edge: float = 0.1, eps: float = 0.01, seed: int = 0,
                        objective: Callable[[Network], float] | None = None,
                        jacobian: str = "smoothed") -> TimescaleResult:
    """Bayesian optimisation of the Gamma (shape, mean) of the time constants (module docstring,
    step 7). ``objective(net) -> loss`` replaces the task-agnostic :func:`memory_loss`. Penalty
    (lambda in 1/ms): ``c_pos max(0, lambda)/0.01 + c_edge max(0, -lambda - eps)/0.01``."""
    k_in, k_ly = jax.random.split(key)
    n_in = input_size(net)
    drive = smooth_drive(k_in, steps, n_in)
    ly_drive = noise_drive(k_ly, lyap_steps, n_in)
    q = gamma_quantiles(time_constants(net), k0, mean0)
    seen: dict = {}

    def evaluate(x):
        k, mean = float(np.exp(x[0])), float(np.exp(x[1]))
        cand = with_tau(net, gamma_taus(q, k, mean))
        loss = objective(cand) if objective is not None else memory_loss(cand, drive)
        lam = max_lyapunov(cand, ly_drive, burn_in=lyap_steps // 3, jacobian=jacobian).lambda_max
        pen = c_pos * max(0.0, lam) / 0.01 + c_edge * max(0.0, -lam - eps) / 0.01
        seen[(k, mean)] = (lam, loss)
        return loss + pen

    bounds = np.log([k_bounds, mean_bounds])
    x, _, hist = bayes_opt(evaluate, bounds, trials=trials, seed=seed)
    k, mean = float(np.exp(x[0])), float(np.exp(x[1]))
    lam, loss = seen[(k, mean)]
    hist[:, :2] = np.exp(hist[:, :2])
    return TimescaleResult(with_tau(net, gamma_taus(q, k, mean)), k, mean, lam, loss, hist)


# ----------------------------------------------------------------------------- pipeline

def density(w: np.ndarray) -> float:
    """Synapse density: non-zeros / (n (n - 1)) (no self-connections)."""
    n = w.shape[0]
    return float(np.count_nonzero(w)) / max(n * (n - 1), 1)


def targets(net: Network, node_fraction: float, synapse_fraction: float) -> tuple[int, int]:
    """Neuron and synapse counts after removing ``node_fraction`` of the neurons and
    ``synapse_fraction`` of the dense synapse density."""
    check_in_range("node_fraction", node_fraction, 0.0, 0.95)
    check_in_range("synapse_fraction", synapse_fraction, 0.0, 0.99)
    w = recurrent_weights(net)
    n_keep = int(round((1.0 - node_fraction) * w.shape[0]))
    n_syn = int(round((1.0 - synapse_fraction) * density(w) * n_keep * (n_keep - 1)))
    return n_keep, n_syn


class PruneResult(NamedTuple):
    net: Any
    keep: np.ndarray
    info: dict


def lnp(net: Network, key: jax.Array, *, node_fraction: float = 0.5,
        synapse_fraction: float = 0.5, probe_steps: int = 1000, sigma: float = 1.0,
        trials: int = 12, tune: bool = True, betweenness_sources: int | None = 64,
        mix: float = 0.0, node_score: str = "betweenness", max_gain: float | None = None,
        spectral_radius: float | str | None = None,
        objective: Callable[[Network], float] | None = None, projection: str | None = None,
        linearisation: str = "rate", jacobian: str = "smoothed") -> PruneResult:
    """Lyapunov Noise Pruning of an untrained network (module docstring, steps 1-7).

    ``projection``: the recurrent projection to prune (default: the only one); its population
    loses ``node_fraction`` of its neurons, with every neuron-indexed part of the network cut
    consistently, and the result holds it as an event-driven Sparse projection.
    ``linearisation="rate"``: steps 1-2 as written (the rate model of one LIF population with
    delta synapses; refused for other networks); ``"network"``: :func:`network_linearisation`,
    the noise covariance of the whole-state linearisation (ALIF adaptation, synaptic traces,
    astrocytes included), computed with ``jacobian`` (``"smoothed"`` map or ``"surrogate"``
    Jacobian). The timescale search (step 7) keeps the rate model's smoothed map for the
    stability term when it applies and uses ``jacobian`` otherwise.
    ``node_score="betweenness-rate"`` (a project variant, not the paper's) ranks neurons by
    betweenness times their rate under the noise probe, still before any training; ``mix`` is
    the defensive mixture of :func:`mixed_scores` (0 = the rule as specified).

    Options for the parts the paper leaves open (project design; defaults = the rule as
    specified): ``max_gain`` caps the ``1/p`` rescaling of each sampling pass of steps 3 and 6
    (:func:`sample_synapses`; ``1`` = no rescaling; two passes can compound the cap);
    ``spectral_radius`` rescales the final recurrent weights (after step 6, before the timescale
    search) to this spectral radius, or to the dense network's with ``"dense"`` (the sampled
    matrix's radius drifts with the kept neurons and the rescaling; the dense network's radius
    is the designed operating point)."""
    check_positive("sigma", sigma)
    if max_gain is not None and (not np.isfinite(max_gain) or max_gain < 1.0):
        raise ValueError(f"max_gain must be None or a number >= 1 (1 = no rescaling); "
                         f"got {max_gain!r}")
    if spectral_radius is not None and spectral_radius != "dense" and not (
            isinstance(spectral_radius, int | float) and spectral_radius > 0):
        raise ValueError(f"spectral_radius must be None, 'dense' or a positive number; "
                         f"got {spectral_radius!r}")
    if linearisation not in ("rate", "network"):
        raise ValueError(f"linearisation must be 'rate' or 'network'; got {linearisation!r}")
    if node_score not in ("betweenness", "betweenness-rate"):
        raise ValueError(f"node_score must be 'betweenness' or 'betweenness-rate'; got {node_score!r}")
    n_keep, n_syn = targets(net, node_fraction, synapse_fraction)
    k_probe, k_tune = jax.random.split(key)
    seed = int(np.asarray(jax.random.key_data(key)).ravel()[-1])
    rng = np.random.default_rng(seed)
    w = np.asarray(recurrent_weights(net, projection), np.float64)
    sign = dale_signs(net, projection)
    drive = noise_drive(k_probe, probe_steps, input_size(net))
    if linearisation == "rate":
        if not _rate_model_applies(net):
            raise ValueError("linearisation='rate' needs one LIF population with delta synapses "
                             "and no modulators; use linearisation='network'")
        pr = probe(net, drive)
        c = noise_covariance(linearise(w, time_constants(net), pr.gain), sigma)
        lhat, rates, shrink = pr.local_rates, pr.rates, 1.0
    else:
        lin = network_linearisation(net, drive, jacobian=jacobian, projection=projection,
                                    sigma=sigma)
        c, lhat, rates, shrink = lin.covariance, lin.local_rates, lin.rates, lin.shrink
    h = harmonic_weights(lhat)
    # step 3: synapse dropout on the full network, to the target density
    target_full = int(round((1.0 - synapse_fraction) * np.count_nonzero(w)))
    score = lambda wm, cm, hm: mixed_scores(synapse_scores(wm, cm, hm), wm, mix)
    w1, _ = sample_synapses(rng, w, score(w, c, h), target_full, max_gain=max_gain)
    # step 4: keep the neurons of highest betweenness in the dropped-out graph
    keep = betweenness_keep(w1, n_keep, groups=sign, sources=betweenness_sources,
                            seed=seed % (2 ** 31),
                            weight=rates if node_score == "betweenness-rate" else None)
    # the kept neurons' synapses: the same rule on the dense subnetwork, to the target count
    ck, hk = c[np.ix_(keep, keep)], h[np.ix_(keep, keep)]
    wk = w[np.ix_(keep, keep)]
    w2, _ = sample_synapses(rng, wk, score(wk, ck, hk), n_syn, max_gain=max_gain)
    # step 5: delocalise the leading eigenvectors
    ipr_dense = ipr(w)
    w3, added = delocalise(rng, w2, sign[keep], ipr_dense)
    # step 6: density matching (a second pass of the rule) when the added edges overshoot
    if np.count_nonzero(w3) > n_syn:
        w3, _ = sample_synapses(rng, w3, score(w3, ck, hk), n_syn, max_gain=max_gain)
    rho_sampled = spectral_radius_of(w3)
    if spectral_radius is not None and rho_sampled > 0:
        goal = spectral_radius_of(w) if spectral_radius == "dense" else float(spectral_radius)
        w3 = w3 * (goal / rho_sampled)
    pruned = subnetwork(net, keep, w3, projection)
    info = {"ipr_dense": ipr_dense, "ipr_pruned": ipr(w3), "edges_added": added,
            "linearisation": linearisation, "jacobian": jacobian, "jacobian_shrink": shrink,
            "radius_dense": spectral_radius_of(w), "radius_sampled": rho_sampled,
            "radius_pruned": spectral_radius_of(w3),
            "max_weight_gain": max_weight_gain(w, keep, w3)}
    if tune:
        ts = optimise_timescales(pruned, k_tune, trials=trials, objective=objective,
                                 jacobian=jacobian)
        pruned = ts.net
        info.update(tau_k=ts.k, tau_mean=ts.mean, tune_lambda_max=ts.lambda_max,
                    tune_loss=ts.loss)
    return PruneResult(pruned, keep, info)


def spectral_radius_of(w: np.ndarray) -> float:
    """Largest eigenvalue modulus of ``w``."""
    return float(np.max(np.abs(eigenvalues(w)))) if w.size else 0.0


def max_weight_gain(w: np.ndarray, keep: np.ndarray, w_pruned: np.ndarray) -> float:
    """Largest ``|w_pruned_ij| / |w_ij|`` over the kept synapses that exist in the dense ``w``
    (the amplification left by the ``1/p`` rescaling; an edge that step 5 re-adds where the dense
    network had a weaker synapse counts too, so ``max_gain=1`` can report slightly above 1)."""
    sub = np.asarray(w, np.float64)[np.ix_(keep, keep)]
    both = (sub != 0) & (np.asarray(w_pruned) != 0)
    return float(np.max(np.abs(w_pruned[both] / sub[both]))) if both.any() else 0.0


def _trim_to(w: np.ndarray, n_syn: int, order_score: np.ndarray) -> np.ndarray:
    """Keep the ``n_syn`` existing synapses of largest ``order_score``."""
    w = np.array(w, np.float64)
    nz = np.flatnonzero(w)
    if len(nz) <= n_syn:
        return w
    top = nz[np.argsort(-order_score.ravel()[nz], kind="stable")[:n_syn]]
    out = np.zeros_like(w)
    out.ravel()[top] = w.ravel()[top]
    return out


def activity_prune(net: Network, rates: np.ndarray, n_keep: int, n_syn: int) -> PruneResult:
    """AP: keep the ``n_keep`` most active neurons (``rates`` measured on the task's training
    inputs of the trained dense network), then the ``n_syn`` largest-magnitude synapses."""
    rates = np.asarray(rates)
    keep = np.sort(np.lexsort((np.arange(len(rates)), -rates))[:n_keep])
    w = np.asarray(recurrent_weights(net), np.float64)[np.ix_(keep, keep)]
    w = _trim_to(w, n_syn, np.abs(w))
    return PruneResult(subnetwork(net, keep, w), keep, {})


def random_prune(net: Network, rng: np.random.Generator, n_keep: int, n_syn: int, *,
                 rescale: bool = False) -> PruneResult:
    """Uniformly random neurons and synapses; ``rescale`` multiplies the kept weights by the inverse
    kept fraction of synapses (``1/p``)."""
    w_all = np.asarray(recurrent_weights(net), np.float64)
    keep = np.sort(rng.choice(w_all.shape[0], n_keep, replace=False))
    w = w_all[np.ix_(keep, keep)]
    before = np.count_nonzero(w)
    w = _trim_to(w, n_syn, rng.random(w.shape))
    if rescale and np.count_nonzero(w):
        w = w * before / np.count_nonzero(w)
    return PruneResult(subnetwork(net, keep, w), keep, {})


def magnitude_prune(net: Network, n_keep: int, n_syn: int) -> PruneResult:
    """Drop the neurons of smallest total ``|in| + |out|`` weight, then keep the ``n_syn``
    largest-magnitude synapses (global threshold)."""
    w_all = np.asarray(recurrent_weights(net), np.float64)
    w = np.abs(w_all)
    strength = w.sum(0) + w.sum(1)
    keep = np.sort(np.lexsort((np.arange(len(strength)), -strength))[:n_keep])
    ws = w_all[np.ix_(keep, keep)]
    return PruneResult(subnetwork(net, keep, _trim_to(ws, n_syn, np.abs(ws))), keep, {})


# ----------------------------------------------------------------------------- spectra

def eigenvalues(w: np.ndarray) -> np.ndarray:
    return np.linalg.eigvals(np.asarray(w, np.float64))


def spectrum_distance(w_a: np.ndarray, w_b: np.ndarray) -> float:
    """1-Wasserstein distance between the eigenvalue-modulus distributions of two weight
    matrices (sizes may differ)."""
    return float(scipy.stats.wasserstein_distance(np.abs(eigenvalues(w_a)),
                                                  np.abs(eigenvalues(w_b))))
