"""Online plasticity as network modulators: trace STDP, Oja and plain Hebbian on a projection.

A plasticity modulator owns the weights of one :class:`~neuro.projections.Dense` or
:class:`~neuro.projections.Sparse` projection while the network runs: they live in its state
(:class:`PlasticState`, initialised from the projection's weights by ``init_state``), reach the
projection through ``projection_weights`` at the start of every step, and are updated in
``learn`` after the populations fired (:mod:`neuro.network`). Only existing synapses change: a
Dense projection's masked entries and a Sparse projection's padding entries are never touched
(for Sparse the plastic values are the per-synapse edge table ``[n_pre + 1, K]``).

Activities of step ``t``: ``s_j`` what arrives at the synapses from presynaptic neuron ``j``
(the source population's spikes of step ``t - 1``, or an input's ``x_t``; the projection's extra
delay is not applied) and ``z_i`` the postsynaptic spikes of step ``t``. Updates are summed over
synapses and averaged over the batch axes: every trial of a batch runs the same network, whose
weights follow the mean update (for independent learners, ``jax.vmap`` the simulation over
networks). Parameters (``a_plus``, ``a_minus``, ``lr``) may be scalars or per-synapse arrays
shaped like the weights; trace time constants scalars or per-neuron arrays. Time in ms.

**STDP** (pair-based, all-to-all through traces; Song, Miller & Abbott 2000; trace form as in
Brian2's STDP example)::

    x_j <- x_j exp(-dt/tau_plus);   y_i <- y_i exp(-dt/tau_minus)          (decay)
    additive:        dW_ji = a_plus x_j z_i - a_minus s_j y_i
    multiplicative:  dW_ji = a_plus (w_max - W_ji) x_j z_i - a_minus (W_ji - w_min) s_j y_i
                     (soft bounds; van Rossum, Bi & Turrigiano 2000; Rubin et al. 2001)
    W <- clip(W + dW, w_min, w_max);   x_j += s_j;   y_i += z_i

A pre spike ``d > 0`` steps before a post spike changes ``W`` by ``a_plus exp(-d dt/tau_plus)``,
the reverse order by ``-a_minus exp(-d dt/tau_minus)``; simultaneous spikes by 0 (Brian2, whose
pre pathway runs first, gives ``+a_plus`` there; over Poisson trains the difference is of order
``dt / tau``).

**Hebbian** (plain, with optional weight decay and bounds; clipped at ``w_max`` it is the
Willshaw rule when ``lr`` saturates a co-active pair at once)::

    x_j <- x_j exp(-dt/tau_pre) + s_j;   y_i <- y_i exp(-dt/tau_post) + z_i
    W <- clip(W + lr x_j y_i - decay W, w_min, w_max)

**Oja** (Oja 1982; each postsynaptic neuron's weight vector tends to the unit-norm leading
principal direction of its filtered inputs)::

    x, y as for Hebbian;   W_ji <- W_ji + lr y_i (x_j - y_i W_ji)

With zero learning rates (``a_plus = a_minus = 0``, ``lr = decay = 0``) the weights never change
and the network is the plain network bit for bit (tests/modulators); initial weights outside
``[w_min, w_max]`` are rejected, never clipped.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from neuro._pytree import pytree_dataclass, static_field
from neuro.modulators._attach import presynaptic, projection
from neuro.network import Modulator, StepView
from neuro.validation import check_choice, check_finite, check_positive

Array = jax.Array
MODES = ("additive", "multiplicative")


class PlasticState(NamedTuple):
    """Plastic weights (the projection's layout), presynaptic and postsynaptic traces."""

    w: Array
    pre: Array
    post: Array


@pytree_dataclass
class Plastic(Modulator):
    """Shared structure of the rules: which projection, which synapses exist, where they land.

    ``exists`` (bool, the weights' shape) and ``post_index`` (int, Sparse only: the postsynaptic
    neuron of each table entry) are structure, not float leaves, so no trainer touches them.
    """

    exists: Array
    post_index: Array | None
    projection: str = static_field()
    source: str = static_field()
    target: str = static_field()
    field: str = static_field()
    dt: float = static_field(default=1.0)
    w_min: float = static_field(default=-np.inf)
    w_max: float = static_field(default=np.inf)

    def init_state(self, net: Any, batch: tuple[int, ...], dtype: Any) -> PlasticState:
        proj = projection(net, self.projection, type(self).__name__.lower())
        w = jnp.asarray(getattr(proj, self.field))
        w = jnp.broadcast_to(w, self.exists.shape)  # a per-row Sparse table becomes per synapse
        vals = np.asarray(w)[np.asarray(self.exists)]
        if vals.size and (vals.min() < self.w_min or vals.max() > self.w_max):
            raise ValueError(f"{type(self).__name__.lower()}: the weights of {self.projection!r} "
                             f"lie in [{vals.min():g}, {vals.max():g}], outside the bounds "
                             f"[{self.w_min:g}, {self.w_max:g}]")
        n_pre, n_post = proj.n_pre, proj.n_post
        return PlasticState(w, jnp.zeros((*batch, n_pre), w.dtype),
                            jnp.zeros((*batch, n_post), w.dtype))

    def projection_weights(self, state: PlasticState) -> dict[str, dict[str, Array]]:
        return {self.projection: {self.field: state.w}}

    # per-synapse views of per-neuron activities, in the weights' layout -----------------------
    def _pre(self, a: Array) -> Array:
        """``a [..., n_pre]`` -> ``[..., n_pre(+1), 1 or n_post]`` broadcastable to the weights."""
        if self.post_index is None:
            return a[..., :, None]
        return jnp.concatenate([a, jnp.zeros_like(a[..., :1])], -1)[..., :, None]

    def _post(self, a: Array) -> Array:
        if self.post_index is None:
            return a[..., None, :]
        return a[..., self.post_index]

    def _mean(self, x: Array, nd: int) -> Array:
        """Average over the batch axes (all but the last two)."""
        return x.reshape(-1, *x.shape[-2:]).mean(0) if x.ndim > 2 else x

    def _pair(self, pre: Array, post: Array) -> Array:
        """Batch-mean per-synapse product ``pre_j post_i``."""
        return self._mean(self._pre(pre) * self._post(post), 2)

    def _apply(self, w: Array, dw: Array) -> Array:
        new = jnp.clip(w + dw.astype(w.dtype), self.w_min, self.w_max)
        return jnp.where(self.exists, new, w)

    def _activities(self, state: PlasticState, view: StepView) -> tuple[Array, Array]:
        dtype = state.w.dtype
        return presynaptic(view, self.source, dtype), view.z[self.target].astype(dtype)


@pytree_dataclass
class STDP(Plastic):
    """Pair-based trace STDP (module docstring)."""

    a_plus: Array = None
    a_minus: Array = None
    decay_plus: Array = None  # exp(-dt/tau_plus) per presynaptic neuron (or scalar)
    decay_minus: Array = None
    mode: str = static_field(default="additive")

    def learn(self, state: PlasticState, view: StepView) -> PlasticState:
        s, z = self._activities(state, view)
        x = state.pre * self.decay_plus.astype(s.dtype)
        y = state.post * self.decay_minus.astype(s.dtype)
        pot = self.a_plus * self._pair(x, z)
        dep = self.a_minus * self._pair(s, y)
        if self.mode == "multiplicative":
            pot = (self.w_max - state.w) * pot
            dep = (state.w - self.w_min) * dep
        return PlasticState(self._apply(state.w, pot - dep), x + s, y + z)


@pytree_dataclass
class Hebbian(Plastic):
    """Plain Hebbian rule on filtered activities (module docstring)."""

    lr: Array = None
    decay: Array = None
    decay_pre: Array = None
    decay_post: Array = None

    def traces(self, state: PlasticState, view: StepView) -> tuple[Array, Array]:
        s, z = self._activities(state, view)
        return (state.pre * self.decay_pre.astype(s.dtype) + s,
                state.post * self.decay_post.astype(s.dtype) + z)

    def learn(self, state: PlasticState, view: StepView) -> PlasticState:
        x, y = self.traces(state, view)
        dw = self.lr * self._pair(x, y) - self.decay * state.w
        return PlasticState(self._apply(state.w, dw), x, y)


@pytree_dataclass
class Oja(Hebbian):
    """Oja's rule on filtered activities (module docstring); ``decay`` is unused (0)."""

    def learn(self, state: PlasticState, view: StepView) -> PlasticState:
        x, y = self.traces(state, view)
        yy = self._mean(self._post(y * y), 2)
        dw = self.lr * (self._pair(x, y) - yy * state.w)
        return PlasticState(self._apply(state.w, dw), x, y)


# --------------------------------------------------------------------------------------------
# builders
# --------------------------------------------------------------------------------------------


def _structure(name: str, proj: Any) -> dict[str, Any]:
    if hasattr(proj, "model") and hasattr(proj, "release"):
        raise TypeError(f"plasticity on {name!r}: an STP-wrapped projection is not supported; "
                        "make the inner projection plastic before wrapping, or drop STP")
    if hasattr(proj, "targets"):  # Sparse: the edge table
        t = np.asarray(proj.targets)
        exists = t != proj.sink
        post = np.where(exists, t % proj.n_post, 0).astype(np.int32)
        return {"exists": jnp.asarray(exists), "post_index": jnp.asarray(post),
                "field": "weights", "shape": t.shape}
    if hasattr(proj, "w") and hasattr(proj, "mask"):  # Dense
        shape = tuple(proj.w.shape)
        exists = np.ones(shape, bool) if proj.mask is None else np.asarray(proj.mask, bool)
        return {"exists": jnp.asarray(exists), "post_index": None, "field": "w", "shape": shape}
    raise TypeError(f"plasticity on {name!r}: expected a Dense or Sparse projection; got "
                    f"{type(proj).__name__}")


def _per_synapse(name: str, v: Any, shape: tuple, dtype: Any) -> Array:
    check_positive(name, v, allow_zero=True)
    if np.ndim(v) and np.shape(v) != tuple(shape):
        raise ValueError(f"{name} must be a scalar or per synapse with shape {tuple(shape)}; "
                         f"got {np.shape(v)}")
    return jnp.asarray(v, dtype)


def _decay(name: str, tau: Any, n: int, dt: float) -> Array:
    check_positive(name, tau)
    if np.ndim(tau) and np.shape(tau) != (n,):
        raise ValueError(f"{name} must be a scalar or per neuron with shape ({n},); got "
                         f"{np.shape(tau)}")
    return jnp.exp(-dt / jnp.asarray(tau, dtype=float))


def _common(synapses: tuple[str, Any], dt: float, w_min: float, w_max: float) -> dict[str, Any]:
    if not (isinstance(synapses, tuple) and len(synapses) == 2 and isinstance(synapses[0], str)):
        raise TypeError("synapses must be (projection name, projection)")
    name, proj = synapses
    check_positive("dt", dt)
    if not w_min < w_max:
        raise ValueError(f"w_min must be < w_max; got {w_min} and {w_max}")
    st = _structure(name, proj)
    dtype = jnp.asarray(getattr(proj, st["field"])).dtype
    common = {"exists": st["exists"], "post_index": st["post_index"], "projection": name,
              "source": proj.source, "target": proj.target, "field": st["field"],
              "dt": float(dt), "w_min": float(w_min), "w_max": float(w_max)}
    return common, st["shape"], dtype, proj


def stdp(
    synapses: tuple[str, Any],
    *,
    a_plus: float | Array = 0.01,
    a_minus: float | Array = 0.0105,
    tau_plus: float | Array = 20.0,
    tau_minus: float | Array = 20.0,
    mode: str = "additive",
    w_min: float = -np.inf,
    w_max: float = np.inf,
    dt: float = 1.0,
) -> STDP:
    """Trace STDP on ``synapses = (name, projection)`` (defaults: Song et al. 2000 ratios).

    ``mode="multiplicative"`` (soft bounds) needs finite ``w_min`` and ``w_max``.
    """
    check_choice("mode", mode, MODES)
    common, shape, dtype, proj = _common(synapses, dt, w_min, w_max)
    if mode == "multiplicative" and not (np.isfinite(w_min) and np.isfinite(w_max)):
        raise ValueError("mode='multiplicative' needs finite w_min and w_max (soft bounds)")
    return STDP(**common, a_plus=_per_synapse("a_plus", a_plus, shape, dtype),
                a_minus=_per_synapse("a_minus", a_minus, shape, dtype),
                decay_plus=_decay("tau_plus", tau_plus, proj.n_pre, dt),
                decay_minus=_decay("tau_minus", tau_minus, proj.n_post, dt), mode=mode)


def hebbian(
    synapses: tuple[str, Any],
    *,
    lr: float | Array = 1e-3,
    decay: float | Array = 0.0,
    tau_pre: float | Array = 20.0,
    tau_post: float | Array = 20.0,
    w_min: float = -np.inf,
    w_max: float = np.inf,
    dt: float = 1.0,
) -> Hebbian:
    """Plain Hebbian rule on ``synapses = (name, projection)`` (module docstring)."""
    common, shape, dtype, proj = _common(synapses, dt, w_min, w_max)
    return Hebbian(**common, lr=_per_synapse("lr", lr, shape, dtype),
                   decay=_per_synapse("decay", decay, shape, dtype),
                   decay_pre=_decay("tau_pre", tau_pre, proj.n_pre, dt),
                   decay_post=_decay("tau_post", tau_post, proj.n_post, dt))


def oja(
    synapses: tuple[str, Any],
    *,
    lr: float | Array = 1e-3,
    tau_pre: float | Array = 20.0,
    tau_post: float | Array = 20.0,
    w_min: float = -np.inf,
    w_max: float = np.inf,
    dt: float = 1.0,
) -> Oja:
    """Oja's rule on ``synapses = (name, projection)`` (module docstring)."""
    common, shape, dtype, proj = _common(synapses, dt, w_min, w_max)
    check_finite("lr", lr)
    return Oja(**common, lr=_per_synapse("lr", lr, shape, dtype), decay=jnp.zeros((), dtype),
               decay_pre=_decay("tau_pre", tau_pre, proj.n_pre, dt),
               decay_post=_decay("tau_post", tau_post, proj.n_post, dt))


__all__ = ["MODES", "STDP", "Hebbian", "Oja", "Plastic", "PlasticState", "hebbian", "oja",
           "stdp"]
