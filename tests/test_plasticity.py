"""Lateral subspace circuit (HLOP)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neuro.plasticity import (
    hebbian_update,
    old_gram,
    old_rows,
    orthonormality_error,
    project_out,
    quantize_lateral,
    subspace_add,
    subspace_init,
    subspace_merge,
)


def ref_update(weight, mom, x, fix_index, lr, iters=5, m=0.9):
    """HLOP.forward_with_update / update_weights transcribed to NumPy (momentum, clamp, fixed)."""
    for _ in range(iters):
        y = x @ weight.T
        xhat = y @ weight
        dw = np.clip(y.T @ (x - xhat) / x.shape[0], -10, 10)
        dw[fix_index] = 0.0
        fix_term = mom[fix_index].copy()
        mom[fix_index] = 0
        mom = m * mom + (1 - m) * dw
        weight = weight + lr * mom
        mom[fix_index] = fix_term
    return weight, mom


def low_rank_data(seed, n, dim, rank, noise=0.05):
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.normal(size=(dim, rank)))[0]
    z = rng.normal(size=(n, rank)) * np.linspace(3.0, 1.0, rank)
    x = z @ basis.T + noise * rng.normal(size=(n, dim))
    return x.astype(np.float32), basis


def two_task_state(dim=12):
    s = subspace_init(dim, 12)
    s = subspace_add(s, 3, 0)
    mom = np.random.default_rng(0).normal(size=s.momentum.shape) * 0.01
    mom *= np.asarray(s.active)[:, None]
    s = s._replace(momentum=jnp.asarray(mom, jnp.float32))
    s = subspace_merge(s)
    return subspace_add(s, 2, 1)


def test_update_matches_reference_transcription():
    s = two_task_state()
    x = np.random.default_rng(2).normal(size=(16, 12)).astype(np.float32)
    got = jax.jit(lambda s, x: hebbian_update(s, x, lr=0.01, rows=(3, 5)))(s, x)
    w, m = ref_update(np.asarray(s.weight[:5], np.float64), np.asarray(s.momentum[:5], np.float64),
                      np.asarray(x, np.float64), list(range(3)), 0.01)
    np.testing.assert_allclose(np.asarray(got.weight[:5]), w, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(np.asarray(got.momentum[:5]), m, rtol=1e-4, atol=1e-6)
    # old rows and their momentum unchanged exactly; padding rows stay zero
    assert np.array_equal(np.asarray(got.weight[:3]), np.asarray(s.weight[:3]))
    assert np.array_equal(np.asarray(got.momentum[:3]), np.asarray(s.momentum[:3]))
    assert not np.any(np.asarray(got.weight[5:]))


def test_three_layouts_agree():
    s = two_task_state()
    x = np.random.default_rng(3).normal(size=(16, 12)).astype(np.float32)
    g = jnp.asarray(old_gram(s))
    a, b, c, d = jax.jit(lambda s, x: (
        hebbian_update(s, x, lr=0.02, rows=(3, 5)),
        hebbian_update(s, x, lr=0.02, block=4),
        hebbian_update(s, x, lr=0.02),
        hebbian_update(s, x, lr=0.02, block=4, x_hat_old=x @ g)))(s, x)
    for other in (b, c, d):
        np.testing.assert_allclose(np.asarray(other.weight), np.asarray(a.weight), atol=1e-6)
        np.testing.assert_allclose(np.asarray(other.momentum), np.asarray(a.momentum), atol=1e-6)


def test_update_keeps_the_state_dtype_for_float64_inputs_under_x64():
    # a float64 minibatch must not promote float32 lateral weights (the loop carry would change
    # type and the scan refuse it); every layout computes in the weights' dtype
    with jax.enable_x64(True):
        s = two_task_state()
        x = np.random.default_rng(4).normal(size=(16, 12))  # float64
        for kw in ({"rows": (3, 5)}, {"block": 4}, {}):
            got = jax.jit(lambda s, x, kw=kw: hebbian_update(s, x, lr=0.02, **kw))(s, x)
            assert got.weight.dtype == jnp.float32 and got.momentum.dtype == jnp.float32
            ref = hebbian_update(s, x.astype(np.float32), lr=0.02, **kw)
            np.testing.assert_allclose(np.asarray(got.weight), np.asarray(ref.weight), atol=1e-6)


def test_new_rows_learn_the_residual_principal_subspace():
    """Old rows span part of the data; new rows converge to the rest, near-orthonormal."""
    x, basis = low_rank_data(0, 2000, 16, 4)
    s = subspace_init(16, 8)
    s = s._replace(weight=s.weight.at[:2].set(basis[:, :2].T.astype(np.float32)),
                   active=s.active.at[:2].set(True))
    s = subspace_add(subspace_merge(s), 2, 5)
    batches = x[:1920].reshape(30, 64, 16)

    @jax.jit
    def train(s):
        def epoch(s, _):
            return jax.lax.scan(lambda s, xb: (hebbian_update(s, xb, lr=0.01, rows=(2, 4)), None),
                                s, batches)[0], None

        return jax.lax.scan(epoch, s, None, length=4)[0]

    s = train(s)
    new = np.asarray(s.weight[2:4])
    target = np.asarray(basis[:, 2:4])
    # principal angles between span(new rows) and the residual principal subspace
    q = np.linalg.qr(new.T)[0]
    cosines = np.linalg.svd(q.T @ target, compute_uv=False)
    assert cosines.min() > 0.95
    assert orthonormality_error(np.asarray(s.weight[:4])) < 0.1


def test_add_initialises_orthonormal_rows_and_checks_room():
    s = subspace_add(subspace_init(10, 6), 4, 0)
    assert orthonormality_error(np.asarray(s.weight[:4])) < 1e-5
    assert np.asarray(s.active).sum() == 4 and not np.asarray(s.fixed).any()
    with pytest.raises(ValueError, match="k = 3"):
        subspace_add(s, 3, 0)
    assert np.array_equal(np.asarray(old_rows(subspace_merge(s))), np.asarray(s.weight))


def test_projection_removes_old_span():
    s = subspace_merge(subspace_add(subspace_init(8, 4), 3, 0))
    x = np.random.default_rng(4).normal(size=(5, 8)).astype(np.float32)
    p = project_out(old_rows(s), x)
    np.testing.assert_allclose(np.asarray(p @ s.weight[:3].T), 0.0, atol=1e-5)


def test_spiking_quantisation():
    y = jnp.array([-30.0, -0.0149, 0.0151, 7.31234, 25.0])
    q = np.asarray(quantize_lateral(y, (20.0, 1000.0)))
    np.testing.assert_allclose(q, [-20.0, -0.02, 0.02, 7.32, 20.0], atol=1e-5)
    assert quantize_lateral(y, None) is y


def test_spiking_lateral_neurons_approximate_the_analog_update():
    s = two_task_state()
    x = np.random.default_rng(6).normal(size=(16, 12)).astype(np.float32)
    f = jax.jit(lambda s, x: (hebbian_update(s, x, lr=0.01, block=4),
                              hebbian_update(s, x, lr=0.01, block=4, spiking=(20.0, 1000.0)),
                              hebbian_update(s, x, lr=0.01, block=4, spiking=(20.0, 10.0))))
    analog, fine, coarse = f(s, x)
    err_fine = np.abs(np.asarray(fine.weight) - np.asarray(analog.weight)).max()
    err_coarse = np.abs(np.asarray(coarse.weight) - np.asarray(analog.weight)).max()
    assert 0 < err_fine < 1e-3 and err_coarse > 10 * err_fine
