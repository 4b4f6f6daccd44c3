import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp

from neuro.modulators.li_rinzel import LR_DEFAULTS, LiRinzelState, li_rinzel


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




# ------------------------------------------------------------------ the tripartite modulator


def _tripartite_net(mod_kwargs, n_in=3, n=4, stp_model=None):
    from neuro import network as nw
    from neuro import projections
    from neuro.neurons import lif

    w = np.zeros((n_in, n), np.float32)
    w[0, 0] = w[1, 1] = w[2, 3] = 0.1  # input 0 -> neuron 0, 1 -> 1, 2 -> 3
    proj = projections.Dense(jnp.asarray(w), None, jnp.asarray(w != 0), "x", "e")
    if stp_model is not None:
        proj = projections.stp(proj, stp_model)
    from neuro.modulators import tripartite

    mod = tripartite("e", 2, synapses=("in", proj), **mod_kwargs)
    net = nw.network({"e": nw.population(lif(tau=20.0, dt=0.2), n)}, {"in": proj},
                     {"astro": mod}, inputs={"x": n_in})
    return net, mod


def _trace(net, xs):
    from neuro.run import scan_steps

    def step(net, s, x):
        s, out = net.step(s, x)
        return s, {"ca": s.modulators["astro"].astro.ca, "v": out["v"]["e"]}

    return jax.jit(lambda n, s, x: scan_steps(step, n, s, x))(net, net.init_state(), xs)[1]


def test_tripartite_senses_covered_synapses_and_routes_sic_to_covered_neurons():
    astro = li_rinzel(dt=0.2, delta_ip3=0.5, tau_ip3=2.0)  # NEST astrocyte_brunel scaling
    net, mod = _tripartite_net({"astro": astro, "sic_gain": 1.0})
    # astrocyte 0 covers neurons 0, 1 (synapses from inputs 0, 1); astrocyte 1 neurons 2, 3
    np.testing.assert_array_equal(np.asarray(mod.w_in), [[1, 0], [1, 0], [0, 1]])
    xs = jnp.tile(jnp.array([1.0, 1.0, 0.0]), (5000, 1))  # 1 s of input 0, 1 at every step
    rec = _trace(net, xs)
    ca = np.asarray(rec["ca"])
    assert ca[:, 0].max() > LR_DEFAULTS["sic_th"] and ca[:, 1].max() < LR_DEFAULTS["sic_th"]
    v = np.asarray(rec["v"])  # the input weights are 0.1: only the SIC can depolarise beyond
    assert v[:, 2:].max() == 0 and v[:, :2].max() > 0.5
    with pytest.raises(ValueError, match="w_in"):
        from neuro.modulators import Coverage, tripartite

        tripartite("e", Coverage(None, 4, 2, 2), source="x", w_in=-np.ones((3, 2)))


def test_gliotransmitter_release_changes_stp_release():
    from neuro.synapses.stp import glia_release, tsodyks_markram

    astro = li_rinzel(dt=1.0, delta_ip3=0.5, tau_ip3=20.0)
    release = glia_release(c_theta=0.2)
    xs = jnp.asarray((np.random.default_rng(0).random((3000, 3)) < 0.05).astype(np.float32))
    out = {}
    for alpha in (0.0, 1.0):  # release-decreasing vs -increasing gliotransmission
        tm = tsodyks_markram(alpha=alpha, o_g=1.5, omega_g=0.5 / 60.0)
        net, _ = _tripartite_net({"astro": astro, "sic_gain": 0.0, "release": release}, n=4,
                                 stp_model=tm)
        out[alpha] = np.asarray(_trace(net, xs)["v"])
    none, _ = _tripartite_net({"astro": astro, "sic_gain": 0.0}, stp_model=tsodyks_markram())
    base = np.asarray(_trace(none, xs)["v"])
    # neuron 0 (covered by the driven astrocyte): less drive with alpha = 0, more with alpha = 1
    assert out[0.0][:, 0].sum() < base[:, 0].sum() < out[1.0][:, 0].sum()
