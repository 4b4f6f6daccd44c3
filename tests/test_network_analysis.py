"""Lyapunov analysis and LNP on any Network: whole-state spectra against analytic values and the
rate-model map, explicit smoothed/surrogate Jacobians, pruning of an ALIF + astrocyte network."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neuro import dynamics, neurons, projections, readouts
from neuro import prune as P
from neuro.modulators import astro_modulation
from neuro.network import network, population
from neuro.projections import Sparse
from neuro.run import simulate
from neuro.spikes import smoothed, surrogate


@pytest.mark.parametrize("name", ["sigmoid", "triangle", "inverse_square", "arctan"])
def test_smoothed_spike_is_the_antiderivative_of_the_surrogate(name):
    s = surrogate(name)
    x = jnp.linspace(-3.0, 3.0, 41)
    g = jax.vmap(jax.grad(lambda v: s.antiderivative(v)))(x)
    np.testing.assert_allclose(np.asarray(g), np.asarray(s.grad(x)), rtol=1e-5, atol=1e-6)
    assert float(s.antiderivative(jnp.asarray(-1e6))) == pytest.approx(0.0, abs=1e-5)


def test_custom_surrogate_has_no_smoothed_map():
    with pytest.raises(ValueError, match="antiderivative"):
        smoothed(surrogate("custom", fn=lambda x: x))


@pytest.mark.parametrize("jacobian", ["smoothed", "surrogate"])
def test_whole_state_spectrum_of_silent_alif_units_is_analytic(jacobian):
    """Uncoupled ALIF units far below threshold (detached reset, so the surrogate's tail does not
    couple v to its own reset): membranes decay with exp(-dt/tau_m) and the adaptation with
    exp(-dt/tau_a), so the exponents are -1/tau_m and -1/tau_a."""
    with jax.enable_x64(True):
        tau_m, tau_a = np.array([5.0, 20.0]), np.array([50.0, 200.0])
        cell = neurons.alif(tau_m=tau_m, tau_a=tau_a, thr=1e3, beta=0.5, detach_reset=True)
        net = network({"p": population(cell, 2)},
                      {"in": projections.dense("x", "p", np.eye(2))}, inputs={"x": 2})
        x = jnp.asarray(np.random.default_rng(0).normal(size=(3000, 2)))
        res = dynamics.network_spectrum(net, x, jacobian=jacobian, k=4, burn_in=500)
        expected = np.sort(np.concatenate([-1 / tau_m, -1 / tau_a]))[::-1]
        np.testing.assert_allclose(res.exponents, expected, rtol=1e-4)


def test_whole_state_smoothed_spectrum_equals_the_rate_model_map(key):
    """The smoothed HRSNN on its whole state (v and the last spikes) and the reference map on
    the pre-reset potential are the same dynamics: the same largest exponent."""
    from neuro.models import hrsnn

    with jax.enable_x64(True):
        net = hrsnn.hrsnn(key, 60, 1)
        x = P.noise_drive(jax.random.PRNGKey(5), 1500, 1)
        reference = P.max_lyapunov(net, x, burn_in=500).lambda_max
        whole = dynamics.network_spectrum(net, x, jacobian="smoothed", burn_in=500).lambda_max
        assert whole == pytest.approx(reference, rel=0.05, abs=2e-4)


def _alif_astro_network(key, n=60):
    from neuro.models import hrsnn

    base = hrsnn.hrsnn(key, n, 1)
    w = np.asarray(P.recurrent_weights(base)).T
    tau = np.asarray(base.populations["h"].neuron.tau)
    return network(
        {"h": population(neurons.alif(tau_m=tau, thr=1.0, beta=0.5), n)},
        {"in": base.projections["in"],
         "rec": projections.sparse("h", "h", projections.from_dense(w))},
        {"astro": astro_modulation("h", 6, n, kappa_th=0.2, kappa_g=0.2)},
        {"y": readouts.leaky("h", 3, key=jax.random.PRNGKey(2), n_in=n)},
        inputs={"x": 1})


def test_lnp_prunes_any_network_consistently(key):
    net = _alif_astro_network(key)
    with pytest.raises(ValueError, match="network"):
        P.lnp(net, key, tune=False, probe_steps=200)  # the rate model is for LIF networks only
    res = P.lnp(net, jax.random.PRNGKey(1), tune=False, probe_steps=200,
                linearisation="network", jacobian="surrogate")
    small = res.net
    assert small.populations["h"].size == 30 == len(res.keep)
    assert isinstance(small.projections["rec"], Sparse)
    assert small.projections["in"].w.shape == (1, 30)
    assert small.readouts["y"].w.shape == (30, 3)
    assert small.modulators["astro"].coverage.n_neurons == 30
    np.testing.assert_allclose(small.populations["h"].neuron.tau_m,
                               net.populations["h"].neuron.tau_m[res.keep])
    n_keep, n_syn = P.targets(net, 0.5, 0.5)
    assert 0.75 * n_syn <= small.num_synapses() <= 1.25 * n_syn  # Bernoulli: the expected count
    assert res.info["linearisation"] == "network" and res.info["jacobian"] == "surrogate"
    out = simulate(small, small.init_state(2), jnp.ones((50, 2, 1)), monitors=("readout.y",))
    assert np.isfinite(out.records["readout.y"]).all()


def test_smoothed_map_is_refused_where_it_does_not_exist():
    cell = neurons.conductance_lif()
    net = network({"p": population(cell, 3)},
                  {"in": projections.dense("x", "p", np.eye(3))}, inputs={"x": 3})
    with pytest.raises(ValueError, match="surrogate"):
        dynamics.network_spectrum(net, jnp.zeros((20, 3)), jacobian="smoothed", burn_in=5)
    with pytest.raises(ValueError, match="jacobian"):
        dynamics.network_spectrum(net, jnp.zeros((20, 3)), jacobian="exact", burn_in=5)


def test_smoothed_spikes_are_graded_through_sparse_projections():
    """In the smoothed map the spikes are graded: an event-driven Sparse projection must carry
    their values (not treat them as binary) and equal its dense backend."""
    with jax.enable_x64(True):
        rng = np.random.default_rng(0)
        w = rng.normal(0.0, 0.5, (20, 20)) * (rng.random((20, 20)) < 0.3)
        conn = projections.from_dense(w)
        w_in, x = rng.normal(size=(2, 20)), jnp.asarray(rng.normal(size=(40, 2)))
        out = {}
        for backend in ("event", "dense"):
            net = network({"h": population(neurons.alif(thr=0.5, beta=0.2), 20)},
                          {"in": projections.dense("x", "h", w_in),
                           "rec": projections.sparse("h", "h", conn, backend=backend)},
                          inputs={"x": 2})
            smooth = dynamics.smoothed_network(net)
            assert not smooth.populations["h"].neuron.binary
            out[backend] = simulate(smooth, smooth.init_state(), x,
                                    monitors=("v.h",)).records["v.h"]
        np.testing.assert_allclose(out["event"], out["dense"], rtol=1e-10, atol=1e-12)
