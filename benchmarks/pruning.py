"""LNP against the pruning baselines over seeds and tasks (the table of the LNP closing note).

    python benchmarks/pruning.py [--neurons 500] [--seeds 3] [--tasks lorenz rossler]
                                 [--methods lnp lnp-network activity random] [--json rows.json]

About 15 minutes on 2 cores at the defaults; prints mean +- std per method and task.
"""

from __future__ import annotations

import argparse

from neuro.io import save_json
from neuro.prune import METHODS
from neuro.tasks.pruning import TASKS, format_table, run_experiment, summarise


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--neurons", type=int, default=500)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--scale", type=float, default=1.0, help="series split-size multiplier")
    ap.add_argument("--trials", type=int, default=12)
    ap.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    ap.add_argument("--methods", nargs="+", default=["lnp", "activity", "random", "magnitude"],
                    choices=[m for m in METHODS if m != "none"],
                    help="lnp-network: LNP with the whole-state linearisation")
    ap.add_argument("--json", default=None, help="write the rows to this file")
    args = ap.parse_args()
    rows = run_experiment(seeds=tuple(range(args.seeds)), n=args.neurons, scale=args.scale,
                          trials=args.trials, tasks=tuple(args.tasks), methods=tuple(args.methods))
    print(format_table(summarise(rows)))
    if args.json:
        save_json(args.json, rows)


if __name__ == "__main__":
    main()
