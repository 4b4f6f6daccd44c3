import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp

from neuro.astrocytes import (
    LR_DEFAULTS,
    astro_modulation,
    astro_unit_init,
    astro_unit_step,
    block_groups,
    gordleeva_events,
    gordleeva_gain,
    gordleeva_synaptic_current,
    li_rinzel,
    map_groups,
    tripartite,
)
from neuro.neurons import alif, lif


def _scan_astro(astro, drive, state=None):
    """Run a Li-Rinzel population over drive [T, ...]; return (final state, ip3, ca, sic)."""
    state = astro.init_state(drive.shape[1:]) if state is None else state

    def f(st, x):
        st, sic = astro.step(st, x)
        return st, (st.ip3, st.ca, sic)

    final, (ip3, ca, sic) = jax.lax.scan(f, state, drive)
    return final, ip3, ca, sic


_scan_jit = jax.jit(_scan_astro)


# ------------------------------------------------------------------ Li-Rinzel unit checks


def test_rest_state_stays_below_threshold():
    # astrocytes.md §5.1: no input -> IP3 = IP3_0 exactly, Ca ~ 0.073 uM < SIC_th, I_SIC = 0.
    astro = li_rinzel(dt=1.0)
    _, ip3, ca, sic = _scan_jit(astro, jnp.zeros((20_000, 1)))  # 20 s
    assert np.all(np.asarray(ip3) == np.float32(0.16))
    assert np.max(np.abs(np.asarray(ca) - 0.073)) < 1e-3
    assert np.all(np.asarray(ca) < LR_DEFAULTS["sic_th"])
    assert np.all(np.asarray(sic) == 0.0)


def test_sic_is_positive_exactly_above_threshold_plus_one_nanomolar():
    # §5.2: I_SIC > 0 exactly when Ca > SIC_th + 0.001 uM, and then equals ln(y), y in nM.
    astro = li_rinzel()
    th = LR_DEFAULTS["sic_th"] + 0.001
    ca = jnp.asarray(np.concatenate([np.linspace(0.0, th - 1e-4, 50),
                                     np.linspace(th + 1e-4, 2.0, 50)]))
    sic = np.asarray(astro.sic(ca))
    assert np.all(sic[:50] == 0.0) and np.all(sic[50:] > 0.0)
    y = 1000.0 * (np.asarray(ca[50:]) - LR_DEFAULTS["sic_th"])
    np.testing.assert_allclose(sic[50:], np.log(y), rtol=1e-4)
    # the gradient is finite everywhere (zero below threshold)
    g = jax.vmap(jax.grad(lambda c: astro.sic(c)))(ca)
    assert np.all(np.isfinite(np.asarray(g))) and np.all(np.asarray(g)[:50] == 0.0)


def test_calcium_stays_within_zero_and_total():
    # §5.2: Ca never leaves [0, Ca_tot], even under a massive IP3 drive.
    astro = li_rinzel(dt=1.0, delta_ip3=0.5)
    _, _, ca, _ = _scan_jit(astro, jnp.full((5_000, 2), 50.0))
    ca = np.asarray(ca)
    assert ca.min() >= 0.0 and ca.max() <= 2.0 and ca.max() > LR_DEFAULTS["sic_th"]


def test_ip3_relaxes_by_one_over_e_in_tau_ip3():
    # §5.3: after one input, IP3 - IP3_0 decays by e^-1 in tau_IP3 (Euler: (1 - dt/tau)^(tau/dt)).
    astro = li_rinzel(dt=0.1)
    tau = LR_DEFAULTS["tau_ip3"]
    n = int(round(tau / 0.1))
    drive = jnp.zeros((n + 1, 1)).at[0, 0].set(1000.0)  # IP3 += 0.2 uM at step 0
    _, ip3, _, _ = _scan_jit(astro, drive)
    ip3 = np.asarray(ip3[:, 0], dtype=np.float64)
    ratio = (ip3[n] - 0.16) / (ip3[0] - 0.16)
    assert ratio == pytest.approx(np.exp(-1.0), rel=2e-3)


def test_euler_matches_scipy_solve_ivp_on_the_same_ode():
    # Independent integrator: scipy's adaptive RK45 on the NEST right-hand side, written out here.
    p = LR_DEFAULTS

    def rhs(_t, y):
        ip3, ca, h = y
        m, n = ip3 / (ip3 + p["kd_ip3_1"]), ca / (ca + p["kd_act"])
        ca_er = (p["ca_tot"] - ca) / p["ratio_er_cyt"]
        j_chan = p["ratio_er_cyt"] * p["rate_ip3r"] * m**3 * n**3 * h**3 * (ca_er - ca)
        j_leak = p["ratio_er_cyt"] * p["rate_l"] * (ca_er - ca)
        j_pump = p["rate_serca"] * ca**2 / (p["km_serca"] ** 2 + ca**2)
        a_h = p["k_ip3r"] * p["kd_inh"] * (ip3 + p["kd_ip3_1"]) / (ip3 + p["kd_ip3_2"])
        return [(p["ip3_0"] - ip3) / p["tau_ip3"], j_chan - j_pump + j_leak,
                a_h * (1 - h) - p["k_ip3r"] * ca * h]

    y0 = [1.5, 0.073, 0.793]  # IP3 well above rest: Ca rises past SIC_th and relaxes
    t_end, dt = 20_000.0, 0.5
    steps = int(t_end / dt)
    sol = solve_ivp(rhs, (0, t_end), y0, rtol=1e-9, atol=1e-12, t_eval=np.arange(1, steps + 1) * dt)
    astro = li_rinzel(dt=dt)
    from neuro.astrocytes import LiRinzelState

    state = LiRinzelState(*(jnp.asarray([v]) for v in y0))
    _, ip3, ca, _ = _scan_jit(astro, jnp.zeros((steps, 1)), state)
    ca_ref = sol.y[1]
    assert ca_ref.max() > LR_DEFAULTS["sic_th"]  # the comparison covers the supra-threshold range
    np.testing.assert_allclose(np.asarray(ca[:, 0]), ca_ref, atol=3e-3)
    np.testing.assert_allclose(np.asarray(ip3[:, 0]), sol.y[0], rtol=1e-3)


def test_single_astrocyte_20hz_poisson_crosses_sic_threshold_only_at_strong_weight():
    # NEST single-astrocyte behaviour (§5 qualitative): 60 s of 20 Hz Poisson at dt = 0.1 ms.
    astro = li_rinzel(dt=0.1)
    steps = 600_000
    spikes = jax.random.bernoulli(jax.random.PRNGKey(3), 20e-3 * 0.1, (steps, 1)).astype(float)
    weights = jnp.asarray([0.0, 1.0, 10.0])
    _, _, ca, sic = _scan_jit(astro, spikes * weights)
    ca, sic = np.asarray(ca), np.asarray(sic)
    peak = ca.max(0)
    assert peak[0] < LR_DEFAULTS["sic_th"] and np.all(sic[:, 0] == 0)  # w = 0
    assert peak[1] < LR_DEFAULTS["sic_th"] and np.all(sic[:, 1] == 0)  # w = 1 (peak ~0.08 uM)
    assert peak[2] > 0.3 and sic[:, 2].max() > 0  # w = 10: Ca ~ 0.45 uM
    t_above = (sic[:, 2] > 0).sum() * 0.1e-3
    assert 15.0 < t_above < 40.0  # spec: ~27-29 s over 3 seeds
    # SIC > 0 only while Ca is above the threshold
    assert np.all(ca[sic[:, 2] > 0, 2] > LR_DEFAULTS["sic_th"])


def test_tripartite_routes_sic_to_covered_neurons_and_rejects_negative_weights():
    astro = li_rinzel(dt=0.2, delta_ip3=0.5, tau_ip3=2.0)  # NEST astrocyte_brunel scaling
    w_in = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 0.0]])  # neurons 0, 1 -> astrocyte 0
    sic_map = np.array([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]])
    tri = tripartite(astro, w_in, sic_map)
    pre = jnp.tile(jnp.array([1.0, 1.0, 0.0]), (5000, 1))  # 1 s of input at every step
    _, out = jax.lax.scan(tri.step, tri.init_state(), pre)
    out = np.asarray(out)
    assert out[:, :2].max() > 0  # astrocyte 0 is driven and covers neurons 0 and 1
    assert np.all(out[:, 2:] == 0)  # astrocyte 1 gets no input
    with pytest.raises(ValueError, match="w_in"):
        tripartite(astro, -w_in, sic_map)
    with pytest.raises(ValueError, match="sic_map"):
        tripartite(astro, w_in, sic_map[:, :3].T)


@pytest.mark.parametrize(
    "kwargs, match",
    [({"tau_ip3": -1.0}, "tau_ip3"), ({"ca_tot": 0.0}, "ca_tot"),
     ({"ratio_er_cyt": 2.0}, "ratio_er_cyt"), ({"sic_th": 3.0}, "sic_th"),
     ({"delta_ip3": -0.1}, "delta_ip3"), ({"kd_act": float("nan")}, "kd_act"),
     ({"dt": 10.0, "tau_ip3": 2.0}, "dt")],
)
def test_non_physical_parameters_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        li_rinzel(**kwargs)


def test_unknown_parameter_is_named():
    with pytest.raises(TypeError, match="tau_ip4"):
        li_rinzel(tau_ip4=1.0)


# ------------------------------------------------------------------ groups


def test_group_sizes_must_divide_the_population():
    with pytest.raises(ValueError, match="group_size"):
        block_groups(10, 3)
    with pytest.raises(ValueError, match="group_size"):
        block_groups(10, 0)
    with pytest.raises(ValueError, match="group_of_neuron"):
        map_groups(np.array([0, 1, 5]), n_groups=3)
    with pytest.raises(ValueError, match="at least one neuron"):
        map_groups(np.array([0, 0, 2]), n_groups=3)


def test_sparse_map_and_blocks_pool_and_expand_alike():
    blocks = block_groups(12, 4)
    smap = map_groups(np.repeat(np.arange(3), 4))
    z = jax.random.bernoulli(jax.random.PRNGKey(0), 0.3, (5, 12)).astype(float)
    np.testing.assert_allclose(blocks.pool(z), smap.pool(z), rtol=1e-6)
    np.testing.assert_allclose(blocks.pool(z), np.asarray(z).reshape(5, 3, 4).mean(-1), rtol=1e-6)
    c = jnp.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(blocks.expand(c), smap.expand(c))
    # an interleaved map: neuron i in group i % 3
    inter = map_groups(np.arange(12) % 3)
    ref = np.stack([np.asarray(z)[:, g::3].mean(-1) for g in range(3)], -1)
    np.testing.assert_allclose(inter.pool(z), ref, rtol=1e-6)


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


# ------------------------------------------------------------------ astrocyte-modulated unit


@jax.jit
def _scan_unit(neuron, mod, groups, currents):
    def f(state, i_t):
        state, z = astro_unit_step(neuron, mod, groups, state, i_t)
        return state, (state.neuron.v, z, state.c)

    state = astro_unit_init(neuron, groups, currents.shape[1:-1])
    return jax.lax.scan(f, state, currents)[1]


def _run_unit(neuron, mod, groups, currents):
    return tuple(np.asarray(a) for a in _scan_unit(neuron, mod, groups, currents))


@jax.jit
def _run_plain(neuron, currents):
    def f(state, i_t):
        state, z = neuron.step(state, i_t)
        return state, (state.v, z)

    return jax.lax.scan(f, neuron.init_state(currents.shape[1:]), currents)[1]


@pytest.mark.parametrize("kind", ["lif", "alif"])
def test_zero_gains_reduce_exactly_to_the_plain_neuron(kind):
    # §5.6: kappa_th = kappa_g = 0 reproduces the plain neuron bit for bit (any decay, any c).
    neuron = lif(tau=20.0, dt=1.0) if kind == "lif" else alif(thr=0.5, beta=0.3, tau_a=100.0)
    groups = block_groups(16, 4)
    mod = astro_modulation(4, tau_c=np.array([50.0, 200.0, 500.0, 1000.0]), drive_scale=7.0)
    currents = jax.random.uniform(jax.random.PRNGKey(1), (200, 3, 16), minval=-0.2, maxval=2.6)
    v, z, c = _run_unit(neuron, mod, groups, currents)
    v_ref, z_ref = _run_plain(neuron, currents)
    np.testing.assert_array_equal(np.asarray(v_ref), v)
    np.testing.assert_array_equal(np.asarray(z_ref), z)
    assert z.sum() > 100 and np.abs(c).max() > 0  # non-trivial: it spiked, c moved


def test_astro_state_matches_a_numpy_loop_and_gains_change_spiking():
    neuron = lif(tau=20.0, dt=1.0)
    groups = block_groups(8, 4)
    mod = astro_modulation(2, tau_c=100.0, kappa_th=np.array([-0.5, 0.5]),
                           kappa_g=np.array([0.3, -0.3]), drive_scale=2.0)
    currents = jax.random.uniform(jax.random.PRNGKey(2), (300, 8), minval=0.0, maxval=2.0)
    _, z, c = _run_unit(neuron, mod, groups, currents)
    # numpy reference of the same equations
    lam, v, cn = np.exp(-1.0 / 100.0), np.zeros(8), np.zeros(2)
    a = np.exp(-1.0 / 20.0)
    for t, i_t in enumerate(np.asarray(currents)):
        tc = np.repeat(np.tanh(cn), 4)
        th = np.maximum(1 + np.repeat([-0.5, 0.5], 4) * tc, 0.1)
        vt = a * v + (1 - a) * (1 + np.repeat([0.3, -0.3], 4) * tc) * i_t
        zt = (vt >= th).astype(float)
        v = vt - th * zt
        cn = lam * cn + (1 - lam) * 2.0 * zt.reshape(2, 4).mean(-1)
        np.testing.assert_array_equal(zt, z[t])
        np.testing.assert_allclose(cn, c[t], rtol=1e-4, atol=1e-6)
    _, z0, _ = _run_unit(neuron, astro_modulation(2, tau_c=100.0), groups, currents)
    assert z[:, :4].sum() > z0[:, :4].sum() and z[:, 4:].sum() < z0[:, 4:].sum()


def test_threshold_clamp_and_gradients_to_astro_parameters():
    neuron = lif(tau=20.0, dt=1.0)
    groups = block_groups(4, 2)
    from neuro.astrocytes import AstroUnitState, modulated_neuron

    mod = astro_modulation(2, kappa_th=-100.0)
    modded, _ = modulated_neuron(neuron, mod, groups, jnp.array([5.0, 0.0]))
    np.testing.assert_allclose(np.asarray(modded.v_th), [0.1, 0.1, 1.0, 1.0], rtol=1e-6)

    currents = jax.random.uniform(jax.random.PRNGKey(4), (60, 4), minval=0.0, maxval=2.5)

    def loss(m):
        def f(state, i_t):
            state, z = astro_unit_step(neuron, m, groups, state, i_t)
            return state, z.sum()

        return jax.lax.scan(f, AstroUnitState(neuron.init_state(4), jnp.zeros(2)), currents)[1].sum()

    g = jax.grad(loss)(astro_modulation(2, drive_scale=5.0))
    assert np.all(np.isfinite(np.asarray(g.kappa_th))) and np.abs(np.asarray(g.kappa_th)).sum() > 0
    assert np.abs(np.asarray(g.kappa_g)).sum() > 0
    with pytest.raises(ValueError, match="tau_c"):
        astro_modulation(2, tau_c=0.0)
    with pytest.raises(ValueError, match="n_groups"):
        astro_modulation(0)
