"""Time one BPTT training step of a recurrent LIF network in neuro and its peers, side by side.

Network (the same in every implementation, same initial weights and data): 700 inputs -> 256
recurrent LIF (tau = 20 ms, dt = 1 ms, threshold 1, reset by subtraction, arctan surrogate) ->
20 leaky readout units (tau = 20 ms); T = 100 steps, batch 64; loss = softmax cross-entropy of the
time-averaged readout; Adam (lr 1e-3). Inputs are Bernoulli spikes of density 5 % (SHD-like).
One *step* is forward + backward + Adam update. Every implementation runs in its own subprocess
(so peak memory, ``ru_maxrss``, is per implementation), in the same invocation:

* ``neuro``: a ``neuro.network.Network`` (LIF population, dense input projection, recurrent
  dense projection with ``backend="fused-event"``: :mod:`neuro.fast_rnn`, event-driven forward
  and backward through the sparse inputs and the sparse recurrence when llvmlite is installed,
  leaky readout) run by ``neuro.run.scan_steps`` and trained by ``neuro.train.Trainer``
* ``neuro-dense``: the same with ``backend="fused"`` (dense products, no llvmlite needed)
* ``neuro@REV`` (with ``--baseline REV``): the ``neuro`` worker of this script as it was at git
  revision ``REV`` (e.g. ``dbe7d37``, before the Network redesign), run on that revision's
  package (``git archive`` into a temporary directory, on ``PYTHONPATH``)
* ``jax``: a bare-JAX ``lax.scan`` (input projection hoisted out of the loop), ``jax.grad``, optax
* ``spyx``: Spyx (flax.nnx) ``RLIF`` + ``LI`` with ``spyx.nn.run``, input projection hoisted
* ``brainstate``: brainstate ``ParamState``/``HiddenState`` module, ``for_loop``, braintools Adam
* ``snntorch``: snnTorch ``RLeaky`` (torch CPU), input projection hoisted

Peers missing from this interpreter run under ``--peers-python`` (default ``$NEURO_PEERS_PYTHON`` or
``.venv-train-peers/bin/python`` in the repository root:
``pip install torch==2.13.0 snntorch spyx``); when absent they are skipped with a message.
``--long`` adds the memory-saving mode: neuro at T = 1000 with
``remat_chunk`` (and without, for comparison), reporting peak memory against the 4 GB goal.

Usage: ``python benchmarks/train.py [--steps 20] [--only neuro,spyx] [--baseline dbe7d37] [--long]
[--json]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

N_IN, N_REC, N_OUT = 700, 256, 20
TAU, TAU_OUT, DT, V_TH, LR = 20.0, 20.0, 1.0, 1.0, 1e-3
BETA = float(np.exp(-DT / TAU))
KAPPA = float(np.exp(-DT / TAU_OUT))
IMPLEMENTATIONS = ("neuro", "neuro-dense", "jax", "spyx", "brainstate", "snntorch")
PEER_MODULES = {"spyx": "spyx", "snntorch": "snntorch", "brainstate": "brainstate"}
DEFAULT_PEERS_PYTHON = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                    ".venv-train-peers", "bin", "python")


def make_data(path: str, steps: int, batch: int, density: float, seed: int) -> None:
    """Shared inputs and initial weights (numpy, float32), saved to ``path``."""
    rng = np.random.default_rng(seed)
    x = (rng.random((steps, batch, N_IN)) < density).astype(np.float32)
    y = rng.integers(0, N_OUT, size=batch).astype(np.int32)
    # Scales chosen so that about 13 % of the hidden units spike per step (SHD-like regime).
    w_in = rng.normal(0.0, 0.8 / np.sqrt(N_IN * density), (N_IN, N_REC)).astype(np.float32)
    w_rec = rng.normal(0.0, 1.0 / np.sqrt(N_REC), (N_REC, N_REC)).astype(np.float32)
    w_out = rng.normal(0.0, 1.0 / np.sqrt(N_REC), (N_REC, N_OUT)).astype(np.float32)
    w_out *= 1.0 - KAPPA  # readout of order 1
    np.savez(path, x=x, y=y, w_in=w_in, b_in=np.zeros(N_REC, np.float32), w_rec=w_rec,
             w_out=w_out, b_out=np.zeros(N_OUT, np.float32))


def maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def time_steps(step, n_steps: int, sync) -> tuple[float, list[float]]:
    """Run ``step()`` once (compile) then ``n_steps`` times; return compile s and step times
    (wall clock, plus the process CPU time of each step under ``cpu_times``)."""
    t0 = time.perf_counter()
    sync(step())
    compile_s = time.perf_counter() - t0
    times, cpu = [], []
    for _ in range(n_steps):
        t0, c0 = time.perf_counter(), cpu_seconds()
        sync(step())
        times.append(time.perf_counter() - t0)
        cpu.append(cpu_seconds() - c0)
    time_steps.cpu_times = cpu
    return compile_s, times


# ------------------------------------------------------------------------------------- workers


def worker_neuro_dense(d, n_steps, remat_chunk=None):
    return worker_neuro(d, n_steps, remat_chunk, sparse=False)


def worker_neuro(d, n_steps, remat_chunk=None, sparse=True):
    import jax
    import jax.numpy as jnp
    import optax

    from neuro._pytree import replace
    from neuro.fast_rnn import events_available
    from neuro.network import network, population
    from neuro.neurons import lif
    from neuro.projections import dense
    from neuro.readouts import leaky
    from neuro.run import scan_steps
    from neuro.train import Trainer, cross_entropy, masked, readout_logits, trainable_mask

    # u_t = beta v_{t-1} + I_t: neuro's LIF scales the input by (1 - beta) R, so R = 1/(1 - beta);
    # the readout's (1 - kappa) factor is likewise folded into its weights.
    neuron = lif(tau=TAU, v_th=V_TH, resistance=1.0 / (1.0 - BETA), dt=DT, reset="soft",
                 surrogate_fn="arctan")
    proj_in = replace(dense("x", "h", d["w_in"], bias=True), b=jnp.asarray(d["b_in"]))
    proj_rec = dense("h", "h", d["w_rec"], backend="fused-event" if sparse else "fused")
    readout = leaky("h", w=d["w_out"] / (1.0 - KAPPA), tau=TAU_OUT, dt=DT)
    readout = replace(readout, b=jnp.asarray(d["b_out"]) / (1.0 - KAPPA))
    net = network({"h": population(neuron, N_REC)}, {"in": proj_in, "rec": proj_rec},
                  readouts={"y": readout}, inputs={"x": N_IN})

    def loss_fn(n, batch, key):
        xs, labels = batch
        _, rec = scan_steps(n, n.init_state(xs.shape[1]), xs, monitors=("spikes.h", "readout.y"),
                            remat_chunk=remat_chunk)
        loss, acc = cross_entropy(readout_logits(rec["readout.y"]), labels)
        return loss, {"rate": rec["spikes.h"].mean()}

    # Weights and biases train (the package default mask); tau, thresholds etc. stay fixed.
    trainer = Trainer(loss_fn, masked(optax.adam(LR), trainable_mask(net)))
    opt_state = trainer.init(net)
    batch = (jnp.asarray(d["x"]), jnp.asarray(d["y"]))
    key = jax.random.PRNGKey(0)
    rss_setup = maxrss_mb()
    step = lambda: trainer.update(net, opt_state, batch, key)
    compile_s, times = time_steps(step, n_steps, jax.block_until_ready)
    first = step()[2]  # metrics of the loss at the initial parameters
    return {"loss": float(first["loss"]), "rate": float(first["rate"]), "compile_s": compile_s,
            "times": times, "rss_setup_mb": rss_setup, "events": sparse and events_available()}


def _arctan_spike_jax():
    import jax
    import jax.numpy as jnp

    @jax.custom_jvp
    def spike(x):
        return (x >= 0).astype(x.dtype)

    @spike.defjvp
    def _jvp(primals, tangents):
        (x,), (dx,) = primals, tangents
        return spike(x), dx / (1.0 + (jnp.pi * x) ** 2)  # arctan surrogate, alpha = 2

    return spike


def worker_jax(d, n_steps):
    import jax
    import jax.numpy as jnp
    import optax

    spike = _arctan_spike_jax()
    params = {k: jnp.asarray(d[k]) for k in ("w_in", "b_in", "w_rec", "w_out", "b_out")}
    xs, labels = jnp.asarray(d["x"]), jnp.asarray(d["y"])

    def forward(p, xs):
        cur = xs @ p["w_in"] + p["b_in"]  # hoisted input projection

        def body(carry, c_t):
            v, z, y = carry
            u = BETA * v + c_t + z @ p["w_rec"]
            z = spike(u - V_TH)
            v = u - V_TH * z
            y = KAPPA * y + z @ p["w_out"] + p["b_out"]
            return (v, z, y), (y, z)

        b = xs.shape[1]
        init = (jnp.zeros((b, N_REC)), jnp.zeros((b, N_REC)), jnp.zeros((b, N_OUT)))
        return jax.lax.scan(body, init, cur)[1]

    def loss_fn(p, xs, labels):
        ys, zs = forward(p, xs)
        loss = optax.softmax_cross_entropy_with_integer_labels(ys.mean(0), labels).mean()
        return loss, zs.mean()

    opt = optax.adam(LR)
    opt_state = opt.init(params)

    @jax.jit
    def update(p, s, xs, labels):
        (loss, rate), g = jax.value_and_grad(loss_fn, has_aux=True)(p, xs, labels)
        u, s = opt.update(g, s, p)
        return optax.apply_updates(p, u), s, loss, rate

    rss_setup = maxrss_mb()
    compile_s, times = time_steps(lambda: update(params, opt_state, xs, labels), n_steps,
                                  jax.block_until_ready)
    _, _, loss, rate = update(params, opt_state, xs, labels)
    return {"loss": float(loss), "rate": float(rate), "compile_s": compile_s, "times": times,
            "rss_setup_mb": rss_setup}


def worker_spyx(d, n_steps):
    import jax
    import jax.numpy as jnp
    import optax
    import spyx
    from flax import nnx

    rngs = nnx.Rngs(0)

    class Net(nnx.Module):
        def __init__(self):
            self.inp = nnx.Linear(N_IN, N_REC, rngs=rngs)
            self.core = spyx.nn.Sequential(
                spyx.nn.RLIF((N_REC,), beta=BETA, threshold=V_TH,
                             activation=spyx.axn.arctan(), rngs=rngs),
                nnx.Linear(N_REC, N_OUT, rngs=rngs),
                spyx.nn.LI((N_OUT,), beta=KAPPA, rngs=rngs),
            )

        def __call__(self, xs):
            outs, _ = spyx.nn.run(self.core, self.inp(xs))  # input projection hoisted
            return outs

    net = Net()
    net.inp.kernel.value = jnp.asarray(d["w_in"])
    net.inp.bias.value = jnp.asarray(d["b_in"])
    net.core.layers[0].recurrent_w.value = jnp.asarray(d["w_rec"])
    net.core.layers[1].kernel.value = jnp.asarray(d["w_out"])
    net.core.layers[1].bias.value = jnp.asarray(d["b_out"])
    graphdef, params, rest = nnx.split(net, nnx.Param, ...)
    xs, labels = jnp.asarray(d["x"]), jnp.asarray(d["y"])

    def loss_fn(p, xs, labels):
        model = nnx.merge(graphdef, p, rest)
        ys = model(xs)
        return optax.softmax_cross_entropy_with_integer_labels(ys.mean(0), labels).mean()

    opt = optax.adam(LR)
    opt_state = opt.init(params)

    @jax.jit
    def update(p, s, xs, labels):
        loss, g = jax.value_and_grad(loss_fn)(p, xs, labels)
        u, s = opt.update(g, s, p)
        return optax.apply_updates(p, u), s, loss

    rss_setup = maxrss_mb()
    compile_s, times = time_steps(lambda: update(params, opt_state, xs, labels), n_steps,
                                  jax.block_until_ready)
    loss = update(params, opt_state, xs, labels)[2]
    # Spyx's RLIF emits H(V_{t-1} - thr): measure the hidden rate on the same inputs.
    model = nnx.merge(graphdef, params, rest)
    rlif = model.core.layers[0]

    def rate_of(xs):
        def body(v, c):
            z, v = rlif(c, v)
            return v, z
        return jax.lax.scan(body, rlif.initial_state(xs.shape[1]), model.inp(xs))[1].mean()

    return {"loss": float(loss), "rate": float(jax.jit(rate_of)(xs)), "compile_s": compile_s,
            "times": times, "rss_setup_mb": rss_setup}


def worker_brainstate(d, n_steps):
    import brainstate
    import braintools
    import jax
    import jax.numpy as jnp
    import optax

    spike_fn = braintools.surrogate.Arctan()

    class Net(brainstate.nn.Module):
        def __init__(self):
            super().__init__()
            self.w_in = brainstate.ParamState(jnp.asarray(d["w_in"]))
            self.b_in = brainstate.ParamState(jnp.asarray(d["b_in"]))
            self.w_rec = brainstate.ParamState(jnp.asarray(d["w_rec"]))
            self.w_out = brainstate.ParamState(jnp.asarray(d["w_out"]))
            self.b_out = brainstate.ParamState(jnp.asarray(d["b_out"]))

        def init_state(self, batch_size):
            self.v = brainstate.HiddenState(jnp.zeros((batch_size, N_REC)))
            self.z = brainstate.HiddenState(jnp.zeros((batch_size, N_REC)))
            self.y = brainstate.HiddenState(jnp.zeros((batch_size, N_OUT)))

        def update(self, cur):
            u = BETA * self.v.value + cur + self.z.value @ self.w_rec.value
            z = spike_fn(u - V_TH)
            self.v.value = u - V_TH * z
            self.z.value = z
            self.y.value = KAPPA * self.y.value + z @ self.w_out.value + self.b_out.value
            return self.y.value, z

    net = Net()
    xs, labels = jnp.asarray(d["x"]), jnp.asarray(d["y"])
    weights = net.states(brainstate.ParamState)
    opt = braintools.optim.Adam(lr=LR)
    opt.register_trainable_weights(weights)

    def loss_fn():
        brainstate.nn.init_all_states(net, xs.shape[1])
        cur = xs @ net.w_in.value + net.b_in.value  # input projection hoisted
        ys, zs = brainstate.transform.for_loop(net.update, cur)
        loss = optax.softmax_cross_entropy_with_integer_labels(ys.mean(0), labels).mean()
        return loss, zs.mean()

    @brainstate.transform.jit
    def update():
        grads, loss, rate = brainstate.transform.grad(loss_fn, weights, has_aux=True,
                                                      return_value=True)()
        opt.update(grads)
        return loss, rate

    init = {k: v.value for k, v in weights.items()}
    rss_setup = maxrss_mb()
    compile_s, times = time_steps(update, n_steps, jax.block_until_ready)
    for k, v in weights.items():
        v.value = init[k]
    loss, rate = update()
    return {"loss": float(loss), "rate": float(rate), "compile_s": compile_s, "times": times,
            "rss_setup_mb": rss_setup}


def worker_snntorch(d, n_steps):
    import snntorch as snn
    import torch
    from snntorch import surrogate

    torch.set_num_threads(int(os.environ.get("NEURO_BENCH_THREADS", "0")) or os.cpu_count() or 1)
    torch.manual_seed(0)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc_in = torch.nn.Linear(N_IN, N_REC)
            self.rlif = snn.RLeaky(beta=BETA, threshold=V_TH, linear_features=N_REC,
                                   spike_grad=surrogate.atan(), reset_mechanism="subtract")
            self.fc_out = torch.nn.Linear(N_REC, N_OUT)

        def forward(self, xs):
            cur = self.fc_in(xs)  # input projection hoisted
            spk, mem = self.rlif.init_rleaky()
            y = torch.zeros(xs.shape[1], N_OUT)
            ys, zs = [], []
            for t in range(xs.shape[0]):
                spk, mem = self.rlif(cur[t], spk, mem)
                y = KAPPA * y + self.fc_out(spk)
                ys.append(y)
                zs.append(spk)
            return torch.stack(ys), torch.stack(zs)

    net = Net()
    with torch.no_grad():
        net.fc_in.weight.copy_(torch.from_numpy(d["w_in"].T.copy()))
        net.fc_in.bias.copy_(torch.from_numpy(d["b_in"]))
        net.rlif.recurrent.weight.copy_(torch.from_numpy(d["w_rec"].T.copy()))
        net.rlif.recurrent.bias.zero_()
        net.fc_out.weight.copy_(torch.from_numpy(d["w_out"].T.copy()))
        net.fc_out.bias.copy_(torch.from_numpy(d["b_out"]))
    xs, labels = torch.from_numpy(d["x"]), torch.from_numpy(d["y"]).long()
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    state = {}

    def step():
        opt.zero_grad()
        ys, zs = net(xs)
        loss = torch.nn.functional.cross_entropy(ys.mean(0), labels)
        loss.backward()
        opt.step()
        state.setdefault("first", (float(loss), float(zs.mean())))
        return loss

    rss_setup = maxrss_mb()
    compile_s, times = time_steps(step, n_steps, lambda r: None)
    loss, rate = state["first"]
    return {"loss": loss, "rate": rate, "compile_s": compile_s, "times": times,
            "rss_setup_mb": rss_setup}


WORKERS = {"neuro": worker_neuro, "neuro-dense": worker_neuro_dense, "jax": worker_jax, "spyx": worker_spyx,
           "brainstate": worker_brainstate, "snntorch": worker_snntorch}


# ------------------------------------------------------------------------------------- driver


def _can_import(python: str, module: str) -> bool:
    if not python or not os.path.exists(python):
        return False
    r = subprocess.run([python, "-c", f"import {module}"], capture_output=True)
    return r.returncode == 0


def _checkout(rev: str, dest: str) -> str:
    """The package at git revision ``rev`` unpacked into ``dest``, importable from ``dest`` (the
    ``neuro.models`` / ``neuro.tasks`` package directories of pyproject.toml become links)."""
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    archive = subprocess.run(["git", "-C", repo, "archive", rev], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", dest], input=archive.stdout, check=True)
    for sub in ("models", "tasks"):
        link = os.path.join(dest, "neuro", sub)
        if os.path.isdir(os.path.join(dest, sub)) and not os.path.exists(link):
            os.symlink(os.path.join("..", sub), link)
    return dest


def _run_worker(python: str, name: str, data: str, steps: int, remat: int | None,
                timeout: float, root: str | None = None) -> dict:
    """Run one worker in a subprocess; ``root``: a checkout whose script and package it uses."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out = f.name
    script = os.path.abspath(__file__) if root is None else os.path.join(root, "benchmarks",
                                                                          "train.py")
    cmd = [python, script, "--worker", name, "--data", data, "--steps", str(steps), "--out", out]
    if remat:
        cmd += ["--remat-chunk", str(remat)]
    env = None
    if root is not None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [root, *filter(None, [os.environ.get("PYTHONPATH")])])}
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    try:
        if r.returncode != 0:
            tail = (r.stderr or r.stdout).strip().splitlines()[-3:]
            return {"error": f"exit {r.returncode}: " + " | ".join(tail)}
        with open(out) as fh:
            return json.load(fh)
    finally:
        os.unlink(out)


def _summary(res: dict) -> dict:
    t = np.asarray(res["times"]) * 1e3
    return {"median_ms": float(np.median(t)), "min_ms": float(t.min()),
            "cpu_ms": float(np.median(res["cpu_times"]) * 1e3),
            "compile_s": res["compile_s"], "peak_mb": res["peak_mb"],
            "setup_mb": res["rss_setup_mb"], "loss": res["loss"], "rate": res["rate"]}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=20, help="timed steps after the compile step")
    ap.add_argument("--T", type=int, default=100)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--density", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", default=",".join(IMPLEMENTATIONS))
    ap.add_argument("--peers-python", default=os.environ.get("NEURO_PEERS_PYTHON",
                                                             DEFAULT_PEERS_PYTHON))
    ap.add_argument("--long", action="store_true", help="also T=1000 memory-saving mode")
    ap.add_argument("--long-T", type=int, default=1000)
    ap.add_argument("--remat", type=int, default=100, help="remat_chunk of the --long run")
    ap.add_argument("--timeout", type=float, default=1200.0)
    ap.add_argument("--threads", type=int, default=0,
                    help="limit XLA and torch to this many threads (0: library defaults)")
    ap.add_argument("--baseline", default=None, metavar="REV",
                    help="also time the neuro worker of git revision REV (e.g. dbe7d37)")
    ap.add_argument("--json", action="store_true")
    # worker mode (internal)
    ap.add_argument("--worker", choices=IMPLEMENTATIONS)
    ap.add_argument("--data")
    ap.add_argument("--out")
    ap.add_argument("--remat-chunk", type=int)
    args = ap.parse_args(argv)

    if args.worker:
        d = dict(np.load(args.data))
        kwargs = {"remat_chunk": args.remat_chunk} if args.remat_chunk else {}
        res = WORKERS[args.worker](d, args.steps, **kwargs)
        res["peak_mb"] = maxrss_mb()
        res["cpu_times"] = time_steps.cpu_times
        with open(args.out, "w") as fh:
            json.dump(res, fh)
        return res

    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = set(names) - set(IMPLEMENTATIONS)
    if unknown:
        ap.error(f"--only: unknown implementations {sorted(unknown)}")
    if args.threads:
        os.environ["NEURO_BENCH_THREADS"] = str(args.threads)
        if args.threads == 1:
            os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen"
                                       "=false intra_op_parallelism_threads=1").strip()
        else:
            ap.error("--threads supports 1 (single-threaded comparison) or 0 (defaults)")
    tmp = tempfile.mkdtemp(prefix="neuro-bench-")
    data = os.path.join(tmp, "data.npz")
    make_data(data, args.T, args.batch, args.density, args.seed)
    print(f"BPTT step, {N_IN}->{N_REC} rec LIF->{N_OUT}, T={args.T}, batch={args.batch}, "
          f"input density {args.density:.0%}, {os.cpu_count()} CPU cores; "
          f"{args.steps} timed steps each", file=sys.stderr)
    results: dict[str, dict] = {}
    for name in names:
        python = sys.executable
        module = PEER_MODULES.get(name)
        if module and not _can_import(python, module):
            python = args.peers_python
            if not _can_import(python, module):
                results[name] = {"skipped": f"{module} not importable here nor by "
                                            f"{args.peers_python} (pip install {module})"}
                print(f"  {name}: SKIPPED ({results[name]['skipped']})", file=sys.stderr)
                continue
        res = _run_worker(python, name, data, args.steps, None, args.timeout)
        results[name] = _summary(res) if "error" not in res else res
        if name == "neuro" and "events" in res:
            print(f"  neuro: event-driven kernels {'on' if res['events'] else 'off (no llvmlite)'}",
                  file=sys.stderr)
        print(f"  {name}: done", file=sys.stderr)
        if name == "neuro" and args.baseline:
            key = f"neuro@{args.baseline}"
            try:
                root = _checkout(args.baseline, tempfile.mkdtemp(prefix="neuro-baseline-"))
            except subprocess.CalledProcessError as err:
                results[key] = {"error": f"git archive {args.baseline} failed: {err}"}
            else:
                res = _run_worker(sys.executable, "neuro", data, args.steps, None, args.timeout,
                                  root=root)
                results[key] = _summary(res) if "error" not in res else res
            print(f"  {key}: done", file=sys.stderr)

    if args.long:
        long_data = os.path.join(tmp, "long.npz")
        make_data(long_data, args.long_T, args.batch, args.density, args.seed)
        for remat in (args.remat, None):
            key = f"neuro T={args.long_T}" + (f" remat_chunk={remat}" if remat else "")
            res = _run_worker(sys.executable, "neuro", long_data, max(3, args.steps // 4), remat,
                              args.timeout)
            results[key] = _summary(res) if "error" not in res else res
            print(f"  {key}: done", file=sys.stderr)

    base = results.get("neuro", {})
    print(f"\n{'implementation':<34}{'median ms':>10}{'min ms':>9}{'cpu ms':>8}{'compile s':>10}"
          f"{'peak MB':>9}{'loss0':>8}{'rate':>7}{'x neuro':>9}")
    for name, r in results.items():
        if "median_ms" not in r:
            print(f"{name:<34}{r.get('skipped') or r.get('error')}")
            continue
        ratio = r["median_ms"] / base["median_ms"] if "median_ms" in base else float("nan")
        print(f"{name:<34}{r['median_ms']:>10.1f}{r['min_ms']:>9.1f}{r['cpu_ms']:>8.0f}"
              f"{r['compile_s']:>10.2f}"
              f"{r['peak_mb']:>9.0f}{r['loss']:>8.3f}{r['rate']:>7.3f}{ratio:>9.2f}")
    print("x neuro = median step time / neuro's (> 1: neuro is faster); cpu ms = median process "
          "CPU time of a step (all threads); rate = hidden spikes per unit per step; peak MB = "
          "ru_maxrss of the implementation's process")
    if args.json:
        print(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
