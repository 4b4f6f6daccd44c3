"""Gordleeva et al. 2021 gain and event logic."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neuro.modulators.gordleeva import gordleeva_events, gordleeva_gain, gordleeva_synaptic_current

# ------------------------------------------------------------------ Gordleeva gain


def test_gordleeva_gain_limits_and_gradient():
    gain = gordleeva_gain()  # g_syn = 0.025, aep = 0.5, Ca_th = 0.15
    lo, hi = float(gain.conductance(jnp.asarray(0.05))), float(gain.conductance(jnp.asarray(0.5)))
    assert lo == pytest.approx(0.025, abs=0.5 * 0.01)  # gate ~ sigmoid(-5): event "off"
    assert hi == pytest.approx(0.525, abs=1e-6)  # gate ~ 1: the paper's g_syn + aep
    assert float(gain.gate(jnp.asarray(0.15))) == pytest.approx(0.5)
    grad = jax.grad(lambda c: gain.conductance(c))(jnp.asarray(0.15))
    assert float(grad) == pytest.approx(0.5 * 50.0 * 0.25)  # aep * s * sigma'(0)
    # synaptic current (src/step_neurons.m): E_syn = 0, V_post < 0 -> depolarising, scaled by g_eff
    pre_v = jnp.array([30.0, -65.0])
    w = jnp.array([[1.0], [1.0]])
    i_on = gordleeva_synaptic_current(gain, jnp.array([0.5]), pre_v, jnp.array([-65.0]), w)
    i_off = gordleeva_synaptic_current(gain, jnp.array([0.0]), pre_v, jnp.array([-65.0]), w)
    assert float(i_on[0]) > float(i_off[0]) > 0
    s = 1 / (1 + np.exp(-30.0 / 0.2)) + 1 / (1 + np.exp(65.0 / 0.2))
    assert float(i_on[0]) == pytest.approx(float(gain.conductance(jnp.asarray(0.5))) * s * 65.0,
                                           rel=1e-5)
    with pytest.raises(ValueError, match="sharpness"):
        gordleeva_gain(sharpness=0.0)


def test_gordleeva_events_last_exactly_250_and_60_ms():
    # astrocytes.md §5.4: I_astro stays 1 for exactly 250 ms after a trigger; I_neuro 60 ms.
    ev = gordleeva_events(dt=1.0)
    n = 1000
    ca = np.where(np.arange(n) >= 100, 0.2, 0.1)  # Ca above 0.15 from t = 100 ms
    spikes = np.zeros(n)
    spikes[95] = 6  # zone count reached 6 at t = 95 ms: within 10 ms of t = 100
    spikes[700] = 6  # a second burst while Ca is high -> a second event
    active = np.zeros(n)
    active[300] = 8

    def f(state, inp):
        state, i_astro, i_neuro = ev.step(state, *inp)
        return state, (i_astro, i_neuro)

    _, (i_astro, i_neuro) = jax.lax.scan(f, ev.init_state(()), tuple(
        jnp.asarray(a) for a in (ca, spikes, active)))
    on = np.nonzero(np.asarray(i_astro))[0]
    np.testing.assert_array_equal(on, np.r_[100:350, 700:950])
    np.testing.assert_array_equal(np.nonzero(np.asarray(i_neuro))[0], np.arange(300, 360))
    assert float(np.max(i_neuro)) == 5.0
    # no trigger without the recent spike burst, or with the burst more than 10 ms back
    spikes_old = np.zeros(n)
    spikes_old[85] = 6
    _, (i_astro2, _) = jax.lax.scan(f, ev.init_state(()), tuple(
        jnp.asarray(a) for a in (ca, spikes_old, active)))
    assert float(np.sum(i_astro2)) == 0.0


