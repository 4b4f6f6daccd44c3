"""Training by backpropagation through time (BPTT) with optax.

A model is a params pytree plus a pure ``loss_fn(params, batch, key) -> (loss, metrics)``;
:class:`Trainer` compiles ``value_and_grad`` + the optax update once (at construction) and reuses
the compiled step for every batch. Training is deterministic given the seed: batches are drawn
from ``jax.random`` keys and the compiled step is a pure function.

Losses and regularisers (neurons.md §4):

* :func:`readout_logits`: logits from readout membranes ``[T, B, C]`` by their mean over the last
  ``window`` steps, their max over time, or the last step.
* :func:`spike_count_logits`: spike counts ``sum_t z_t`` of an output population.
* :func:`cross_entropy`: mean softmax cross-entropy (optax) and accuracy.
* :func:`rate_regularizer`: ``lambda sum_j (mean_t z_j - f0 dt)^2`` with ``f0`` in Hz and ``dt`` in ms
  (Bellec et al. 2018/2020 use f0 = 10 Hz).

Which leaves train is chosen by :func:`trainable_mask` (by field name), applied with
``optax.masked`` so frozen leaves (time constants, thresholds, ...) are left exactly unchanged.

Data parallelism: ``Trainer(..., mesh=mesh)`` with a :class:`jax.sharding.Mesh` that has a
``"batch"`` axis shards every batch leaf along its leading (sample) axis over that axis and
replicates the parameters and the optimiser state; XLA reduces the gradients (an all-reduce), so
the result equals the single-device step up to summation order. It works across processes too
(:func:`neuro.distributed.initialize`): every process passes the same global batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import NamedSharding, PartitionSpec
from tqdm.auto import tqdm

from neuro._pytree import combine, is_inexact_array, partition, value_and_grad
from neuro.validation import ConfigError

Array = jax.Array
LossFn = Callable[[Any, Any, Array], tuple[Array, dict]]


def readout_logits(readout: Array, mode: str = "mean", window: int | None = None) -> Array:
    """Logits ``[B, C]`` from readout traces ``[T, B, C]``: ``mean`` (of the last ``window``
    steps, all by default), ``max`` over time, or ``last``."""
    if mode == "mean":
        return readout[-(window or readout.shape[0]):].mean(axis=0)
    if mode == "max":
        return readout.max(axis=0)
    if mode == "last":
        return readout[-1]
    raise ConfigError(f"mode must be one of ('mean', 'max', 'last'); got {mode!r}")


def spike_count_logits(spikes: Array) -> Array:
    """Spike counts ``sum_t z_t`` of an output population ``[T, B, C]`` as logits."""
    return spikes.sum(axis=0)


def cross_entropy(logits: Array, labels: Array) -> tuple[Array, Array]:
    """Mean softmax cross-entropy and accuracy for integer ``labels``."""
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
    return loss, (jnp.argmax(logits, axis=-1) == labels).mean()


def rate_regularizer(spikes: Array, target_hz: float = 10.0, dt: float = 1.0,
                     strength: float = 0.1) -> Array:
    """``strength * sum_j (mean_{t,b} z_j - f0 dt)^2``, spikes ``[T, B, N]``, dt in ms."""
    rate = spikes.mean(axis=(0, 1))
    return strength * jnp.sum((rate - target_hz * dt * 1e-3) ** 2)


def trainable_mask(params: Any, names: tuple[str, ...] = ("w", "w_in", "w_rec", "b", "weights"),
                   ) -> Any:
    """A bool pytree over the float leaves of ``params``: True where the leaf's field name is in
    ``names``; non-float leaves (structure) are ``None``, as in :class:`Trainer`'s partition."""

    def is_trainable(path, leaf) -> bool | None:
        if not is_inexact_array(leaf):
            return None
        last = path[-1]
        name = getattr(last, "name", getattr(last, "key", None))
        return name in names

    return jax.tree_util.tree_map_with_path(is_trainable, params)


def masked(optimizer: optax.GradientTransformation, mask: Any) -> optax.GradientTransformation:
    """Apply ``optimizer`` to the leaves where ``mask`` is True; the others get zero updates."""
    return optax.chain(optax.masked(optimizer, mask),
                       optax.masked(optax.set_to_zero(), jax.tree_util.tree_map(lambda m: not m,
                                                                               mask)))


class Trainer:
    """Compiled BPTT training step: ``update(params, opt_state, batch, key)``.

    ``loss_fn(params, batch, key) -> (loss, metrics)`` must be pure; it is traced once per batch
    shape. Metrics may hold arrays (e.g. presynaptic activity, ``metrics["presynaptic"]``):
    an optimiser that is an ``optax.GradientTransformationExtraArgs`` receives them as
    ``update(..., aux=metrics)`` (:func:`neuro.optim.hlop`); ``fit`` averages the scalar ones.
    ``params`` is any pytree, a :class:`~neuro.network.Network` included: only its float
    leaves are differentiated and seen by the optimiser (integer connectivity tables, boolean masks
    and counters are structure and pass through unchanged); freeze float leaves with
    :func:`masked`. ``evaluate`` runs ``loss_fn`` without gradients (compiled separately).

    ``mesh`` (optional): data-parallel training over the mesh axis ``batch_axis`` (module
    docstring); the batch size must be a multiple of that axis' size.
    """

    def __init__(self, loss_fn: LossFn, optimizer: optax.GradientTransformation, *,
                 mesh: jax.sharding.Mesh | None = None, batch_axis: str = "batch"):
        self.loss_fn = loss_fn
        self.optimizer = optimizer
        self.mesh = mesh
        self.batch_axis = batch_axis
        self._value_and_grad = value_and_grad(loss_fn, has_aux=True)
        if mesh is None:
            self._update = jax.jit(self._update_impl)
            self._evaluate = jax.jit(loss_fn)
            return
        if batch_axis not in mesh.axis_names:
            raise ConfigError(f"batch_axis {batch_axis!r} is not an axis of the mesh "
                              f"{mesh.axis_names}")
        rep = NamedSharding(mesh, PartitionSpec())
        self._batch_sharding = NamedSharding(mesh, PartitionSpec(batch_axis))
        self._replicated = rep
        # metrics: placed by XLA (scalars come out of all-reduces, replicated); per-sample
        # arrays such as HLOP's presynaptic rows stay split, not gathered every step
        self._update = jax.jit(self._update_impl, out_shardings=(rep, rep, None))
        self._evaluate = jax.jit(loss_fn, out_shardings=rep)

    def _place(self, params: Any, batch: Any, key: Any) -> tuple[Any, Any, Any]:
        """Global arrays on the mesh: the batch split along its leading axis, the rest
        replicated (built from host values that every process holds in full)."""
        if self.mesh is None:
            return params, batch, key
        size = self.mesh.shape[self.batch_axis]

        def put(x, sharding):
            if isinstance(x, jax.Array) and (x.sharding == sharding or
                                             jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)):
                return jax.device_put(x, sharding)
            x = np.asarray(x)
            return jax.make_array_from_callback(x.shape, sharding, lambda idx: x[idx])

        def put_batch(x):
            if np.ndim(x) == 0 or np.shape(x)[0] % size:
                raise ConfigError(f"every batch array needs a leading axis that is a multiple of "
                                  f"the mesh axis {self.batch_axis!r} ({size}); got shape "
                                  f"{np.shape(x)}")
            return put(x, self._batch_sharding)

        rep = lambda x: put(x, self._replicated) if isinstance(x, jax.Array | np.ndarray) else x
        return (jax.tree_util.tree_map(rep, params), jax.tree_util.tree_map(put_batch, batch),
                None if key is None else rep(key))

    def _update_impl(self, params, opt_state, batch, key):
        (loss, metrics), grads = self._value_and_grad(params, batch, key)
        diff, rest = partition(params)
        # transformations that learn from the forward pass (HLOP's lateral circuits) get the
        # loss's metrics; optax.chain hands them on and drops them for the others
        extra = ({"aux": metrics} if isinstance(self.optimizer, optax.GradientTransformationExtraArgs)
                 else {})
        updates, opt_state = self.optimizer.update(grads, opt_state, diff, **extra)
        params = combine(optax.apply_updates(diff, updates), rest)
        return params, opt_state, {"loss": loss, **metrics}

    def init(self, params: Any) -> Any:
        opt_state = self.optimizer.init(partition(params)[0])
        return opt_state if self.mesh is None else self._place(opt_state, (), None)[0]

    def update(self, params, opt_state, batch, key):
        params, batch, key = self._place(params, batch, key)
        return self._update(params, opt_state, batch, key)

    def evaluate(self, params, batch, key) -> dict:
        params, batch, key = self._place(params, batch, key)
        loss, metrics = self._evaluate(params, batch, key)
        return {"loss": loss, **metrics}

    def fit(self, params: Any, x: np.ndarray, y: np.ndarray, *, epochs: int, batch_size: int,
            seed: int = 0, progress: bool = False, opt_state: Any = None) -> tuple[Any, Any, list]:
        """Train for ``epochs`` passes over ``(x, y)`` (sample-major arrays); return
        ``(params, opt_state, history)`` with per-epoch mean metrics."""
        if epochs < 1 or batch_size < 1:
            raise ConfigError(f"epochs and batch_size must be >= 1; got {epochs}, {batch_size}")
        opt_state = self.init(params) if opt_state is None else opt_state
        key = jax.random.PRNGKey(seed)
        history = []
        bar = tqdm(range(epochs), disable=not progress, desc="train", unit="epoch")
        for _ in bar:
            key, k_perm = jax.random.split(key)
            sums: dict[str, float] = {}
            count = 0
            for xb, yb in batches(x, y, batch_size, k_perm):
                key, k_step = jax.random.split(key)
                params, opt_state, metrics = self.update(params, opt_state, (xb, yb), k_step)
                for name, value in metrics.items():
                    if np.ndim(value) or isinstance(value, dict):  # arrays: not averaged
                        continue
                    sums[name] = sums.get(name, 0.0) + float(value)
                count += 1
            epoch = {name: value / count for name, value in sums.items()}
            history.append(epoch)
            bar.set_postfix({k: f"{v:.3f}" for k, v in epoch.items()})
        return params, opt_state, history


def batches(x: np.ndarray, y: np.ndarray, batch_size: int, key: Array) -> Iterator[tuple]:
    """Shuffled full batches of ``(x, y)`` (the remainder is dropped so shapes stay static)."""
    n = len(x)
    if n < batch_size:
        raise ConfigError(f"batch_size {batch_size} exceeds the number of samples {n}")
    order = np.asarray(jax.random.permutation(key, n))
    for i in range(n // batch_size):
        idx = order[i * batch_size:(i + 1) * batch_size]
        yield x[idx], y[idx]
