"""DSR LIF against a plain NumPy transcription of HLOP's reference code (modules/neuron_dsr.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neuro.neurons import dsr_lif, dsr_neuron, weighted_firing_rate
from neuro.neurons.dsr import rate_surrogate


def ref_forward(inputs, vth, tau=1.0, dt=0.05, alpha=0.3):
    """LIFFunction.forward, loop for loop: threshold alpha*Vth, reset by Vth, output spike/dt."""
    beta = np.exp(-dt / tau)
    mem = np.zeros(inputs.shape[1:])
    out = []
    for t in range(inputs.shape[0]):
        mem = beta * mem + (1 - beta) * inputs[t]
        spike = (mem >= alpha * vth).astype(float) * vth
        mem = mem - spike
        out.append(spike / dt)
    return np.stack(out)


def ref_wfr(data, tau, dt):
    steps = data.shape[0]
    w = np.array([np.exp(-1 / tau * (dt * steps - ii * dt)) for ii in range(1, steps + 1)])
    return np.tensordot(w, data, axes=1) / w.sum()


def ref_backward(inputs, grad_output, vth, tau=1.0, dt=0.05):
    """LIFFunction.backward + lif_grad."""
    steps = inputs.shape[0]
    rate_in = ref_wfr(inputs, tau, dt)
    coding = ref_wfr(grad_output, tau, dt) * steps
    idx = (rate_in > 0) & (rate_in < vth / dt * tau)
    g = np.where(idx, coding / tau, 0.0)
    g_vth = np.sum(np.where(rate_in <= vth / dt * tau, 0.0, coding)) * dt
    return np.broadcast_to(g / steps, inputs.shape), g_vth


def test_forward_matches_reference_loop():
    rng = np.random.default_rng(0)
    cur = rng.normal(1.0, 3.0, size=(20, 6, 7)).astype(np.float32)
    got = np.asarray(dsr_lif(jnp.asarray(cur), jnp.float32(0.3), 1.0, 0.05, 0.3))
    want = ref_forward(cur.astype(np.float64), 0.3)
    # float32 vs float64 can flip a spike only at an exact threshold tie; none occur here
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert 0 < (want > 0).mean() < 1


def test_threshold_and_reset_pairing():
    """Threshold kappa*V_th = 0.09 but the reset subtracts V_th = 0.3 (the reference pairing)."""
    neuron = dsr_neuron(0.3)
    beta = np.exp(-0.05)
    current = 2.0
    u, state, n_spikes, went_negative = 0.0, neuron.init_state(1), 0, False
    for _ in range(20):
        state, z = neuron.step(state, jnp.array([current]))
        u = beta * u + (1 - beta) * current
        fired = u >= 0.09
        u -= 0.3 * fired
        n_spikes += int(fired)
        went_negative |= u < 0
        assert float(z[0]) == float(fired)
        np.testing.assert_allclose(float(state.u[0]), u, rtol=1e-5, atol=1e-6)
    # spiking at 0.09 and subtracting 0.3 drives the membrane below zero after a spike
    assert n_spikes > 0 and went_negative


def test_backward_matches_reference():
    rng = np.random.default_rng(1)
    cur = rng.normal(2.0, 4.0, size=(20, 5, 9)).astype(np.float32)
    g_out = rng.normal(size=cur.shape).astype(np.float32)
    _, vjp = jax.vjp(lambda c, v: dsr_lif(c, v, 1.0, 0.05, 0.3), jnp.asarray(cur),
                     jnp.float32(0.3))
    g_in, g_vth = vjp(jnp.asarray(g_out))
    want_in, want_vth = ref_backward(cur.astype(np.float64), g_out.astype(np.float64), 0.3)
    np.testing.assert_allclose(np.asarray(g_in), want_in, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(float(g_vth), want_vth, rtol=1e-4, atol=1e-5)
    # gradient is the same at every step and zero outside 0 < wfr(I) < V_th tau/dt
    assert np.allclose(np.asarray(g_in)[0], np.asarray(g_in)[-1])


def test_weighted_firing_rate_formula():
    x = np.arange(40, dtype=np.float32).reshape(20, 2)
    np.testing.assert_allclose(np.asarray(weighted_firing_rate(jnp.asarray(x), 1.0, 0.05)),
                               ref_wfr(x, 1.0, 0.05), rtol=1e-5)


def test_rate_surrogate_value_and_gradient():
    drive, value, gain = jnp.array([1.0, 2.0]), jnp.array([5.0, 7.0]), jnp.array([0.5, 0.0])
    vth_gain = jnp.array([0.0, 2.0])
    assert np.allclose(rate_surrogate(drive, value, gain, 0.3, vth_gain), value)
    g, gv = jax.grad(lambda d, v: jnp.sum(3.0 * rate_surrogate(d, value, gain, v, vth_gain)),
                     argnums=(0, 1))(drive, jnp.float32(0.3))
    np.testing.assert_allclose(np.asarray(g), [1.5, 0.0])
    np.testing.assert_allclose(float(gv), 6.0)


def test_amplitude_output_and_binary_flag():
    n = dsr_neuron(output="amplitude")
    s, z = n.step(n.init_state(3), jnp.array([0.0, 5.0, 20.0]))
    assert not n.binary and dsr_neuron().binary
    np.testing.assert_allclose(np.asarray(z), [0.0, 6.0, 6.0])  # V_th / dt per spike
    with pytest.raises(ValueError, match="output"):
        dsr_neuron(output="rate")


def test_constructor_validates():
    with pytest.raises(ValueError, match="v_th"):
        dsr_neuron(v_th=0.0)
    with pytest.raises(ValueError, match="tau"):
        dsr_neuron(tau=-1.0)
