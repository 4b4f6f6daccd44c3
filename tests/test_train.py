import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from neuro import spike, surrogate
from neuro._pytree import replace, value_and_grad
from neuro.models import rsnn as rsnn_model
from neuro.neurons import alif, lif
from neuro.run import scan_steps
from neuro.train import (
    Trainer,
    cross_entropy,
    masked,
    rate_regularizer,
    readout_logits,
    trainable_mask,
)


def tiny_task(n=64, steps=30, n_in=6, seed=0):
    """Two classes that differ in which half of the input channels is active."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n).astype(np.int32)
    x = rng.uniform(0, 0.3, (n, steps, n_in)).astype(np.float32)
    x[y == 0, :, : n_in // 2] += 0.7
    x[y == 1, :, n_in // 2:] += 0.7
    return x, y


def run(net, xs, remat_chunk=None):
    _, rec = scan_steps(net, net.init_state(xs.shape[1]), xs, monitors=("spikes.h", "readout.y"),
                        remat_chunk=remat_chunk)
    return {"spikes": rec["spikes.h"], "readout": rec["readout.y"]}


def loss_fn(params, batch, key):
    xs, y = batch
    rec = run(params, jnp.swapaxes(xs, 0, 1))
    ce, acc = cross_entropy(readout_logits(rec["readout"]), y)
    return ce + rate_regularizer(rec["spikes"], 10.0, 1.0, 0.1), {"accuracy": acc}


@pytest.mark.parametrize("neuron", [lif(v_th=0.5), alif(thr=0.5, beta=0.5)])
def test_gradients_through_150_steps_are_finite(neuron):
    params = rsnn_model.rsnn(jax.random.PRNGKey(0), 6, 16, 2, neuron=neuron, in_gain=2.0)
    x, y = tiny_task(8, 150)
    _, grads = value_and_grad(lambda p: loss_fn(p, (x, y), None)[0])(params)
    leaves = jax.tree_util.tree_leaves(grads)
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in leaves)
    assert float(jnp.abs(grads.projections["rec"].w).sum()) > 0


def test_surrogate_gradient_equals_straight_through_estimator():
    """An independent implementation: z = H(x) + sigmoid(4x) - stop_gradient(sigmoid(4x))."""
    xs = jax.random.uniform(jax.random.PRNGKey(4), (100, 3, 5), maxval=0.6)
    w = jax.random.normal(jax.random.PRNGKey(5), (5, 5)) * 0.5

    def model(w, ste):
        def body(carry, x):
            v, z = carry
            v = 0.9 * v + 0.1 * (x @ w) * 10 - z
            if ste:
                s = jax.nn.sigmoid(4.0 * (v - 1.0))
                z = jnp.where(v >= 1.0, 1.0, 0.0) + s - jax.lax.stop_gradient(s)
            else:
                z = spike(v - 1.0, surrogate("sigmoid", alpha=4.0))
            return (v, z), z

        _, zs = jax.lax.scan(body, (jnp.zeros((3, 5)), jnp.zeros((3, 5))), xs)
        return jnp.sum(zs * jnp.arange(100.0)[:, None, None])

    g_ours = jax.grad(model)(w, False)
    g_ste = jax.grad(model)(w, True)
    np.testing.assert_allclose(g_ours, g_ste, rtol=1e-4, atol=1e-5)
    assert float(jnp.abs(g_ours).sum()) > 0


def test_training_learns_and_is_deterministic():
    x, y = tiny_task(128, 25)
    params = rsnn_model.rsnn(jax.random.PRNGKey(1), 6, 24, 2, neuron=lif(v_th=0.5), in_gain=2.0)
    trainer = Trainer(loss_fn, optax.adam(1e-2))
    p1, _, hist = trainer.fit(params, x, y, epochs=8, batch_size=32, seed=3)
    p2, _, _ = trainer.fit(params, x, y, epochs=8, batch_size=32, seed=3)
    assert hist[-1]["accuracy"] > 0.9 and hist[-1]["loss"] < hist[0]["loss"]
    for a, b in zip(jax.tree_util.tree_leaves(p1), jax.tree_util.tree_leaves(p2), strict=True):
        np.testing.assert_array_equal(a, b)


def test_masked_optimizer_freezes_time_constants():
    x, y = tiny_task(32, 10)
    params = rsnn_model.rsnn(jax.random.PRNGKey(2), 6, 8, 2, neuron=alif(thr=0.5))
    mask = trainable_mask(params, ("w",))
    mask = replace(mask, readouts=jax.tree_util.tree_map(lambda m: False, mask.readouts))
    trainer = Trainer(loss_fn, masked(optax.sgd(0.1), mask))
    new, _, _ = trainer.fit(params, x, y, epochs=1, batch_size=16)
    np.testing.assert_array_equal(new.populations["h"].neuron.tau_a,
                                  params.populations["h"].neuron.tau_a)
    np.testing.assert_array_equal(new.readouts["y"].w, params.readouts["y"].w)
    assert not np.array_equal(new.projections["rec"].w, params.projections["rec"].w)


def test_remat_memory_mode_gives_same_gradients():
    x, _ = tiny_task(4, 60)
    params = rsnn_model.rsnn(jax.random.PRNGKey(0), 6, 10, 2, neuron=lif(v_th=0.5), in_gain=2.0)

    def loss(p, remat):
        rec = run(p, jnp.swapaxes(x, 0, 1), remat_chunk=remat)
        return jnp.sum(rec["readout"] ** 2)

    _, g1 = value_and_grad(loss)(params, None)
    _, g2 = value_and_grad(loss)(params, 10)
    for a, b in zip(jax.tree_util.tree_leaves(g1), jax.tree_util.tree_leaves(g2), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_input_validation():
    with pytest.raises(ValueError, match="mode"):
        readout_logits(jnp.ones((3, 2, 2)), "median")


def test_gradient_matches_finite_differences_of_the_smooth_surrogate_model():
    """With no reset, v_t does not depend on spikes, so d/dw sum_t c_t H(v_t(w) - 1) under the
    sigmoid surrogate equals d/dw sum_t c_t sigmoid(4 (v_t(w) - 1)) -- checked by central finite
    differences of the smooth model in float64."""
    with jax.enable_x64(True):
        xs = jax.random.uniform(jax.random.PRNGKey(7), (120, 4), dtype=jnp.float64) * 3.0
        c = jnp.linspace(-1.0, 1.0, 120)[:, None]

        def spiking(w):
            p = lif(tau=10.0, v_th=1.0, reset="none")

            def body(s, x):
                s, z = p.step(s, x * w)
                return s, z

            return jnp.sum(c * jax.lax.scan(body, p.init_state(4), xs)[1])

        def smooth(w):
            a = np.exp(-0.1)

            def body(v, x):
                v = a * v + (1 - a) * x * w
                return v, jax.nn.sigmoid(4.0 * (v - 1.0))

            return jnp.sum(c * jax.lax.scan(body, jnp.zeros(4, jnp.float64), xs)[1])

        w0, h = 1.1, 1e-6
        fd = (smooth(w0 + h) - smooth(w0 - h)) / (2 * h)
        assert float(jax.grad(spiking)(w0)) == pytest.approx(float(fd), rel=1e-6)
