"""Lyapunov spectra against known exponents (lnp.md §4 checks and classic systems)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neuro.dynamics import (
    jacobian,
    jacobian_diagonals,
    local_rates,
    lyapunov_spectrum,
    mean_log_det,
)


def lorenz_rk4(p, s, x):
    h = 0.01

    def f(u):
        return jnp.stack([10.0 * (u[1] - u[0]), u[0] * (28.0 - u[2]) - u[1],
                          u[0] * u[1] - 8.0 / 3.0 * u[2]])

    k1 = f(s)
    k2 = f(s + h / 2 * k1)
    k3 = f(s + h / 2 * k2)
    k4 = f(s + h * k3)
    return s + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


def henon(p, s, x):
    return jnp.stack([1.0 - 1.4 * s[0] ** 2 + s[1], 0.3 * s[0]])


def logistic(p, s, x):
    return 4.0 * s * (1.0 - s)


def linear(a, s, x):
    return a @ s


def leaky(tau, s, x):
    """Uncoupled leaky units, exact exponential step (dt = 1 ms): s <- a s + (1 - a) x."""
    a = jnp.exp(-1.0 / tau)
    return a * s + (1.0 - a) * x


def tanh_net(w, s, x):
    return 0.5 * s + jnp.tanh(w @ s + x)


def pytree_map(p, state, x):
    u, v = state["u"], state["v"]
    return {"u": 0.5 * u + 0.1 * v, "v": 0.2 * v * jnp.ones_like(v) + x}


def test_lorenz63_spectrum():
    res = lyapunov_spectrum(lorenz_rk4, jnp.array([1.0, 1.0, 20.0]), jnp.zeros((60_000, 0)), k=3,
                            dt=0.01, burn_in=2_000)
    # Sprott (2003): 0.9056, 0, -14.5723 at sigma = 10, rho = 28, beta = 8/3
    np.testing.assert_allclose(res.exponents, [0.906, 0.0, -14.572], atol=0.06)
    np.testing.assert_allclose(res.exponents.sum(), -(10 + 1 + 8 / 3), atol=0.02)  # trace
    assert res.running.shape[1] == 3 and res.times[-1] == pytest.approx(580.0)


def test_henon_spectrum_and_determinant():
    res = lyapunov_spectrum(henon, jnp.array([0.1, 0.1]), jnp.zeros((20_000, 0)), k=2,
                            burn_in=100)
    np.testing.assert_allclose(res.exponents, [0.4192, -1.6232], atol=0.01)
    assert res.exponents.sum() == pytest.approx(np.log(0.3), abs=1e-4)  # |det J| = b


def test_logistic_r4_is_ln2():
    res = lyapunov_spectrum(logistic, jnp.array([0.3]), jnp.zeros((20_000, 0)), burn_in=100)
    assert res.lambda_max == pytest.approx(np.log(2.0), abs=0.02)


def test_constant_linear_map_exact():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(6, 6)) / np.sqrt(6)
    mu = np.linalg.eigvals(a)
    res = lyapunov_spectrum(linear, jnp.ones(6), jnp.zeros((3_000, 0)), params=jnp.asarray(a),
                            k=6, burn_in=300, dt=2.0)
    expected = np.sort(np.log(np.abs(mu)))[::-1] / 2.0
    # complex pairs share a modulus: compare the sorted lists
    np.testing.assert_allclose(res.exponents, expected, atol=5e-3)


def test_uncoupled_leaky_units_exact():
    tau = jnp.array([5.0, 12.0, 20.0, 50.0, 150.0])
    drive = jax.random.normal(jax.random.PRNGKey(1), (400, 5))
    drive = jax.random.normal(jax.random.PRNGKey(1), (3_000, 5))
    # burn-in aligns Q with the eigenvectors (gap 0.013/step between the two slowest units)
    res = lyapunov_spectrum(leaky, jnp.zeros(5), drive, params=tau, k=5, burn_in=2_500)
    np.testing.assert_allclose(res.exponents, np.sort(-1.0 / np.asarray(tau))[::-1], rtol=1e-4)
    np.testing.assert_allclose(res.convergence(), 0.0, atol=1e-5)
    np.testing.assert_allclose(local_rates(leaky, jnp.zeros(5), drive, params=tau),
                               -1.0 / np.asarray(tau), rtol=1e-4)


def test_determinant_identity_nonlinear():
    rng = np.random.default_rng(3)
    n = 8
    w = jnp.asarray(rng.normal(size=(n, n)) * 1.5 / np.sqrt(n), jnp.float32)
    drive = jax.random.normal(jax.random.PRNGKey(2), (3_000, n)) * 0.5
    res = lyapunov_spectrum(tanh_net, jnp.zeros(n), drive, params=w, k=n, burn_in=200)
    total = mean_log_det(tanh_net, jnp.zeros(n), drive, params=w, burn_in=200)
    assert res.exponents.sum() == pytest.approx(total, rel=2e-3, abs=2e-3)
    assert res.exponents[0] > res.exponents[-1]


def test_pytree_state_and_jacobian_helpers():
    state = {"u": jnp.ones(2), "v": jnp.ones(1)}
    xs = jnp.zeros((200, 1))
    res = lyapunov_spectrum(pytree_map, state, xs, k=3, burn_in=10)
    # triangular Jacobian with diagonal (0.5, 0.5, 0.2)
    np.testing.assert_allclose(np.sort(res.exponents), np.log([0.2, 0.5, 0.5]), atol=1e-4)
    j = jacobian(pytree_map, None, state, jnp.zeros(1))
    assert j.shape == (3, 3)
    diag = jacobian_diagonals(pytree_map, state, xs, every=50)
    assert diag.shape == (4, 3)
    np.testing.assert_allclose(diag[0], [0.5, 0.5, 0.2], rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs, match",
    [({"k": 0}, "k must"), ({"k": 5}, "state size"), ({"burn_in": 500}, "longer than"),
     ({"dt": 0.0}, "dt must")],
)
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        lyapunov_spectrum(henon, jnp.zeros(2), jnp.zeros((100, 0)), **kwargs)
