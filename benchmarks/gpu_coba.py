"""COBA on a GPU: neuro's Pallas event kernel against neuro's pure-JAX event forward, same run.

The networks of ``benchmarks/coba.py`` (BrainPy variant: I = 20 mV, V0 ~ N(-55, 5) mV,
Bernoulli p = 80/N, 80 % excitatory, dt = 0.1 ms; sampled once from a seed, saved, loaded by each
row) at each ``--sizes`` N, plus a procedural network (``--procedural`` N, synapses regenerated
from a seed every step, out-degree ``--procedural-degree``, weights scaled by 80 / degree so the
mean input is that of in-degree 80). Rows, each in its own process:

* ``neuro-gpu``: the default dispatch: the Pallas (Triton) kernel of
  :mod:`neuro.projections._gpu` on "cuda" / "rocm";
* ``neuro-jax``: the same network with ``NEURO_EVENT_KERNEL=jax`` (the pure-JAX event forward
  of :mod:`neuro.projections._events`, the reference and fallback), on the same device;
* ``brainpy-gpu`` (stored networks; when brainpy imports): the same saved network in
  ``benchmarks/coba.py``'s BrainPy worker on the GPU (brainpy.dyn ``EventCSRLinear``, whose event
  kernels are brainevent's), the same-run peer; its rate is checked against ``neuro-gpu``'s.

Columns: rate Hz, s/bio-s (wall-clock per biological second, median of ``--repeats`` after a
compiling run), compile s, events/s (synaptic events per wall-clock second), device peak MB
(the accelerator's ``peak_bytes_in_use``), host peak MB, x gpu (time over the ``neuro-gpu``
row's), rate check (the peer's rate against ``neuro-gpu``'s, within 10 %). Published GPU
figures of other simulators follow the table: they were measured on other cards and networks,
so they are a scale reference, not a same-run peer (no ratio is printed).

Without a GPU the script says so and stops (``--allow-cpu`` runs the same rows on the CPU, to
check the script itself; the ``neuro-gpu`` row is then the CPU's default kernel). On the
workplace's GPU image (jax with CUDA, no neuro install needed)::

    python3 benchmarks/gpu_coba.py --sizes 4000 40000 400000 --procedural 1000000 --repeats 2
    python3 benchmarks/gpu_coba.py --sizes 4000 --procedural 0 --json gpu.json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KERNELS = {"neuro-gpu": "auto", "neuro-jax": "jax"}
TOLERANCE = 0.10  # relative rate difference accepted as agreement (chaotic network, float32)

# Published GPU timings of other simulators, for scale only (other cards, other networks).
PUBLISHED = [
    ("brainpy.state + brainevent (COBA_2005 example)", "NVIDIA RTX A6000", 4000, 0.266,
     "COBA, BrainPy variant, 50.6 Hz; 10 s bio in 2.66 s"),
    ("brainpy.state + brainevent (COBA_2005 example)", "NVIDIA RTX A6000", 40000, 0.317, "COBA"),
    ("brainpy.state + brainevent (COBA_2005 example)", "NVIDIA RTX A6000", 400000, 1.170, "COBA"),
    ("brainpy.state + brainevent, warp kernels", "NVIDIA RTX 3080 Ti", 4000, 0.599, "COBA"),
    ("brainpy.state + brainevent, warp kernels", "NVIDIA RTX 3080 Ti", 400000, 1.298, "COBA"),
    ("BrainPy, ICLR 2024 paper sec. 5.1 (speed_results_lif)", "GPU not recorded", 4000, 0.754,
     "COBA LIF, 5 s bio in 3.77 s"),
    ("BrainPy, ICLR 2024 paper sec. 5.1 (speed_results_lif)", "GPU not recorded", 40000, 0.774,
     "COBA LIF"),
    ("GeNN, Knight & Nowotny 2018, Front. Neurosci. 12:941", "NVIDIA Tesla V100", 77169, 2.0,
     "NOT COBA: Potjans-Diesmann microcircuit, ~0.3e9 synapses, 'approaching 0.5x real time'"),
    ("GeNN procedural, Knight & Nowotny 2021, Nat. Comput. Sci. 1:136", "one high-end GPU",
     4130000, None, "NOT COBA: multi-area model, 24.2e9 procedural synapses on one GPU"),
]
SOURCES = ("brainevent: chaobrain/brainevent examples/COBA_2005.py (figures in the file) and "
           "BrainPy ICLR 2024: brainpy/brainpy-iclr24-reproducibility "
           "5.1_EI_balanced_network/speed_results_lif, both as transcribed in "
           "shared/reference/coba.md sec. 4; GeNN: the papers' abstracts (no GeNN COBA timing "
           "was found in GeNN's own papers)")


def _import_models():
    """neuro.models: the installed package, or the repository's models/ (bare GPU images)."""
    try:
        import neuro.models  # noqa: F401
    except ImportError:
        sys.path.insert(0, str(ROOT))
        import models

        sys.modules["neuro.models"] = models
    sys.path.insert(0, str(ROOT / "benchmarks"))


def _device_peak_mb() -> float | None:
    import jax

    stats = jax.devices()[0].memory_stats() or {}
    peak = stats.get("peak_bytes_in_use")
    return None if peak is None else peak / 2**20


def worker_table(data_path: str, duration: float, repeats: int) -> dict:
    """The stored-table COBA network of ``benchmarks/coba.py``'s neuro row."""
    import numpy as np
    from coba import worker_neuro

    res = worker_neuro(dict(np.load(data_path)), duration, repeats, threads=0)
    res["device_peak_mb"] = _device_peak_mb()
    return res


def worker_procedural(n: int, degree: int, seed: int, duration: float, repeats: int) -> dict:
    """The procedural COBA network (``connectivity="procedural"``), weights scaled by 80/degree."""
    import jax
    import numpy as np

    from neuro import run
    from neuro.models import coba

    base = coba.DEFAULTS["coba"]
    scale = coba.IN_DEGREE / degree
    net, state = coba.coba_network(n, variant="brainpy", seed=seed, connectivity="procedural",
                                   in_degree=degree, w_exc=base["w_exc"] * scale,
                                   w_inh=base["w_inh"] * scale)
    steps = int(round(duration * 1e4))
    monitor = coba.monitor(net)
    times = []
    for r in range(repeats + 1):  # the first run compiles
        start = time.perf_counter()
        out = run.simulate(net, state, n_steps=steps, monitors=monitor)
        jax.block_until_ready(out.state)
        if r == 0:
            first = time.perf_counter() - start
        else:
            times.append(time.perf_counter() - start)
    return dict(times=times, compile=max(first - float(np.median(times)), 0.0),
                spikes=int(np.asarray(out.records["spikes"]).sum()),
                events=int(np.asarray(out.records["events"], dtype=np.int64).sum()),
                device_peak_mb=_device_peak_mb())


def worker_main(args) -> None:
    import jax
    from coba import peak_mb

    if args.worker == "table":
        res = worker_table(args.data, args.duration, args.repeats)
    elif args.worker == "brainpy":
        import numpy as np
        from coba import worker_brainpy

        res = worker_brainpy(dict(np.load(args.data)), args.duration, args.repeats,
                             platform="cpu" if jax.default_backend() == "cpu" else "gpu")
        res["device_peak_mb"] = _device_peak_mb()
    else:
        res = worker_procedural(args.n, args.procedural_degree, args.seed, args.duration,
                                args.repeats)
    res.update(peak_mb=peak_mb(), device=str(jax.devices()[0].device_kind),
               platform=jax.default_backend())
    print("RESULT " + json.dumps(res))


def run_row(kind: str, kernel: str, args, data: Path | None = None, n: int = 0) -> dict:
    env = dict(os.environ, NEURO_EVENT_KERNEL=kernel,
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", kind, "--duration",
           str(args.duration), "--repeats", str(args.repeats), "--seed", str(args.seed),
           "--procedural-degree", str(args.procedural_degree), "--n", str(n)]
    if data is not None:
        cmd += ["--data", str(data)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, env=env)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
    raise RuntimeError(" | ".join(tail))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[4000, 40000, 400000])
    parser.add_argument("--procedural", type=int, default=1_000_000,
                        help="neurons of the procedural network (0: none)")
    parser.add_argument("--procedural-degree", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=1.0, help="biological seconds")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per row")
    parser.add_argument("--allow-cpu", action="store_true",
                        help="run without a GPU (checks the script; no GPU figure)")
    parser.add_argument("--json", metavar="FILE", default=None, help="also save rows as JSON")
    parser.add_argument("--worker", choices=("table", "procedural", "brainpy"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    _import_models()
    if args.worker:
        worker_main(args)
        return 0

    import jax
    from coba import make_network

    platform = jax.default_backend()
    if platform not in ("gpu", "cuda", "rocm") and not args.allow_cpu:
        print(f"# no GPU backend (jax.default_backend() = {platform!r}): neuro's GPU kernel "
              f"lowers only on cuda / rocm; nothing measured (--allow-cpu checks the script)")
        return 2
    print(f"# COBA (BrainPy variant), dt = 0.1 ms, {args.duration:g} s biological, median of "
          f"{args.repeats}; device: {jax.devices()[0].device_kind} ({platform}); jax "
          f"{jax.__version__}", flush=True)
    brainpy = importlib.util.find_spec("brainpy") is not None
    if not brainpy:
        print("# skip brainpy-gpu: brainpy is not importable in this interpreter", flush=True)
    header = (f"{'simulator':11s} {'network':>24s} {'rate Hz':>8s} {'s/bio-s':>8s} "
              f"{'compile s':>9s} {'events/s':>10s} {'dev MB':>8s} {'host MB':>8s} {'x gpu':>6s}  rate check")
    print(header, flush=True)
    plan = [("table", n) for n in args.sizes]
    if args.procedural:
        plan.append(("procedural", args.procedural))
    rows = []
    with tempfile.TemporaryDirectory(prefix="gpu_coba_") as tmp:
        for kind, n in plan:
            data = None
            if kind == "table":
                data = Path(tmp) / f"net_{n}.npz"
                make_network(n, args.seed, data)
            label = f"{kind} {n:,}" + (f" K={args.procedural_degree}" if kind == "procedural"
                                       else "")
            ours = ours_rate = None
            names = list(KERNELS) + (["brainpy-gpu"] if kind == "table" and brainpy else [])
            for name in names:
                kernel = KERNELS.get(name, "auto")
                if platform == "cpu":  # --allow-cpu: the defaults are then the CPU's kernels
                    name = name.replace("-gpu", "-cpu" if name.startswith("brainpy") else
                                        "-auto")
                try:
                    res = run_row("brainpy" if name.startswith("brainpy") else kind, kernel,
                                  args, data, n)
                except (RuntimeError, subprocess.TimeoutExpired) as exc:
                    print(f"# {name} on {label}: failed: {exc}", flush=True)
                    continue
                t = sorted(res["times"])[len(res["times"]) // 2] / args.duration
                rate = res["spikes"] / n / args.duration
                if name.startswith("neuro") and kernel == "auto":
                    ours, ours_rate = t, rate
                check = "-" if not name.startswith("brainpy") or not ours_rate else (
                    "agrees" if abs(rate - ours_rate) <= TOLERANCE * ours_rate
                    else f"DIFFERS by {100 * (rate / ours_rate - 1):+.1f} %")
                row = dict(simulator=name, network=kind, n=n, rate_hz=rate, rate_check=check,
                           seconds_per_bio_second=t,
                           compile_seconds=res["compile"],
                           events_per_second=res["events"] / args.duration / t,
                           device_peak_mb=res["device_peak_mb"], peak_mb=res["peak_mb"],
                           device=res["device"], platform=res["platform"], times=res["times"],
                           ratio_to_gpu=t / ours if ours else float("nan"))
                rows.append(row)
                dev = "-" if row["device_peak_mb"] is None else f"{row['device_peak_mb']:.0f}"
                print(f"{name:11s} {label:>24s} {row['rate_hz']:8.2f} {t:8.3f} "
                      f"{row['compile_seconds']:9.2f} {row['events_per_second']:10.3g} "
                      f"{dev:>8s} {row['peak_mb']:8.0f} {row['ratio_to_gpu']:6.2f}  {check}",
                      flush=True)
    print("\n# published GPU figures (other cards and networks: scale reference, not a peer)")
    for source, gpu, n, t, note in PUBLISHED:
        value = "-" if t is None else f"{t:.3f}"
        print(f"#   {source}; {gpu}; N = {n:,}: {value} s/bio-s ({note})")
    print(f"# sources: {SOURCES}")
    if args.json:
        Path(args.json).write_text(json.dumps(dict(rows=rows, published=[
            dict(source=s, gpu=g, n=n, seconds_per_bio_second=t, note=note)
            for s, g, n, t, note in PUBLISHED]), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
