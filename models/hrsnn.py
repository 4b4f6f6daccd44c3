"""Heterogeneous recurrent spiking network (HRSNN) and its clustered small-world form (CHRSNN).

HRSNN (Chakraborty et al., ICLR 2024; lnp.md §2): one recurrent layer of ``N`` LIF neurons whose
membrane time constants are drawn per neuron from a Gamma distribution
(:func:`neuro.neurons.gamma_time_constants`: ``tau_i ~ Gamma(k, mean/k)`` clipped to [2, 200] ms),
80/20 excitatory/inhibitory with Dale's law, sparse random recurrent weights (``p_conn = 0.2``)
scaled to spectral radius ``radius`` (lnp.md §5 step 1), and a dense random input matrix.

Discrete time (``dt`` ms, exponential Euler). The state is the *pre-reset* potential ``u`` (as
brainpy.state stores it); spikes and the soft reset are read from it at the start of the next step::

    z_{t-1} = H((u_{t-1} - V_th) / V_th)
    u_t     = a (u_{t-1} - V_th z_{t-1}) + (1 - a) (W z_{t-1} + W_in x_t + b),   a = exp(-dt/tau)
    z_t     = H((u_t - V_th) / V_th)                                          (the step's output)

so the spikes equal those of :func:`neuro.neurons.lif` with soft reset driven by the recurrent
current ``W z_{t-1}`` (the surrogate gradient of :func:`neuro.spikes.spike` flows through ``H``).
The *smoothed map* used for Lyapunov analysis (lnp.md §4) replaces ``H`` in the output and in the
reset by ``sigmoid(beta_s (u - V_th)/V_th)`` (``beta_s = 4``) and is a function ``u_{t-1} -> u_t``.

Weights are dense ``[post, pre]`` matrices whose zeros are absent synapses (a mask ``W != 0``):
propagation is a dense mat-vec here; the event-driven sparse path of ``neuro.connect`` can replace
it later without changing the parameters. Pruning (:mod:`neuro.prune`) returns a new, smaller
:class:`HRSNN` through :meth:`HRSNN.subnetwork`; it runs in the same step function.

CHRSNN (project design, lnp.md §2): ``C`` clusters of ``n_c`` neurons, each with its own Gamma
timescale distribution; intra-cluster connection probability ``p_in = 0.2``; clusters on a ring,
linked to their 2 ring neighbours with ``p_out = 0.02``, each inter-cluster link rewired to a
uniformly random cluster with probability 0.1 (small world); 80/20 E/I within every cluster.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from neuro._pytree import pytree_dataclass, replace, static_field
from neuro.neurons import gamma_time_constants
from neuro.spikes import Surrogate, spike, surrogate
from neuro.validation import check_in_range, check_positive

Array = jax.Array


class HRSNNState(NamedTuple):
    """Pre-reset membrane potential ``u`` ([..., N])."""

    u: Array


@pytree_dataclass
class HRSNN:
    """Parameters of an (C)HRSNN; see the module docstring for the equations.

    ``w_rec`` [N, N] (post, pre; zero = no synapse), ``w_in`` [N, D], ``bias`` [N], ``tau`` [N]
    (ms), ``v_th`` (scalar), ``sign`` [N] (+1 excitatory, -1 inhibitory presynaptic type),
    ``cluster`` [N] (cluster index; all 0 for HRSNN).
    """

    w_rec: Array
    w_in: Array
    bias: Array
    tau: Array
    v_th: Array
    sign: Array
    cluster: Array
    dt: float = static_field(default=1.0)
    surrogate: Surrogate = static_field(default=Surrogate())
    beta_s: float = static_field(default=4.0)

    @property
    def num_neurons(self) -> int:
        return int(self.w_rec.shape[0])

    @property
    def num_synapses(self) -> int:
        """Recurrent synapses (non-zero entries of ``w_rec``); the readout is not part of it."""
        return int(np.count_nonzero(np.asarray(self.w_rec)))

    def init_state(self, batch: tuple[int, ...] = ()) -> HRSNNState:
        """Resting state (``u = 0``) for an optional batch shape."""
        return HRSNNState(jnp.zeros((*batch, self.num_neurons), dtype=self.w_rec.dtype))

    def _drive(self, z: Array, x: Array) -> Array:
        return z @ self.w_rec.T + x @ self.w_in.T + self.bias

    def step(self, state: HRSNNState, x: Array) -> tuple[HRSNNState, dict]:
        """One spiking step with input ``x`` ([..., D]); outputs ``spikes`` and ``v`` (= ``u``)."""
        a = jnp.exp(-self.dt / self.tau)
        z_prev = spike((state.u - self.v_th) / self.v_th, self.surrogate)
        u = a * (state.u - self.v_th * z_prev) + (1.0 - a) * self._drive(z_prev, x)
        z = spike((u - self.v_th) / self.v_th, self.surrogate)
        return HRSNNState(u), {"spikes": z, "v": u}

    def soft_spikes(self, u: Array) -> Array:
        """The smoothed spike ``sigmoid(beta_s (u - V_th)/V_th)``."""
        return jax.nn.sigmoid(self.beta_s * (u - self.v_th) / self.v_th)

    def soft_gain(self, u: Array) -> Array:
        """Derivative of :meth:`soft_spikes` with respect to ``u``."""
        s = self.soft_spikes(u)
        return self.beta_s / self.v_th * s * (1.0 - s)

    def smoothed_step(self, state: HRSNNState, x: Array) -> HRSNNState:
        """The smoothed map ``u_{t-1} -> u_t`` (lnp.md §4), for :mod:`neuro.dynamics`."""
        a = jnp.exp(-self.dt / self.tau)
        s = self.soft_spikes(state.u)
        return HRSNNState(a * (state.u - self.v_th * s) + (1.0 - a) * self._drive(s, x))

    def subnetwork(self, keep: np.ndarray, w_rec: np.ndarray | None = None) -> HRSNN:
        """A new network of the neurons ``keep`` (indices), with recurrent weights ``w_rec``
        ([len(keep)]^2; default: this network's weights among ``keep``)."""
        keep = np.asarray(keep)
        w = np.asarray(self.w_rec)[np.ix_(keep, keep)] if w_rec is None else np.asarray(w_rec)
        if w.shape != (len(keep), len(keep)):
            raise ValueError(f"w_rec must have shape {(len(keep), len(keep))}; got {w.shape}")
        return replace(
            self, w_rec=jnp.asarray(w, self.w_rec.dtype), w_in=self.w_in[keep],
            bias=self.bias[keep], tau=self.tau[keep], sign=self.sign[keep],
            cluster=self.cluster[keep],
        )

    def with_weights(self, w_rec: np.ndarray) -> HRSNN:
        return replace(self, w_rec=jnp.asarray(w_rec, self.w_rec.dtype))

    def with_tau(self, tau: np.ndarray) -> HRSNN:
        return replace(self, tau=jnp.asarray(tau, self.tau.dtype))


def _dale_weights(rng: np.random.Generator, mask: np.ndarray, sign: np.ndarray,
                  frac_exc: float) -> np.ndarray:
    """|w| ~ U(0.5, 1.5) on the mask; inhibitory columns scaled by frac_exc/(1-frac_exc) so that
    the expected input is balanced (zero mean row sums)."""
    mag = rng.uniform(0.5, 1.5, mask.shape) * mask
    g = frac_exc / (1.0 - frac_exc) if frac_exc < 1.0 else 1.0
    scale = np.where(sign > 0, 1.0, g)
    return mag * (sign * scale)[None, :]


def _finish(rng, w, n_in, tau, sign, cluster, radius, input_scale, bias_range, v_th, dt,
            beta_s, surrogate_fn) -> HRSNN:
    rho = float(np.max(np.abs(np.linalg.eigvals(w)))) if np.any(w) else 0.0
    if rho > 0:
        w = w * (radius / rho)
    n = w.shape[0]
    w_in = rng.uniform(-1.0, 1.0, (n, n_in)) * input_scale
    bias = rng.uniform(bias_range[0], bias_range[1], n)
    f32 = lambda a: jnp.asarray(a, jnp.float32)
    return HRSNN(
        w_rec=f32(w), w_in=f32(w_in), bias=f32(bias), tau=f32(tau), v_th=f32(v_th),
        sign=f32(sign), cluster=jnp.asarray(cluster, jnp.int32), dt=float(dt),
        surrogate=surrogate(surrogate_fn), beta_s=float(beta_s),
    )


def _check_common(n_in, frac_exc, radius, input_scale, bias_range, v_th, dt, beta_s):
    if not isinstance(n_in, int) or n_in < 1:
        raise ValueError(f"n_in must be a positive int; got {n_in!r}")
    check_in_range("frac_exc", frac_exc, 0.0, 1.0)
    check_positive("radius", radius, allow_zero=True)
    check_positive("input_scale", input_scale, allow_zero=True)
    if len(bias_range) != 2 or bias_range[0] > bias_range[1]:
        raise ValueError(f"bias_range must be (low, high) with low <= high; got {bias_range!r}")
    check_positive("v_th", v_th)
    check_positive("dt", dt)
    check_positive("beta_s", beta_s)


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
    beta_s: float = 4.0,
    surrogate_fn: str = "sigmoid",
) -> HRSNN:
    """A random HRSNN of ``n`` neurons with ``n_in`` inputs (module docstring; lnp.md §2, §5).

    ``radius`` is the spectral radius of ``w_rec`` (recurrent strength); ``input_scale`` the
    half-width of the uniform input weights; ``bias`` ~ U(bias_range) (in units of ``V_th``).
    """
    if not isinstance(n, int) or n < 2:
        raise ValueError(f"n must be an int >= 2; got {n!r}")
    check_in_range("p_conn", p_conn, 0.0, 1.0)
    _check_common(n_in, frac_exc, radius, input_scale, bias_range, v_th, dt, beta_s)
    k_tau, k_net = jax.random.split(key)
    tau = np.asarray(gamma_time_constants(k_tau, n, k=tau_k, mean=tau_mean, low=tau_low,
                                          high=tau_high))
    rng = np.random.default_rng(np.asarray(jax.random.key_data(k_net)).ravel())
    n_exc = int(round(frac_exc * n))
    sign = np.where(np.arange(n) < n_exc, 1.0, -1.0)
    mask = rng.random((n, n)) < p_conn
    np.fill_diagonal(mask, False)
    w = _dale_weights(rng, mask, sign, frac_exc)
    return _finish(rng, w, n_in, tau, sign, np.zeros(n, int), radius, input_scale, bias_range,
                   v_th, dt, beta_s, surrogate_fn)


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
    beta_s: float = 4.0,
    surrogate_fn: str = "sigmoid",
) -> HRSNN:
    """A clustered small-world HRSNN (module docstring). Cluster ``c`` draws its time constants
    from Gamma(k_c, mean_c/k_c); default means log-spaced over [10, 40] ms (project design)."""
    if not isinstance(clusters, int) or clusters < 1:
        raise ValueError(f"clusters must be a positive int; got {clusters!r}")
    if not isinstance(cluster_size, int) or cluster_size < 2:
        raise ValueError(f"cluster_size must be an int >= 2; got {cluster_size!r}")
    for name, value in (("p_in", p_in), ("p_out", p_out), ("rewire", rewire)):
        check_in_range(name, value, 0.0, 1.0)
    _check_common(n_in, frac_exc, radius, input_scale, bias_range, v_th, dt, beta_s)
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
    return _finish(rng, w, n_in, tau, sign, cluster, radius, input_scale, bias_range, v_th, dt,
                   beta_s, surrogate_fn)


def smoothed_step(params: HRSNN, state: HRSNNState, x: Array) -> HRSNNState:
    """Module-level smoothed map (a stable static key for :func:`neuro.dynamics.lyapunov_spectrum`)."""
    return params.smoothed_step(state, x)


def spiking_step(params: HRSNN, state: HRSNNState, x: Array) -> tuple[HRSNNState, dict]:
    """Module-level spiking step for :func:`neuro.run.simulate` / :func:`neuro.run.scan_steps`."""
    return params.step(state, x)
