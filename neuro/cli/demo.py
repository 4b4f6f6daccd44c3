"""``neuro demo``: train a recurrent ALIF network on sequential digits (bundled data)."""

from __future__ import annotations

import argparse

from neuro.cli import add_output_flags, defer_plot


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="train a recurrent ALIF network on scikit-learn digits fed row by row",
        description="Train a recurrent adaptive-threshold (ALIF) spiking network by BPTT on the "
        "scikit-learn digits, each image fed row by row as a temporal sequence; print test "
        "accuracy, mean firing rate and time taken.",
    )
    parser.add_argument("--neuron", choices=("alif", "lif"), default="alif")
    parser.add_argument("--hidden", type=int, default=128, help="recurrent neurons (default 128)")
    parser.add_argument("--epochs", type=int, default=25, help="training epochs (default 25)")
    parser.add_argument("--steps-per-row", type=int, default=4, help="steps each row is shown")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", default="digits", metavar="SPEC",
                        help="'digits' (default), or event files: 'shd:PATH', 'ssc:PATH', "
                        "'nmnist:PATH' (a folder as distributed, or one SHD/SSC .h5 file)")
    parser.add_argument("--bin-ms", type=float, default=10.0, help="event bin width (default 10 ms)")
    parser.add_argument("--pool", type=int, default=1, help="sum groups of this many event units")
    parser.add_argument("--limit", type=int, default=None, help="read at most this many samples "
                        "per event file (per digit for N-MNIST); each bin is one network step")
    add_output_flags(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> dict:
    from neuro.tasks.digit_rows import run_demo

    if args.hidden < 1 or args.epochs < 1:
        raise ValueError("--hidden and --epochs must be positive")
    data = None
    if args.data != "digits":
        from neuro.tasks.events import load_event_task

        data = load_event_task(args.data, dt=args.bin_ms, pool=args.pool, limit=args.limit,
                               seed=args.seed)
    result = run_demo(neuron=args.neuron, hidden=args.hidden, epochs=args.epochs,
                      steps_per_row=args.steps_per_row, seed=args.seed, progress=True, data=data)
    result["data"] = args.data
    if args.plot:
        def draw(path):
            from neuro import plot

            fig, axes = plot.figure(3, 1, sharex=True)
            plot.raster(result["_spikes"], result["_dt"], axes[0])
            plot.population_rate(result["_spikes"], result["_dt"], axes[1], window_ms=4.0)
            plot.traces(result["_readout"], result["_dt"], axes[2],
                        neurons=range(min(10, result["_readout"].shape[-1])), label="readout")
            axes[0].set_title(f"test sample 0; test accuracy {result['test_accuracy']:.3f}")
            plot.save(fig, path)

        result["plot"] = defer_plot(args, draw)
    return {k: v for k, v in result.items() if not k.startswith("_")}
