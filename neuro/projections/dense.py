"""Dense projection: ``I[..., post] = z[..., pre] @ (W * mask) + b`` (weights ``[pre, post]``).

The reference for every other projection. ``mask`` (bool, optional) removes synapses structurally
(e.g. self-connections); it is not a float leaf, so it is never trained. ``delay`` adds whole steps
of uniform synaptic delay (:mod:`neuro.projections.delays`); ``channel`` is the receptor channel
of the target population the projection drives.

``backend`` (static) chooses how :func:`neuro.run.scan_steps` computes a whole run of a network
whose recurrent projection this is: ``"xla"`` (the reference: one ``Network.step`` per time step,
differentiated by plain autodiff), ``"fused"`` or ``"fused-event"`` (:mod:`neuro.fast_rnn`: the
recurrent layer with a hand-written backward pass; ``-event``: event-driven products). The
per-step ``deliver`` is the same for every backend.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from neuro._pytree import pytree_dataclass, static_field
from neuro.projections.delays import delay_init, delay_step
from neuro.validation import (
    ConfigError,
    as_float_array,
    check_choice,
    check_finite,
    check_memory,
    check_positive,
    check_scalar,
)

Array = jax.Array
BACKENDS = ("xla", "fused", "fused-event")


@pytree_dataclass
class Dense:
    """Dense weights ``w [n_pre, n_post]``, optional structural ``mask`` and bias ``b``."""

    w: Array
    b: Array | None
    mask: Array | None
    source: str = static_field()
    target: str = static_field()
    channel: int = static_field(default=0)
    delay: int = static_field(default=0)
    backend: str = static_field(default="xla")

    n_channels = 1

    @property
    def n_pre(self) -> int:
        return int(self.w.shape[0])

    @property
    def n_post(self) -> int:
        return int(self.w.shape[1])

    @property
    def weights(self) -> Array:
        """The effective weights ``W * mask``."""
        return self.w if self.mask is None else self.w * self.mask.astype(self.w.dtype)

    def num_synapses(self) -> int:
        return int(np.count_nonzero(np.asarray(self.weights)))

    def init_state(self, batch: tuple[int, ...], dtype: Any = None) -> Any:
        return delay_init(self.delay, (*batch, self.n_pre), dtype or self.w.dtype)

    def deliver(self, state: Any, z: Array, *, binary: bool = False) -> tuple[Any, Array]:
        """Arrivals ``[..., 1, n_post]`` of this step (after the delay line)."""
        state, z = delay_step(self.delay, state, z)
        y = z.astype(self.w.dtype) @ self.weights
        if self.b is not None:
            y = y + self.b
        return state, y[..., None, :]

    def deliver_into(self, state: Any, z: Array, acc: Array, *, binary: bool = False
                     ) -> tuple[Any, Array]:
        """Add this step's arrivals into channel ``self.channel`` of the target's flat
        accumulator ``acc`` ``[..., C n_post + 1]``."""
        state, y = self.deliver(state, z)
        start = self.channel * self.n_post
        return state, acc.at[..., start: start + self.n_post].add(y[..., 0, :].astype(acc.dtype))


def dense(
    source: str,
    target: str,
    w: Any = None,
    *,
    key: Array | None = None,
    n_pre: int | None = None,
    n_post: int | None = None,
    gain: float = 1.0,
    bias: bool = False,
    self_connections: bool = True,
    channel: int = 0,
    delay: int = 0,
    dtype: Any = None,
    backend: str = "xla",
) -> Dense:
    """A :class:`Dense` projection from ``source`` to ``target`` (population or input names).

    Either ``w`` (``[n_pre, n_post]``) or ``key, n_pre, n_post`` for ``W ~ N(0, gain^2/n_pre)``.
    ``bias=True`` adds a trainable zero bias; ``self_connections=False`` masks the diagonal
    (square ``w`` only). ``delay``: extra whole steps of uniform delay. ``backend``: see the
    module docstring (``"fused*"`` only for a recurrent projection, ``source == target``).
    """
    dtype = dtype or float
    if w is None:
        if key is None or n_pre is None or n_post is None:
            raise ConfigError("dense needs either w or key, n_pre and n_post")
        for name, n in (("n_pre", n_pre), ("n_post", n_post)):
            if isinstance(n, bool) or not isinstance(n, int | np.integer) or n <= 0:
                raise ConfigError(f"{name} must be a positive int; got {n!r}")
        gain = check_scalar("gain", gain)
        check_positive("gain", gain, allow_zero=True)
        check_memory(f"dense weights {n_pre} x {n_post}", 4.0 * n_pre * n_post)
        w = jax.random.normal(key, (int(n_pre), int(n_post))) * (gain / np.sqrt(n_pre))
    w = as_float_array("w", w, dtype, finite=False)
    if w.ndim != 2:
        raise ConfigError(f"w must be a [n_pre, n_post] matrix; got shape {w.shape}")
    check_finite("w", w)
    _check_delay_channel(delay, channel)
    check_choice("backend", backend, BACKENDS)
    if backend != "xla" and source != target:
        raise ConfigError(f"backend={backend!r} is for a recurrent projection (source == target); "
                          f"got {source!r} -> {target!r}")
    mask = None
    if not self_connections:
        if w.shape[0] != w.shape[1]:
            raise ConfigError(f"self_connections=False needs a square w; got shape {w.shape}")
        mask = ~jnp.eye(w.shape[0], dtype=bool)
    b = jnp.zeros((w.shape[1],), w.dtype) if bias else None
    return Dense(w, b, mask, source, target, int(channel), int(delay), backend)


def _check_delay_channel(delay: Any, channel: Any) -> None:
    if isinstance(delay, bool) or not isinstance(delay, int | np.integer) or delay < 0:
        raise ConfigError(f"delay must be a non-negative int (extra steps); got {delay!r}")
    if isinstance(channel, bool) or not isinstance(channel, int | np.integer) or channel < 0:
        raise ConfigError(f"channel must be a non-negative int; got {channel!r}")
