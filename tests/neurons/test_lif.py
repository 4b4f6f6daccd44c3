import brainpy
import brainstate
import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neuro.neurons import integrate_and_fire, lif
from neuro.neurons._firing import mpr_phi


def count_spikes(params, current, steps):
    state = params.init_state(1)
    total = 0
    for _ in range(steps):
        state, z = params.step(state, jnp.array([current]))
        total += int(z[0])
    return total, state


def test_if_soft_reset_counts_floor_of_charge():
    # neurons.md §9.1: I = 0.375, V_th = 1, 80 steps -> floor(30) = 30 spikes; charge conserved.
    n, state = count_spikes(integrate_and_fire(v_th=1.0, reset="soft"), 0.375, 80)
    assert n == 30
    assert float(state.v[0]) + 1.0 * n == pytest.approx(0.375 * 80)


def test_if_hard_reset_loses_the_residue():
    # §9.2: period ceil(1/0.375) = 3 -> floor(80/3) = 26 < 30.
    n, _ = count_spikes(integrate_and_fire(v_th=1.0, reset="hard"), 0.375, 80)
    assert n == 26


def test_lif_hard_reset_period_matches_analytic():
    # §9.3: tau = 20, dt = 1, RI = 2, V_th = 1 -> n* = ceil(ln(1 - 1/2)/ln(alpha)) = 14.
    p = lif(tau=20.0, v_th=1.0, reset="hard")
    state, times = p.init_state(1), []
    for t in range(1, 60):
        state, z = p.step(state, jnp.array([2.0]))
        if z[0]:
            times.append(t)
    expected = int(np.ceil(np.log(1 - 0.5) / np.log(np.exp(-1 / 20))))
    assert expected == 14
    assert times[:4] == [14, 28, 42, 56]


def test_lif_free_decay_is_exponential():
    p = lif(tau=10.0, dt=0.5, v_th=100.0)
    state = p.init_state(2, v0=jnp.array([1.0, -3.0]))
    for _ in range(40):
        state, _ = p.step(state, jnp.zeros(2))
    np.testing.assert_allclose(state.v, np.array([1.0, -3.0]) * np.exp(-40 * 0.5 / 10.0), rtol=1e-5)


def test_lif_matches_brainpy_state():
    currents = np.random.default_rng(0).uniform(0.0, 4.0, size=(200, 5)).astype(np.float32)
    ours = lif(tau=20.0, v_th=1.0, v_reset=0.0, v_rest=0.0, reset="soft")
    state, our_spikes = ours.init_state(5), []
    for i in currents:
        state, z = ours.step(state, jnp.asarray(i))
        our_spikes.append(np.asarray(z))
    with brainstate.environ.context(dt=1.0 * u.ms):
        ref = brainpy.state.LIF(5, tau=20 * u.ms, V_th=1 * u.mV, V_reset=0 * u.mV,
                                V_rest=0 * u.mV, R=1 * u.ohm, spk_reset="soft")
        brainstate.nn.init_all_states(ref)
        ref_spikes = [np.asarray(ref.update(jnp.asarray(i) * u.mA)) for i in currents]
    np.testing.assert_array_equal(np.array(our_spikes), np.array(ref_spikes))
    assert np.array(our_spikes).sum() > 40


def test_detach_reset_cuts_the_reset_gradient():
    # §9.5: dv_t/dz_t = 0 with detach_reset, -(V_th - V_reset) without (soft reset).
    def v_after(extra, detach):
        p = lif(tau=20.0, v_th=1.0, detach_reset=detach)
        state = p.init_state(1, v0=jnp.array([0.0]))
        state, _ = p.step(state, jnp.array([30.0 + extra]))  # fires
        return state.v[0]

    alpha = np.exp(-1 / 20)
    g_detached = jax.grad(v_after)(0.0, True)
    g_full = jax.grad(v_after)(0.0, False)
    assert float(g_detached) == pytest.approx(1 - alpha, rel=1e-5)
    # the reset adds -(V_th - V_reset) * g'(x) * dx/dv * (1 - alpha)
    x = ((1 - alpha) * 30.0 - 1.0) / 1.0
    s = float(jax.nn.sigmoid(4 * x))
    assert float(g_full) == pytest.approx((1 - alpha) * (1 - 4 * s * (1 - s)), rel=1e-4)


def test_refractory_period_blocks_spikes():
    p = lif(tau=20.0, v_th=0.1, refractory_steps=3)
    state, spikes = p.init_state(1), []
    for _ in range(20):
        state, z = p.step(state, jnp.array([5.0]))
        spikes.append(int(z[0]))
    times = np.flatnonzero(spikes)
    assert np.all(np.diff(times) >= 3) and len(times) >= 4  # min ISI = n_ref steps (LSNN)


def test_mpr_properties():
    # §9.7: phi(0) = 0, phi(1/2) = 1/2, phi(1) = 1, phi'(1/2) = k / (2 tanh(k/2)).
    k = 4.0
    np.testing.assert_allclose(mpr_phi(jnp.array([0.0, 0.5, 1.0, -0.3, 1.7]), k),
                               [0.0, 0.5, 1.0, -0.3, 1.7], atol=1e-6)
    d = jax.grad(lambda u: mpr_phi(u, k))
    assert float(d(0.5)) == pytest.approx(k / (2 * np.tanh(k / 2)), rel=1e-5)
    assert float(d(1e-4)) == pytest.approx(k / np.sinh(k), rel=1e-2)


def test_mpr_forward_spikes_equal_half_threshold_neuron():
    rng = np.random.default_rng(1)
    currents = rng.uniform(0, 1.2, (100, 6)).astype(np.float32)
    with_mpr = lif(tau=10.0, v_th=1.0, mpr="spike_only")
    plain = lif(tau=10.0, v_th=0.5, v_reset=-0.5)  # fires at 0.5, subtracts 1
    s1, s2 = with_mpr.init_state(6), plain.init_state(6)
    for i in currents:
        s1, z1 = with_mpr.step(s1, jnp.asarray(i))
        s2, z2 = plain.step(s2, jnp.asarray(i))
        np.testing.assert_array_equal(z1, z2)


@pytest.mark.parametrize(
    "kwargs, match",
    [({"tau": -1.0}, "tau"), ({"tau": 0.0}, "tau"), ({"dt": 0.0}, "dt"),
     ({"reset": "bounce"}, "reset"), ({"surrogate_fn": "nope"}, "surrogate"),
     ({"v_th": float("nan")}, "v_th"), ({"tau": jnp.array([1.0, jnp.nan])}, "tau"),
     ({"v_th": 0.0, "v_reset": 0.5}, "v_th"), ({"refractory_steps": -2}, "refractory")],
)
def test_bad_parameters_name_themselves(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        lif(**kwargs)


def test_heterogeneous_trainable_tau_gradient():
    tau = jnp.linspace(5.0, 50.0, 8)

    def loss(tau):
        p = lif(tau=tau, v_th=1.0)
        state = p.init_state(8)
        total = 0.0
        for _ in range(30):
            state, z = p.step(state, jnp.full(8, 1.3))
            total = total + z.sum()
        return total

    g = jax.grad(loss)(tau)
    assert g.shape == (8,) and bool(jnp.all(jnp.isfinite(g))) and bool(jnp.any(g != 0))


def numpy_lif_refractory(currents, tau, v_th, n_ref, reset, mode):
    """Reference loop: exponential Euler, refractory period = the spike step + n_ref - 1 steps
    (Brian2's ``refractory``); ``clamp`` holds v there, ``integrate`` only blocks spikes."""
    alpha = np.exp(-1.0 / tau)
    v = np.zeros(currents.shape[1])
    left = np.zeros(currents.shape[1], int)  # refractory steps left after this one
    vs, zs = [], []
    for i in currents:
        blocked = left > 0
        v_new = alpha * v + (1 - alpha) * i
        if mode == "clamp":
            v_new = np.where(blocked, v, v_new)
        z = (v_new > v_th) & ~blocked
        if reset == "soft":
            v_new = v_new - v_th * z
        else:
            v_new = np.where(z, 0.0, v_new)
        left = np.where(z, n_ref - 1, np.maximum(left - 1, 0))
        v = v_new
        vs.append(v.copy())
        zs.append(z.astype(float))
    return np.array(vs), np.array(zs)


@pytest.mark.parametrize("mode", ["clamp", "integrate"])
@pytest.mark.parametrize("reset", ["soft", "hard"])
def test_refractoriness_matches_a_numpy_loop(mode, reset):
    currents = np.random.default_rng(1).uniform(0.0, 6.0, size=(150, 6))
    p = lif(tau=10.0, v_th=1.0, reset=reset, refractory_steps=4, refractory_mode=mode)
    state, vs, zs = p.init_state(6), [], []
    for i in currents:
        state, z = p.step(state, jnp.asarray(i, jnp.float32))
        vs.append(np.asarray(state.v))
        zs.append(np.asarray(z))
    ref_v, ref_z = numpy_lif_refractory(currents, 10.0, 1.0, 4, reset, mode)
    np.testing.assert_array_equal(np.array(zs), ref_z)
    np.testing.assert_allclose(np.array(vs), ref_v, rtol=1e-5, atol=1e-5)
    isi = np.diff(np.flatnonzero(ref_z[:, 0]))
    assert isi.min() >= 4 and ref_z.sum() > 20


def test_clamped_membrane_does_not_run_away_while_refractory():
    # the probe: a strong input during a long refractory period
    for mode, bounded in (("clamp", True), ("integrate", False)):
        p = lif(tau=20.0, v_th=1.0, reset="hard", refractory_steps=30, refractory_mode=mode)
        state, peak = p.init_state(1), 0.0
        for _ in range(30):
            state, _ = p.step(state, jnp.array([60.0]))
            peak = max(peak, float(state.v[0]))
        assert (peak <= 1.0) == bounded, (mode, peak)  # integrate: v reaches > 2.5 V_th


def test_replace_cannot_bypass_validation():
    import dataclasses

    from neuro import _pytree
    from neuro.validation import ConfigError, NeuroError

    p = lif(tau=np.full(3, 10.0))
    with pytest.raises(ConfigError, match="tau must be positive"):
        dataclasses.replace(p, tau=-5.0)
    with pytest.raises(ConfigError, match="tau must be positive"):
        _pytree.replace(p, tau=jnp.array([10.0, -1.0, 3.0]))
    with pytest.raises(NeuroError, match="refractory_mode"):
        dataclasses.replace(p, refractory_mode="sometimes")
    with pytest.raises(ConfigError, match="v_th must be greater"):
        dataclasses.replace(p, v_reset=2.0)
    q = _pytree.replace(p, tau=20.0)  # a valid change: converted like the constructor does
    assert q.tau.dtype == p.tau.dtype and float(q.tau) == 20.0
    # JAX rebuilding the object (gradients, optimiser updates, tracers, None) is not validated
    neg = jax.tree_util.tree_map(lambda x: -x, p)
    assert float(neg.tau[0]) == -10.0
    g = jax.grad(lambda tau: p.step(_pytree.replace(p, tau=tau).init_state(3),
                                    jnp.full(3, 0.5))[0].v.sum())(p.tau)
    assert g.shape == (3,)
    jax.jit(lambda q: q.step(q.init_state(3), jnp.ones(3)))(p)
