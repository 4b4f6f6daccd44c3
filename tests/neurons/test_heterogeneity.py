import jax
import numpy as np
import pytest

from neuro.neurons import decay_logit, gamma_time_constants, lif, tau_from_logit


def test_gamma_time_constants_mean_and_bounds():
    # neurons.md §9.9: 10^4 samples, mean within 2 % of k theta, all within bounds.
    tau = np.asarray(gamma_time_constants(jax.random.PRNGKey(0), 10_000, k=4.0, mean=20.0))
    assert tau.mean() == pytest.approx(20.0, rel=0.02)
    assert tau.min() >= 2.0 and tau.max() <= 200.0
    assert tau.std() / tau.mean() == pytest.approx(0.5, rel=0.05)  # CV = 1/sqrt(k)
    p = lif(tau=tau[:50])
    assert p.alpha.shape == (50,)


def test_decay_logit_round_trip():
    tau = np.array([2.0, 20.0, 150.0])
    np.testing.assert_allclose(tau_from_logit(decay_logit(tau, 0.5), 0.5), tau, rtol=1e-4)


def test_bad_arguments():
    with pytest.raises(ValueError, match="n must"):
        gamma_time_constants(jax.random.PRNGKey(0), 0)
    with pytest.raises(ValueError, match="low"):
        gamma_time_constants(jax.random.PRNGKey(0), 5, low=10.0, high=5.0)
