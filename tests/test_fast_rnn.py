"""The event-driven path of neuro.fast_rnn (``backend="fused-event"``): its kernels against NumPy,
the layer against plain autodiff of the per-step reference Network (``backend="xla"``) in float64,
and its gradients against finite differences (graded spikes: the smoothed map is
differentiable, so its exact gradient is defined)."""

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neuro._pytree import replace, value_and_grad
from neuro.fast_rnn import events_available
from neuro.models.rsnn import rsnn
from neuro.neurons import lif
from neuro.run import scan_steps
from neuro.spikes import smoothed, surrogate
from neuro.train import cross_entropy, readout_logits

pytestmark = pytest.mark.skipif(not events_available(), reason="event kernels need llvmlite")
T, B, N_IN, N_REC, N_OUT = 10, 3, 9, 7, 4


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernels_equal_numpy(dtype):
    from neuro import _event_kernels as kernels

    with jax.enable_x64(dtype == np.float64):
        rng = np.random.default_rng(0)
        # 37 columns: two blocks of 16 tested at once, then 5 one by one
        x = np.where(rng.random((13, 37)) < 0.2, rng.normal(size=(13, 37)), 0.0).astype(dtype)
        x[0, 0], x[1, 1], x[2, 2], x[3, 35] = np.nan, -0.0, 1e30, -0.0  # NaN: an event; -0.0: none
        w, d, acc = (rng.normal(size=s).astype(dtype) for s in ((37, 70), (13, 70), (13, 70)))
        tol = {"rtol": 1e-5 if dtype == np.float32 else 1e-13, "atol": 1e-5}
        with np.errstate(invalid="ignore", over="ignore"):
            np.testing.assert_allclose(kernels.matmul(x, w, acc), acc + x @ w, **tol)
            np.testing.assert_allclose(kernels.matmul_t(x, d), x.T @ d, **tol)
        events = x != 0
        np.testing.assert_allclose(kernels.matmul(events, w), events @ w, **tol)
        np.testing.assert_allclose(jax.jit(kernels.matmul_t)(events, d), events.T.astype(dtype) @ d,
                                   **tol)
        batched = jax.vmap(kernels.matmul)(np.stack([events, ~events]), np.stack([w, 2 * w]))
        np.testing.assert_allclose(batched[1], (~events) @ (2 * w), **tol)
        # a shared w: the batch is one call on its rows (the batching rule), batched acc too
        shared = jax.jit(jax.vmap(kernels.matmul, in_axes=(0, None, 0)))(
            np.stack([events, ~events, events]), w, np.stack([acc, -acc, 0 * acc]))
        for got, xb, ab in zip(shared, (events, ~events, events), (acc, -acc, 0 * acc),
                               strict=True):
            np.testing.assert_allclose(got, ab + xb @ w, **tol)
        rows = jax.vmap(lambda r: kernels.matmul(r[None], w)[0])(events)  # one row per element
        np.testing.assert_allclose(rows, events @ w, **tol)
        with pytest.raises(ValueError, match="do not chain"):
            kernels.matmul(events, d)


def _loss(net, xs, labels):
    _, rec = scan_steps(net, net.init_state(xs.shape[1], xs.dtype), xs,
                        monitors=("spikes.h", "readout.y"))
    loss, _ = cross_entropy(readout_logits(rec["readout.y"]), labels)
    return loss + 0.1 * jnp.sum(rec["spikes.h"].mean(axis=(0, 1)) ** 2)


_grad = jax.jit(value_and_grad(_loss))
_loss_jit = jax.jit(_loss)


def _setup(neuron, seed=0):
    k_net, k_x, k_v, k_y = jax.random.split(jax.random.PRNGKey(seed), 4)
    net = rsnn(k_net, N_IN, N_REC, N_OUT, neuron=neuron, in_gain=3.0, rec_gain=2.0,
               backend="fused-event")
    sparse = jax.random.uniform(k_x, (T, B, N_IN), jnp.float64) < 0.3
    xs = sparse * jax.random.uniform(k_v, (T, B, N_IN), jnp.float64, 0.5, 1.5)  # valued events
    return net, xs, jax.random.randint(k_y, (B,), 0, N_OUT)


def _weights(g):
    return {"w_in": g.projections["in"].w, "b": g.projections["in"].b,
            "w_rec": g.projections["rec"].w, "w_out": g.readouts["y"].w,
            "tau": g.populations["h"].neuron.tau}


def test_event_layer_equals_dense_reference_float64():
    with jax.enable_x64(True):
        net, xs, labels = _setup(lif(tau=jnp.linspace(5.0, 30.0, N_REC), v_th=0.3), seed=2)
        ref = replace(net, projections={**net.projections,
                                        "rec": replace(net.projections["rec"], backend="xla")})
        _, r_ev = scan_steps(net, net.init_state(B, jnp.float64), xs, monitors=("spikes.h",))
        _, r_ref = scan_steps(ref, ref.init_state(B, jnp.float64), xs, monitors=("spikes.h",))
        assert 0.05 < float(r_ref["spikes.h"].mean()) < 0.9  # spikes and silences: real events
        np.testing.assert_array_equal(r_ev["spikes.h"], r_ref["spikes.h"])
        (l_ev, g_ev), (l_ref, g_ref) = _grad(net, xs, labels), _grad(ref, xs, labels)
        np.testing.assert_allclose(l_ev, l_ref, rtol=1e-12)
        for name, (a, b) in {k: (v, _weights(g_ref)[k]) for k, v in _weights(g_ev).items()}.items():
            scale = float(jnp.abs(b).max())
            assert scale > 0, name
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6 * scale, err_msg=name)


def test_event_layer_gradient_matches_finite_differences():
    with jax.enable_x64(True):
        neuron = lif(v_th=0.3, surrogate_fn=smoothed(surrogate("sigmoid")))  # graded spikes
        net, xs, labels = _setup(neuron, seed=3)
        _, grads = _grad(net, xs, labels)
        key = jax.random.PRNGKey(4)
        for group, part, field in (("projections", "in", "w"), ("projections", "in", "b"),
                                   ("projections", "rec", "w"), ("readouts", "y", "w")):
            key, sub = jax.random.split(key)
            base = getattr(getattr(net, group)[part], field)
            v = jax.random.normal(sub, base.shape, jnp.float64)

            def at(eps, group=group, part=part, field=field, base=base, v=v):
                parts = getattr(net, group)
                new = replace(parts[part], **{field: base + eps * v})
                return _loss_jit(replace(net, **{group: {**parts, part: new}}), xs, labels)

            eps = 1e-5
            fd = (at(eps) - at(-eps)) / (2 * eps)
            exact = jnp.vdot(getattr(getattr(grads, group)[part], field), v)
            np.testing.assert_allclose(exact, fd, rtol=1e-6, err_msg=f"{part}.{field}")


@pytest.mark.slow
def test_compiled_kernels_are_cached_and_mapped_without_llvm(tmp_path):

    code = ("import sys, numpy as np, jax.numpy as jnp\n"
            "from neuro import _event_kernels as k\n"
            "x = np.eye(3, 20, dtype=bool)\n"
            "np.testing.assert_allclose(k.matmul(x, jnp.ones((20, 2))), np.ones((3, 2)))\n"
            "print('llvmlite' in sys.modules)\n")
    env = {**os.environ, "NEURO_CACHE_DIR": str(tmp_path)}
    runs = [subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                           check=True).stdout.split() for _ in range(2)]
    assert runs == [["True"], ["False"]]  # compiled once, then mapped from the cache
    assert len(list((tmp_path / "event_kernels").glob("*.o"))) == 1
