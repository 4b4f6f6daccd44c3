"""Chaotic time-series prediction with a recurrent SNN: data, features, ridge / BPTT readouts, NRMSE.

Series (lnp.md §7.1, project settings; generated, never downloaded):

* Lorenz-63 ``x' = s(y - x), y' = x(r - z) - y, z' = xy - bz`` (s = 10, r = 28, b = 8/3), RK4 with
  h = 0.01, sampled every step.
* Rossler ``x' = -y - z, y' = x + a y, z' = b + z(x - c)`` (a = 0.2, b = 0.2, c = 5.7), RK4 with
  h = 0.01, sampled every 10 steps.
* Mackey-Glass ``x' = beta x(t - tau)/(1 + x(t - tau)^n) - gamma x`` (beta = 0.2, gamma = 0.1,
  n = 10, tau = 17), RK4 with a history buffer (the delayed term at half steps is the mean of the
  two neighbouring stored values), h = 0.1, x(t <= 0) = 1.2, sampled every 1 time unit.

A 1,000-sample transient is dropped; each coordinate is z-scored with the training statistics;
the splits are fixed: 10,000 train / 2,000 validation / 5,000 test samples (smaller with
``scale``). Sample ``x_t`` drives the network through ``W_in`` for ``n_sub`` steps; the features
``S_t`` are the membrane potentials (or exponentially filtered spikes, ``tau_r`` = 20 ms) after
the last sub-step, plus a constant; the target is ``y_t = x_{t+h}`` (``h = 1``: one-step,
``h > 1``: direct multi-step prediction). The first 200 samples are a washout.

Ridge readout ``W_out = Y S^T (S S^T + l I)^-1`` with ``l`` chosen on the validation split from
{1e-6, ..., 1e0}; the readout is dense and never pruned. BPTT (:func:`train_bptt`) trains the
readout and the existing recurrent and input synapses (the zero pattern of ``w_rec`` is kept) with
surrogate gradients and Adam on truncated windows.

NRMSE = (1/D) sum_d sqrt(mean_t (yhat_{t,d} - y_{t,d})^2) / std_t(y_{.,d}).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import scipy.signal

from neuro._pytree import replace
from neuro.dynamics import smoothed
from neuro.run import scan_steps
from neuro.train import Trainer, masked
from neuro.validation import check_choice, check_positive

SYSTEMS = ("lorenz", "rossler", "mackey-glass")
SPLITS = (10_000, 2_000, 5_000)
TRANSIENT = 1_000
WASHOUT = 200
RIDGES = tuple(10.0 ** p for p in range(-6, 1))


# --------------------------------------------------------------------------- generators

def _rk4(f, x0: np.ndarray, h: float, steps: int, every: int) -> np.ndarray:
    out = np.empty((steps // every + 1, len(x0)))
    x = np.asarray(x0, float)
    out[0] = x
    for i in range(1, steps + 1):
        k1 = f(x)
        k2 = f(x + 0.5 * h * k1)
        k3 = f(x + 0.5 * h * k2)
        k4 = f(x + h * k3)
        x = x + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
        if i % every == 0:
            out[i // every] = x
    return out


def lorenz(n: int, *, h: float = 0.01, sigma: float = 10.0, rho: float = 28.0,
           beta: float = 8.0 / 3.0, x0=(1.0, 1.0, 1.0)) -> np.ndarray:
    """``n`` samples [n, 3] of Lorenz-63 (RK4, step ``h``, every step)."""
    f = lambda u: np.array([sigma * (u[1] - u[0]), u[0] * (rho - u[2]) - u[1],
                            u[0] * u[1] - beta * u[2]])
    return _rk4(f, np.asarray(x0), h, n - 1, 1)


def rossler(n: int, *, h: float = 0.01, a: float = 0.2, b: float = 0.2, c: float = 5.7,
            every: int = 10, x0=(1.0, 1.0, 0.0)) -> np.ndarray:
    """``n`` samples [n, 3] of the Rossler system (RK4, step ``h``, every ``every`` steps)."""
    f = lambda u: np.array([-u[1] - u[2], u[0] + a * u[1], b + u[2] * (u[0] - c)])
    return _rk4(f, np.asarray(x0), h, (n - 1) * every, every)


def mackey_glass(n: int, *, h: float = 0.1, beta: float = 0.2, gamma: float = 0.1,
                 power: float = 10.0, tau: float = 17.0, x0: float = 1.2,
                 sample: float = 1.0) -> np.ndarray:
    """``n`` samples [n, 1] of Mackey-Glass (RK4 with a history buffer, step ``h``)."""
    lag = int(round(tau / h))
    every = int(round(sample / h))
    steps = (n - 1) * every
    x = np.full(lag + steps + 1, x0, float)  # x[lag + i] = x(i h); x(t <= 0) = x0
    f = lambda xt, xd: beta * xd / (1.0 + xd ** power) - gamma * xt
    for i in range(steps):
        j = lag + i
        d0, d1 = x[j - lag], x[j - lag + 1]
        dm = 0.5 * (d0 + d1)  # delayed value at the half step (linear interpolation)
        xt = x[j]
        k1 = f(xt, d0)
        k2 = f(xt + 0.5 * h * k1, dm)
        k3 = f(xt + 0.5 * h * k2, dm)
        k4 = f(xt + h * k3, d1)
        x[j + 1] = xt + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
    return x[lag::every][:n, None]


class Series(NamedTuple):
    """z-scored series [T, D] and the split boundaries (sample indices) train/val/test."""

    x: np.ndarray
    train: slice
    val: slice
    test: slice
    name: str
    mean: np.ndarray
    std: np.ndarray


def make_series(name: str, *, scale: float = 1.0, horizon: int = 1) -> Series:
    """Generate, drop the transient, z-score (train statistics) and split series ``name``.

    ``scale`` shrinks the split sizes (for quick runs); ``horizon`` extra samples are kept at the
    end so every test sample has its target.
    """
    check_choice("task", name, SYSTEMS)
    check_positive("scale", scale)
    if not isinstance(horizon, int) or horizon < 1:
        raise ValueError(f"horizon must be a positive int; got {horizon!r}")
    n_tr, n_va, n_te = (max(int(s * scale), low) for s, low in zip(SPLITS, (WASHOUT + 100, 50, 50),
                                                                     strict=True))
    total = TRANSIENT + n_tr + n_va + n_te + horizon
    gen = {"lorenz": lorenz, "rossler": rossler, "mackey-glass": mackey_glass}[name]
    raw = gen(total)[TRANSIENT:]
    mean, std = raw[:n_tr].mean(0), raw[:n_tr].std(0)
    x = ((raw - mean) / std).astype(np.float32)
    return Series(x, slice(0, n_tr), slice(n_tr, n_tr + n_va),
                  slice(n_tr + n_va, n_tr + n_va + n_te), name, mean, std)


# --------------------------------------------------------------------------- features and readout

def _population(net) -> str:
    if len(net.populations) != 1:
        raise ValueError(f"the prediction readout reads one population; got {sorted(net.populations)}")
    return next(iter(net.populations))


def _records(net, state, inputs):
    """Spikes and pre-reset membrane potentials ``u`` of the LIF population (the LIF reports the
    post-reset ``v``; ``u = v + (V_th - V_reset) z`` for the soft reset)."""
    pop = _population(net)
    _, rec = scan_steps(net, state, inputs, monitors=(f"spikes.{pop}", f"v.{pop}"))
    z = rec[f"spikes.{pop}"]
    return z, smoothed(net).pre_reset(rec[f"v.{pop}"], z)


@functools.partial(jax.jit, static_argnames=("n_sub", "features"))
def _features(net, state, x, n_sub: int, features: str):
    inputs = jnp.repeat(x, n_sub, axis=0)
    spikes, u = _records(net, state, inputs)
    # features="filtered" filters the spikes after the run (network_features); here the raw ones
    feats = u if features == "potential" else spikes
    return feats, spikes.mean(0)


def network_features(net, x: np.ndarray, *, n_sub: int = 1, features: str = "potential",
                     tau_r: float = 20.0) -> tuple[np.ndarray, np.ndarray]:
    """Run ``net`` (a one-population LIF :class:`~neuro.network.Network`) over samples ``x``
    [T, D], each held ``n_sub`` steps; return features [T, N] (pre-reset potentials, or filtered
    spikes) and mean spike counts per step [N]."""
    check_choice("features", features, ("potential", "filtered"))
    feats, rates = _features(net, net.init_state(), jnp.asarray(x), n_sub, features)
    feats = np.asarray(feats, np.float64)
    if features == "filtered":  # c_t = d c_{t-1} + (1 - d) z_t, d = exp(-dt / tau_r) (ms)
        decay = float(np.exp(-float(net.populations[_population(net)].neuron.dt) / tau_r))
        feats = scipy.signal.lfilter([1.0 - decay], [1.0, -decay], feats, axis=0)
    return feats[n_sub - 1 :: n_sub], np.asarray(rates)


def ridge_fit(s: np.ndarray, y: np.ndarray, lam: float) -> np.ndarray:
    """``W_out`` [F+1, D] minimising ``|[S, 1] W - Y|^2 + lam |W|^2`` (bias not penalised)."""
    s1 = np.hstack([s, np.ones((len(s), 1))])
    reg = lam * np.eye(s1.shape[1])
    reg[-1, -1] = 0.0
    return np.linalg.solve(s1.T @ s1 + reg, s1.T @ y)


def ridge_predict(s: np.ndarray, w: np.ndarray) -> np.ndarray:
    return np.hstack([s, np.ones((len(s), 1))]) @ w


def nrmse(pred: np.ndarray, target: np.ndarray) -> float:
    """Mean over dimensions of RMSE / std of the target."""
    pred, target = np.atleast_2d(pred.T).T, np.atleast_2d(target.T).T
    rmse = np.sqrt(np.mean((pred - target) ** 2, axis=0))
    return float(np.mean(rmse / target.std(axis=0)))


class PredictionResult(NamedTuple):
    nrmse: float
    val_nrmse: float
    ridge: float
    rates: np.ndarray


def fit_readout(feats: np.ndarray, series: Series, horizon: int = 1) -> PredictionResult:
    """Ridge readout on train (after the washout), ``lambda`` chosen on validation; test NRMSE."""
    mu, sd = feats[series.train].mean(0), feats[series.train].std(0) + 1e-8
    f = (feats - mu) / sd  # standardise: the ridge grid is then comparable across networks
    y = series.x[horizon:]
    tr = slice(series.train.start + WASHOUT, series.train.stop)
    best = None
    for lam in RIDGES:
        w = ridge_fit(f[tr], y[tr], lam * len(f[tr]))
        score = nrmse(ridge_predict(f[series.val], w), y[series.val])
        if best is None or score < best[0]:
            best = (score, lam, w)
    score, lam, w = best
    test = nrmse(ridge_predict(f[series.test], w), y[series.test])
    return PredictionResult(test, score, lam, np.zeros(0))


def evaluate(net, series: Series, *, horizon: int = 1, n_sub: int = 1,
             features: str = "potential") -> PredictionResult:
    """Test NRMSE of ``net`` with a ridge readout on ``series`` (input = the sample, target =
    the sample ``horizon`` ahead)."""
    feats, rates = network_features(net, series.x, n_sub=n_sub, features=features)
    res = fit_readout(feats, series, horizon)
    return res._replace(rates=rates)


# --------------------------------------------------------------------------- BPTT

WARM = 20


def _bptt_loss(params, batch, key, n_sub):
    net, (w_out, b_out) = params
    x, y = batch  # [B, T, D], [B, T, D']
    inputs = jnp.swapaxes(jnp.repeat(x, n_sub, axis=1), 0, 1)
    _, u = _records(net, net.init_state((x.shape[0],)), inputs)
    u = jnp.swapaxes(u, 0, 1)[:, n_sub - 1 :: n_sub]  # [B, T, N]
    pred = u @ w_out + b_out
    return jnp.mean((pred[:, WARM:] - y[:, WARM:]) ** 2), {}


def _bptt_mask(params):
    """Train the readout, the input weights and the recurrent weights; the recurrent projection's
    structural mask (``W != 0``) keeps pruned synapses absent."""
    net, readout = params
    mask = jax.tree_util.tree_map(lambda leaf: False, (net, readout))
    pop = _population(net)
    proj = {n: p for n, p in net.projections.items()}
    rec = next(n for n, p in proj.items() if p.source == pop)
    inp = next(n for n, p in proj.items() if p.source != pop)
    projections = {**mask[0].projections, rec: replace(mask[0].projections[rec], w=True),
                   inp: replace(mask[0].projections[inp], w=True)}
    return replace(mask[0], projections=projections), (True, True)


def train_bptt(net, series: Series, *, horizon: int = 1, n_sub: int = 1, window: int = 100,
               batch: int = 16, iterations: int = 200, lr: float = 1e-3, seed: int = 0):
    """Train readout, input and existing recurrent synapses by BPTT (surrogate gradients,
    :class:`neuro.train.Trainer`) on random windows of the training split; return ``(net,
    readout)``. Absent recurrent synapses stay absent (a structural mask ``W != 0`` on the
    recurrent projection). The readout is on the pre-reset membrane potentials."""
    for name, value in (("window", window), ("batch", batch), ("iterations", iterations)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int; got {value!r}")
    if window <= WARM:
        raise ValueError(f"window must exceed the {WARM}-sample warm-up; got {window}")
    check_positive("lr", lr)
    feats, _ = network_features(net, series.x, n_sub=n_sub)
    init = fit_readout(feats, series, horizon)  # warm start: ridge on the untrained network
    mu, sd = feats[series.train].mean(0), feats[series.train].std(0) + 1e-8
    y_all = series.x[horizon:]
    tr = slice(series.train.start + WASHOUT, series.train.stop)
    w = ridge_fit((feats[tr] - mu) / sd, y_all[tr], init.ridge * (tr.stop - tr.start))
    w_out, b_out = w[:-1] / sd[:, None], w[-1] - (mu / sd) @ w[:-1]
    pop = _population(net)
    rec = next(n for n, p in net.projections.items() if p.source == pop)
    proj = net.projections[rec]
    net = replace(net, projections={**net.projections,
                                    rec: replace(proj, mask=jnp.asarray(proj.weights != 0))})
    params = (net, (jnp.asarray(w_out, jnp.float32), jnp.asarray(b_out, jnp.float32)))
    trainer = Trainer(functools.partial(_bptt_loss, n_sub=n_sub),
                      masked(optax.adam(lr), _bptt_mask(params)))
    opt_state = trainer.init(params)
    rng = np.random.default_rng(seed)
    n_tr = series.train.stop - window - horizon
    key = jax.random.PRNGKey(seed)
    for _ in range(iterations):
        starts = rng.integers(0, n_tr, batch)
        x = np.stack([series.x[s : s + window] for s in starts])
        y = np.stack([y_all[s : s + window] for s in starts])
        params, opt_state, _ = trainer.update(params, opt_state, (jnp.asarray(x), jnp.asarray(y)),
                                              key)
    net, readout = params
    return net, (np.asarray(readout[0]), np.asarray(readout[1]))


def bptt_loss(net, readout, x: np.ndarray, y: np.ndarray, n_sub: int = 1) -> float:
    """Mean squared error of a trained readout on windows ``x`` [B, T, D] -> ``y`` [B, T, D']."""
    params = (net, (jnp.asarray(readout[0]), jnp.asarray(readout[1])))
    return float(_bptt_loss(params, (jnp.asarray(x), jnp.asarray(y)), None, n_sub)[0])
