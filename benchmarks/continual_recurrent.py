"""HLOP for a BPTT-trained recurrent SNN: 10 permuted-digits tasks, HLOP vs fine-tuning vs GPM.

Stream: scikit-learn's 8x8 digits (1,437 train / 360 test), 10 fixed pixel permutations (every
task permuted, applied per batch). The image is a constant input current of 64 channels for
``--steps`` steps (default), or fed row by row as in ``neuro.tasks.digit_rows`` (``--feed rows``:
8 channels, ``--steps`` steps per row; the 8-d input subspace is then used up after a few tasks,
so the input projection freezes). Network: input -> ``"in"`` (dense) -> a population ``"e"`` of
ALIF neurons (e-prop form) with an event-driven ``sparse`` recurrent projection ``"rec"`` (fixed
probability ``p``) -> leaky readout ``"y"``; logits = readout mean over the second half. Trained
by BPTT (surrogate gradients through :func:`neuro.run.scan_steps`, the sparse projection's exact
VJP) with ``neuro.train.Trainer``, SGD with momentum 0.9 (reset at each task). HLOP (hlop.md
§3, BPTT row: Hebbian and projected input = raw per-step presynaptic activity) protects ``in``,
``rec`` and ``y``; GPM the same three from the same per-step rows; fine-tuning is plain SGD.

Prints per method the mean and spread (std, min-max) of ACC and BWT (percent, BWT over T-1
tasks) over the seeds, the mean just-trained accuracy, and the time. Defaults: 48 neurons, 8
steps, 2 epochs per task, SGD lr 0.5, 5 seeds (minutes on a loaded 2-core machine).

    python benchmarks/continual_recurrent.py [--seeds 5] [--tasks 10] [--hidden 48]
        [--epochs 2] [--feed constant|rows] [--methods hlop finetune gpm] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from neuro import network as nw
from neuro import projections as pj
from neuro import readouts
from neuro.io import save_json
from neuro.neurons import alif
from neuro.plasticity import presynaptic_activity
from neuro.run import scan_steps
from neuro.tasks import continual as cl
from neuro.train import cross_entropy, readout_logits

MODULES = ("in", "rec", "y")


def recurrent_net(seed: int, n: int = 64, p: float = 0.2, n_in: int = 8, n_out: int = 10,
                  in_gain: float = 3.0, rec_gain: float = 1.0) -> nw.Network:
    """Input -> ALIF population with sparse recurrence -> leaky readout."""
    k_in, k_out = jax.random.split(jax.random.PRNGKey(seed))
    rng = np.random.default_rng([seed, 3])
    conn = pj.fixed_probability(rng, n, n, p, allow_self=False)
    w = (rng.normal(size=conn.targets.shape) * rec_gain / np.sqrt(p * n)).astype(np.float32)
    conn = pj.Connectivity(conn.targets, w, conn.n_pre, conn.n_post, conn.n_channels)
    neuron = alif(tau_m=20.0, tau_a=100.0, thr=0.5, beta=0.5)
    return nw.network(
        {"e": nw.population(neuron, n)},
        {"in": pj.dense("x", "e", key=k_in, n_pre=n_in, n_post=n, gain=in_gain),
         "rec": pj.sparse("e", "e", conn)},
        readouts={"y": readouts.leaky("e", n_out, key=k_out, n_in=n, tau=10.0)},
        inputs={"x": n_in})


def rows_in_time(x: jax.Array, steps_per_row: int) -> jax.Array:
    """``[B, 64]`` images -> time-major row currents ``[8 steps_per_row, B, 8]``."""
    rows = x.reshape(x.shape[0], 8, 8)
    return jnp.repeat(jnp.swapaxes(rows, 0, 1), steps_per_row, axis=0)


def loss_fn(net, batch, key, *, feed: str = "constant", steps: int = 8, gain: float = 2.0):
    """Cross-entropy of the readout mean over the second half; per-step presynaptic rows.

    ``feed="constant"``: the 64 pixels are a constant input current for ``steps`` steps;
    ``"rows"``: row by row, ``steps`` steps per row (8 inputs)."""
    del key
    x, y = batch
    if feed == "rows":
        xs = rows_in_time(x, steps) * gain
    else:
        xs = jnp.broadcast_to(x, (steps, *x.shape)) * gain
    _, rec = scan_steps(net, net.init_state(x.shape[0]), xs, monitors=("spikes", "readout"))
    ce, acc = cross_entropy(readout_logits(rec["readout"]["y"], "mean",
                                           window=xs.shape[0] // 2), y)
    pre = {m: presynaptic_activity(net, m, rec, xs, reduce="steps") for m in MODULES}
    return ce, {"accuracy": acc, "presynaptic": pre, "rate": rec["spikes"]["e"].mean()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", nargs="+", default=["hlop", "finetune", "gpm"])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--tasks", type=int, default=10)
    ap.add_argument("--hidden", type=int, default=48)
    ap.add_argument("--p", type=float, default=0.2, help="recurrent connection probability")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--feed", default="constant", choices=["constant", "rows"],
                    help="image as a constant input (64 inputs) or row by row (8 inputs)")
    ap.add_argument("--steps", type=int, default=8,
                    help="steps of the constant input, or steps per row")
    ap.add_argument("--lr", type=float, default=0.5)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    loss = partial(loss_fn, feed=args.feed, steps=args.steps)
    n_in = 8 if args.feed == "rows" else 64
    print(f"# permuted digits ({args.feed} input, {args.steps} steps), {args.tasks} tasks, "
          f"ALIF {args.hidden} with sparse recurrence p={args.p}, {args.epochs} epochs/task, "
          f"{args.seeds} seeds, cores {os.cpu_count()}",
          flush=True)
    results = {m: [] for m in args.methods}
    for seed in range(args.seeds):
        tasks = cl.permuted_digit_tasks(args.tasks, seed)
        for method in args.methods:
            net = recurrent_net(seed, args.hidden, args.p, n_in=n_in)
            rc = cl.NetworkRunConfig(method=method, modules=MODULES, epochs=args.epochs,
                                     lr=args.lr, momentum=0.9, seed=seed)
            t0 = time.perf_counter()
            r = cl.run_network_stream(net, loss, tasks, rc)
            r["wall_seconds"] = time.perf_counter() - t0
            results[method].append(r)
            r["just_trained"] = float(np.mean(np.diag(r["accuracy_matrix"])))
            print(f"seed {seed} {method:9s} ACC {r['acc']:6.2f}  BWT {r['bwt']:6.2f}  "
                  f"just-trained {r['just_trained']:6.2f}  {r['wall_seconds']:6.1f} s  "
                  f"sizes {r.get('subspace_sizes')}", flush=True)
            if args.out:
                save_json(args.out, results)
    summary = {}
    print(f"\n{'method':9s} {'ACC mean':>9s} {'std':>5s} {'min-max':>13s}   {'BWT mean':>9s} "
          f"{'std':>5s} {'min-max':>13s}  time/seed")
    for method, rs in results.items():
        a = np.array([r["acc"] for r in rs])
        b = np.array([r["bwt"] for r in rs])
        s = np.mean([r["wall_seconds"] for r in rs])
        summary[method] = {"acc_mean": a.mean(), "acc_std": a.std(), "bwt_mean": b.mean(),
                           "bwt_std": b.std(), "seconds_per_seed": s, "acc": a.tolist(),
                           "bwt": b.tolist()}
        print(f"{method:9s} {a.mean():9.2f} {a.std():5.2f} {a.min():6.2f}-{a.max():6.2f}   "
              f"{b.mean():9.2f} {b.std():5.2f} {b.min():6.2f}-{b.max():6.2f}  {s:6.1f} s")
    print("# ACC/BWT percent; BWT over T-1 tasks (GPM/HLOP convention); std over seeds")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
