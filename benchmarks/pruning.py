"""LNP against the pruning baselines over seeds and tasks (the table of the LNP closing note).

    python benchmarks/pruning.py [--neurons 500] [--seeds 3] [--tasks lorenz rossler]
                                 [--methods lnp lnp-network activity random] [--json rows.json]

About 15 minutes on 2 cores at the defaults; prints mean +- std per method and task.

Measured (``--neurons 200 --seeds 5 --trials 6 --tasks lorenz rossler --methods lnp-unscaled lnp
lnp-capped activity random``, one run, 9 min on a loaded shared 2-core machine; test NRMSE,
100 neurons and ~990 synapses kept = 12.4 % of the dense synapses, density 0.10 = 50 % of the
dense density among the kept neurons):

    method        lorenz            rossler
    dense         0.0612 +- 0.0030  0.1100 +- 0.0098
    lnp           0.0712 +- 0.0095  0.1201 +- 0.0134
    lnp-capped    0.0649 +- 0.0094  0.1122 +- 0.0093
    lnp-unscaled  0.0578 +- 0.0045  0.1071 +- 0.0030
    activity      0.0693 +- 0.0046  0.1188 +- 0.0093
    random        0.0858 +- 0.0109  0.1274 +- 0.0115
"""

from __future__ import annotations

import argparse

from neuro.io import save_json
from neuro.tasks.pruning import METHODS, TASKS, format_table, run_experiment, summarise


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--neurons", type=int, default=500)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--scale", type=float, default=1.0, help="series split-size multiplier")
    ap.add_argument("--trials", type=int, default=12)
    ap.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    ap.add_argument("--methods", nargs="+",
                    default=["lnp-unscaled", "lnp", "activity", "random", "magnitude"],
                    choices=[m for m in METHODS if m != "none"],
                    help="lnp-*: LNP ablations (neuro.tasks.pruning.LNP_VARIANTS); the baselines "
                         "match the first LNP method's neuron and synapse counts")
    ap.add_argument("--json", default=None, help="write the rows to this file")
    args = ap.parse_args()
    rows = run_experiment(seeds=tuple(range(args.seeds)), n=args.neurons, scale=args.scale,
                          trials=args.trials, tasks=tuple(args.tasks), methods=tuple(args.methods))
    print(format_table(summarise(rows)))
    if args.json:
        save_json(args.json, rows)


if __name__ == "__main__":
    main()
