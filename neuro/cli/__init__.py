"""The ``neuro`` command line: one subcommand per module of this package.

Each subcommand module defines ``register(subparsers)``, which adds its parser and sets
``handler=fn``; ``fn(args) -> dict`` computes the results, and this module prints them (as JSON with
``--json``, else as readable lines). Plots are written with ``--plot FILE``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence
from typing import Any

# Subcommand modules, in the order --help lists them.
COMMANDS = ("demo", "simulate", "continual", "memory", "prune")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="neuro",
        description="Differentiable, XLA-compiled spiking neural network simulation and training.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"neuro.cli.{name}").register(sub)
    return parser


def add_output_flags(parser: argparse.ArgumentParser) -> None:
    """The flags every computing command shares: ``--json`` and ``--plot FILE``."""
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--plot", metavar="FILE", default=None, help="save a figure to FILE")


def print_results(results: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(results, indent=2, default=_to_builtin))
        return
    for key, value in results.items():
        if isinstance(value, float):
            value = f"{value:.4g}"
        print(f"{key}: {value}")


def _to_builtin(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"cannot print {type(obj).__name__} as JSON")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        results = args.handler(args)
    except (ValueError, FileNotFoundError, ImportError) as exc:
        print(f"neuro {args.command}: error: {exc}", file=sys.stderr)
        return 2
    print_results(results, getattr(args, "json", False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
