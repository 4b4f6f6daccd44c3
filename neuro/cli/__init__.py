"""The ``neuro`` command line: one subcommand per module of this package.

Each subcommand module defines ``register(subparsers)``, which adds its parser and sets
``handler=fn``; ``fn(args) -> dict`` computes the results, and this module prints them (as JSON with
``--json``, else as readable lines). Plots are written with ``--plot FILE``; a command registers
its figure with :func:`neuro.cli._common.defer_plot` so that the results are printed first.

The rules every command follows (paths checked before the work, results before plots, JSON
without NaN, one-line errors with exit code 2 and ``--debug`` for tracebacks, Ctrl-C with exit
code 130 and a resume hint, size estimates) are those of :mod:`neuro.cli._common`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from neuro.cli._common import (
    EXIT_ERROR,
    Interrupts,
    add_checkpoint_flags,  # noqa: F401  (re-exported for the command modules)
    check_finite_arguments,
    check_size,
    defer_plot,  # noqa: F401
    interrupt_message,
    output_file,  # noqa: F401
    plot_file,
    print_results,
    report,
    run_deferred_plots,
    set_estimate,  # noqa: F401
)

# Subcommand modules, in the order --help lists them.
COMMANDS = ("demo", "simulate", "continual", "memory", "prune", "pipeline")

EPILOG = ("Output paths (--plot, --save, --checkpoint) are checked before any work; --plot NAME "
          "without an extension writes NAME.png. Results are printed before the figure is drawn. "
          "--json writes NaN/inf as null. Errors print one line and exit with code 2 (--debug "
          "shows the traceback); Ctrl-C exits with code 130 and says how to resume.")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="neuro",
        description="Differentiable, XLA-compiled spiking neural network simulation and training.",
        epilog=EPILOG,
    )
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of an error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"neuro.cli.{name}").register(sub)
    for sp in sub.choices.values():  # --debug also after the command name
        sp.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the full traceback of an error")
    return parser


def add_output_flags(parser: argparse.ArgumentParser) -> None:
    """The flags every computing command shares: ``--json`` and ``--plot FILE``."""
    parser.add_argument("--json", action="store_true",
                        help="print the results as JSON (NaN and infinity as null)")
    parser.add_argument("--plot", metavar="FILE", default=None, type=plot_file,
                        help="save a figure to FILE (checked before the work; .png added when "
                        "FILE has no extension)")


def main(argv: Sequence[str] | None = None, *, program: bool | None = None) -> int:
    """Run one command; return the exit code. ``program`` (default: ``argv is None``, i.e. run
    as the ``neuro`` program) takes over Ctrl-C as described in :mod:`neuro.cli._common`; a
    call from Python with ``argv`` leaves signal handling alone and returns 130 on Ctrl-C."""
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = bool(getattr(args, "debug", False))
    program = argv is None if program is None else program
    with Interrupts(lambda: interrupt_message(args), enabled=program) as interrupts:
        try:
            check_finite_arguments(args)
            check_size(args)
            results = args.handler(args)
            print_results(results, getattr(args, "json", False), args.command)
            run_deferred_plots(args)
        except KeyboardInterrupt:
            if interrupts.active:
                interrupts.leave()
            print(interrupt_message(args), file=sys.stderr)
            return 130
        except Exception as exc:  # noqa: BLE001 - known errors become one line, bugs re-raise
            code = report(exc, args.command, debug)
            if code is None:
                raise
            return code
    return 0


__all__ = ["EXIT_ERROR", "add_output_flags", "build_parser", "main"]


if __name__ == "__main__":
    sys.exit(main())
