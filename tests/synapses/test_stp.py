import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neuro.synapses import glia_release, tsodyks_markram


def _run_tm(syn, spikes, glio):
    def f(state, inp):
        s, g = inp
        state, r = syn.step(state, s, g)
        return state, (r, state.gamma, syn.release_probability(state.gamma))

    return jax.lax.scan(f, syn.init_state(spikes.shape[1:]), (spikes, glio))


_run_tm_jit = jax.jit(_run_tm)


def test_tm_matches_an_event_driven_reference():
    # Independent reference: Brian's event-driven update written with inter-spike intervals.
    syn = tsodyks_markram(dt=1.0)
    spike_times = np.array([10, 30, 35, 40, 100, 101, 400, 402])  # ms
    spikes = np.zeros((500, 1))
    spikes[spike_times, 0] = 1
    _, (r, _, _) = _run_tm_jit(syn, jnp.asarray(spikes), jnp.zeros((500, 1)))
    r = np.asarray(r[:, 0])
    u, x, last, ref = 0.0, 1.0, 0.0, []
    for t in spike_times:
        dt = t - last if ref else t + 1  # state starts rested at step -1
        u *= np.exp(-3.33e-3 * dt)
        x = 1 - (1 - x) * np.exp(-2e-3 * dt)
        u += 0.6 * (1 - u)
        ref.append(u * x)
        x -= u * x
        last = t
    np.testing.assert_allclose(r[spike_times], ref, rtol=1e-5)
    assert r[spike_times[0]] == pytest.approx(0.6)  # first spike releases U_0* of a full pool
    assert np.count_nonzero(r) == len(spike_times)
    assert r[spike_times[3]] < r[spike_times[0]]  # depression dominates at 200 Hz bursts


def test_release_probability_limits():
    # astrocytes.md §5.5: G_A = 0 -> Gamma_S -> 0 and U_0 -> U_0*; Gamma_S = 1 -> U_0 = alpha.
    syn = tsodyks_markram(alpha=0.9, dt=100.0, omega_g=1e-3)
    assert float(syn.release_probability(jnp.asarray(1.0))) == pytest.approx(0.9)
    assert float(syn.release_probability(jnp.asarray(0.0))) == pytest.approx(0.6)
    state = syn.init_state(1)._replace(gamma=jnp.ones(1))
    for _ in range(100):  # 10 s, Omega_G = 1/s
        state, _ = syn.step(state, jnp.zeros(1), 0.0)
    assert float(state.gamma[0]) == pytest.approx(np.exp(-10.0), rel=1e-3)
    assert float(syn.release_probability(state.gamma)[0]) == pytest.approx(0.6 + 0.3 * np.exp(-10),
                                                                          rel=1e-4)


def test_constant_gliotransmitter_binds_receptors_to_the_analytic_steady_state():
    syn = tsodyks_markram(dt=10.0)  # alpha = 0: release-decreasing gliotransmission
    g = 2.0  # uM
    steps = 60_000  # 600 s: many binding time constants
    _, (_, gamma, u0) = _run_tm_jit(syn, jnp.zeros((steps, 1)), jnp.full((steps, 1), g))
    k_on, k_off = 1.5e-3 * g, 0.5 / 60e3
    g_inf = k_on / (k_on + k_off)
    t = np.array([100, 1000, steps]) * 10.0
    np.testing.assert_allclose(np.asarray(gamma[t.astype(int) // 10 - 1, 0]),
                               g_inf * (1 - np.exp(-(k_on + k_off) * t)), rtol=1e-4)
    assert float(u0[-1, 0]) == pytest.approx(0.6 * (1 - g_inf), abs=2e-6)  # float32 1 - gamma
    assert float(u0[-1, 0]) < 0.6


def test_glia_release_on_upward_crossings_only():
    rel = glia_release(dt=1.0)
    ca = np.concatenate([np.linspace(0.1, 0.8, 100), np.full(200, 0.8), np.linspace(0.8, 0.1, 100),
                         np.linspace(0.1, 0.8, 100)])

    def f(state, c):
        state, g = rel.step(state, c)
        return state, (g, state.x_a)

    _, (g, x_a) = jax.lax.scan(f, rel.init_state((), ca0=0.1), jnp.asarray(ca))
    g, x_a = np.asarray(g), np.asarray(x_a)
    jumps = np.nonzero(np.diff(np.concatenate([[0.0], g])) > 1.0)[0]
    assert len(jumps) == 2  # two upward crossings, none while Ca stays above C_Theta
    quantum = 6.5e-4 * 200e3 * 0.6  # rho_e G_T U_A = 78 uM from a full pool
    assert g[jumps[0]] == pytest.approx(quantum, rel=1e-5)
    assert x_a[jumps[0]] == pytest.approx(0.4, rel=1e-5)
    # cleared at Omega_e = 60/s between releases
    assert g[jumps[0] + 50] == pytest.approx(quantum * np.exp(-0.06 * 50), rel=1e-4)
    # second release smaller: the pool recovered only partially (Omega_A = 0.6/s)
    x_before = 1 - 0.6 * np.exp(-0.6e-3 * (jumps[1] - jumps[0]))
    assert g[jumps[1]] == pytest.approx(quantum * x_before + g[jumps[1] - 1] * np.exp(-0.06),
                                        rel=1e-3)


def test_smooth_release_edge_is_differentiable_and_close_to_the_event():
    hard, soft = glia_release(dt=1.0), glia_release(dt=1.0, edge_sharpness=200.0)
    ca = jnp.linspace(0.2, 0.9, 300)

    def total(model, scale):
        def f(state, c):
            state, g = model.step(state, c * scale)
            return state, g

        return jax.lax.scan(f, model.init_state((), ca0=0.2), ca)[1].sum()

    assert float(total(soft, 1.0)) == pytest.approx(float(total(hard, 1.0)), rel=0.05)
    grad = jax.grad(lambda s: total(soft, s))(1.0)
    assert np.isfinite(float(grad)) and float(grad) != 0.0


def test_glia_to_synapse_closed_loop_lowers_release():
    # Stimberg et al. Fig. 4B qualitative: with alpha = 0, gliotransmitter released by the astrocyte
    # lowers the synaptic release probability and the transmitter released per spike.
    syn, rel = tsodyks_markram(dt=1.0), glia_release(dt=1.0)
    steps = 20_000
    spikes = jax.random.bernoulli(jax.random.PRNGKey(0), 10e-3, (steps,)).astype(float)
    ca = jnp.where(jnp.arange(steps) % 5000 < 2000, 0.8, 0.1)  # three Ca transients (4 crossings)

    def f(carry, inp):
        s_state, g_state = carry
        s, c = inp
        g_state, g_a = rel.step(g_state, c)
        s_state, r = syn.step(s_state, s, g_a)
        return (s_state, g_state), (r, s_state.gamma)

    init = (syn.init_state(()), rel.init_state((), ca0=0.1))
    _, (r_glia, gamma) = jax.lax.scan(f, init, (spikes, ca))
    _, (r_plain, _, _) = _run_tm_jit(syn, spikes[:, None], jnp.zeros((steps, 1)))
    assert float(gamma[-1]) > 0.1
    assert float(r_glia.sum()) < 0.95 * float(r_plain.sum())


@pytest.mark.parametrize("kwargs, match", [({"u0_star": 1.5}, "u0_star"),
                                           ({"omega_d": -1.0}, "omega_d"),
                                           ({"alpha": -0.1}, "alpha")])
def test_bad_synapse_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        tsodyks_markram(**kwargs)
    with pytest.raises(ValueError, match="c_theta"):
        glia_release(c_theta=0.0)
