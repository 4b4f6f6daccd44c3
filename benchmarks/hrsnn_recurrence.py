"""HRSNN at its default size: dense against event-driven sparse recurrence, same network.

    python benchmarks/hrsnn_recurrence.py [--neurons 500] [--steps 5000]

The HRSNN of ``neuro.tasks.pruning`` (500 neurons, 20 % connectivity, radius 20, input scale 3)
driven by a smooth 3-d input, simulated with ``neuro.run.simulate`` unbatched and at batch 16;
the recurrent projection is either ``projections.dense`` (what ``models.hrsnn`` builds) or
``projections.sparse`` of ``connectivity.from_dense`` of the same weights. Prints the wall time
of a compiled run of each, and the first step at which the spikes of the two differ (float
summation order differs, and the network is near the edge of chaos, so they part eventually).
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from neuro import prune as P
from neuro._pytree import replace
from neuro.projections import connectivity, sparse
from neuro.run import simulate
from neuro.tasks.pruning import build_dense


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--neurons", type=int, default=500)
    ap.add_argument("--steps", type=int, default=5000)
    args = ap.parse_args()
    net = build_dense(0, args.neurons)
    w = np.asarray(net.projections["rec"].weights)
    net_s = replace(net, projections={**net.projections,
                                      "rec": sparse("h", "h", connectivity.from_dense(w))})
    xs = jnp.asarray(P.smooth_drive(jax.random.PRNGKey(1), args.steps, 3))
    spikes = {}
    for name, n in (("dense", net), ("sparse (event)", net_s)):
        for batch in ((), (16,)):
            x = xs if not batch else jnp.broadcast_to(xs[:, None], (args.steps, *batch, 3))
            simulate(n, n.init_state(batch), x, monitors=("spikes.h",))  # compile
            t0 = time.perf_counter()
            res = simulate(n, n.init_state(batch), x, monitors=("spikes.h",))
            dt = time.perf_counter() - t0
            spikes.setdefault(batch, []).append(res.records["spikes.h"])
            print(f"{name:15s} batch {batch[0] if batch else 1:>3}: {dt:7.3f} s for {args.steps} steps, "
                  f"rate {float(res.records['spikes.h'].mean()):.3f} spikes/neuron/step")
    for batch, (a, b) in spikes.items():
        diff = np.flatnonzero((a != b).reshape(len(a), -1).any(axis=1))
        first = int(diff[0]) if len(diff) else None
        print(f"batch {batch[0] if batch else 1}: spikes identical up to step "
              f"{first if first is not None else args.steps} of {args.steps}")


if __name__ == "__main__":
    main()
