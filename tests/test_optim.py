"""Orthogonal projection (HLOP/GPM) as an optax transform, GPM bases, EWC."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from neuro.optim import (
    EWCState,
    ewc_penalty,
    ewc_proximal,
    ewc_regularizer,
    fisher_diagonal,
    gpm_update_basis,
    orthogonal_projection,
)
from neuro.plasticity import hebbian_update, project_out, subspace_add, subspace_init


def orthonormal_rows(seed, k, n):
    return np.linalg.qr(np.random.default_rng(seed).normal(size=(n, k)))[0].T.astype(np.float32)


def test_projection_equals_input_side_form_and_protects_old_inputs():
    rng = np.random.default_rng(0)
    basis = orthonormal_rows(1, 3, 10)
    x = rng.normal(size=(6, 10)).astype(np.float32)
    delta = rng.normal(size=(6, 4)).astype(np.float32)
    grads = {"w": jnp.asarray(x.T @ delta), "b": jnp.ones(4)}
    tx = optax.chain(orthogonal_projection({"w": jnp.asarray(basis), "b": None}), optax.sgd(0.1))
    params = {"w": jnp.asarray(rng.normal(size=(10, 4)), jnp.float32), "b": jnp.zeros(4)}
    updates, _ = tx.update(grads, tx.init(params), params)
    # same as projecting the presynaptic rows (what the spiking MLP does)
    want = -0.1 * np.asarray(project_out(jnp.asarray(basis), jnp.asarray(x))).T @ delta
    np.testing.assert_allclose(np.asarray(updates["w"]), want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(updates["b"]), -0.1)  # unprojected leaf
    # inputs in the old span see an unchanged layer
    old_in = rng.normal(size=(5, 3)).astype(np.float32) @ basis
    new_w = optax.apply_updates(params, updates)["w"]
    np.testing.assert_allclose(old_in @ np.asarray(new_w), old_in @ np.asarray(params["w"]),
                               atol=1e-5)


def test_gpm_first_task_energy_threshold():
    rng = np.random.default_rng(0)
    r = rng.normal(size=(300, 20)) * np.linspace(5, 0.1, 20)
    m = gpm_update_basis(None, r, 0.9)
    s = np.linalg.svd(r.T, compute_uv=False)
    ratio = np.cumsum(s**2) / np.sum(s**2)
    assert m.shape == (20, int(np.sum(ratio < 0.9)))
    np.testing.assert_allclose(m.T @ m, np.eye(m.shape[1]), atol=1e-5)


def test_gpm_later_task_reaches_threshold_and_stays_orthonormal():
    rng = np.random.default_rng(1)
    m = gpm_update_basis(None, rng.normal(size=(300, 30)) * np.linspace(4, 0.1, 30), 0.8)
    r2 = rng.normal(size=(300, 30)) * np.linspace(0.1, 4, 30)
    m2 = gpm_update_basis(m, r2, 0.95)
    assert m2.shape[1] > m.shape[1]
    np.testing.assert_allclose(m2[:, : m.shape[1]], m)
    np.testing.assert_allclose(m2.T @ m2, np.eye(m2.shape[1]), atol=1e-4)
    captured = np.sum((m2.T @ r2.T) ** 2) / np.sum(r2**2)
    assert captured >= 0.95 - 1e-6
    with pytest.raises(ValueError, match="threshold"):
        gpm_update_basis(None, r2, 1.5)


def test_hlop_span_approaches_gpm_span():
    """After one task, the lateral rows learnt by Oja span what GPM's SVD keeps (hlop.md §5)."""
    rng = np.random.default_rng(2)
    basis = np.linalg.qr(rng.normal(size=(24, 5)))[0]
    x = (rng.normal(size=(3000, 5)) * np.linspace(3, 1, 5)) @ basis.T
    x = (x + 0.05 * rng.normal(size=x.shape)).astype(np.float32)
    # GPM keeps the directions whose cumulative energy stays below the threshold: the top 4 here
    gpm = gpm_update_basis(None, x[:300], 0.99)
    assert gpm.shape[1] == 4
    s = subspace_add(subspace_init(24, 5), 5, 0)
    batches = jnp.asarray(x[:2944].reshape(46, 64, 24))
    s = jax.jit(lambda s: jax.lax.scan(
        lambda s, _: (jax.lax.scan(lambda s, b: (hebbian_update(s, b, lr=0.01, rows=(0, 5)),
                                                 None), s, batches)[0], None),
        s, None, length=3)[0])(s)
    q = np.linalg.qr(np.asarray(s.weight).T)[0]
    cosines = np.linalg.svd(q.T @ gpm, compute_uv=False)
    assert np.degrees(np.arccos(np.clip(cosines.min(), -1, 1))) < 10.0


def test_ewc_regularizer_is_penalty_gradient():
    rng = np.random.default_rng(3)
    params = {"a": jnp.asarray(rng.normal(size=(3, 2)), jnp.float32)}
    anchor = {"a": jnp.zeros((3, 2))}
    fisher = {"a": jnp.asarray(rng.uniform(size=(3, 2)), jnp.float32)}
    tx = ewc_regularizer(5.0, anchor, fisher)
    zero = {"a": jnp.zeros((3, 2))}
    updates, _ = tx.update(zero, tx.init(params), params)
    want = jax.grad(lambda p: ewc_penalty(p, anchor, fisher, 5.0))(params)
    np.testing.assert_allclose(np.asarray(updates["a"]), np.asarray(want["a"]), rtol=1e-5)


def test_ewc_proximal_solves_the_implicit_step():
    p, a, f, lam, lr = jnp.array([2.0]), jnp.array([0.0]), jnp.array([3.0]), 10.0, 0.1
    tx = optax.chain(optax.sgd(lr), ewc_proximal(lam, lr))
    state = (tx.init(p)[0], EWCState(a, f))
    g = jnp.array([0.5])
    upd, _ = tx.update(g, state, p)
    new = p + upd
    # stationarity of |new - p + lr g|^2/(2 lr) + lam/2 f (new - a)^2
    resid = (new - p + lr * g) / lr + lam * f * (new - a)
    np.testing.assert_allclose(np.asarray(resid), 0.0, atol=1e-5)
    assert float(lr * lam * f[0]) > 2  # where the explicit step would diverge


def test_fisher_diagonal():
    g = {"w": jnp.array([[1.0, 2.0], [3.0, 0.0]])}
    np.testing.assert_allclose(np.asarray(fisher_diagonal(g)["w"]), [5.0, 2.0])
