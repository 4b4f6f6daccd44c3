"""``neuro simulate coba|cuba``: the Brette et al. (2007) E/I network benchmarks.

Runs the network (in-degree 80 at any ``--neurons``), then prints the mean rate, the mean CV of
inter-spike intervals (over recorded neurons with >= 3 spikes), the number of synaptic events,
the compile time and the run time per simulated second (compile excluded). ``--plot FILE`` draws
a raster of the recorded neurons above the population rate. The network is
:func:`neuro.models.coba.ei_network`, run by :func:`neuro.run.simulate` (progress per second of
biological time) with the activity monitor :func:`neuro.models.coba.monitor`.
"""

from __future__ import annotations

import argparse
import time

from neuro.cli import add_output_flags, defer_plot

CHUNK_STEPS = 10000  # steps per compiled call (1 s at dt = 0.1 ms); progress is per chunk


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="run the COBA or CUBA E/I network benchmark (Brette et al. 2007)",
        description="Simulate the COBA (conductance) or CUBA (current) E/I network of Vogels & "
        "Abbott 2005 / Brette et al. 2007 with event-driven synapses; print mean rate, CV of "
        "ISIs, synaptic events, compile time and run time per biological second.",
    )
    parser.add_argument("model", choices=("coba", "cuba"))
    parser.add_argument("--neurons", type=int, default=4000, help="network size (default 4000)")
    parser.add_argument("--duration", type=float, default=1.0,
                        help="biological time in seconds (default 1)")
    parser.add_argument("--dt", type=float, default=0.1, help="time step in ms (default 0.1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variant", choices=("standard", "brainpy", "auryn"), default="standard",
                        help="standard: self-sustained (Brette 2007); brainpy: constant drive "
                        "I = 20 mV, V0 ~ N(-55, 5) mV (BrainPy/ANNarchy benchmark); auryn: "
                        "Auryn's sim_coba_benchmark network (COBA only: weights 0.4 / 5.1, "
                        "I = 20 mV, V0 = -60 mV, forward Euler, 0.8 ms delay)")
    parser.add_argument("--backend", choices=("fused", "event", "dense"), default=None,
                        help="fused: the native CPU kernel of neuro.fast_coba (the default on "
                        "one device with table connectivity; event otherwise); event: the "
                        "pure-JAX event-driven step; dense: the dense reference")
    parser.add_argument("--connectivity", choices=("table", "procedural"), default="table",
                        help="table: stored synapses (Bernoulli, p = in-degree / N); procedural: "
                        "regenerated from the seed every step (fixed out-degree, O(N) memory)")
    parser.add_argument("--in-degree", type=float, default=80.0,
                        help="mean synapses per neuron (default 80)")
    parser.add_argument("--weight-scale", type=float, default=1.0,
                        help="multiply both synaptic weights (e.g. 80 / in-degree keeps the mean "
                        "input of the benchmark; default 1)")
    parser.add_argument("--record", type=int, default=None,
                        help="neurons recorded for the raster and CV (default min(N, 1000))")
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads for XLA and for the fused kernel (default 1: XLA's "
                        "default pool measured ~2x slower on a 2-core machine; the fused kernel "
                        "splits the neurons between its threads; 0 = all CPUs)")
    parser.add_argument("--devices", type=int, default=1,
                        help="devices to partition the neurons over (neuro.distributed; on CPU "
                        "virtual devices that share the cores; default 1)")
    add_output_flags(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> dict:
    import jax
    import numpy as np

    from neuro import run as loop
    from neuro.models import coba

    if args.threads < 0:
        raise ValueError(f"--threads must be >= 0; got {args.threads}")
    if args.devices < 1:
        raise ValueError(f"--devices must be >= 1; got {args.devices}")
    if args.devices > 1:  # before JAX starts its CPU backend
        from neuro import distributed

        distributed.cpu_devices(args.devices)
    if args.threads:
        limit_cpu_threads(args.threads)
    from neuro import fast_coba

    fast_coba.set_threads(args.threads)
    if args.neurons < 2:
        raise ValueError(f"--neurons must be at least 2; got {args.neurons}")
    if not args.duration > 0:
        raise ValueError(f"--duration must be positive; got {args.duration}")
    if not args.dt > 0:
        raise ValueError(f"--dt must be positive; got {args.dt}")
    if args.variant == "auryn" and args.model != "coba":
        raise ValueError("--variant auryn is a COBA network; use 'neuro simulate coba'")
    n_steps = int(round(args.duration * 1000.0 / args.dt))
    if n_steps < 1:
        raise ValueError("--duration must cover at least one step of --dt")
    record = min(args.neurons, 1000) if args.record is None else args.record
    if not 0 <= record <= args.neurons:
        raise ValueError(f"--record must lie in [0, {args.neurons}]; got {record}")

    if not (args.weight_scale > 0 and np.isfinite(args.weight_scale)):
        raise ValueError(f"--weight-scale must be positive; got {args.weight_scale}")
    if not 0 < args.in_degree <= args.neurons:
        raise ValueError(f"--in-degree must lie in (0, {args.neurons}]; got {args.in_degree}")
    base = dict(coba.DEFAULTS[args.model])
    if args.variant == "auryn":
        base.update(w_exc=coba.AURYN["w_exc"], w_inh=coba.AURYN["w_inh"])
    weights = {} if args.weight_scale == 1.0 else dict(
        w_exc=base["w_exc"] * args.weight_scale, w_inh=base["w_inh"] * args.weight_scale)
    if args.backend is None:
        args.backend = ("event" if args.connectivity == "procedural" or args.devices > 1
                        else "fused")
    net, state = coba.ei_network(args.model, args.neurons, variant=args.variant, seed=args.seed,
                                 dt=args.dt, backend=args.backend, in_degree=args.in_degree,
                                 connectivity=args.connectivity, **weights)
    monitor = coba.monitor(net, record)
    chunk = min(n_steps, CHUNK_STEPS)
    if args.devices > 1:  # the same calls on the partitioned network and state
        loop = distributed
        net = distributed.partition(net, distributed.mesh(args.devices))
        state = distributed.shard_state(net, state)
    compile_s = loop.compile_simulation(net, state, monitors=monitor, chunk=chunk,
                                        n_steps=n_steps)
    start = time.perf_counter()
    result = loop.simulate(net, state, monitors=monitor, chunk=chunk, n_steps=n_steps,
                           progress=n_steps > chunk)
    jax.block_until_ready(result.state)
    run_s = time.perf_counter() - start
    counts = np.asarray(result.records["spikes"])
    raster = (np.asarray(result.records["raster"]) if record
              else np.zeros((n_steps, 0), bool))
    seconds = n_steps * args.dt / 1000.0
    out = {
        "model": args.model,
        "variant": args.variant,
        "neurons": args.neurons,
        "duration_s": seconds,
        "dt_ms": args.dt,
        "mean_rate_hz": float(counts.sum() / args.neurons / seconds),
        "cv_isi": coba.cv_isi(raster),
        "synaptic_events": int(np.asarray(result.records["events"], dtype=np.int64).sum()),
        "compile_seconds": compile_s,
        "run_seconds_per_biological_second": run_s / seconds,
        "backend": args.backend,
        "devices": args.devices,
        "connectivity": args.connectivity,
        "in_degree": args.in_degree,
        "peak_rss_mb": peak_rss_mb(),
        "device": jax.devices()[0].platform,
    }
    if record == args.neurons:
        n_exc = coba.num_excitatory(args.neurons)
        out["rate_exc_hz"] = float(raster[:, :n_exc].mean() * 1000.0 / args.dt)
        out["rate_inh_hz"] = float(raster[:, n_exc:].mean() * 1000.0 / args.dt)
    if args.plot:
        title = (f"{args.model.upper()} N={args.neurons}: {out['mean_rate_hz']:.1f} Hz, "
                 f"CV(ISI) {out['cv_isi']:.2f}")
        out["plot"] = defer_plot(args, lambda path: plot_activity(
            raster, counts, args.neurons, args.dt, path, title=title))
    return out


def peak_rss_mb() -> float:
    """Peak resident memory of this process (VmHWM; NaN where /proc is missing)."""
    from pathlib import Path

    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def limit_cpu_threads(n: int) -> bool:
    """Size XLA:CPU's thread pools for ``n`` CPUs. Works only before JAX starts its CPU backend:
    the process is pinned to ``n`` CPUs while the backend starts (the pools are sized from the
    affinity), then the affinity is restored so the OS may still move the threads. For this
    network the step's tensors are too small to gain from intra-op threads and the hand-offs
    cost more than they save (N = 4000: 0.28 s vs 0.63 s per biological second, same machine).
    Call it before anything else uses JAX (JAX has no public test of whether its backends have
    started; once they have, the call changes nothing). Returns whether the affinity was set."""
    import os

    import jax

    if not hasattr(os, "sched_setaffinity"):
        return False
    cpus = sorted(os.sched_getaffinity(0))
    if n >= len(cpus):
        return False
    os.sched_setaffinity(0, set(cpus[:n]))
    try:
        jax.devices()
    finally:
        os.sched_setaffinity(0, set(cpus))
    return True


def plot_activity(raster, counts, n: int, dt: float, path: str, title: str = "") -> str:
    """Raster of the recorded neurons above the population rate (all neurons, 1 ms bins)."""
    import numpy as np

    from neuro import plot

    fig, axes = plot.figure(2, 1, sharex=True, figsize=(8, 5))
    plot.raster(raster, dt, axes[0], max_neurons=500)
    width = max(1, int(round(1.0 / dt)))
    usable = len(counts) // width * width
    binned = counts[:usable].reshape(-1, width).sum(axis=1) / n / (width * dt * 1e-3)
    axes[1].plot((np.arange(binned.size) + 0.5) * width * dt, binned, lw=0.8)
    axes[1].set(xlabel="time (ms)", ylabel="population rate (Hz)")
    axes[0].set_title(title)
    return plot.save(fig, path)
