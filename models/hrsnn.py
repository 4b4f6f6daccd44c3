"""Heterogeneous recurrent spiking network (HRSNN) and its clustered small-world form (CHRSNN).

HRSNN (Chakraborty et al., ICLR 2024; lnp.md §2): one recurrent layer of ``N`` LIF neurons whose
membrane time constants are drawn per neuron from a Gamma distribution
(:func:`neuro.neurons.gamma_time_constants`: ``tau_i ~ Gamma(k, mean/k)`` clipped to [2, 200] ms),
80/20 excitatory/inhibitory with Dale's law, sparse random recurrent weights (``p_conn = 0.2``)
scaled to spectral radius ``radius`` (lnp.md §5 step 1), and a dense random input matrix.

The network is a :class:`neuro.network.Network`: population ``"h"`` of
:func:`neuro.neurons.lif` neurons (per-neuron ``tau``, soft reset, ``scale="threshold"``, delta
synapses), input projection ``"in"`` (dense ``W_in``, bias ``b``) and recurrent projection
``"rec"``, both :func:`neuro.projections.dense` with weights ``[pre, post]`` (zeros are absent
synapses). Discrete time (``dt`` ms, exponential Euler), with ``u_t`` the pre-reset potential::

    u_t = a (u_{t-1} - V_th z_{t-1}) + (1 - a) (z_{t-1} W + x_t W_in + b),   a = exp(-dt/tau)
    z_t = H((u_t - V_th) / V_th)

(the LIF stores the post-reset ``v_t = u_t - V_th z_t`` and reports it as ``v``; the surrogate
gradient of :func:`neuro.spikes.spike` flows through ``H``). There is no readout: the tasks fit
ridge readouts on the responses. The *smoothed map* used for Lyapunov analysis (lnp.md §4) is
:func:`neuro.dynamics.smoothed` of this network: ``H`` replaced by ``sigmoid(beta_s (u -
V_th)/V_th)`` in the output and in the reset (``beta_s = 4``), a map ``u_{t-1} -> u_t``.

The recurrence is dense: the analyses differentiate the map in forward mode
(``jax.linearize``/``jacfwd``, which the sparse projection's custom VJP does not support), and at
the default size (500 neurons, 20 % connectivity, ~13 % of the neurons spiking per step) the dense
mat-vec is faster than the event-driven :func:`neuro.projections.sparse` of the same weights
(``benchmarks/hrsnn_recurrence.py``: 0.30 s against 0.80 s for 5,000 unbatched steps, 3.4 s
against 13.4 s at batch 16, on a loaded 2-core machine).
Pruning (:mod:`neuro.prune`) returns a new, smaller Network of the same parts.

CHRSNN (project design, lnp.md §2): ``C`` clusters of ``n_c`` neurons, each with its own Gamma
timescale distribution; intra-cluster connection probability ``p_in = 0.2``; clusters on a ring,
linked to their 2 ring neighbours with ``p_out = 0.02``, each inter-cluster link rewired to a
uniformly random cluster with probability 0.1 (small world); 80/20 E/I within every cluster.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from neuro._pytree import replace
from neuro.network import Network, network, population
from neuro.neurons import gamma_time_constants, lif
from neuro.projections import dense
from neuro.validation import check_in_range, check_positive

Array = jax.Array


def _dale_weights(rng: np.random.Generator, mask: np.ndarray, sign: np.ndarray,
                  frac_exc: float) -> np.ndarray:
    """|w| ~ U(0.5, 1.5) on the mask; inhibitory columns scaled by frac_exc/(1-frac_exc) so that
    the expected input is balanced (zero mean row sums)."""
    mag = rng.uniform(0.5, 1.5, mask.shape) * mask
    g = frac_exc / (1.0 - frac_exc) if frac_exc < 1.0 else 1.0
    scale = np.where(sign > 0, 1.0, g)
    return mag * (sign * scale)[None, :]


def _finish(rng, w, n_in, tau, radius, input_scale, bias_range, v_th, dt,
            surrogate_fn) -> Network:
    """Scale ``w`` ([post, pre]) to spectral radius ``radius``, draw ``W_in`` and ``b`` and build
    the Network (weights in float32, stored ``[pre, post]``)."""
    rho = float(np.max(np.abs(np.linalg.eigvals(w)))) if np.any(w) else 0.0
    if rho > 0:
        w = w * (radius / rho)
    n = w.shape[0]
    w_in = rng.uniform(-1.0, 1.0, (n, n_in)) * input_scale
    bias = rng.uniform(bias_range[0], bias_range[1], n)
    return build(w, w_in, bias, tau, v_th=v_th, dt=dt, surrogate_fn=surrogate_fn)


def build(w_rec: np.ndarray, w_in: np.ndarray, bias: np.ndarray, tau: np.ndarray, *,
          v_th: float = 1.0, dt: float = 1.0, surrogate_fn: str = "sigmoid") -> Network:
    """The HRSNN Network of given weights: ``w_rec`` [post, pre] (zero = no synapse), ``w_in``
    [N, D], ``bias`` [N], ``tau`` [N] ms (module docstring)."""
    f32 = lambda a: jnp.asarray(np.asarray(a), jnp.float32)
    n, n_in = np.shape(w_in)
    neuron = lif(tau=f32(tau), v_th=f32(v_th), v_reset=0.0, reset="soft", scale="threshold",
                 surrogate_fn=surrogate_fn, dt=dt)
    proj_in = replace(dense("x", "h", f32(np.asarray(w_in).T), bias=True), b=f32(bias))
    proj_rec = dense("h", "h", f32(np.asarray(w_rec).T))
    return network({"h": population(neuron, int(n))}, {"in": proj_in, "rec": proj_rec},
                   inputs={"x": int(n_in)})


def _check_common(n_in, frac_exc, radius, input_scale, bias_range, v_th, dt):
    if not isinstance(n_in, int) or n_in < 1:
        raise ValueError(f"n_in must be a positive int; got {n_in!r}")
    check_in_range("frac_exc", frac_exc, 0.0, 1.0)
    check_positive("radius", radius, allow_zero=True)
    check_positive("input_scale", input_scale, allow_zero=True)
    if len(bias_range) != 2 or bias_range[0] > bias_range[1]:
        raise ValueError(f"bias_range must be (low, high) with low <= high; got {bias_range!r}")
    check_positive("v_th", v_th)
    check_positive("dt", dt)


def hrsnn(
    key: jax.Array,
    n: int = 500,
    n_in: int = 1,
    *,
    p_conn: float = 0.2,
    frac_exc: float = 0.8,
    radius: float = 1.0,
    tau_k: float = 4.0,
    tau_mean: float = 20.0,
    tau_low: float = 2.0,
    tau_high: float = 200.0,
    input_scale: float = 1.0,
    bias_range: tuple[float, float] = (0.5, 1.0),
    v_th: float = 1.0,
    dt: float = 1.0,
    surrogate_fn: str = "sigmoid",
) -> Network:
    """A random HRSNN of ``n`` neurons with ``n_in`` inputs (module docstring; lnp.md §2, §5).

    ``radius`` is the spectral radius of ``w_rec`` (recurrent strength); ``input_scale`` the
    half-width of the uniform input weights; ``bias`` ~ U(bias_range) (in units of ``V_th``).
    """
    if not isinstance(n, int) or n < 2:
        raise ValueError(f"n must be an int >= 2; got {n!r}")
    check_in_range("p_conn", p_conn, 0.0, 1.0)
    _check_common(n_in, frac_exc, radius, input_scale, bias_range, v_th, dt)
    k_tau, k_net = jax.random.split(key)
    tau = np.asarray(gamma_time_constants(k_tau, n, k=tau_k, mean=tau_mean, low=tau_low,
                                          high=tau_high))
    rng = np.random.default_rng(np.asarray(jax.random.key_data(k_net)).ravel())
    n_exc = int(round(frac_exc * n))
    sign = np.where(np.arange(n) < n_exc, 1.0, -1.0)
    mask = rng.random((n, n)) < p_conn
    np.fill_diagonal(mask, False)
    w = _dale_weights(rng, mask, sign, frac_exc)
    return _finish(rng, w, n_in, tau, radius, input_scale, bias_range, v_th, dt, surrogate_fn)


def chrsnn(
    key: jax.Array,
    clusters: int = 8,
    cluster_size: int = 64,
    n_in: int = 1,
    *,
    p_in: float = 0.2,
    p_out: float = 0.02,
    rewire: float = 0.1,
    frac_exc: float = 0.8,
    radius: float = 1.0,
    tau_k: float | tuple[float, ...] = 4.0,
    tau_means: tuple[float, ...] | None = None,
    input_scale: float = 1.0,
    bias_range: tuple[float, float] = (0.5, 1.0),
    v_th: float = 1.0,
    dt: float = 1.0,
    surrogate_fn: str = "sigmoid",
) -> Network:
    """A clustered small-world HRSNN (module docstring). Cluster ``c`` draws its time constants
    from Gamma(k_c, mean_c/k_c); default means log-spaced over [10, 40] ms (project design)."""
    if not isinstance(clusters, int) or clusters < 1:
        raise ValueError(f"clusters must be a positive int; got {clusters!r}")
    if not isinstance(cluster_size, int) or cluster_size < 2:
        raise ValueError(f"cluster_size must be an int >= 2; got {cluster_size!r}")
    for name, value in (("p_in", p_in), ("p_out", p_out), ("rewire", rewire)):
        check_in_range(name, value, 0.0, 1.0)
    _check_common(n_in, frac_exc, radius, input_scale, bias_range, v_th, dt)
    means = (np.geomspace(10.0, 40.0, clusters) if tau_means is None
             else np.asarray(tau_means, float))
    ks = np.broadcast_to(np.asarray(tau_k, float), (clusters,))
    if means.shape != (clusters,):
        raise ValueError(f"tau_means must have {clusters} entries; got {means.shape}")
    check_positive("tau_means", means)
    check_positive("tau_k", ks)
    n = clusters * cluster_size
    keys = jax.random.split(key, clusters + 1)
    tau = np.concatenate([
        np.asarray(gamma_time_constants(keys[c], cluster_size, k=float(ks[c]),
                                        mean=float(means[c])))
        for c in range(clusters)
    ])
    rng = np.random.default_rng(np.asarray(jax.random.key_data(keys[-1])).ravel())
    cluster = np.repeat(np.arange(clusters), cluster_size)
    n_exc = int(round(frac_exc * cluster_size))
    sign = np.tile(np.where(np.arange(cluster_size) < n_exc, 1.0, -1.0), clusters)
    same = cluster[:, None] == cluster[None, :]
    ring = (np.abs(cluster[:, None] - cluster[None, :]) % clusters)
    neighbour = (ring == 1) | (ring == clusters - 1)
    mask = (same & (rng.random((n, n)) < p_in))
    inter = neighbour & (rng.random((n, n)) < p_out)
    # small-world rewiring: move the postsynaptic end of an inter-cluster link to a random cluster
    post, pre = np.nonzero(inter)
    move = rng.random(len(post)) < rewire
    target_cluster = rng.integers(0, clusters, move.sum())
    post[move] = target_cluster * cluster_size + rng.integers(0, cluster_size, move.sum())
    mask[post, pre] = True
    np.fill_diagonal(mask, False)
    w = _dale_weights(rng, mask, sign, frac_exc)
    return _finish(rng, w, n_in, tau, radius, input_scale, bias_range, v_th, dt, surrogate_fn)
