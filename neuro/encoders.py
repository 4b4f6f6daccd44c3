"""Spike encoders: rate (Bernoulli), latency, delta and the trainable-threshold STAL encoder.

All inputs are scaled to [0, 1] (neurons.md §8); all encoders are pure functions returning float
spike arrays in {0, 1}, time-major where they create a time axis.

* :func:`rate`: ``s_{t,i} ~ Bernoulli(p_i)`` independently per step, ``p_i = x_i`` or, given
  ``f_max`` (Hz) and ``dt`` (ms), ``p_i = f_max dt 1e-3 x_i``, so ``E[sum_t s_t] = T p``.
* :func:`latency` (project design): one spike per channel at step ``round((1 - x)(T - 1))``
  (strong inputs fire first), none where ``x <= x_min`` (default 0.01).
* :func:`delta`: for a signal ``x_t``, emit an *on* spike when ``x_t - r > threshold`` and an
  *off* spike when ``r - x_t > threshold``, where ``r`` is the last emitted value (initially
  ``x_0``); after a spike ``r = x_t``. Returns on and off channels concatenated on the last axis.
* :func:`rate_slots` / :func:`latency_slots`: the equal-budget variants of §8.1 with ``psi`` slots
  per (step, channel), to compare with STAL at the same spike budget.
* STAL (Hens et al., arXiv 2407.08362; from the authors' code, freek1/stal-v2): a window
  ``x in [0,1]^(omega c)`` goes through a feature path ``f`` ("vanilla": repeat every value ``psi``
  times; "hidden": Linear -> Dropout -> BatchNorm -> ReLU, then repeat to ``omega c psi``) and is
  compared with trainable thresholds ``theta in R^(omega c psi)`` (init U(0.4, 0.6), clamped to
  [0.001, 1] after every optimiser step). Training uses ``s^ = sigmoid(25 (f(x) - theta))``, use
  time the Heaviside ``s = H(f(x) - theta)`` (project design, see neurons.md §8.2), reshaped to
  ``[omega, c psi]``. The loss (stal-v2 ``DefaultLoss``) is
  ``L = -MI/cnt + mean_b |sum_k s^_k - psi sum_t x_t|`` with
  ``MI(X, Z) = p_xz log2(p_xz / (p_x p_z))``, ``p_xz = mean(X Z)``, ``p_x = mean X``,
  ``p_z = mean Z``; ``Z`` sums each step's spikes with weights ``psi, psi-1, ..., 1`` (the first
  spike counts most) and the hidden path adds ``MI(X, Z1)`` for its features pooled back to the
  input size (``cnt = 2``). Project design for ``c > 1`` (the original code only broadcasts for
  ``c = 1``): the weighting runs over the ``psi`` slots of each channel, so ``Z`` has the shape of
  ``X``, and the count term uses the total ``sum_{t,c} x``. Probabilities below 1e-12 are clamped
  as in the original.
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from neuro._pytree import pytree_dataclass, replace, static_field
from neuro.validation import check_choice, check_in_range, check_positive

Array = jax.Array

STAL_PATHS = ("vanilla", "hidden")
THETA_MIN, THETA_MAX = 0.001, 1.0
STAL_SLOPE = 25.0


def _check_steps(name: str, value: Any) -> None:
    if not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive int; got {value!r}")


# ---------------------------------------------------------------------------------- rate, latency


def rate(key: Array, x: Array, num_steps: int, *, f_max: float | None = None,
         dt: float = 1.0) -> Array:
    """Bernoulli rate code ``[num_steps, *x.shape]``: spike with probability ``x`` (or
    ``f_max dt 1e-3 x``, ``f_max`` in Hz, ``dt`` in ms) independently at every step."""
    _check_steps("num_steps", num_steps)
    check_in_range("x", x, 0.0, 1.0)
    p = jnp.asarray(x, dtype=float)
    if f_max is not None:
        check_positive("f_max", f_max)
        check_positive("dt", dt)
        if f_max * dt * 1e-3 > 1.0:
            raise ValueError(f"f_max * dt must be <= 1000 (Hz * ms) so p <= 1; got {f_max * dt:g}")
        p = p * (f_max * dt * 1e-3)
    u = jax.random.uniform(key, (num_steps, *p.shape), dtype=p.dtype)
    return (u < p).astype(p.dtype)


def latency_steps(x: Array, num_steps: int) -> Array:
    """Spike step ``round((1 - x)(T - 1))`` of each channel (int32)."""
    return jnp.round((1.0 - jnp.asarray(x, dtype=float)) * (num_steps - 1)).astype(jnp.int32)


def latency(x: Array, num_steps: int, *, x_min: float = 0.01) -> Array:
    """Latency code ``[num_steps, *x.shape]``: one spike per channel at
    ``round((1 - x)(T - 1))``; channels with ``x <= x_min`` stay silent."""
    _check_steps("num_steps", num_steps)
    check_in_range("x", x, 0.0, 1.0)
    check_in_range("x_min", x_min, 0.0, 1.0)
    x = jnp.asarray(x, dtype=float)
    t = jnp.arange(num_steps).reshape((num_steps,) + (1,) * x.ndim)
    hit = (t == latency_steps(x, num_steps)[None]) & (x > x_min)[None]
    return hit.astype(x.dtype)


def rate_slots(key: Array, x: Array, psi: int) -> Array:
    """Equal-budget rate code: ``x`` ``[..., c]`` -> ``[..., c psi]``, ``psi`` Bernoulli(x) slots
    per channel (slot index fastest, the STAL layout)."""
    _check_steps("psi", psi)
    check_in_range("x", x, 0.0, 1.0)
    x = jnp.asarray(x, dtype=float)
    u = jax.random.uniform(key, (*x.shape, psi), dtype=x.dtype)
    return (u < x[..., None]).astype(x.dtype).reshape(*x.shape[:-1], -1)


def latency_slots(x: Array, psi: int, *, x_min: float = 0.01) -> Array:
    """Equal-budget latency code: one spike among each channel's ``psi`` slots, at slot
    ``round((1 - x)(psi - 1))``; ``[..., c]`` -> ``[..., c psi]``."""
    _check_steps("psi", psi)
    check_in_range("x", x, 0.0, 1.0)
    x = jnp.asarray(x, dtype=float)
    slot = latency_steps(x, psi)
    hit = (jnp.arange(psi) == slot[..., None]) & (x > x_min)[..., None]
    return hit.astype(x.dtype).reshape(*x.shape[:-1], -1)


# -------------------------------------------------------------------------------------- delta


def delta(xs: Array, threshold: float | Array, *, off_spikes: bool = True) -> Array:
    """Delta (send-on-change) code of a time-major signal ``xs`` ``[T, ..., c]``.

    Returns ``[T, ..., 2c]`` (on channels, then off channels), or ``[T, ..., c]`` on spikes only
    when ``off_spikes=False``. The reference value ``r`` starts at ``x_0`` and is reset to ``x_t``
    whenever a spike (on or off) is emitted.
    """
    check_positive("threshold", threshold)
    xs = jnp.asarray(xs, dtype=float)
    if xs.ndim < 1 or xs.shape[0] < 1:
        raise ValueError(f"xs must have a leading time axis; got shape {xs.shape}")
    if not isinstance(xs, jax.core.Tracer) and not bool(jnp.all(jnp.isfinite(xs))):
        raise ValueError("xs must be finite; it contains NaN or infinity")
    return _delta(xs, jnp.asarray(threshold, dtype=xs.dtype), off_spikes)


@partial(jax.jit, static_argnums=(2,))
def _delta(xs: Array, threshold: Array, off_spikes: bool) -> Array:
    def step(ref, x):
        on = x - ref > threshold
        off = ref - x > threshold
        ref = jnp.where(on | off, x, ref)
        out = jnp.concatenate([on, off], axis=-1) if off_spikes else on
        return ref, out.astype(x.dtype)

    return jax.lax.scan(step, xs[0], xs)[1]


# --------------------------------------------------------------------------------------- STAL


class BatchNormStats(NamedTuple):
    """Running mean and variance of the hidden path's batch norm (momentum 0.1, as PyTorch)."""

    mean: Array
    var: Array


@pytree_dataclass
class STAL:
    """STAL encoder parameters (see module docstring). ``theta`` ``[omega c psi]``; the hidden
    path adds ``w [omega c, hidden]``, ``b``, batch-norm scale ``gamma``/shift ``beta`` and the
    (non-trained) running statistics ``bn``."""

    theta: Array
    w: Array | None = None
    b: Array | None = None
    gamma: Array | None = None
    beta: Array | None = None
    bn: BatchNormStats | None = None
    omega: int = static_field(default=1)
    channels: int = static_field(default=1)
    psi: int = static_field(default=1)
    path: str = static_field(default="vanilla")
    dropout: float = static_field(default=0.0)

    @property
    def input_size(self) -> int:
        return self.omega * self.channels

    @property
    def output_size(self) -> int:
        return self.omega * self.channels * self.psi


def stal(key: Array, omega: int, channels: int, psi: int, *, path: str = "vanilla",
         hidden: int | None = None, dropout: float = 0.0) -> STAL:
    """A STAL encoder for windows of ``omega`` steps x ``channels``, ``psi`` spikes per step.

    ``path="hidden"`` needs ``hidden`` (default ``omega * channels``) dividing
    ``omega * channels * psi``, and dividing or being a multiple of ``omega * channels`` (as in
    the original, so its features can be repeated / max-pooled back to the input size).
    """
    for name, value in (("omega", omega), ("channels", channels), ("psi", psi)):
        _check_steps(name, value)
    check_choice("path", path, STAL_PATHS)
    check_in_range("dropout", dropout, 0.0, 0.99)
    k_theta, k_w, k_b = jax.random.split(key, 3)
    n_in = omega * channels
    n_out = n_in * psi
    theta = jax.random.uniform(k_theta, (n_out,), minval=0.4, maxval=0.6)
    if path == "vanilla":
        return STAL(theta, omega=omega, channels=channels, psi=psi, path=path, dropout=0.0)
    hidden = n_in if hidden is None else hidden
    _check_steps("hidden", hidden)
    if n_out % hidden:
        raise ValueError(f"hidden must divide omega*channels*psi = {n_out}; got {hidden}")
    if hidden % n_in and n_in % hidden:
        raise ValueError(f"hidden must divide or be a multiple of omega*channels = {n_in}; "
                         f"got {hidden}")
    bound = 1.0 / np.sqrt(n_in)  # PyTorch's nn.Linear init
    w = jax.random.uniform(k_w, (n_in, hidden), minval=-bound, maxval=bound)
    b = jax.random.uniform(k_b, (hidden,), minval=-bound, maxval=bound)
    stats = BatchNormStats(jnp.zeros((hidden,)), jnp.ones((hidden,)))
    return STAL(theta, w, b, jnp.ones((hidden,)), jnp.zeros((hidden,)), stats, omega, channels,
                psi, path, float(dropout))


def _repeat_to(h: Array, size: int) -> Array:
    return jnp.repeat(h, size // h.shape[-1], axis=-1)


def stal_features(params: STAL, x: Array, *, train: bool = False,
                  key: Array | None = None) -> tuple[Array, Array | None, BatchNormStats | None]:
    """Feature path: ``x`` ``[B, omega, c]`` (or ``[B, omega c]``) -> ``(f [B, omega c psi], Z1,
    new batch-norm stats)``. ``Z1`` (hidden path only) are the hidden features pooled or repeated
    back to ``[B, omega, c]``. ``train`` uses dropout (needs ``key``) and batch statistics."""
    x = x.reshape(x.shape[0], -1)
    if params.path == "vanilla":
        return _repeat_to(x, params.output_size), None, None
    h = x @ params.w + params.b
    if train and params.dropout > 0:
        if key is None:
            raise ValueError("key is required for dropout when train=True")
        keep = jax.random.bernoulli(key, 1.0 - params.dropout, h.shape)
        h = jnp.where(keep, h / (1.0 - params.dropout), 0.0)
    stats = params.bn
    if train and x.shape[0] > 1:  # the original skips batch norm for a single sample
        mean, var = h.mean(axis=0), h.var(axis=0)
        n = h.shape[0]
        stats = BatchNormStats(0.9 * stats.mean + 0.1 * mean,
                               0.9 * stats.var + 0.1 * var * n / (n - 1))
    elif train:
        mean, var = None, None
    else:
        mean, var = stats.mean, stats.var
    if mean is not None:
        h = (h - mean) / jnp.sqrt(var + 1e-5) * params.gamma + params.beta
    h = jax.nn.relu(h)
    n_in, hidden = params.input_size, h.shape[-1]
    if hidden == n_in:
        z1 = h
    elif hidden > n_in:
        z1 = h.reshape(h.shape[0], n_in, hidden // n_in).max(axis=-1)
    else:
        z1 = _repeat_to(h, n_in)
    z1 = z1.reshape(x.shape[0], params.omega, params.channels)
    return _repeat_to(h, params.output_size), z1, stats


def stal_surrogate(params: STAL, features: Array) -> Array:
    """Training output ``sigmoid(25 (f - theta))``."""
    return jax.nn.sigmoid(STAL_SLOPE * (features - params.theta))


def stal_encode(params: STAL, x: Array) -> Array:
    """Use-time spikes ``H(f(x) - theta)`` reshaped to ``[B, omega, c psi]`` (eval mode)."""
    x = jnp.asarray(x, dtype=float)
    check_in_range("x", x, 0.0, 1.0)
    f, _, _ = stal_features(params, x)
    s = (f >= params.theta).astype(f.dtype)
    return s.reshape(x.shape[0], params.omega, params.channels * params.psi)


def mutual_information(x: Array, z: Array) -> Array:
    """``p_xz log2(p_xz / (p_x p_z))`` with ``p_xz = mean(x z)``, ``p_x = mean x``,
    ``p_z = mean z``, each clamped below at 1e-12 (stal-v2 ``compute_mutual_information``)."""
    eps = 1e-12
    p_xz = jnp.maximum(jnp.mean(x * z), eps)
    p_x = jnp.maximum(jnp.mean(x), eps)
    p_z = jnp.maximum(jnp.mean(z), eps)
    return p_xz * jnp.log2(p_xz / (p_x * p_z))


def stal_loss_terms(params: STAL, x: Array, s_hat: Array, z1: Array | None) -> dict[str, Array]:
    """The MI term ``-MI/cnt`` and the count term ``mean_b |sum s^ - psi sum x|``."""
    b = x.shape[0]
    x = x.reshape(b, params.omega, params.channels)
    slots = s_hat.reshape(b, params.omega, params.channels, params.psi)
    weights = jnp.arange(params.psi, 0, -1, dtype=s_hat.dtype)  # first spike counts most
    z = (slots * weights).sum(axis=-1)
    mi, cnt = mutual_information(x, z), 1
    if z1 is not None:
        mi, cnt = mi + mutual_information(x, z1), 2
    count = jnp.abs(s_hat.reshape(b, -1).sum(axis=1) - params.psi * x.reshape(b, -1).sum(axis=1))
    return {"mi": -mi / cnt, "count": count.mean()}


def stal_loss(params: STAL, x: Array, key: Array | None = None,
              train: bool = True) -> tuple[Array, tuple[dict, BatchNormStats | None]]:
    """STAL loss ``-MI/cnt + mean_b |sum s^ - psi sum x|`` on a batch of windows ``x``."""
    f, z1, stats = stal_features(params, x, train=train, key=key)
    terms = stal_loss_terms(params, x, stal_surrogate(params, f), z1)
    return terms["mi"] + terms["count"], (terms, stats)


def clamp_thresholds(params: STAL) -> STAL:
    """Clamp ``theta`` to [0.001, 1] (applied after every optimiser step)."""
    return replace(params, theta=jnp.clip(params.theta, THETA_MIN, THETA_MAX))


@partial(jax.jit, static_argnums=(4,))
def _stal_update(params: STAL, opt_state: Any, x: Array, key: Array,
                 optimizer: optax.GradientTransformation):
    (loss, (terms, stats)), grads = jax.value_and_grad(stal_loss, has_aux=True)(params, x, key)
    if grads.bn is not None:  # running statistics are not trained
        grads = replace(grads, bn=jax.tree_util.tree_map(jnp.zeros_like, grads.bn))
    updates, opt_state = optimizer.update(grads, opt_state, params)
    params = clamp_thresholds(optax.apply_updates(params, updates))
    if stats is not None:
        params = replace(params, bn=stats)
    return params, opt_state, {"loss": loss, **terms}


def train_stal(params: STAL, x: Array, *, epochs: int = 10, batch_size: int = 32,
               learning_rate: float = 1e-3, seed: int = 0,
               optimizer: optax.GradientTransformation | None = None) -> tuple[STAL, list[dict]]:
    """Train the encoder alone on windows ``x`` ``[n, omega, c]`` in [0, 1] with optax (Adam by
    default); thresholds are clamped to [0.001, 1] after every step. Returns the trained
    parameters and the per-epoch mean loss terms."""
    _check_steps("epochs", epochs)
    _check_steps("batch_size", batch_size)
    check_positive("learning_rate", learning_rate)
    x = np.asarray(x, dtype=np.float32)
    check_in_range("x", x, 0.0, 1.0)
    if x.reshape(len(x), -1).shape[1] != params.input_size:
        raise ValueError(f"x must hold windows of omega*channels = {params.input_size} values; "
                         f"got shape {x.shape}")
    if len(x) < batch_size:
        raise ValueError(f"batch_size {batch_size} exceeds the number of windows {len(x)}")
    optimizer = optax.adam(learning_rate) if optimizer is None else optimizer
    opt_state = optimizer.init(params)
    rng = np.random.default_rng(seed)
    key = jax.random.PRNGKey(seed)
    history = []
    for _ in range(epochs):
        order = rng.permutation(len(x))
        sums: dict[str, float] = {}
        n_batches = len(x) // batch_size
        for i in range(n_batches):
            key, k_step = jax.random.split(key)
            xb = jnp.asarray(x[order[i * batch_size:(i + 1) * batch_size]])
            params, opt_state, metrics = _stal_update(params, opt_state, xb, k_step, optimizer)
            for name, value in metrics.items():
                sums[name] = sums.get(name, 0.0) + float(value) / n_batches
        history.append(sums)
    return params, history
