import braintools
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import quad

from neuro.spikes import Surrogate, spike, surrogate

NAMES = ("sigmoid", "triangle", "inverse_square", "arctan")


@pytest.mark.parametrize("name", NAMES)
def test_forward_is_exact_heaviside(name):
    x = jnp.array([-2.0, -1e-6, 0.0, 1e-6, 3.0])
    np.testing.assert_array_equal(spike(x, surrogate(name)), [0, 0, 1, 1, 1])


# neurons.md §7: g'(0) and the integral of g'.
EXPECTED = {"sigmoid": (1.0, 1.0), "triangle": (0.3, 0.3), "inverse_square": (1.0, 0.02),
            "arctan": (1.0, 1.0)}


@pytest.mark.parametrize("name", NAMES)
def test_surrogate_peak_and_integral(name):
    s = surrogate(name)
    g = jax.jit(jax.grad(lambda x: spike(x, s)))
    f = lambda x: float(g(np.float32(x)))
    peak, area = EXPECTED[name]
    assert float(g(0.0)) == pytest.approx(peak, rel=1e-6)
    if name == "triangle":
        integral = quad(f, -1.5, 1.5, points=[-1.0, 0.0, 1.0])[0]
    else:
        integral = quad(f, -np.inf, 0.0, limit=200)[0] + quad(f, 0.0, np.inf, limit=200)[0]
    assert integral == pytest.approx(area, rel=2e-3)


BRAINTOOLS = {
    "sigmoid": braintools.surrogate.Sigmoid(alpha=4.0),
    "triangle": braintools.surrogate.ReluGrad(alpha=0.3, width=1.0),
    "inverse_square": braintools.surrogate.InvSquareGrad(alpha=100.0),
}


@pytest.mark.parametrize("name", sorted(BRAINTOOLS))
def test_gradient_matches_braintools(name):
    x = jnp.linspace(-2, 2, 41)
    ours = jax.vmap(jax.grad(lambda v: spike(v, surrogate(name))))(x)
    theirs = jax.vmap(jax.grad(lambda v: BRAINTOOLS[name](v)))(x)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-7)


def test_custom_surrogate_and_transforms():
    s = surrogate("custom", fn=lambda x: jnp.exp(-x * x))
    f = jax.jit(jax.vmap(jax.grad(lambda x: spike(x, s))))
    np.testing.assert_allclose(f(jnp.array([0.0, 1.0])), [1.0, np.exp(-1.0)], rtol=1e-6)

    def scanned(w):
        def body(v, _):
            v = 0.9 * v + w
            return v - spike(v - 1.0, Surrogate()), None
        return jax.lax.scan(body, 0.0, None, length=20)[0]

    assert np.isfinite(jax.grad(scanned)(0.3))


def test_bad_surrogate_names_the_parameter():
    with pytest.raises(ValueError, match="surrogate must be one of"):
        surrogate("nope")
    with pytest.raises(ValueError, match="alpha"):
        surrogate("sigmoid", alpha=-1.0)
    with pytest.raises(ValueError, match="fn"):
        Surrogate("custom")
