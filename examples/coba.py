"""The COBA network of Brette et al. (2007): event-driven simulation, statistics and a raster.

    python examples/coba.py            # N = 4000, 1 s biological, self-sustained variant
    python examples/coba.py --quick    # N = 500, 0.2 s, driven variant (also NEURO_QUICK=1)

Builds the network (a Network: one conductance-LIF population, in-degree 80, 80 % excitatory,
event-driven recurrent projection), runs it with the package's loop (neuro.run.simulate) and an
activity monitor, prints mean E/I rates, CV of inter-spike intervals, synaptic events and
timings, and saves a raster with the population rate to coba.png (or --out FILE).
"""

import argparse
import os
import time

import jax
import numpy as np

from neuro import run
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
    monitor = coba.monitor(net, record=n)  # per step: spike count, synaptic events, raster
    compile_s = run.compile_simulation(net, state, monitors=monitor, n_steps=steps)
    start = time.perf_counter()
    result = run.simulate(net, state, monitors=monitor, n_steps=steps)
    jax.block_until_ready(result.state)
    run_s = time.perf_counter() - start

    raster, counts = result.records["raster"], result.records["spikes"]
    n_exc = coba.num_excitatory(n)
    print(f"COBA ({args.variant}), N = {n}, {seconds:g} s biological, dt = 0.1 ms")
    print(f"mean rate {counts.sum() / n / seconds:.2f} Hz "
          f"(E {raster[:, :n_exc].mean() * 1e4:.2f} Hz, I {raster[:, n_exc:].mean() * 1e4:.2f} Hz)")
    print(f"CV of ISIs {coba.cv_isi(raster):.2f}; synaptic events "
          f"{int(np.sum(result.records['events'], dtype=np.int64)):,}")
    print(f"compile {compile_s:.2f} s; run {run_s / seconds:.3f} s per biological second")
    print("saved", plot_activity(raster, counts, n, 0.1, args.out,
                                 title=f"COBA N={n} ({args.variant})"))


if __name__ == "__main__":
    main()
