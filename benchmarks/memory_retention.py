"""Memory retention: astrocyte-modulated SNN against the same network without astrocytes and ALIF.

Runs, in one invocation and with the same seeds, task layout and training budget:

* ``lif``       the recurrent LIF network (astrocyte gains frozen at 0),
* ``alif``      the e-prop LSNN (half the neurons adaptive, tau_a = 2 s),
* ``astro``     the same LIF network with trainable astrocyte groups (default groups of 2),
* ``astro-g8``  the same with groups of 8 (the reference design's block size),
* ``astro-alif`` astrocytes (groups of 2) on the ALIF network,
* ``lr-lif``, ``lr-alif`` Li-Rinzel astrocytes (groups of 2, trainable SIC gains) on the LIF and
  ALIF networks (models/astrosnn.py),

and prints the accuracy at each delay (mean +- std over seeds), the accuracy of the astrocyte
networks with their trained gains set to 0, and the astro/baseline ratios at the longest delay.

    python benchmarks/memory_retention.py --task delayed-recall --seeds 3 4 5 6 7 [--json FILE]
    python benchmarks/memory_retention.py --peers alif astro-alif lr-alif --seeds 3 4 5 6 7
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

from neuro.tasks.memory import DEFAULT_DELAYS, TASKS, TrainConfig, retention

PEERS = {"lif": ("lif", {}), "alif": ("alif", {}), "astro": ("astro", {}),
         "astro-g8": ("astro", {"group_size": 8}), "astro-alif": ("astro-alif", {}),
         "lr-lif": ("lr-lif", {}), "lr-alif": ("lr-alif", {})}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--task", choices=TASKS, default="delayed-recall")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--delay", type=float, nargs="+", default=list(DEFAULT_DELAYS))
    ap.add_argument("--iterations", type=int, default=TrainConfig.iterations)
    ap.add_argument("--peers", nargs="+", default=list(PEERS), choices=list(PEERS))
    ap.add_argument("--json", default=None, help="write all results to this file")
    args = ap.parse_args()

    results = {}
    for peer in args.peers:
        model, extra = PEERS[peer]
        cfg = dataclasses.replace(TrainConfig(iterations=args.iterations), **extra)
        t0 = time.perf_counter()
        r = retention(args.task, model, delays_s=args.delay, seeds=args.seeds, config=cfg,
                      progress=True)
        r.pop("_last")
        r["seconds"] = time.perf_counter() - t0
        r["group_size"] = cfg.group_size
        results[peer] = r
        print(f"{peer:9s} done in {r['seconds']:.0f} s", flush=True)

    keys = [f"{d:g}" for d in args.delay]
    print(f"\n{args.task}: accuracy (mean +- std over seeds {args.seeds}), "
          f"chance {results[args.peers[0]]['chance']:.2f}")
    print("model      " + "".join(f"{k + ' s':>14s}" for k in keys))
    for peer, r in results.items():
        row = "".join(f"{r['accuracy_by_delay'][k]['mean']:8.3f}+-{r['accuracy_by_delay'][k]['std']:.2f}"
                      for k in keys)
        print(f"{peer:10s} {row}")
        if "astrocytes_removed_accuracy_by_delay" in r:
            rem = r["astrocytes_removed_accuracy_by_delay"]
            row = "".join(f"{rem[k]['mean']:8.3f}+-{rem[k]['std']:.2f}" for k in keys)
            print(f"  gains->0 {row}")
    last = keys[-1]
    for a in (p for p in results if p.startswith(("astro", "lr"))):
        for b in ("lif", "alif"):
            if a.endswith("alif") and b == "lif":
                continue
            if b in results:
                ratio = (results[a]["accuracy_by_delay"][last]["mean"]
                         / results[b]["accuracy_by_delay"][last]["mean"])
                print(f"ratio {a}/{b} at {last} s: {ratio:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"task": args.task, "seeds": args.seeds, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
