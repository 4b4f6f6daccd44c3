"""``neuro memory``: train a recurrent SNN on a memory task and report accuracy against delay.

    neuro memory --task delayed-recall|evidence --model lif|alif|astro [--delay S ...]
                 [--seeds N] [--iterations N] [--hidden N] [--group-size N] [--dt MS]
                 [--json] [--plot FILE]
    neuro memory --task associative [--loads P ...] [--noises F ...] [--noise F]
                 [--seeds N] [--neurons N] [--active M] [--json] [--plot FILE]

One network is trained per seed (seeds 0..N-1) on trials whose delays are drawn from ``--delay``,
then tested at each delay. With ``--json`` the key ``accuracy_by_delay`` maps each delay in seconds
(string key) to ``{"mean", "std", "per_seed"}`` over seeds. ``--plot`` draws, for one test trial at
the longest delay, the input and hidden spike rasters, the astrocyte state of every group (``c`` of
the trainable modulation, or the Li-Rinzel Ca) and the accuracy against delay.

``--task associative`` (tasks/associative.py): a recurrent spiking network stores P sparse random
patterns by online Hebbian plasticity and recalls them from degraded cues, with and without
astrocyte modulation. JSON keys ``capacity`` (per variant, mean/std over seeds, and the Willshaw
analytic ``p_max``), ``overlap_by_load`` and ``overlap_by_noise`` (per variant, per load or noise:
``overlap`` and ``false`` fractions, mean/std/per_seed). ``--plot`` draws both curves.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from neuro.cli import add_output_flags, defer_plot


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("memory", help="memory tasks: accuracy against delay (astrocytes)",
                              description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--task", default="delayed-recall",
                   help="delayed-recall | evidence | associative")
    p.add_argument("--model", default="astro",
                   help="lif | alif | astro | astro-alif | lr-lif | lr-alif")
    p.add_argument("--delay", type=float, nargs="+", default=None, metavar="S",
                   help="delays in seconds (default 0.5 1 1.5 2)")
    p.add_argument("--seeds", type=int, default=3, help="number of seeds (default 3)")
    p.add_argument("--iterations", type=int, default=None, help="training iterations per seed")
    p.add_argument("--hidden", type=int, default=None, help="hidden neurons (default 64)")
    p.add_argument("--group-size", type=int, default=None,
                   help="neurons per astrocyte group (default 2; must divide --hidden)")
    p.add_argument("--dt", type=float, default=10.0, help="time step in ms (default 10)")
    g = p.add_argument_group("associative")
    g.add_argument("--loads", type=int, nargs="+", default=None, metavar="P",
                   help="pattern counts (default 25 50 100 150 200 250 300 400)")
    g.add_argument("--noises", type=float, nargs="+", default=None, metavar="F",
                   help="cue noise fractions (default 0 .1 .2 .3 .4 .5)")
    g.add_argument("--noise", type=float, default=0.2, help="cue noise of the load sweep (0.2)")
    g.add_argument("--noise-load", type=int, default=100, help="load of the noise sweep (100)")
    g.add_argument("--neurons", type=int, default=200, help="network size N (default 200)")
    g.add_argument("--active", type=int, default=10, help="active units per pattern M (10)")
    add_output_flags(p)
    p.set_defaults(handler=run_memory)


def run_memory(args: argparse.Namespace) -> dict[str, Any]:
    from neuro.models.astrosnn import MODELS
    from neuro.tasks.memory import DEFAULT_DELAYS, TASKS, TrainConfig, retention
    from neuro.validation import check_choice

    if args.task == "associative":
        return run_associative_cli(args)
    check_choice("task", args.task, TASKS)
    check_choice("model", args.model, MODELS)
    if args.seeds < 1:
        raise ValueError(f"seeds must be >= 1; got {args.seeds}")
    if args.iterations is not None and args.iterations < 1:
        raise ValueError(f"iterations must be >= 1; got {args.iterations}")
    if args.dt <= 0:
        raise ValueError(f"dt must be positive; got {args.dt}")
    delays = tuple(args.delay) if args.delay else DEFAULT_DELAYS
    if any(d < 0 for d in delays):
        raise ValueError(f"delay must be non-negative seconds; got {list(delays)}")
    cfg = {}
    if args.iterations is not None:
        cfg["iterations"] = args.iterations
    if args.hidden is not None:
        cfg["n_hidden"] = args.hidden
    if args.group_size is not None:
        cfg["group_size"] = args.group_size
    config = TrainConfig(**cfg)
    result = retention(args.task, args.model, delays_s=delays, seeds=tuple(range(args.seeds)),
                       dt=args.dt, config=config, progress=True)
    last = result.pop("_last")
    result["iterations"] = config.iterations
    result["n_hidden"] = config.n_hidden
    result["group_size"] = config.group_size
    if args.plot:
        result["plot"] = defer_plot(args, lambda path: plot_trial(path, last, result,
                                                                   max(delays)))
    return result


def run_associative_cli(args: argparse.Namespace) -> dict[str, Any]:
    from neuro.tasks.associative import AssociativeConfig, run_associative

    if args.seeds < 1:
        raise ValueError(f"seeds must be >= 1; got {args.seeds}")
    kwargs = {}
    if args.loads:
        kwargs["loads"] = tuple(args.loads)
    if args.noises:
        kwargs["noises"] = tuple(args.noises)
    config = AssociativeConfig(n=args.neurons, m=args.active)
    result = run_associative(noise=args.noise, noise_load=args.noise_load,
                             seeds=tuple(range(args.seeds)), config=config, progress=True,
                             **kwargs)
    result["task"] = "associative"
    if args.plot:
        result["plot"] = defer_plot(args, lambda path: plot_associative(path, result))
    return result


def plot_associative(path: str, result: dict[str, Any]) -> None:
    """Overlap and false fraction against load (with Willshaw's false fraction) and noise."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    _curves(ax[0], result["overlap_by_load"], int)
    wil = result["willshaw"]
    ax[0].plot([int(p) for p in wil["false_by_load"]], list(wil["false_by_load"].values()),
               "k--", label="Willshaw false (analytic)")
    ax[0].axvline(wil["p_max"], c="gray", ls="--", lw=0.8)
    ax[0].set_xlabel("stored patterns P")
    ax[0].set_ylabel("fraction of M")
    ax[0].set_title(f"N = {result['n']}, M = {result['m']}, cue noise {result['noise']:g}")
    _curves(ax[1], result["overlap_by_noise"], float)
    ax[1].set_xlabel("cue noise (fraction removed = fraction added)")
    ax[1].set_title(f"P = {result['noise_load']}")
    for a in ax:
        a.set_ylim(0, 1.5)
        a.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _curves(ax: Any, by_variant: dict, x_of: Any) -> None:
    """Overlap (solid) and false fraction (dotted), mean +- std over seeds, per variant."""
    for variant, by_x in by_variant.items():
        xs = [x_of(k) for k in by_x]
        for key, ls in (("overlap", "-"), ("false", ":")):
            m = [by_x[k][key]["mean"] for k in by_x]
            sd = [by_x[k][key]["std"] for k in by_x]
            ax.errorbar(xs, m, yerr=sd, ls=ls, marker="o", capsize=3, label=f"{variant} {key}")


def astrocyte_trace(net: Any, x: Any) -> tuple[Any, Any, str]:
    """Hidden spikes ``[T, B, N]`` and the astrocyte trace ``[T, B, G]`` of one run, with its
    name (``c`` of the trainable modulation, Li-Rinzel ``Ca``, or none)."""
    from neuro.run import simulate

    rec = simulate(net, net.init_state(x.shape[1]), x,
                   monitors=("spikes.h", "v.h", "modulators")).records
    mods = rec["modulators"]
    trace = (mods["astro"] if "astro" in mods else
             mods["lr"].astro.ca if "lr" in mods else rec["v.h"][..., :0])
    name = "astrocyte c" if "astro" in net.modulators else (
        "astrocyte Ca (uM)" if "lr" in net.modulators else "no astrocytes")
    return np.asarray(rec["spikes.h"]), np.asarray(trace), name


def plot_trial(path: str, last: tuple, result: dict[str, Any], delay: float) -> None:
    """Input and hidden rasters, astrocyte traces and accuracy against delay."""
    import jax.numpy as jnp
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from neuro.tasks.memory import make_batch

    task, net, _ = last
    x, y = make_batch(task, np.array([delay]), np.random.default_rng(123))
    z, c, trace_name = astrocyte_trace(net, jnp.asarray(x))
    z, c = z[:, 0], c[:, 0]
    t = np.arange(x.shape[0]) * task.dt / 1000.0
    fig, ax = plt.subplots(4, 1, figsize=(7, 8), sharex=False,
                           gridspec_kw={"height_ratios": [2, 3, 2, 2]})
    for a, s, name in ((ax[0], x[:, 0], "input"), (ax[1], z, "hidden")):
        ti, ni = np.nonzero(s)
        a.scatter(t[ti], ni, s=2, c="k", marker="|")
        a.set_ylabel(f"{name} neuron")
        a.set_xlim(t[0], t[-1])
    ax[0].set_title(f"{result['task']} / {result['model']}: trial at delay {delay:g} s, "
                    f"label {int(y[0])}")
    ax[2].plot(t, c)
    ax[2].set_xlim(t[0], t[-1])
    ax[2].set_ylabel(trace_name)
    ax[2].set_xlabel("time (s)")
    ds = list(result["accuracy_by_delay"])
    m = [result["accuracy_by_delay"][d]["mean"] for d in ds]
    sd = [result["accuracy_by_delay"][d]["std"] for d in ds]
    ax[3].errorbar([float(d) for d in ds], m, yerr=sd, marker="o", capsize=3)
    ax[3].axhline(result["chance"], ls="--", c="gray", label="chance")
    ax[3].set_xlabel("delay (s)")
    ax[3].set_ylabel("accuracy")
    ax[3].set_ylim(0, 1.05)
    ax[3].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
