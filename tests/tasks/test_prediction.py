"""Prediction task: generators against independent integrators, splits, ridge, NRMSE, BPTT."""

import jax
import numpy as np
import pytest
from scipy.integrate import solve_ivp

from neuro import prune as P
from neuro.models.hrsnn import hrsnn
from neuro.tasks import prediction as pred


def test_lorenz_and_rossler_match_solve_ivp():
    x = pred.lorenz(201)
    f = lambda t, u: [10 * (u[1] - u[0]), u[0] * (28 - u[2]) - u[1], u[0] * u[1] - 8 / 3 * u[2]]
    ref = solve_ivp(f, (0, 2.0), [1, 1, 1], t_eval=np.linspace(0, 2, 201), rtol=1e-10,
                    atol=1e-10, method="DOP853").y.T
    np.testing.assert_allclose(x, ref, atol=2e-3)  # RK4 global error, |x| ~ 20
    r = pred.rossler(51)  # sampled every 0.1
    g = lambda t, u: [-u[1] - u[2], u[0] + 0.2 * u[1], 0.2 + u[2] * (u[0] - 5.7)]
    ref = solve_ivp(g, (0, 5.0), [1, 1, 0], t_eval=np.linspace(0, 5, 51), rtol=1e-10,
                    atol=1e-10, method="DOP853").y.T
    np.testing.assert_allclose(r, ref, atol=1e-6)


def test_mackey_glass_converges_in_step_size_and_is_chaotic_range():
    coarse = pred.mackey_glass(120, h=0.1)
    fine = pred.mackey_glass(120, h=0.025)
    np.testing.assert_allclose(coarse, fine, atol=2e-3)
    long = pred.mackey_glass(1500)
    assert 0.2 < long[300:].min() and long[300:].max() < 1.45 and long[300:].std() > 0.15


def test_make_series_splits_and_zscore():
    s = pred.make_series("rossler", scale=0.05)
    assert s.train == slice(0, 500) and s.val == slice(500, 600) and s.test == slice(600, 850)
    assert s.x.shape == (851, 3)
    np.testing.assert_allclose(s.x[s.train].mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(s.x[s.train].std(0), 1, atol=1e-4)
    with pytest.raises(ValueError, match="task"):
        pred.make_series("henon")


def test_nrmse_and_ridge():
    rng = np.random.default_rng(0)
    y = rng.normal(size=(200, 2))
    assert pred.nrmse(y, y) == 0.0
    assert pred.nrmse(np.broadcast_to(y.mean(0), y.shape), y) == pytest.approx(1.0)
    s = rng.normal(size=(200, 5))
    from sklearn.linear_model import Ridge

    w = pred.ridge_fit(s, y, 3.0)
    ref = Ridge(alpha=3.0).fit(s, y)
    np.testing.assert_allclose(w[:-1], ref.coef_.T, atol=1e-8)
    np.testing.assert_allclose(w[-1], ref.intercept_, atol=1e-8)


def test_network_prediction_beats_mean_and_multistep_is_harder():
    s = pred.make_series("lorenz", scale=0.05)
    net = hrsnn(jax.random.PRNGKey(0), 60, 3, radius=5.0, input_scale=3.0)
    res = pred.evaluate(net, s)
    assert res.nrmse < 0.5  # a mean predictor scores 1
    assert res.rates.shape == (60,) and 0 < res.rates.mean() < 1
    res_f = pred.evaluate(net, s, features="filtered", n_sub=2)
    assert res_f.nrmse < 1.0
    s5 = pred.make_series("lorenz", scale=0.05, horizon=5)
    res5 = pred.evaluate(net, s5, horizon=5)
    assert res.nrmse < res5.nrmse  # predicting further ahead is harder


def test_bptt_training_lowers_loss():
    s = pred.make_series("mackey-glass", scale=0.05, horizon=5)
    net = hrsnn(jax.random.PRNGKey(1), 30, 1, radius=3.0, input_scale=3.0)
    rng = np.random.default_rng(0)
    starts = rng.integers(0, 400, 8)
    x = np.stack([s.x[i : i + 60] for i in starts])
    y = np.stack([s.x[i + 5 : i + 65] for i in starts])
    _, readout0 = pred.train_bptt(net, s, horizon=5, iterations=1, lr=1e-9,
                                  window=60, batch=4)
    before = pred.bptt_loss(net, readout0, x, y)
    trained, readout = pred.train_bptt(net, s, horizon=5, iterations=25, lr=3e-3,
                                       window=60, batch=8)
    after = pred.bptt_loss(trained, readout, x, y)
    assert after < before
    mask0 = P.recurrent_weights(net) != 0
    assert np.all(P.recurrent_weights(trained)[~mask0] == 0)  # effective weights W * mask
    assert not np.array_equal(P.recurrent_weights(trained), P.recurrent_weights(net))
