"""COBA network benchmark: neuro versus Brian2, BrainPy and a plain NumPy loop, side by side.

One network per size N (Bernoulli p = 80/N, self-connections allowed, 80 % excitatory; BrainPy /
ANNarchy variant: constant drive I = 20 mV, V0 ~ N(-55, 5) mV, g0 = 0; dt = 0.1 ms) is sampled
once from a seed, saved, and loaded by every simulator, each in its own process (so peak memory
is per simulator). For each: mean rate (checked against ours), run time per biological second
(compile excluded, median of --repeats runs), compile / first-run overhead, synaptic events per
second, peak resident memory and the ratio of its run time to ours.

Peers run in the interpreter given by --peers-python (default: $NEURO_PEERS_PYTHON, else
./.venv-peers/bin/python if present, else this interpreter);
--install-peers creates that environment (Brian2 2.9 needs numpy < 2.4; brainevent's CPU kernels,
used by BrainPy's event-driven operators, need numba). A peer that cannot be imported is skipped
with a message.

Columns: rate Hz (mean over all neurons), s/bio-s (wall-clock run time per biological second,
median), cpu s (CPU time of the simulator's process, all threads, per biological second: far
less disturbed by other load on a shared machine), compile s (compilation or first-run
overhead), events/s (synaptic events delivered per wall-clock second), peak MB (peak resident
memory of the simulator's process), x ours and cpu x (ratios of the two times to neuro's).
Brian2 cpp_standalone reports the binary's own timer for s/bio-s.

``--baseline REV`` adds the row ``neuro@REV``: the same saved network run by the package as it was
at git revision REV (a ``git archive`` checkout put first on PYTHONPATH of its worker process), so
a redesign is measured against the code it replaced in the same invocation. The pre-"one network"
API (commit dbe7d37: ``neuro.connect``, ``models.coba.compile_run``) is supported.

Auryn (Zenke & Gerstner 2014) runs its own Vogels-Abbott network (``sim_coba_scaled --n N --kin
80``: weights 0.4 / 5.1, V0 = -60 mV, forward Euler, 0.8 ms delay; built by
``shared/peers/build_auryn.sh DEST``, given by ``--auryn PATH`` or $NEURO_AURYN); it is compared with
the row ``neuro-auryn``, neuro running that network (``neuro simulate coba --variant auryn``),
sampled from neuro's seed. Auryn's s/bio-s and cpu s are its own timers of ``sys->run``.

neuro runs with ``--backend fused`` (default: the native kernel of :mod:`neuro.fast_coba`) or
``event`` (the pure-JAX step). ``--threads 1 2`` adds rows ``neuro@2t`` and ``neuro-auryn@2t``
(their speed relative to one thread). After the table, each simulator measured at several sizes
gets a line with its CPU nanoseconds per synaptic event at every size and their spread (largest /
smallest): a cost linear in the events keeps it near 1. ``--split`` also times neuro's
networks without their drive (no spikes): the neuron updates alone, per neuron and step, and the
rest of the step with spikes per synaptic event (where the growth with N comes from).

    python benchmarks/coba.py                       # N = 4000, 1 s, all peers (~3-6 min)
    python benchmarks/coba.py --sizes 4000 40000 400000 --peers brian2-cpp auryn --threads 1 2
    python benchmarks/coba.py --sizes 4000 40000 400000 --peers auryn --split
    python benchmarks/coba.py --scaling             # + N = 4k, 16k, 40k: ours, Brian2 C++, BrainPy
    python benchmarks/coba.py --sizes 4000 16000 40000 100000 --peers brian2-cpp brainpy
    python benchmarks/coba.py --sizes 4000 40000 --peers brian2-cpp auryn --baseline dbe7d37
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PEERS = ("numpy", "brian2-numpy", "brian2-cython", "brian2-cpp", "brainpy", "auryn")
PEER_MODULES = {"numpy": "numpy", "brian2-numpy": "brian2", "brian2-cython": "brian2",
                "brian2-cpp": "brian2", "brainpy": "brainpy", "auryn": None}
PEER_EXTRA = {"brainpy": "numba"}  # brainevent CPU kernels
PEER_REQUIREMENTS = ["brian2>=2.9,<2.10", "numpy>=2,<2.4", "numba", "brainpy==2.8.2",
                     "jax>=0.7,<0.13"]
AURYN_SEEDS = 4  # networks of neuro-auryn whose mean rate is checked against Auryn's
PARAMS = dict(tau_m=20.0, v_rest=-60.0, v_reset=-60.0, v_th=-50.0, e_exc=0.0, e_inh=-80.0,
              tau_exc=5.0, tau_inh=10.0, w_exc=0.6, w_inh=6.7, tau_ref=5.0, drive=20.0)


# ----------------------------------------------------------------------------- network


def make_network(n: int, seed: int, path: Path) -> None:
    """Sample the shared network with neuro's builder and save edges and V0."""
    import numpy as np

    from neuro.models import coba

    net, state = coba.coba_network(n, variant="brainpy", seed=seed)
    pre, post, ch, w = coba.connectivity(net).to_edges()
    np.savez(path, pre=pre.astype(np.int32), post=post.astype(np.int32), n=n, seed=seed,
             n_exc=coba.num_excitatory(n),
             v0=np.asarray(state.neurons[coba.POPULATION].v, dtype=np.float64))


def cpu_seconds() -> float:
    """CPU time of this process and its waited-for children (all threads): a timing that a
    busy, shared machine disturbs far less than wall-clock time."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def peak_mb() -> float:
    """Peak resident memory of this process (VmHWM: reset by exec, unlike ru_maxrss, which a
    worker inherits from the forking driver) or of its largest child (Brian2's binary)."""
    own = 0.0
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                own = float(line.split()[1])
    except OSError:
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return max(own, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024.0


# ----------------------------------------------------------------------------- workers


def worker_neuro(data, duration: float, repeats: int, threads: int = 1,
                 variant: str = "brainpy", backend: str = "fused", split: bool = False) -> dict:
    """neuro on the saved network (``variant="auryn"``: Auryn's network, sampled from the seed)
    with the projection backend ``backend`` (``"fused"``: :mod:`neuro.fast_coba`). ``split``:
    also time the same network without its drive (no spikes after the first steps), the cost
    of the neuron updates alone."""
    import jax
    import numpy as np

    from neuro import fast_coba, projections, run
    from neuro.cli.simulate import limit_cpu_threads
    from neuro.models import coba

    if threads:
        limit_cpu_threads(threads)
    fast_coba.set_threads(threads)  # the fused kernel's threads
    n, n_exc = int(data["n"]), int(data["n_exc"])
    if variant == "auryn":
        build = lambda **kw: coba.coba_network(n, variant="auryn", seed=int(data["seed"]),
                                               backend=backend, **kw)
    else:
        is_inh = np.arange(n) >= n_exc
        conn = projections.from_edges(
            data["pre"], data["post"], n, n, source_channels=is_inh.astype(int), n_channels=2,
            source_weights=np.where(is_inh, PARAMS["w_inh"], PARAMS["w_exc"]))
        build = lambda v0=data["v0"], **kw: coba.coba_network(n, variant="brainpy", conn=conn,
                                                              v0=v0, backend=backend, **kw)
    net, state = build()
    steps = int(round(duration * 1e4))
    monitor = coba.monitor(net)

    def timed(net, state):
        times, cpu = [], []
        for r in range(repeats + 1):  # the first run compiles
            start, c0 = time.perf_counter(), cpu_seconds()
            out = run.simulate(net, state, n_steps=steps, monitors=monitor)
            jax.block_until_ready(out.state)
            if r == 0:
                first = time.perf_counter() - start
                continue
            times.append(time.perf_counter() - start)
            cpu.append(cpu_seconds() - c0)
        return out, times, cpu, max(first - float(np.median(times)), 0.0)

    out, times, cpu, compile_s = timed(net, state)
    spikes = int(np.asarray(out.records["spikes"]).sum())
    events = int(np.asarray(out.records["events"], dtype=np.int64).sum())
    result = dict(times=times, cpu=cpu, compile=compile_s, spikes=spikes, events=events)
    if split:
        # no drive, every neuron at rest: no spike ever (the BrainPy variant's V0 alone
        # starts self-sustained activity)
        quiet, _, quiet_cpu, _ = timed(*build(drive=0.0, v0=np.full(n, PARAMS["v_rest"])))
        result.update(quiet_cpu=quiet_cpu, quiet_spikes=int(np.asarray(
            quiet.records["spikes"]).sum()), quiet_events=int(np.asarray(
                quiet.records["events"], dtype=np.int64).sum()))
    if variant == "auryn":  # Auryn has one network of its own: compare with several of ours
        rates = [spikes / n / duration]
        for seed in range(int(data["seed"]) + 1, int(data["seed"]) + AURYN_SEEDS):
            net, state = coba.coba_network(n, variant="auryn", seed=seed, backend=backend)
            out = run.simulate(net, state, n_steps=steps, monitors=monitor)
            rates.append(float(np.asarray(out.records["spikes"]).sum()) / n / duration)
        result["seed_rates"] = rates
    return result


def worker_baseline(data, duration: float, repeats: int, threads: int = 1) -> dict:
    """The package at an earlier revision (its checkout first on PYTHONPATH), same network.
    Supports the API before the one-network redesign (``neuro.connect``, ``compile_run``)."""
    import importlib.util

    import jax
    import numpy as np

    root = os.environ["NEURO_BASELINE_ROOT"]
    sys.path.insert(0, root)
    neuro = importlib.import_module("neuro")  # noqa: F841 (checked below)
    if not str(Path(neuro.__file__).resolve()).startswith(str(Path(root).resolve())):
        raise RuntimeError(f"baseline imported neuro from {neuro.__file__}, not {root}")
    spec = importlib.util.spec_from_file_location("neuro.models", Path(root) / "models" /
                                                  "__init__.py",
                                                  submodule_search_locations=[str(Path(root) /
                                                                                  "models")])
    models = importlib.util.module_from_spec(spec)
    sys.modules["neuro.models"] = models
    spec.loader.exec_module(models)
    from neuro import connect
    from neuro.cli.simulate import limit_cpu_threads
    from neuro.models import coba

    if threads:
        limit_cpu_threads(threads)
    n, n_exc = int(data["n"]), int(data["n_exc"])
    is_inh = np.arange(n) >= n_exc
    conn = connect.from_edges(data["pre"], data["post"], n, n,
                              source_weights=np.where(is_inh, PARAMS["w_inh"], PARAMS["w_exc"]),
                              source_channels=is_inh.astype(int), n_channels=2)
    net, state = coba.coba_network(n, variant="brainpy", conn=conn, v0=data["v0"])
    steps = int(round(duration * 1e4))
    fn, compile_s = coba.compile_run(net, state, steps)
    times, cpu, counts = [], [], None
    for _ in range(repeats):
        start, c0 = time.perf_counter(), cpu_seconds()
        out = fn(net, state)
        jax.block_until_ready(out)
        times.append(time.perf_counter() - start)
        cpu.append(cpu_seconds() - c0)
        counts = out[1]
    spikes = int(np.asarray(counts[0]).sum())
    events = int(np.asarray(counts[1], dtype=np.int64).sum())
    return dict(times=times, cpu=cpu, compile=compile_s, spikes=spikes, events=events)


def worker_auryn(data, duration: float, repeats: int, binary: str) -> dict:
    """Auryn's own COBA network at this size (in-degree 80), single process, no MPI."""
    n = int(data["n"])
    times, cpu, res = [], [], None
    with tempfile.TemporaryDirectory(prefix="coba_auryn_") as out:
        for _ in range(repeats):
            proc = subprocess.run([binary, "--n", str(n), "--kin", "80", "--simtime",
                                   str(duration), "--dir", out], capture_output=True, text=True)
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
            if proc.returncode or not lines:
                raise RuntimeError(f"auryn failed ({proc.returncode}): {proc.stderr[-300:]}")
            res = json.loads(lines[-1][7:])
            times.append(res["run_wall_s"])
            cpu.append(res["run_cpu_s"])
    events = int(round(res["spikes"] * res["synapses"] / n))  # mean out-degree per spike
    return dict(times=times, cpu=cpu, compile=res["setup_s"], spikes=int(res["spikes"]),
                events=events)


def worker_numpy(data, duration: float, repeats: int) -> dict:
    """Plain NumPy event-driven loop (CSR by source), float64, same equations."""
    import numpy as np

    n, n_exc = int(data["n"]), int(data["n_exc"])
    pre, post = data["pre"].astype(np.int64), data["post"].astype(np.int64)
    flat = np.where(pre >= n_exc, n + post, post)
    w = np.where(pre >= n_exc, PARAMS["w_inh"], PARAMS["w_exc"])
    order = np.argsort(pre, kind="stable")
    flat, w, pre = flat[order], w[order], pre[order]
    indptr = np.searchsorted(pre, np.arange(n + 1))
    degree = np.diff(indptr)
    p = PARAMS
    decay = np.concatenate([np.full(n, np.exp(-0.1 / p["tau_exc"])),
                            np.full(n, np.exp(-0.1 / p["tau_inh"]))])
    n_ref = int(round(p["tau_ref"] / 0.1))
    a = 0.1 / p["tau_m"]
    steps = int(round(duration * 1e4))

    def run():
        v = data["v0"].astype(np.float64).copy()
        g = np.zeros(2 * n)
        ref = np.zeros(n, dtype=np.int64)
        spikes = events = 0
        for _ in range(steps):
            np.maximum(ref - 1, 0, out=ref)
            active = ref == 0
            ge, gi = g[:n], g[n:]
            total = 1.0 + ge + gi
            v_inf = (p["v_rest"] + ge * p["e_exc"] + gi * p["e_inh"] + p["drive"]) / total
            v = np.where(active, v_inf + (v - v_inf) * np.exp(-a * total), v)
            z = np.flatnonzero(active & (v > p["v_th"]))
            g *= decay
            if z.size:
                idx = np.concatenate([np.arange(indptr[i], indptr[i + 1]) for i in z])
                np.add.at(g, flat[idx], w[idx])
                v[z] = p["v_reset"]
                ref[z] = n_ref
                spikes += z.size
                events += int(degree[z].sum())
        return spikes, events

    times, cpu = [], []
    for _ in range(repeats):
        start, c0 = time.perf_counter(), cpu_seconds()
        spikes, events = run()
        times.append(time.perf_counter() - start)
        cpu.append(cpu_seconds() - c0)
    return dict(times=times, cpu=cpu, compile=0.0, spikes=spikes, events=events)


def _brian2_network(data, b2, duration_s: float):
    n, n_exc = int(data["n"]), int(data["n_exc"])
    p = PARAMS
    ms, mV = b2.ms, b2.mV
    ns = dict(taum=p["tau_m"] * ms, El=p["v_rest"] * mV, Vr=p["v_reset"] * mV,
              Vt=p["v_th"] * mV, Ee=p["e_exc"] * mV, Ei=p["e_inh"] * mV,
              taue=p["tau_exc"] * ms, taui=p["tau_inh"] * ms, I=p["drive"] * mV,
              we=p["w_exc"], wi=p["w_inh"])
    eqs = """
    dv/dt = (El - v + ge * (Ee - v) + gi * (Ei - v) + I) / taum : volt (unless refractory)
    dge/dt = -ge / taue : 1
    dgi/dt = -gi / taui : 1
    """
    group = b2.NeuronGroup(n, eqs, threshold="v > Vt", reset="v = Vr",
                           refractory=p["tau_ref"] * ms, method="exponential_euler",
                           namespace=ns)
    group.v = data["v0"] * mV
    pre, post = data["pre"], data["post"]
    exc = pre < n_exc
    ce = b2.Synapses(group[:n_exc], group, on_pre="ge += we", namespace=ns)
    ce.connect(i=pre[exc], j=post[exc])
    ci = b2.Synapses(group[n_exc:], group, on_pre="gi += wi", namespace=ns)
    ci.connect(i=pre[~exc] - n_exc, j=post[~exc])
    monitor = b2.SpikeMonitor(group, record=False)
    degree = b2.np.bincount(pre, minlength=n)
    return b2.Network(group, ce, ci, monitor), monitor, degree


def worker_brian2(data, duration: float, repeats: int, target: str) -> dict:
    import brian2 as b2
    import numpy as np

    b2.prefs.logging.console_log_level = "ERROR"
    b2.defaultclock.dt = 0.1 * b2.ms
    if target == "cpp":
        build = Path(tempfile.mkdtemp(prefix="coba_b2cpp_"))
        b2.set_device("cpp_standalone", build_on_run=False, directory=str(build))
        net, monitor, degree = _brian2_network(data, b2, duration)
        net.run(duration * b2.second)
        start = time.perf_counter()
        b2.device.build(directory=str(build), compile=True, run=False)
        compile_s = time.perf_counter() - start
        times, cpu = [], []
        for _ in range(repeats):
            c0 = cpu_seconds()
            b2.device.run(directory=str(build), with_output=False, run_args=[])
            times.append(float(b2.device._last_run_time))  # the binary's own timer (no I/O)
            cpu.append(cpu_seconds() - c0)  # whole binary, including start-up and file I/O
        counts = np.asarray(monitor.count[:])
        shutil.rmtree(build, ignore_errors=True)
    else:
        b2.prefs.codegen.target = target
        net, monitor, degree = _brian2_network(data, b2, duration)
        net.store()
        times, cpu, first = [], [], None
        for r in range(repeats + 1):
            net.restore()
            start, c0 = time.perf_counter(), cpu_seconds()
            net.run(duration * b2.second)
            elapsed = time.perf_counter() - start
            if r == 0:
                first = elapsed
                counts = np.asarray(monitor.count[:])
            else:
                times.append(elapsed)
                cpu.append(cpu_seconds() - c0)
        compile_s = max(first - float(np.median(times)), 0.0)
    return dict(times=times, cpu=cpu, compile=compile_s, spikes=int(counts.sum()),
                events=int((counts * degree).sum()))


def worker_brainpy(data, duration: float, repeats: int, platform: str = "cpu") -> dict:
    """The brainpy.dyn event-driven COBA example (BrainPy examples/dynamics_simulation/COBA.py:
    LifRef neurons, EventCSRLinear -> Expon -> COBA, aligned post-synaptically), loaded with
    the shared connectivity and V0."""
    import brainpy as bp
    import brainpy.math as bm
    import numpy as np

    bm.set_platform(platform)
    bm.set_dt(0.1)
    bm.set_environment(mode=bm.nonbatching_mode)
    n, n_exc = int(data["n"]), int(data["n_exc"])
    pre, post = data["pre"], data["post"]
    exc = pre < n_exc
    p = PARAMS

    class EINet(bp.DynSysGroup):
        def __init__(self):
            super().__init__()
            self.N = bp.dyn.LifRef(n, V_rest=p["v_rest"], V_th=p["v_th"], V_reset=p["v_reset"],
                                   tau=p["tau_m"], tau_ref=p["tau_ref"],
                                   V_initializer=bp.init.Normal(-55.0, 5.0))
            conn_e = bp.conn.IJConn(i=pre[exc], j=post[exc])(pre_size=n_exc, post_size=n)
            conn_i = bp.conn.IJConn(i=pre[~exc] - n_exc, j=post[~exc])(pre_size=n - n_exc,
                                                                         post_size=n)
            self.E = bp.dyn.HalfProjAlignPostMg(
                comm=bp.dnn.EventCSRLinear(conn_e, p["w_exc"]),
                syn=bp.dyn.Expon.desc(size=n, tau=p["tau_exc"]),
                out=bp.dyn.COBA.desc(E=p["e_exc"]), post=self.N)
            self.I = bp.dyn.HalfProjAlignPostMg(
                comm=bp.dnn.EventCSRLinear(conn_i, p["w_inh"]),
                syn=bp.dyn.Expon.desc(size=n, tau=p["tau_inh"]),
                out=bp.dyn.COBA.desc(E=p["e_inh"]), post=self.N)

        def update(self, inp):
            spk = self.N.spike.value
            self.E(spk[:n_exc])
            self.I(spk[n_exc:])
            self.N(inp)
            return self.N.spike.value

    net = EINet()
    steps = int(round(duration * 1e4))
    degree = np.bincount(pre, minlength=n)

    def reset():
        net.reset()
        net.N.V.value = bm.asarray(data["v0"], dtype=bm.float_)

    def run():
        return bm.for_loop(lambda i: net.step_run(i, p["drive"]), np.arange(steps),
                           progress_bar=False)

    reset()
    start = time.perf_counter()
    spikes = np.asarray(run())
    first = time.perf_counter() - start
    times, cpu = [], []
    for _ in range(repeats):
        reset()
        start, c0 = time.perf_counter(), cpu_seconds()
        np.asarray(run())
        times.append(time.perf_counter() - start)
        cpu.append(cpu_seconds() - c0)
    counts = spikes.sum(axis=0)
    return dict(times=times, cpu=cpu, compile=max(first - float(np.median(times)), 0.0),
                spikes=int(counts.sum()), events=int((counts * degree).sum()))


def worker_main(args) -> None:
    import numpy as np

    data = dict(np.load(args.data))
    threads = args.threads[0]
    fns = {"neuro": lambda *a: worker_neuro(*a, threads=threads, backend=args.backend,
                                            split=args.split),
           "neuro-auryn": lambda *a: worker_neuro(*a, threads=threads, variant="auryn",
                                                  backend=args.backend, split=args.split),
           "baseline": lambda *a: worker_baseline(*a, threads=threads),
           "auryn": lambda *a: worker_auryn(*a, binary=args.auryn),
           "numpy": worker_numpy, "brainpy": worker_brainpy,
           "brian2-numpy": lambda *a: worker_brian2(*a, target="numpy"),
           "brian2-cython": lambda *a: worker_brian2(*a, target="cython"),
           "brian2-cpp": lambda *a: worker_brian2(*a, target="cpp")}
    result = fns[args.worker](data, args.duration, args.repeats)
    result["peak_mb"] = peak_mb()
    print("RESULT " + json.dumps(result))


# ----------------------------------------------------------------------------- driver


def find_peers_python(given: str | None) -> str:
    for cand in (given, os.environ.get("NEURO_PEERS_PYTHON"),
                 str(ROOT / ".venv-peers" / "bin" / "python")):
        if cand and Path(cand).exists():
            return cand
    return sys.executable


def install_peers(path: Path) -> str:
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    python = str(path / "bin" / "python")
    subprocess.run([python, "-m", "pip", "install", "-q", *PEER_REQUIREMENTS], check=True)
    return python


def importable(python: str, module: str) -> bool:
    return subprocess.run([python, "-c", f"import {module}"], capture_output=True).returncode == 0


def find_auryn(given: str | None) -> str | None:
    for cand in (given, os.environ.get("NEURO_AURYN")):
        if cand and Path(cand).is_file() and os.access(cand, os.X_OK):
            return str(Path(cand).resolve())
    return None


def baseline_checkout(rev: str, dest: Path) -> Path:
    """``git archive REV`` of this repository unpacked into ``dest`` (no worktree metadata)."""
    dest.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], capture_output=True,
                             check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def run_worker(python: str, name: str, data: Path, duration: float, repeats: int,
               timeout: float, threads: int = 1, baseline: Path | None = None,
               auryn: str | None = None, backend: str = "fused", split: bool = False) -> dict:
    env = dict(os.environ)
    if name == "baseline":
        env["NEURO_BASELINE_ROOT"] = str(baseline)
        env["PYTHONPATH"] = str(baseline) + os.pathsep + env.get("PYTHONPATH", "")
    else:
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [python, str(Path(__file__).resolve()), "--worker", name, "--data", str(data),
           "--duration", str(duration), "--repeats", str(repeats), "--threads", str(threads),
           "--backend", backend]
    if auryn:
        cmd += ["--auryn", auryn]
    if split:
        cmd.append("--split")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
    raise RuntimeError(f"{name} failed: " + " | ".join(tail))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[4000])
    parser.add_argument("--scaling", action="store_true",
                        help="also run N = 4k, 16k, 40k (ours, brian2-cpp, brainpy)")
    parser.add_argument("--peers", nargs="*", default=list(PEERS), choices=PEERS)
    parser.add_argument("--duration", type=float, default=1.0, help="biological seconds")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tolerance", type=float, default=0.10,
                        help="relative rate difference accepted as agreement (chaotic network)")
    parser.add_argument("--peers-python", default=None)
    parser.add_argument("--install-peers", metavar="DIR", default=None,
                        help="create a peers venv in DIR (pip) and use it")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per simulator")
    parser.add_argument("--json", metavar="FILE", default=None, help="also save rows as JSON")
    parser.add_argument("--plot", metavar="FILE", default=None,
                        help="plot run time vs synaptic events per size")
    parser.add_argument("--threads", type=int, nargs="+", default=[1],
                        help="CPU threads for neuro (XLA:CPU pools and Numba; default 1; 0 = the "
                        "defaults); several values add rows neuro@Nt, neuro-auryn@Nt")
    parser.add_argument("--backend", choices=("fused", "event"), default="fused",
                        help="neuro's projection backend (fused: neuro.fast_coba, the default)")
    parser.add_argument("--baseline", metavar="REV", default=None,
                        help="also run neuro as of git revision REV (e.g. dbe7d37) on the same "
                        "network, as the row neuro@REV")
    parser.add_argument("--auryn", metavar="PATH", default=None,
                        help="Auryn's sim_coba_scaled binary (default $NEURO_AURYN); built by "
                        "shared/peers/build_auryn.sh")
    parser.add_argument("--split", action="store_true",
                        help="also time neuro's networks without drive (no spikes): the "
                        "neuron updates alone, and so the cost per event of the rest")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker_main(args)
        return 0

    peers_python = (install_peers(Path(args.install_peers)) if args.install_peers
                    else find_peers_python(args.peers_python))
    plan = [(n, list(args.peers)) for n in args.sizes]
    if args.scaling:
        for n in (4000, 16000, 40000):
            scaled = [p for p in ("brian2-cpp", "brainpy", "auryn") if p in args.peers]
            if n in args.sizes:
                continue
            plan.append((n, scaled))
    print(f"# COBA (BrainPy variant: I = 20 mV, V0 ~ N(-55, 5) mV), dt = 0.1 ms, "
          f"{args.duration:g} s biological, median of {args.repeats}; neuro XLA threads: "
          f"{', '.join(str(t or 'default') for t in args.threads)}; backend {args.backend}; "
          f"peers python: "
          f"{peers_python}; {os.cpu_count()} CPUs", flush=True)
    available = {}
    auryn = find_auryn(args.auryn)
    for peer in PEERS:
        if peer == "auryn":
            if auryn:
                available[peer] = sys.executable
            elif peer in args.peers:
                print("# skip auryn: no sim_coba_scaled binary (--auryn PATH or $NEURO_AURYN; "
                      "build with shared/peers/build_auryn.sh DEST)", flush=True)
            continue
        py = sys.executable if peer == "numpy" else peers_python
        mods = [PEER_MODULES[peer]] + ([PEER_EXTRA[peer]] if peer in PEER_EXTRA else [])
        if not all(importable(py, m) for m in mods):
            if py != sys.executable and all(importable(sys.executable, m) for m in mods):
                py = sys.executable
            else:
                print(f"# skip {peer}: cannot import {' and '.join(mods)} in {py} "
                      f"(use --install-peers DIR or --peers-python)", flush=True)
                continue
        available[peer] = py

    rows = []
    tmp = Path(tempfile.mkdtemp(prefix="coba_bench_"))
    baseline = baseline_checkout(args.baseline, tmp / "baseline") if args.baseline else None
    header = (f"{'simulator':14s} {'N':>7s} {'rate Hz':>8s} {'s/bio-s':>8s} {'cpu s':>7s} "
              f"{'compile s':>9s} {'events/s':>10s} {'peak MB':>8s} {'x ours':>7s} "
              f"{'cpu x':>6s}  rate check")
    print(header, flush=True)
    for n, peers in plan:
        data = tmp / f"net_{n}.npz"
        make_network(n, args.seed, data)
        ours = mine = None
        first = args.threads[0]
        names = [("neuro", t) for t in args.threads] + \
            ([("baseline", first)] if baseline else []) + \
            [(p, first) for p in peers if p in available and p != "auryn"]
        if "auryn" in peers and "auryn" in available:
            names += [("neuro-auryn", t) for t in args.threads] + [("auryn", first)]
        single = {}
        for name, threads in names:
            python = available.get(name, sys.executable)
            try:
                res = run_worker(python, name, data, args.duration, args.repeats, args.timeout,
                                 threads, baseline=baseline, auryn=auryn, backend=args.backend,
                                 split=args.split and name.startswith("neuro"))
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                print(f"# {name} at N={n}: {exc}", flush=True)
                continue
            t = sorted(res["times"])[len(res["times"]) // 2] / args.duration
            c = sorted(res["cpu"])[len(res["cpu"]) // 2] / args.duration
            rate = res["spikes"] / n / args.duration
            label = f"neuro@{args.baseline}" if name == "baseline" else name
            if name.startswith("neuro") and threads != first:
                label = f"{name}@{threads}t"
            row = dict(simulator=label, n=n, threads=threads, rate_hz=rate,
                       seconds_per_bio_second=t, cpu_seconds_per_bio_second=c,
                       compile_seconds=res["compile"],
                       events_per_second=res["events"] / args.duration / t,
                       cpu_ns_per_event=1e9 * c * args.duration / max(res["events"], 1),
                       peak_mb=res["peak_mb"], times=res["times"], cpu=res["cpu"])
            if "quiet_cpu" in res:
                quiet = sorted(res["quiet_cpu"])[len(res["quiet_cpu"]) // 2]
                row.update(quiet_cpu_seconds_per_bio_second=quiet / args.duration,
                           quiet_spikes=res["quiet_spikes"], quiet_events=res["quiet_events"],
                           cpu_ns_per_neuron_step=1e9 * quiet / (n * args.duration * 1e4),
                           cpu_ns_per_event_beyond_quiet=1e9 * (c * args.duration - quiet)
                           / max(res["events"] - res["quiet_events"], 1))
            if label != name:  # another thread count: compared with the first one
                base = single.get(name)
                row.update(ratio_to_ours=float("nan"), cpu_ratio_to_ours=float("nan"),
                           rate_check=(f"{base['seconds_per_bio_second'] / t:.2f}x the speed "
                                       f"of {first} thread(s) (wall)") if base else "-")
                rows.append(row)
                print(f"{label:14s} {n:7d} {rate:8.2f} {t:8.3f} {c:7.3f} {res['compile']:9.2f} "
                      f"{row['events_per_second']:10.3g} {res['peak_mb']:8.0f} {'':>7s} "
                      f"{'':>6s}  {row['rate_check']}", flush=True)
                continue
            single[name] = row
            if name == "neuro":
                ours = row
            ratio = t / ours["seconds_per_bio_second"] if ours else float("nan")
            cpu_ratio = c / ours["cpu_seconds_per_bio_second"] if ours else float("nan")
            # Auryn runs its own network: its rate is checked against the mean rate of neuro on
            # AURYN_SEEDS networks of that kind (one sampled network is one draw of a spread)
            same = mine if name == "auryn" else ours
            ref_rate = same and (float(sum(same["seed_rates"]) / len(same["seed_rates"]))
                                 if "seed_rates" in same else same["rate_hz"])
            check = "-" if name in ("neuro", "neuro-auryn") or not same else (
                "agrees" if abs(rate - ref_rate) <= args.tolerance * ref_rate
                else f"DIFFERS by {100 * (rate / ref_rate - 1):+.1f} %")
            if name == "neuro-auryn":
                row["seed_rates"] = res["seed_rates"]
                check = (f"rate over {len(res['seed_rates'])} seeds: mean "
                         f"{sum(res['seed_rates']) / len(res['seed_rates']):.2f} Hz, "
                         f"{min(res['seed_rates']):.2f}-{max(res['seed_rates']):.2f}")
            if name == "auryn" and mine:
                check += (f"; neuro-auryn is {t / mine['seconds_per_bio_second']:.2f}x faster "
                          f"(cpu {c / mine['cpu_seconds_per_bio_second']:.2f}x)")
            if name == "neuro-auryn":
                mine = row
            row.update(ratio_to_ours=ratio, cpu_ratio_to_ours=cpu_ratio, rate_check=check)
            rows.append(row)
            print(f"{label:14s} {n:7d} {rate:8.2f} {t:8.3f} {c:7.3f} {res['compile']:9.2f} "
                  f"{row['events_per_second']:10.3g} {res['peak_mb']:8.0f} {ratio:7.2f} "
                  f"{cpu_ratio:6.2f}  {check}", flush=True)
    shutil.rmtree(tmp, ignore_errors=True)
    linearity(rows)
    split_costs(rows)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    if args.plot:
        plot_scaling(rows, args.plot)
    return 0


def linearity(rows) -> None:
    """Print, per simulator measured at several sizes, the CPU time per synaptic event at each
    size and the spread (largest / smallest): cost linear in the events keeps it near 1."""
    by_name = {}
    for r in rows:
        by_name.setdefault(r["simulator"], []).append(r)
    for name, rs in by_name.items():
        if len(rs) < 2:
            continue
        per = [(r["n"], r["cpu_ns_per_event"]) for r in sorted(rs, key=lambda r: r["n"])]
        spread = max(p for _, p in per) / min(p for _, p in per)
        print(f"# {name}: cpu ns per synaptic event " +
              ", ".join(f"N={n}: {p:.1f}" for n, p in per) +
              f"; largest/smallest {spread:.2f}", flush=True)


def split_costs(rows) -> None:
    """With ``--split``, per neuro row: the CPU time of a step without spikes (the neuron
    updates: ns per neuron and step, and its share of the step with spikes) and the rest per
    synaptic event (delivery, spike lists, monitor), which is what grows with N when the
    neuron updates alone stay flat."""
    for r in rows:
        if "cpu_ns_per_neuron_step" not in r:
            continue
        share = r["quiet_cpu_seconds_per_bio_second"] / r["cpu_seconds_per_bio_second"]
        print(f"# {r['simulator']} N={r['n']}: without spikes {r['cpu_ns_per_neuron_step']:.2f} "
              f"ns per neuron and step ({100 * share:.0f} % of the step with spikes; "
              f"{r['quiet_spikes']} spikes); the rest {r['cpu_ns_per_event_beyond_quiet']:.2f} "
              f"ns per synaptic event", flush=True)


def plot_scaling(rows, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, key, label in ((axes[0], "seconds_per_bio_second", "wall-clock"),
                           (axes[1], "cpu_seconds_per_bio_second", "CPU (all threads)")):
        for name in dict.fromkeys(r["simulator"] for r in rows):
            pts = sorted((r["n"], r[key]) for r in rows if r["simulator"] == name)
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=name)
        ax.set(xscale="log", yscale="log", xlabel="neurons N (in-degree 80)",
               ylabel=f"{label} s per biological second", title=f"COBA, dt = 0.1 ms: {label}")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    sys.exit(main())
