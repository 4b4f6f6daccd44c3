"""Encoders (neurons.md §8) and checks 10-11 of §9."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neuro import encoders as enc


def test_rate_expected_count_is_T_x():
    # E[sum_t s_t] = T x; with n = T * samples Bernoulli draws the count's std is sqrt(n x (1-x)).
    x = jnp.array([0.0, 0.1, 0.25, 0.5, 0.9, 1.0])
    steps, samples = 200, 50
    batch = jnp.broadcast_to(x, (samples, x.shape[0]))  # 50 independent trains per value
    counts = enc.rate(jax.random.PRNGKey(0), batch, steps).sum(axis=0)
    mean = counts.mean(axis=0)
    std_of_mean = np.sqrt(steps * x * (1 - x) / samples)
    assert np.all(np.abs(mean - steps * x) <= 4 * std_of_mean + 1e-6)
    assert mean[0] == 0 and mean[-1] == steps
    spikes = enc.rate(jax.random.PRNGKey(1), x, steps)
    assert spikes.shape == (steps, 6) and set(np.unique(spikes)) <= {0.0, 1.0}


def test_rate_with_f_max():
    x = jnp.full((400,), 0.5)
    s = enc.rate(jax.random.PRNGKey(1), x, 500, f_max=100.0, dt=1.0)  # p = 0.05
    assert abs(float(s.mean()) - 0.05) < 0.004
    with pytest.raises(ValueError, match="f_max"):
        enc.rate(jax.random.PRNGKey(1), x, 5, f_max=2000.0)


def test_latency_one_spike_above_x_min():
    x = jnp.array([[0.0, 0.005, 0.01, 0.011, 0.5, 1.0], [0.2, 0.3, 0.7, 0.99, 0.02, 0.6]])
    steps = 11
    s = enc.latency(x, steps)
    assert s.shape == (steps, 2, 6)
    counts = np.asarray(s.sum(axis=0))
    np.testing.assert_array_equal(counts, (np.asarray(x) > 0.01).astype(float))
    first = np.argmax(np.asarray(s), axis=0)
    expected = np.round((1 - np.asarray(x)) * (steps - 1))
    active = np.asarray(x) > 0.01
    np.testing.assert_array_equal(first[active], expected[active])
    assert first[0, 5] == 0 and first[0, 4] == 5  # x = 1 fires first, x = 0.5 mid-way


def test_slot_codes_equal_budget():
    x = jnp.array([[0.0, 0.5, 1.0]])
    lat = enc.latency_slots(x, 4)
    np.testing.assert_array_equal(lat, [[0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0]])
    r = enc.rate_slots(jax.random.PRNGKey(0), jnp.full((2000, 1), 0.3), 5)
    assert r.shape == (2000, 5) and abs(float(r.mean()) - 0.3) < 0.02


def test_delta_on_off_against_loop():
    rng = np.random.default_rng(0)
    xs = np.cumsum(rng.normal(0, 0.3, size=(40, 3)), axis=0).astype(np.float32)
    thr = 0.5
    out = np.asarray(enc.delta(xs, thr))
    ref, expect = xs[0].copy(), np.zeros((40, 6), np.float32)
    for t in range(40):
        for c in range(3):
            if xs[t, c] - ref[c] > thr:
                expect[t, c], ref[c] = 1, xs[t, c]
            elif ref[c] - xs[t, c] > thr:
                expect[t, 3 + c], ref[c] = 1, xs[t, c]
    np.testing.assert_array_equal(out, expect)
    assert expect.sum() > 5
    np.testing.assert_array_equal(enc.delta(xs, thr, off_spikes=False), expect[:, :3])


def test_encoder_validation_names_parameters():
    key = jax.random.PRNGKey(0)
    with pytest.raises(ValueError, match="x must lie"):
        enc.rate(key, jnp.array([1.5]), 3)
    with pytest.raises(ValueError, match="num_steps"):
        enc.latency(jnp.array([0.5]), 0)
    with pytest.raises(ValueError, match="threshold"):
        enc.delta(jnp.zeros((3, 2)), 0.0)
    with pytest.raises(ValueError, match="path"):
        enc.stal(key, 4, 1, 2, path="stacked3")
    with pytest.raises(ValueError, match="hidden"):
        enc.stal(key, 4, 1, 2, path="hidden", hidden=3)


def _windows(n=64, omega=8, c=2, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(omega)
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1, c))
    return (0.5 + 0.4 * np.sin(t[None, :, None] / 2 + phase)).astype(np.float32)


@pytest.mark.parametrize("path", ["vanilla", "hidden"])
def test_stal_shapes_thresholds_and_training(path):
    omega, c, psi = 8, 2, 3
    params = enc.stal(jax.random.PRNGKey(0), omega, c, psi, path=path, dropout=0.1)
    theta0 = np.asarray(params.theta)
    assert theta0.shape == (omega * c * psi,) and theta0.min() >= 0.4 and theta0.max() <= 0.6
    x = _windows(omega=omega, c=c)
    s = enc.stal_encode(params, x[:5])
    assert s.shape == (5, omega, c * psi) and set(np.unique(s)) <= {0.0, 1.0}
    # A large learning rate pushes thresholds against the clamp: they must stay in bounds.
    trained, hist = enc.train_stal(params, x, epochs=6, batch_size=16, learning_rate=0.05)
    theta = np.asarray(trained.theta)
    assert theta.min() >= enc.THETA_MIN and theta.max() <= enc.THETA_MAX
    assert not np.allclose(theta, theta0)
    assert hist[-1]["loss"] < hist[0]["loss"]


def test_stal_count_term_zero_when_counts_match():
    params = enc.stal(jax.random.PRNGKey(0), 4, 1, 2)
    x = jnp.array([[[0.5], [1.0], [0.0], [0.5]]])  # sum x = 2 -> psi * sum x = 4 spikes
    s_hat = jnp.array([[1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0]])
    terms = enc.stal_loss_terms(params, x, s_hat, None)
    assert float(terms["count"]) == 0.0
    terms = enc.stal_loss_terms(params, x, s_hat.at[0, 1].set(1.0), None)
    assert float(terms["count"]) == 1.0


def test_mutual_information_matches_formula():
    x = jnp.array([[0.2, 0.8], [0.6, 0.4]])
    z = jnp.array([[1.0, 3.0], [0.0, 2.0]])
    pxz, px, pz = float((x * z).mean()), float(x.mean()), float(z.mean())
    np.testing.assert_allclose(enc.mutual_information(x, z), pxz * np.log2(pxz / (px * pz)),
                               rtol=1e-6)
