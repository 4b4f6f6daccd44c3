"""Pruning experiments: dense HRSNN -> pruned network (LNP or a baseline) -> task scores.

Protocol (lnp.md §5-§8, project settings):

* The dense network is an :func:`neuro.models.hrsnn.hrsnn` of ``n`` neurons (radius 20, input
  scale 3: near the edge of stability of the smoothed map under noise drive) with a 3-d
  construction input used by the task-agnostic steps (LNP's probe, the Lyapunov exponents).
* Each task gets its own dense random input matrix ``W_in`` (``[n, D]``, uniform in
  ``+-input_scale sqrt(3/D)``); a pruned network uses the rows of its kept neurons, so dense and
  pruned networks see the same input weights. Input and readout are never pruned.
* LNP runs once per seed, before any training, and the same pruned network serves every task.
  AP (activity-based pruning) is task-specific: it prunes the dense network by the rates measured
  on that task's training inputs. Random and magnitude pruning run once per seed. All baselines
  match LNP's neuron and synapse counts (or the counts of :func:`neuro.prune.targets` when LNP
  is not run).
* Prediction: one-step (``horizon`` 1) ridge readout, test NRMSE (:mod:`neuro.tasks.prediction`).
  Classification: scikit-learn digits, each image a constant input for ``steps`` steps; features
  are spike counts and mean membrane potentials; ridge classifier (one-hot targets, ``lambda``
  chosen on a held-out fifth of the training set); test accuracy.
* ``lambda_max``: maximal Lyapunov exponent (1/ms) of the smoothed map under Gaussian noise
  through the construction input (2,000 steps, 500 burn-in).
* ``spectrum_w1``: Wasserstein distance between the eigenvalue moduli of the pruned and the
  dense recurrent weights.
* Synapses kept (:func:`synapse_kept`): ``kept_of_dense`` (of the dense network's synapses) and
  ``density`` / ``density_of_dense`` (among the kept neurons).
* ``lnp-*`` methods (:data:`LNP_VARIANTS`) are LNP with one open part changed; the baselines
  match the counts of the first LNP method given.
"""

from __future__ import annotations

import functools
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from neuro import prune as P
from neuro._pytree import replace
from neuro.models.hrsnn import hrsnn
from neuro.network import Network
from neuro.projections import dense
from neuro.tasks import prediction
from neuro.tasks.data import load_dataset
from neuro.validation import check_choice

TASKS = ("lorenz", "rossler", "mackey-glass", "digits")
#: LNP and its ablations: method name -> options of :func:`neuro.prune.lnp` (the parts of the
#: method the paper leaves open; ``"lnp"`` is the rule as specified in :mod:`neuro.prune`).
LNP_VARIANTS: dict[str, dict[str, Any]] = {
    "lnp": {},
    "lnp-network": {"linearisation": "network"},  # whole-state linearisation
    "lnp-unscaled": {"max_gain": 1.0},  # no 1/p rescaling of the kept synapses
    "lnp-capped": {"max_gain": 2.0},  # 1/p rescaling capped at x2 per sampling pass
    "lnp-radius": {"spectral_radius": "dense"},  # weights renormalised to the dense radius
    "lnp-rate": {"node_score": "betweenness-rate"},  # betweenness x noise-driven rate
    "lnp-unscaled-rate": {"max_gain": 1.0, "node_score": "betweenness-rate"},
}
METHODS = (*LNP_VARIANTS, "activity", "random", "magnitude", "none")
INPUT_SCALE = 3.0
RADIUS = 20.0


def build_dense(seed: int, n: int = 500, **kwargs: Any) -> Network:
    """The dense HRSNN of an experiment (3 construction inputs)."""
    kw = {"radius": RADIUS, "input_scale": INPUT_SCALE, **kwargs}
    return hrsnn(jax.random.PRNGKey(seed), n, 3, **kw)


def task_input(seed: int, n: int, dim: int) -> np.ndarray:
    """The dense input matrix of a task (``[n, dim]``), shared by all pruned versions."""
    rng = np.random.default_rng([seed, dim, 7])
    return (rng.uniform(-1.0, 1.0, (n, dim)) * INPUT_SCALE * np.sqrt(3.0 / dim)).astype(np.float32)


def for_task(net: Network, keep: np.ndarray | None, w_in_dense: np.ndarray) -> Network:
    """``net`` with the task's input matrix (rows of the kept neurons) and input size."""
    rows = w_in_dense if keep is None else w_in_dense[keep]
    name, proj = next((n, p) for n, p in net.projections.items() if p.source == "x")
    new = replace(dense("x", proj.target, jnp.asarray(rows.T), bias=True), b=proj.b)
    return replace(net, projections={**net.projections, name: new},
                   inputs=(("x", int(rows.shape[1])),))


@functools.partial(jax.jit, static_argnames=("steps",))
def _digit_features(net: Network, x: jax.Array, steps: int):
    inputs = jnp.broadcast_to(x, (steps, *x.shape))
    spikes, u = prediction._records(net, net.init_state((x.shape[0],)), inputs)
    return jnp.concatenate([spikes.sum(0), u.mean(0)], axis=1), spikes.mean((0, 1))


def digits_accuracy(net: Network, data=None, *, steps: int = 20) -> tuple[float, np.ndarray]:
    """Test accuracy of a ridge classifier on the network's responses to the digits; also the
    per-neuron mean spike count per step on the training images."""
    data = load_dataset("digits") if data is None else data
    f_tr, rates = _digit_features(net, jnp.asarray(data.x_train), steps)
    f_te, _ = _digit_features(net, jnp.asarray(data.x_test), steps)
    f_tr, f_te = np.asarray(f_tr, np.float64), np.asarray(f_te, np.float64)
    mu, sd = f_tr.mean(0), f_tr.std(0) + 1e-8
    f_tr, f_te = (f_tr - mu) / sd, (f_te - mu) / sd
    y = np.eye(data.num_classes)[data.y_train]
    cut = 4 * len(f_tr) // 5
    best = None
    for lam in prediction.RIDGES:
        w = prediction.ridge_fit(f_tr[:cut], y[:cut], lam * cut)
        acc = np.mean(prediction.ridge_predict(f_tr[cut:], w).argmax(1) == data.y_train[cut:])
        if best is None or acc > best[0]:
            best = (acc, lam)
    w = prediction.ridge_fit(f_tr, y, best[1] * len(f_tr))
    acc = float(np.mean(prediction.ridge_predict(f_te, w).argmax(1) == data.y_test))
    return acc, np.asarray(rates)


def evaluate_task(net: Network, keep, task: str, seed: int, n_dense: int, *, scale: float = 1.0,
                  horizon: int = 1, cache: dict | None = None) -> tuple[float, np.ndarray]:
    """``(score, rates)``: NRMSE for prediction tasks (``horizon`` samples ahead), accuracy for
    digits."""
    cache = {} if cache is None else cache
    if task == "digits":
        data = cache.setdefault("digits", None) or load_dataset("digits")
        cache["digits"] = data
        w_in = task_input(seed, n_dense, data.x_train.shape[1])
        return digits_accuracy(for_task(net, keep, w_in), data)
    key = ("series", task, scale, horizon)
    series = cache.get(key) or prediction.make_series(task, scale=scale, horizon=horizon)
    cache[key] = series
    w_in = task_input(seed, n_dense, series.x.shape[1])
    res = prediction.evaluate(for_task(net, keep, w_in), series, horizon=horizon)
    return res.nrmse, res.rates


def lambda_max(net: Network, seed: int, steps: int = 2000) -> float:
    drive = P.noise_drive(jax.random.PRNGKey(1000 + seed), steps, P.input_size(net))
    return P.max_lyapunov(net, drive, burn_in=500).lambda_max


def prune(method: str, dense: Network, seed: int, *, node_fraction: float = 0.5,
          synapse_fraction: float = 0.5, counts: tuple[int, int] | None = None,
          rates: np.ndarray | None = None, trials: int = 12) -> P.PruneResult:
    """Prune ``dense`` by ``method`` (``rates`` needed for ``activity``; ``counts`` = (neurons,
    synapses) to match, default :func:`neuro.prune.targets`)."""
    check_choice("method", method, METHODS)
    n_keep, n_syn = counts or P.targets(dense, node_fraction, synapse_fraction)
    if method == "none":
        return P.PruneResult(dense, np.arange(dense.num_neurons()), {})
    if method in LNP_VARIANTS:
        return P.lnp(dense, jax.random.PRNGKey(seed), node_fraction=node_fraction,
                     synapse_fraction=synapse_fraction, trials=trials, **LNP_VARIANTS[method])
    if method == "activity":
        if rates is None:
            raise ValueError("activity pruning needs the dense network's rates on the task")
        return P.activity_prune(dense, rates, n_keep, n_syn)
    if method == "random":
        return P.random_prune(dense, np.random.default_rng(seed), n_keep, n_syn)
    return P.magnitude_prune(dense, n_keep, n_syn)


def run_experiment(*, seeds=(0, 1, 2), n: int = 500, tasks=TASKS,
                   methods=("lnp", "activity", "random", "magnitude"), node_fraction: float = 0.5,
                   synapse_fraction: float = 0.5, scale: float = 1.0, trials: int = 12,
                   progress: bool = True) -> list[dict]:
    """Rows ``{seed, method, task, neurons, synapses, lambda_max, score, spectrum_w1, seconds}``
    (``method == "dense"`` rows are the unpruned network). Baselines match LNP's counts."""
    from tqdm.auto import tqdm

    rows: list[dict] = []
    cache: dict = {}
    bar = tqdm(total=len(seeds) * (1 + len(methods)) * len(tasks), disable=not progress,
               desc="pruning experiment")
    for seed in seeds:
        dense = build_dense(seed, n)
        lam_dense = lambda_max(dense, seed)
        dense_rates = {}
        for task in tasks:
            t0 = time.time()
            score, rates = evaluate_task(dense, None, task, seed, n, scale=scale, cache=cache)
            dense_rates[task] = rates
            rows.append(dict(seed=seed, method="dense", task=task, neurons=dense.num_neurons(),
                             synapses=dense.num_synapses(),
                             **synapse_kept(dense.num_neurons(), dense.num_synapses(), dense),
                             lambda_max=lam_dense, score=score, spectrum_w1=0.0,
                             seconds=time.time() - t0))
            bar.update()
        counts = None
        pruned: dict[str, P.PruneResult] = {}
        first = next((m for m in methods if m in LNP_VARIANTS), None)
        if first is not None:  # the baselines match the first LNP variant's counts
            pruned[first] = prune(first, dense, seed, node_fraction=node_fraction,
                                  synapse_fraction=synapse_fraction, trials=trials)
            counts = (pruned[first].net.num_neurons(), pruned[first].net.num_synapses())
        for method in methods:
            for task in tasks:
                t0 = time.time()
                if method == "activity":
                    res = prune(method, dense, seed, node_fraction=node_fraction,
                                synapse_fraction=synapse_fraction, counts=counts,
                                rates=dense_rates[task])
                else:
                    if method not in pruned:
                        pruned[method] = prune(method, dense, seed, node_fraction=node_fraction,
                                               synapse_fraction=synapse_fraction, counts=counts,
                                               trials=trials)
                    res = pruned[method]
                score, _ = evaluate_task(res.net, res.keep, task, seed, n, scale=scale,
                                         cache=cache)
                key = (method, task if method == "activity" else None)
                if key not in pruned:
                    pruned[key] = (lambda_max(res.net, seed),
                                   P.spectrum_distance(P.recurrent_weights(dense),
                                                       P.recurrent_weights(res.net)))
                lam, w1 = pruned[key]
                n_res, s_res = res.net.num_neurons(), res.net.num_synapses()
                rows.append(dict(seed=seed, method=method, task=task, neurons=n_res,
                                 synapses=s_res, **synapse_kept(n_res, s_res, dense),
                                 lambda_max=lam, score=score, spectrum_w1=w1,
                                 seconds=time.time() - t0))
                bar.update()
    bar.close()
    return rows


def synapse_kept(neurons: int, synapses: int, dense: Network) -> dict[str, float]:
    """"Synapses kept" two ways: ``kept_of_dense`` = synapses / the dense network's synapses;
    ``density`` = synapses / (n (n - 1)) among the kept neurons, and ``density_of_dense`` = that
    density / the dense network's density (the recurrent projection only; readout excluded)."""
    n0, s0 = dense.num_neurons(), dense.num_synapses()
    dens = synapses / max(neurons * (neurons - 1), 1)
    return {"kept_of_dense": synapses / s0, "density": dens,
            "density_of_dense": dens / (s0 / max(n0 * (n0 - 1), 1))}


def summarise(rows: list[dict]) -> list[dict]:
    """Mean and standard deviation over seeds per (method, task)."""
    out = []
    keys = sorted({(r["method"], r["task"]) for r in rows},
                  key=lambda k: (["dense", *METHODS].index(k[0]), TASKS.index(k[1])))
    for method, task in keys:
        sel = [r for r in rows if r["method"] == method and r["task"] == task]
        agg = {"method": method, "task": task, "seeds": len(sel)}
        for f in ("neurons", "synapses", "kept_of_dense", "density", "density_of_dense",
                  "lambda_max", "score", "spectrum_w1"):
            vals = np.array([r[f] for r in sel], float)
            agg[f] = float(vals.mean())
            agg[f + "_std"] = float(vals.std())
        out.append(agg)
    return out


def format_table(summary: list[dict]) -> str:
    """The summary as text; ``kept`` = synapses / dense synapses, ``density`` = density among the
    kept neurons (``rel`` = relative to the dense network's density)."""
    lines = [f"{'method':17s} {'task':12s} {'neurons':>7s} {'synapses':>8s} {'kept':>6s} "
             f"{'density':>7s} {'rel':>5s} {'lambda_max':>17s} {'score':>17s} {'W1(eig)':>13s}"]
    for s in summary:
        lines.append(
            f"{s['method']:17s} {s['task']:12s} {s['neurons']:7.0f} {s['synapses']:8.0f} "
            f"{s['kept_of_dense']:6.3f} {s['density']:7.4f} {s['density_of_dense']:5.2f} "
            f"{s['lambda_max']:9.4f}+-{s['lambda_max_std']:.4f} "
            f"{s['score']:9.4f}+-{s['score_std']:.4f} "
            f"{s['spectrum_w1']:7.3f}+-{s['spectrum_w1_std']:.3f}")
    return "\n".join(lines)

