"""HLOP's lateral subspace circuit (online STDP, Oja and Hebbian rules: :mod:`neuro.modulators`).

Lateral subspace circuit (HLOP; Xiao et al., ICLR 2024, pkuxmq/HLOP-SNN ``modules/hlop_module.py``;
hlop.md §1). ``M`` lateral neurons with weights ``H [M, N]`` read a layer's presynaptic activity
``x [B, N]``: ``y = H x`` (feedforward, Hebbian), ``x_hat = H^T y`` (feedback, anti-Hebbian).
Per minibatch the Oja subspace rule runs ``iters`` (5) times on the same batch::

    Y   = X H^T                                   (all active rows, old and new)
    dH  = clip(Y^T (X - Y H) / B, -clamp, clamp)  (clamp = 10)
    V   = m V + (1 - m) dH    (m = 0.9)           only rows that are active and not fixed
    H   = H + lr V

Fixed (old) rows keep ``H`` and ``V`` exactly. New rows learn the principal subspace of what the
old rows do not explain, because ``Y`` and ``x_hat`` include every active row. Rows are
orthonormal on creation (``add``); orthonormality afterwards is driven by Oja's rule, not enforced.

Spiking lateral neurons (``spiking=(scale, steps)``, reference defaults 20 and 1000): the lateral
output is replaced by its spike-count quantisation ``round(clip(y, -s, s)/s * T_h)/T_h * s``, in the
Hebbian update and in the projection.

Static shapes (project design): ``SubspaceState`` holds ``max_rows`` preallocated rows, an
``active`` mask and a ``fixed`` mask; :func:`subspace_add` and :func:`subspace_merge` are host-side
functions of the state (they change the masks), :func:`hebbian_update` is pure and jittable.
When the active rows form one block ``[0, hi)`` with fixed rows ``[0, lo)`` (always so under
add/merge), pass ``rows=(lo, hi)``: the fixed rows' output is computed once per batch instead of
once per iteration and the padding rows are skipped (the result equals the masked update).

Attaching a circuit to any projection of a Network: :func:`presynaptic_activity` collects the
projection's presynaptic activity (its source input's values, or its source population's spikes;
for a recurrent projection the population's own spikes) from the records of
:func:`neuro.run.scan_steps`, as per-step rows, their mean over time or the DSR weighted rate;
:func:`neuro.optim.hlop` learns from it inside the optimiser.

Online STDP, Oja and Hebbian rules acting on a network's projections are modulators
(:mod:`neuro.modulators.plasticity`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array


class SubspaceState(NamedTuple):
    """Lateral weights ``weight [M, N]``, momentum ``momentum [M, N]`` and row masks ``[M]``."""

    weight: Array
    momentum: Array
    active: Array
    fixed: Array


def subspace_init(n_in: int, max_rows: int) -> SubspaceState:
    """An empty circuit for ``n_in`` presynaptic inputs with room for ``max_rows`` lateral neurons."""
    if not isinstance(n_in, int) or n_in < 1:
        raise ValueError(f"n_in must be a positive int; got {n_in!r}")
    if not isinstance(max_rows, int) or max_rows < 1:
        raise ValueError(f"max_rows must be a positive int; got {max_rows!r}")
    # NumPy-built (then device) arrays: no per-shape compilation of eager JAX ops
    zeros = jnp.asarray(np.zeros((max_rows, n_in), np.float32))
    mask = jnp.asarray(np.zeros((max_rows,), bool))
    return SubspaceState(zeros, zeros, mask, mask)


def num_active(state: SubspaceState) -> int:
    """Number of active rows (host-side)."""
    return int(np.asarray(state.active).sum())


def num_fixed(state: SubspaceState) -> int:
    """Number of fixed (old, merged) rows (host-side)."""
    return int(np.asarray(state.fixed).sum())


def orthonormal_rows(k: int, n: int, seed: int | Sequence[int] | np.random.Generator = 0
                     ) -> np.ndarray:
    """``k <= n`` orthonormal rows ``[k, n]``: QR of a Gaussian matrix with the sign of ``R``'s
    diagonal folded in (Haar-distributed, as ``torch.nn.init.orthogonal_``)."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    q, r = np.linalg.qr(rng.normal(size=(n, k)))
    return (q * np.sign(np.diag(r))).T.astype(np.float32)


def subspace_add(state: SubspaceState, k: int,
                 seed: int | Sequence[int] | np.random.Generator = 0) -> SubspaceState:
    """Activate ``k`` more rows, initialised with orthonormal rows (:func:`orthonormal_rows`).

    The new rows are orthonormal among themselves, not to the old rows (as in the reference).
    Their momentum starts at zero. Host-side (NumPy), called between tasks.
    """
    lo = num_active(state)
    m_max, n = state.weight.shape
    if not isinstance(k, int) or k < 0:
        raise ValueError(f"k must be a non-negative int; got {k!r}")
    if lo + k > m_max:
        raise ValueError(f"k = {k} exceeds the free rows ({m_max - lo} of max_rows = {m_max})")
    if k > n:
        raise ValueError(f"k = {k} orthonormal rows do not fit in {n} dimensions")
    if k == 0:
        return state
    weight, momentum = np.array(state.weight), np.array(state.momentum)
    active = np.array(state.active)
    weight[lo:lo + k] = orthonormal_rows(k, n, seed)
    momentum[lo:lo + k] = 0.0
    active[lo:lo + k] = True
    return SubspaceState(jnp.asarray(weight), jnp.asarray(momentum), jnp.asarray(active),
                         state.fixed)


def subspace_merge(state: SubspaceState) -> SubspaceState:
    """After a task: every active row becomes a fixed (old) row."""
    return state._replace(fixed=state.active)


def quantize_lateral(y: Array, spiking: tuple[float, float] | None) -> Array:
    """Spike-count quantisation of the lateral output (identity when ``spiking`` is None)."""
    if spiking is None:
        return y
    scale, steps = spiking
    return jnp.round(jnp.clip(y, -scale, scale) / scale * steps) / steps * scale


def old_rows(state: SubspaceState) -> Array:
    """The fixed rows with the others zeroed, ``[M, N]`` (the projection basis)."""
    return jnp.where(state.fixed[:, None], state.weight, 0.0)


def old_gram(state: SubspaceState) -> np.ndarray:
    """``G = H_old^T H_old [N, N]`` (host-side, NumPy): ``x @ G`` is the old rows' reconstruction
    and ``x - x @ G`` the projected input, at a cost independent of the number of rows."""
    h = np.asarray(state.weight)[np.asarray(state.fixed)]
    return (h.T @ h).astype(np.float32)


def project_out(basis: Array, x: Array, spiking: tuple[float, float] | None = None) -> Array:
    """``x - H^T H x`` for rows of ``x [..., N]`` with ``basis = H [K, N]`` (zero rows allowed).

    HLOP's projected presynaptic input; with GPM's orthonormal basis this is ``x - M M^T x``.
    """
    y = quantize_lateral(x @ basis.T, spiking)
    return x - y @ basis


def _oja_delta(x, y, x_hat, clamp):
    return jnp.clip(y.T @ (x - x_hat) / x.shape[0], -clamp, clamp)


def hebbian_update(
    state: SubspaceState,
    x: Array,
    *,
    lr: float,
    iters: int = 5,
    momentum: float = 0.9,
    clamp: float = 10.0,
    spiking: tuple[float, float] | None = None,
    rows: tuple[int, int] | None = None,
    block: int | None = None,
    x_hat_old: Array | None = None,
) -> SubspaceState:
    """``iters`` Oja-subspace steps on the minibatch ``x [B, N]`` (module docstring). Pure.

    Three equivalent layouts of the work:

    * ``rows=(lo, hi)`` (static) asserts ``fixed = [0, lo)``, ``active = [0, hi)`` and computes
      only what changes (the old rows' reconstruction once per batch, not once per iteration);
    * ``block=k`` (static) assumes the learning rows are contiguous, start at the first non-fixed
      row (found at run time) and number at most ``k``: the same savings, but one compilation
      serves every task (the old rows are the masked preallocated rows; needs ``k`` spare rows
      after the last active one);
    * neither: the masks only, any layout.

    ``x_hat_old`` (with ``rows`` or ``block``, analog lateral neurons only) is the old rows'
    reconstruction ``x H_old^T H_old`` if the caller already has it, e.g. as ``x @ G`` with the
    Gram matrix ``G = H_old^T H_old`` (:func:`old_gram`), fixed for a whole task.
    ``x`` is computed in the dtype of the lateral weights (the state keeps its dtype).
    """
    if x_hat_old is not None and spiking is not None:
        raise ValueError("x_hat_old cannot be used with spiking lateral neurons")
    h, v = state.weight, state.momentum
    x = jnp.asarray(x).astype(h.dtype)
    if x_hat_old is not None:
        x_hat_old = jnp.asarray(x_hat_old).astype(h.dtype)
    if block is not None:
        return _block_update(state, x, lr, iters, momentum, clamp, spiking, block, x_hat_old)
    if rows is None:
        learn = (state.active & ~state.fixed)[:, None]
        act = state.active[:, None]
        for _ in range(iters):
            hh = jnp.where(act, h, 0.0)
            y = quantize_lateral(x @ hh.T, spiking)
            d = _oja_delta(x, y, y @ hh, clamp)
            v = jnp.where(learn, momentum * v + (1.0 - momentum) * d, v)
            h = jnp.where(learn, h + lr * v, h)
        return state._replace(weight=h, momentum=v)
    lo, hi = rows
    if hi <= lo:
        return state
    h_new, v_new = h[lo:hi], v[lo:hi]
    if x_hat_old is not None:
        pass
    elif lo > 0:
        h_old = h[:lo]
        x_hat_old = quantize_lateral(x @ h_old.T, spiking) @ h_old
    else:
        x_hat_old = 0.0
    h_new, v_new = _oja_iterations(x, x_hat_old, h_new, v_new, None, lr, iters, momentum, clamp,
                                   spiking)
    return state._replace(weight=h.at[lo:hi].set(h_new), momentum=v.at[lo:hi].set(v_new))


def _oja_iterations(x, x_hat_old, h_new, v_new, learn, lr, iters, momentum, clamp, spiking):
    def body(_, carry):
        h_new, v_new = carry
        y = quantize_lateral(x @ h_new.T, spiking)
        d = _oja_delta(x, y, x_hat_old + y @ h_new, clamp)
        v_next = momentum * v_new + (1.0 - momentum) * d
        h_next = h_new + lr * v_next
        if learn is not None:
            v_next = jnp.where(learn, v_next, v_new)
            h_next = jnp.where(learn, h_next, h_new)
        return h_next, v_next

    return jax.lax.fori_loop(0, iters, body, (h_new, v_new))


def _block_update(state, x, lr, iters, momentum, clamp, spiking, block, x_hat_old):
    h, v = state.weight, state.momentum
    lo = jnp.sum(state.fixed).astype(jnp.int32)
    if x_hat_old is None:
        h_old = old_rows(state)
        x_hat_old = quantize_lateral(x @ h_old.T, spiking) @ h_old
    learn = jax.lax.dynamic_slice_in_dim(state.active & ~state.fixed, lo, block)[:, None]
    h_new = jnp.where(learn, jax.lax.dynamic_slice_in_dim(h, lo, block), 0.0)
    v_new = jax.lax.dynamic_slice_in_dim(v, lo, block)
    h_new, v_new = _oja_iterations(x, x_hat_old, h_new, v_new, learn, lr, iters, momentum, clamp,
                                   spiking)
    h_blk = jnp.where(learn, h_new, jax.lax.dynamic_slice_in_dim(h, lo, block))
    return state._replace(weight=jax.lax.dynamic_update_slice_in_dim(h, h_blk, lo, 0),
                          momentum=jax.lax.dynamic_update_slice_in_dim(v, v_new, lo, 0))


REDUCTIONS = ("steps", "mean", "wfr")


def presynaptic_activity(net, name: str, records: dict, inputs=None, *, reduce: str = "mean",
                         window: tuple[int, int] | None = None, tau: float = 1.0,
                         dt: float = 0.05) -> Array:
    """The presynaptic activity of projection (or readout) ``name`` of ``net`` from a run.

    ``records``: the monitored outputs of :func:`neuro.run.scan_steps` / ``simulate`` holding the
    source population's spikes (``monitors=("spikes",)`` or ``("spikes.POP",)``), time-major
    ``[T, B, n]``; ``inputs``: the input array (or dict by name) given to the run, needed when the
    source is an input. ``window = (start, stop)`` keeps those steps first (e.g. a layer's
    valid steps in a feed-forward stack where each layer adds one step of delay).

    ``reduce``: ``"steps"`` -> per-step rows ``[T B, n]`` (HLOP with BPTT: raw per-step spikes);
    ``"mean"`` -> mean over time ``[B, n]``; ``"wfr"`` -> DSR weighted firing rate
    ``sum_t w_t s_t / sum_t w_t`` with ``w_t = exp(-(T - t) dt / tau)`` (HLOP with DSR).
    The result is detached (Hebbian learning does not back-propagate).
    """
    if reduce not in REDUCTIONS:
        raise ValueError(f"reduce must be one of {REDUCTIONS}; got {reduce!r}")
    part = net.projections[name] if name in net.projections else net.readouts.get(name)
    if part is None:
        raise KeyError(f"{name!r} is neither a projection ({sorted(net.projections)}) nor a "
                       f"readout ({sorted(net.readouts)})")
    source = part.source
    if source in dict(net.inputs):
        if inputs is None:
            raise ValueError(f"{name!r} reads input {source!r}: pass the run's inputs")
        values = inputs[source] if isinstance(inputs, dict) else inputs
    else:
        spikes = records.get("spikes")
        if isinstance(spikes, dict) and source in spikes:
            values = spikes[source]
        elif f"spikes.{source}" in records:
            values = records[f"spikes.{source}"]
        else:
            raise KeyError(f"records hold no spikes of {source!r}: monitor 'spikes' or "
                           f"'spikes.{source}'")
    values = jax.lax.stop_gradient(jnp.asarray(values))
    if window is not None:
        values = values[window[0]:window[1]]
    if reduce == "steps":
        return values.reshape(-1, values.shape[-1])
    if reduce == "mean":
        return values.mean(axis=0)
    t = jnp.arange(1, values.shape[0] + 1, dtype=values.dtype)
    w = jnp.exp(-(values.shape[0] - t) * dt / tau)
    return jnp.tensordot(w / w.sum(), values, axes=1)


def orthonormality_error(rows: Array) -> float:
    """``max |H H^T - I|`` over the given rows (host-side diagnostic)."""
    rows = np.asarray(rows, np.float64)
    return float(np.abs(rows @ rows.T - np.eye(len(rows))).max()) if len(rows) else 0.0
