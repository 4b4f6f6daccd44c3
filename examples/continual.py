"""Continual learning without forgetting: HLOP against fine-tuning on Permuted digits.

A spiking MLP (DSR LIF neurons, T time steps) learns permuted versions of the scikit-learn
digits one after another. Fine-tuning forgets the earlier permutations; HLOP's lateral Hebbian
circuits learn each task's input subspace and project later weight updates off it.

    python examples/continual.py                # 5 tasks, 3 epochs, 100-100 hidden (~1-2 min)
    python examples/continual.py --quick        # tiny (used by the test suite)
    python examples/continual.py --out r.png    # also save the accuracy-matrix heatmaps

The same from the command line, at the reduced MNIST scale of the HLOP paper's benchmark:

    neuro continual --benchmark pmnist --method hlop --data mnist5k --json
"""

from __future__ import annotations

import argparse

import numpy as np

from neuro.tasks import continual as cl
from neuro.tasks import metrics
from neuro.tasks.data import load_dataset


def main(quick: bool = False, out: str | None = None) -> dict:
    tasks, epochs, hidden, steps = (3, 1, (32, 32), 6) if quick else (5, 3, (100, 100), 20)
    stream = cl.permuted_tasks(load_dataset("digits"), n_tasks=tasks)
    results = {}
    for method in ("finetune", "hlop"):
        rc = cl.RunConfig(method=method, hidden=hidden, epochs=epochs, timesteps=steps, batch=32)
        r = cl.run_continual(stream, rc, progress=not quick)
        results[method] = r
        print(f"{method:8s}  ACC {r['acc']:5.1f} %  BWT {r['bwt']:6.1f} %  FWT {r['fwt']:5.1f} %"
              f"  ({r['seconds']:.0f} s)")
        if out:
            stem, dot, ext = out.rpartition(".")
            path = f"{stem}_{method}.{ext}" if dot else f"{out}_{method}.png"
            metrics.plot_accuracy_matrix(np.asarray(r["accuracy_matrix"]) / 100, path,
                                         title=f"{method}: ACC {r['acc']:.1f}, BWT {r['bwt']:.1f}")
    h = results["hlop"]
    print(f"HLOP lateral neurons per layer: {h['subspace_sizes']}; "
          f"max |HH^T - I| of the old rows: {[round(e, 2) for e in h['orthonormality_error']]}")
    print(metrics.CONVENTION)
    return results


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes (seconds)")
    ap.add_argument("--out", default=None, help="save heatmaps as OUT_<method>.png")
    args = ap.parse_args()
    main(args.quick, args.out)
