"""Spiking MLP: the rate-domain DSR gradient equals back-propagation through dsr_lif per step."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neuro.models import spiking_mlp as smlp
from neuro.optim import orthogonal_projection


@pytest.fixture(scope="module")
def setup():
    cfg = smlp.spiking_mlp((12, 16, 14, 5), timesteps=8)
    params = tuple(3.0 * p for p in smlp.init_params(cfg, 0))
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(9, 12)), jnp.float32)
    y = jnp.asarray(np.arange(9) % 5, jnp.int32)
    return cfg, params, x, y


def test_gradient_matches_per_step_dsr_backprop(setup):
    cfg, params, x, y = setup
    loss, grads, logits, acts = jax.jit(smlp.loss_and_grad, static_argnums=0)(cfg, params, x, y)
    ref_loss, ref_grads = jax.jit(jax.value_and_grad(
        lambda p: smlp.reference_loss(cfg, p, x, y)))(params)
    np.testing.assert_allclose(float(loss), float(ref_loss), rtol=1e-5)
    for g, r in zip(grads, ref_grads, strict=True):
        assert np.abs(np.asarray(r)).max() > 0
        np.testing.assert_allclose(np.asarray(g), np.asarray(r), rtol=1e-4, atol=1e-5)
    assert [a.shape for a in acts] == [(9, 12), (9, 16), (9, 14)]
    assert logits.shape == (9, 5)


def test_projected_gradient_equals_optax_projection(setup):
    cfg, params, x, y = setup
    rng = np.random.default_rng(1)
    bases = tuple(jnp.asarray(np.linalg.qr(rng.normal(size=(n, 3)))[0].T, jnp.float32)
                  for n in cfg.presynaptic_sizes)
    f = jax.jit(smlp.loss_and_grad, static_argnums=0)
    _, grads, _, _ = f(cfg, params, x, y)
    _, proj_grads, _, _ = f(cfg, params, x, y, 0, bases)
    grams = tuple(b.T @ b for b in bases)
    _, gram_grads, _, _ = f(cfg, params, x, y, 0, None, grams)
    tx = orthogonal_projection(bases)
    want, _ = tx.update(grads, tx.init(params))
    for g, gg, w in zip(proj_grads, gram_grads, want, strict=True):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(np.asarray(gg), np.asarray(w), rtol=1e-4, atol=1e-5)


def test_multi_head_uses_only_its_columns(setup):
    _, _, x, _ = setup
    cfg = smlp.spiking_mlp((12, 16, 2), timesteps=6, heads=3)
    params = tuple(3.0 * p for p in smlp.init_params(cfg, 1))
    assert params[-1].shape == (16, 6)
    y = jnp.zeros(9, jnp.int32)
    _, grads, logits, _ = jax.jit(smlp.loss_and_grad, static_argnums=0)(cfg, params, x, y, 1)
    assert logits.shape == (9, 2)
    g = np.asarray(grads[-1])
    assert np.all(g[:, [0, 1, 4, 5]] == 0) and np.any(g[:, 2:4] != 0)


def test_config_validation():
    with pytest.raises(ValueError, match="sizes"):
        smlp.spiking_mlp((10, 5))
    with pytest.raises(ValueError, match="heads"):
        smlp.spiking_mlp(heads=0)
    with pytest.raises(ValueError, match="tau"):
        smlp.spiking_mlp(tau=0.0)
