"""Gradient transformations for continual learning: orthogonal projection (HLOP, GPM) and EWC.

Orthogonal projection (HLOP, Xiao et al. ICLR 2024; GPM, Saha et al. ICLR 2021; hlop.md §2, §5).
For a dense kernel ``W [in, out]`` (``out = x W``) and a basis ``B [K, in]`` of the frozen old
input subspace (HLOP: the merged lateral rows ``H_old``; GPM: ``M^T``)::

    G <- G - B^T (B G)            ( = P_perp G,  P_perp = I - B^T B )

Forward and error propagation are unchanged; only the weight update is restricted to the
complement of the old inputs, so ``x_old W`` stays (nearly) fixed. Exact for any method whose
weight gradient is ``sum_t x_t^T delta_t`` (BPTT, DSR, OTTT), since ``P_perp`` is constant within
a task. Compose with ``optax.sgd`` (momentum allowed: the momentum buffer only ever holds
projected gradients if the optimiser state is reset at each task boundary). Adam's per-coordinate
scaling and weight decay break the guarantee: don't chain them after the projection.

Cost note: ``B G`` costs ``K in out`` per step. When the gradient is formed as ``x^T delta`` from
a minibatch ``x [B, in]`` with ``B < out``, projecting the input rows instead,
``(x - (x B^T) B)^T delta``, is the same matrix for ``B`` rows
(:func:`neuro.plasticity.project_out`), or ``(x - x G)^T delta`` with ``G = B^T B`` formed once
per task (:func:`neuro.plasticity.old_gram`); :mod:`neuro.models.spiking_mlp` and
:mod:`neuro.tasks.continual` do that, and the tests check it equals this transformation.

GPM basis (:func:`gpm_update_basis`, NumPy, host-side): from representations ``R [n, N]`` of the
last task, keep the fewest left-singular directions whose captured energy reaches the threshold.

EWC (Kirkpatrick et al., PNAS 2017): ``L + (lam/2) sum_i F_i (theta_i - theta*_i)^2`` with the
diagonal Fisher ``F`` (mean squared per-example gradient) accumulated over tasks;
:func:`ewc_regularizer` adds ``lam F (theta - theta*)`` to the gradient; :func:`ewc_proximal`
takes the penalty implicitly (stable for any ``lam`` with plain SGD).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

Array = jax.Array


class ProjectionState(NamedTuple):
    """The bases, one per parameter leaf (``None`` where no projection applies)."""

    bases: Any


def _project(g: Array, basis: Array | None) -> Array:
    if basis is None:
        return g
    return g - basis.T @ (basis @ g)


def orthogonal_projection(bases: Any) -> optax.GradientTransformation:
    """Project each kernel gradient ``G [in, out]`` onto the complement of its basis ``[K, in]``.

    ``bases`` mirrors the parameter pytree, with ``None`` for leaves left unprojected (biases,
    1-D parameters, task heads). Bases may contain zero rows (preallocated HLOP rows). The bases
    live in the optimiser state, so a new task's bases don't recompile a jitted step.
    """

    def init_fn(params):
        del params
        return ProjectionState(bases)

    def update_fn(updates, state, params=None):
        del params
        projected = jax.tree_util.tree_map(
            _project, updates, state.bases, is_leaf=lambda x: x is None
        )
        return projected, state

    return optax.GradientTransformation(init_fn, update_fn)


def gpm_update_basis(
    basis: np.ndarray | None, representations: np.ndarray, threshold: float
) -> np.ndarray:
    """GPM's memory update for one layer (Saha et al. 2021, ``main_pmnist.py``; hlop.md §5).

    ``basis [N, k]`` (orthonormal columns; None on the first task), ``representations [n, N]``
    (e.g. 300 samples of the layer's input). First task: SVD of ``R^T``; keep ``k`` with
    ``cumsum(s^2)/sum(s^2) < threshold`` (at least one). Later tasks: SVD of the residual
    ``R^T - M M^T R^T``; starting from the captured energy, add residual directions until the
    total reaches ``threshold``. Returns the new basis ``[N, k']`` (k' <= N).
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must lie in (0, 1]; got {threshold}")
    r = np.asarray(representations, np.float64).T  # [N, n]
    if basis is None or basis.shape[1] == 0:
        u, s, _ = np.linalg.svd(r, full_matrices=False)
        ratio = np.cumsum(s**2) / np.sum(s**2)
        k = max(int(np.sum(ratio < threshold)), 1)
        return u[:, :k].astype(np.float32)
    m = np.asarray(basis, np.float64)
    total = np.sum(r**2)
    resid = r - m @ (m.T @ r)
    u, s, _ = np.linalg.svd(resid, full_matrices=False)
    captured = (total - np.sum(resid**2)) / total
    acc = captured
    k = 0
    for value in s**2 / total:
        if acc >= threshold:
            break
        acc += value
        k += 1
    k = min(k, r.shape[0] - m.shape[1])
    if k == 0:
        return m.astype(np.float32)
    new = np.concatenate([m, u[:, :k]], axis=1)
    return new.astype(np.float32)


class EWCState(NamedTuple):
    anchor: Any
    fisher: Any


def ewc_penalty(params: Any, anchor: Any, fisher: Any, lam: float) -> Array:
    """``(lam/2) sum F (theta - theta*)^2`` over all leaves."""
    terms = jax.tree_util.tree_map(lambda p, a, f: jnp.sum(f * (p - a) ** 2),
                                   params, anchor, fisher)
    return 0.5 * lam * sum(jax.tree_util.tree_leaves(terms))


def _ewc_init(anchor: Any, fisher: Any):
    """``init`` of the EWC transforms: the anchor defaults to the params, the Fisher to zeros."""

    def init_fn(params):
        a = params if anchor is None else anchor
        f = jax.tree_util.tree_map(jnp.zeros_like, params) if fisher is None else fisher
        return EWCState(a, f)

    return init_fn


def ewc_regularizer(lam: float, anchor: Any = None, fisher: Any = None
                    ) -> optax.GradientTransformation:
    """Add the EWC penalty's gradient ``lam F (theta - theta*)`` to the updates (needs params).

    The anchor ``theta*`` and Fisher ``F`` live in the state (:class:`EWCState`; defaults: the
    params given to ``init`` and zeros), so one transformation serves every task: replace the
    state at a task boundary instead of rebuilding the optimiser (which would recompile).
    """

    init_fn = _ewc_init(anchor, fisher)

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError("ewc_regularizer needs params in update()")
        updates = jax.tree_util.tree_map(
            lambda g, p, a, f: g + lam * f * (p - a), updates, params, state.anchor, state.fisher
        )
        return updates, state

    return optax.GradientTransformation(init_fn, update_fn)


def ewc_proximal(lam: float, lr: float, anchor: Any = None, fisher: Any = None
                 ) -> optax.GradientTransformation:
    """EWC as an implicit (proximal) step; chain it *after* ``optax.sgd(lr)``.

    With ``u = -lr g`` the SGD update of the task loss, the new parameters minimise
    ``|theta' - theta - u|^2 / (2 lr) + (lam/2) sum F (theta' - theta*)^2``::

        theta' - theta = (u - lr lam F (theta - theta*)) / (1 + lr lam F)

    First order in ``lr lam F`` it is :func:`ewc_regularizer`; unlike the explicit step it stays
    stable when ``lr lam F > 2`` (strong EWC with plain SGD), so ``lam`` need not be tuned to ``lr``.
    """

    init_fn = _ewc_init(anchor, fisher)

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError("ewc_proximal needs params in update()")
        updates = jax.tree_util.tree_map(
            lambda u, p, a, f: (u - lr * lam * f * (p - a)) / (1.0 + lr * lam * f),
            updates, params, state.anchor, state.fisher)
        return updates, state

    return optax.GradientTransformation(init_fn, update_fn)


def fisher_diagonal(per_example_grads: Any) -> Any:
    """Diagonal empirical Fisher: the mean over the leading (example) axis of squared gradients."""
    return jax.tree_util.tree_map(lambda g: jnp.mean(g**2, axis=0), per_example_grads)
