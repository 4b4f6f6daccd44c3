"""``neuro prune``: prune a dense heterogeneous recurrent SNN and score it on a task.

Builds the dense HRSNN of :mod:`neuro.tasks.pruning`, prunes it with LNP or a baseline (at the
neuron and synapse counts of :func:`neuro.prune.targets`), and prints the neurons and synapses
kept, the maximal Lyapunov exponent (1/ms, smoothed map under noise drive) before and after, and
the task score: ``nrmse`` (lorenz, rossler, mackey-glass; one-step prediction, ridge readout) or
``accuracy`` (digits); ``--horizon H`` predicts H samples ahead (direct multi-step).
``--plot FILE`` draws the eigenvalue clouds of the dense and pruned recurrent weights and the
pruned network's Lyapunov spectrum (k largest exponents) with its running estimates.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from neuro.cli import add_output_flags, defer_plot

# the methods of neuro.tasks.pruning (LNP, its variants with one open part changed, baselines);
# listed here so that building the parser does not import JAX
METHODS = ("lnp", "lnp-network", "lnp-unscaled", "lnp-capped", "lnp-radius", "lnp-rate",
           "lnp-unscaled-rate", "activity", "random", "magnitude", "none")
TASKS = ("lorenz", "rossler", "mackey-glass", "digits")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "prune", help="prune a recurrent SNN (LNP or a baseline) and score it on a task",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--method", default="lnp", choices=METHODS)
    p.add_argument("--task", default="lorenz", choices=TASKS)
    p.add_argument("--neurons", type=int, default=500, help="dense network size (default 500)")
    p.add_argument("--sparsity", type=float, default=0.5,
                   help="fraction of the dense synapse density removed (default 0.5)")
    p.add_argument("--node-fraction", type=float, default=0.5,
                   help="fraction of neurons removed (default 0.5)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--trials", type=int, default=12,
                   help="Bayesian-optimisation trials of LNP's timescale step (default 12)")
    p.add_argument("--scale", type=float, default=1.0,
                   help="multiplier of the series split sizes 10000/2000/5000 (default 1)")
    p.add_argument("--horizon", type=int, default=1,
                   help="prediction horizon in samples (1 = one-step; default 1)")
    p.add_argument("--spectrum-k", type=int, default=20,
                   help="Lyapunov exponents computed for --plot (default 20)")
    add_output_flags(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> dict:
    if args.neurons < 10:
        raise ValueError(f"neurons must be at least 10; got {args.neurons}")
    if not 0.0 <= args.sparsity < 1.0:
        raise ValueError(f"sparsity must lie in [0, 1); got {args.sparsity}")
    if not 0.0 <= args.node_fraction <= 0.95:
        raise ValueError(f"node-fraction must lie in [0, 0.95]; got {args.node_fraction}")
    if args.trials < 1:
        raise ValueError(f"trials must be positive; got {args.trials}")
    if args.horizon < 1:
        raise ValueError(f"horizon must be a positive int; got {args.horizon}")
    if args.scale <= 0:
        raise ValueError(f"scale must be positive; got {args.scale}")
    from tqdm.auto import tqdm

    from neuro import prune as P
    from neuro.tasks import pruning as X

    t0 = time.time()
    bar = tqdm(total=5, desc="neuro prune", unit="stage")
    cache: dict = {}
    dense = X.build_dense(args.seed, args.neurons)
    lam_before = X.lambda_max(dense, args.seed)
    bar.update()
    rates = None
    if args.method == "activity":  # AP prunes the dense network trained on the task
        _, rates = X.evaluate_task(dense, None, args.task, args.seed, args.neurons,
                                   scale=args.scale, horizon=args.horizon, cache=cache)
    bar.update()
    res = X.prune(args.method, dense, args.seed, node_fraction=args.node_fraction,
                  synapse_fraction=args.sparsity, rates=rates, trials=args.trials)
    bar.update()
    lam_after = X.lambda_max(res.net, args.seed)
    bar.update()
    score, _ = X.evaluate_task(res.net, res.keep, args.task, args.seed, args.neurons,
                               scale=args.scale, horizon=args.horizon, cache=cache)
    bar.update()
    bar.close()
    out = {
        "method": args.method, "task": args.task, "horizon": args.horizon,
        "neurons_dense": dense.num_neurons(), "synapses_dense": dense.num_synapses(),
        "neurons_kept": res.net.num_neurons(), "synapses_kept": res.net.num_synapses(),
        "lambda_max_before": lam_before, "lambda_max_after": lam_after,
        "accuracy" if args.task == "digits" else "nrmse": score,
        "spectrum_w1": P.spectrum_distance(P.recurrent_weights(dense),
                                           P.recurrent_weights(res.net)),
    }
    out.update({k: v for k, v in res.info.items() if isinstance(v, int | float)})
    if args.plot:
        out["plot"] = defer_plot(args, lambda path: _plot(args, dense, res.net))
    out["seconds"] = time.time() - t0
    return out


def _plot(args, dense, pruned) -> None:
    import jax
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from neuro import prune as P

    k = min(args.spectrum_k, pruned.num_neurons())
    drive = P.noise_drive(jax.random.PRNGKey(1000 + args.seed), 2000,
                          P.input_size(pruned))
    spec = P.max_lyapunov(pruned, drive, k=k, burn_in=500)
    ev_d = P.eigenvalues(P.recurrent_weights(dense))
    ev_p = P.eigenvalues(P.recurrent_weights(pruned))
    fig, (a, b, c) = plt.subplots(1, 3, figsize=(13, 4))
    a.scatter(ev_d.real, ev_d.imag, s=4, alpha=0.5, label=f"dense ({len(ev_d)})")
    a.scatter(ev_p.real, ev_p.imag, s=4, alpha=0.5, label=f"{args.method} ({len(ev_p)})")
    a.set_aspect("equal")
    a.set_xlabel("Re")
    a.set_ylabel("Im")
    a.set_title("eigenvalues of W_rec")
    a.legend(fontsize=8)
    b.plot(np.arange(1, k + 1), spec.exponents, "o-", ms=3)
    b.axhline(0.0, color="k", lw=0.5)
    b.set_xlabel("i")
    b.set_ylabel("lambda_i (1/ms)")
    b.set_title("Lyapunov spectrum (pruned)")
    c.plot(spec.times, spec.running[:, : min(5, k)])
    c.axhline(0.0, color="k", lw=0.5)
    c.set_xlabel("time (ms)")
    c.set_title("running estimates")
    fig.tight_layout()
    fig.savefig(args.plot, dpi=120)
    plt.close(fig)
