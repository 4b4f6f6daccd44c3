"""``neuro pipeline``: the mission pipeline in one command (:mod:`neuro.tasks.pipeline`).

A heterogeneous recurrent network of ALIF soft-reset neurons with event-driven sparse recurrence
and astrocyte modulation -> whole-state Lyapunov spectrum -> Lyapunov Noise Pruning -> BPTT on
task A -> HLOP continual learning on tasks B and C (permuted scikit-learn digits) ->
Lyapunov spectrum again. Prints ``neurons``, ``synapses`` (before/after pruning),
``lambda_max_before``, ``lambda_max_after`` (1/ms), ``accuracy_matrix``, ``acc``, ``bwt``
(percent) and ``seconds``; ``--plot FILE`` draws the accuracy matrix. ``--devices N`` runs the
BPTT and HLOP training data-parallel over N devices (N must divide the batch of 64; the results
equal one device's up to summation order).
"""

from __future__ import annotations

import argparse
from typing import Any

from neuro.cli import add_output_flags, defer_plot


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "pipeline", help="build, analyse, prune (LNP), train (BPTT) and continue (HLOP) one network",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--neurons", type=int, default=128, help="network size before pruning")
    p.add_argument("--tasks", type=int, default=3, help="permuted-digit tasks (A, B, C, ...)")
    p.add_argument("--epochs", type=int, default=3, help="epochs per task")
    p.add_argument("--lr", type=float, default=0.3)
    p.add_argument("--feed", default="image", choices=("image", "rows"),
                   help="digits as a constant 64-pixel current, or row by row (8 inputs)")
    p.add_argument("--node-fraction", type=float, default=0.5, help="neurons removed by LNP")
    p.add_argument("--sparsity", type=float, default=0.5,
                   help="fraction of the synapse density removed by LNP")
    p.add_argument("--tune", action="store_true", help="run LNP's timescale search (slower)")
    p.add_argument("--astro-block", type=int, default=8, help="neurons per astrocyte")
    p.add_argument("--probe-steps", type=int, default=600, help="noise steps of LNP's probe")
    p.add_argument("--lyapunov-steps", type=int, default=1500,
                   help="noise steps of each Lyapunov spectrum")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--devices", type=int, default=1,
                   help="data-parallel BPTT/HLOP training over N devices (the batch of 64 split "
                   "evenly, so N must divide 64; on CPU, N virtual devices that share the "
                   "cores; default 1)")
    add_output_flags(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> dict:
    from neuro import distributed
    from neuro.tasks.continual import NetworkRunConfig

    batch = NetworkRunConfig.batch
    if args.devices < 1:
        raise ValueError(f"--devices must be >= 1; got {args.devices}")
    if batch % args.devices:
        raise ValueError(f"--devices {args.devices} does not divide the training batch of "
                         f"{batch}: data-parallel training splits every batch evenly over the "
                         "devices")
    mesh = distributed.batch_mesh(args.devices)  # before JAX starts (virtual CPU devices)

    from neuro.tasks.pipeline import PipelineConfig, run_pipeline

    cfg = PipelineConfig(neurons=args.neurons, tasks=args.tasks, epochs=args.epochs, lr=args.lr,
                         feed=args.feed,
                         node_fraction=args.node_fraction, synapse_fraction=args.sparsity,
                         tune=args.tune, seed=args.seed, astro_block=args.astro_block,
                         probe_steps=args.probe_steps, lyapunov_steps=args.lyapunov_steps)
    out = run_pipeline(cfg, progress=True, mesh=mesh)
    out["devices"] = args.devices
    if args.plot:
        out["plot"] = defer_plot(args, lambda path: _plot(out, path))
    return out


def _plot(out: dict, path: str) -> None:
    import numpy as np

    from neuro import plot

    acc = np.asarray(out["accuracy_matrix"], float)
    fig, ax = plot.figure(1, 1, figsize=(5.5, 4.5))
    shown = np.where(np.tril(np.ones_like(acc)) > 0, acc, np.nan)
    im = ax.imshow(shown, vmin=0, vmax=100, cmap="viridis")
    for (i, j), v in np.ndenumerate(shown):
        if np.isfinite(v):
            ax.text(j, i, f"{v:.0f}", ha="center", va="center", color="w")
    ax.set_xlabel("task evaluated")
    ax.set_ylabel("after training task")
    ax.set_title(f"ACC {out['acc']:.1f} %, BWT {out['bwt']:.1f} %; "
                 f"{out['neurons']['after']} of {out['neurons']['before']} neurons kept")
    fig.colorbar(im, ax=ax, label="test accuracy (%)")
    plot.save(fig, path)
