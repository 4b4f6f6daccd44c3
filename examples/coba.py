"""The COBA network of Brette et al. (2007): event-driven simulation, statistics and a raster.

    python examples/coba.py            # N = 4000, 1 s biological, self-sustained variant
    python examples/coba.py --quick    # N = 500, 0.2 s, driven variant (also NEURO_QUICK=1)

Builds the network (in-degree 80, 80 % excitatory), runs it with the event-driven propagation,
prints mean E/I rates, CV of inter-spike intervals, synaptic events and timings, and saves a
raster with the population rate to coba.png (or --out FILE).
"""

import argparse
import os
import time

import jax
import numpy as np

from neuro.cli.simulate import plot_activity
from neuro.models import coba


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", default=bool(os.environ.get("NEURO_QUICK")))
    parser.add_argument("--variant", choices=coba.VARIANTS, default=None,
                        help="default: standard (self-sustained); brainpy (driven) with --quick, "
                        "since 500 neurons are too few to sustain activity without drive")
    parser.add_argument("--out", default="coba.png")
    args = parser.parse_args()
    n, seconds = (500, 0.2) if args.quick else (4000, 1.0)
    args.variant = args.variant or ("brainpy" if args.quick else "standard")
    steps = int(round(seconds * 1e4))

    net, state = coba.coba_network(n, variant=args.variant, seed=0)
    fn, compile_s = coba.compile_run(net, state, steps, record=n)
    start = time.perf_counter()
    final, (counts, events, raster) = fn(net, state)
    jax.block_until_ready(final)
    run_s = time.perf_counter() - start

    raster, counts = np.asarray(raster), np.asarray(counts)
    print(f"COBA ({args.variant}), N = {n}, {seconds:g} s biological, dt = 0.1 ms")
    print(f"mean rate {counts.sum() / n / seconds:.2f} Hz "
          f"(E {raster[:, :net.n_exc].mean() * 1e4:.2f} Hz, "
          f"I {raster[:, net.n_exc:].mean() * 1e4:.2f} Hz)")
    print(f"CV of ISIs {coba.cv_isi(raster):.2f}; synaptic events {int(np.sum(events)):,}")
    print(f"compile {compile_s:.2f} s; run {run_s / seconds:.3f} s per biological second")
    print("saved", plot_activity(raster, counts, n, net.dt, args.out,
                                 title=f"COBA N={n} ({args.variant})"))


if __name__ == "__main__":
    main()
