"""Fuzz the constructors of the core parts: every input either builds a part (which then takes
one step without crashing) or raises one of the package's documented errors
(:class:`neuro.validation.NeuroError`); nothing hangs, nothing crashes the interpreter."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from neuro import network, neurons, projections, readouts, synapses
from neuro.validation import NeuroError

from ._strategies import arguments, numbers, positive, sizes, weird
from .conftest import no_hang


def attempt(build, use=None):
    """``build()``; on success ``use(part)``. Anything but a documented error fails the test."""
    with no_hang():
        try:
            part = build()
        except NeuroError as exc:
            assert str(exc), "a documented error needs a message"
            event(f"refused: {type(exc).__name__}")
            return None
        event("built")
        if use is not None:
            use(part)
        return part


def one_step(neuron, n=3):
    """A population of ``n`` (which checks that per-neuron parameters fit), then one step."""
    try:
        network.population(neuron, n)
    except NeuroError:
        return
    state = neuron.init_state(n)
    state, z = neuron.step(state, jnp.full((n,), 0.5, jnp.float32))
    assert np.asarray(z).shape == (n,)


@given(st.data())
def test_lif(data):
    a = arguments(data, {
        "tau": positive(), "v_th": st.floats(0.5, 2.0), "v_reset": st.floats(-1.0, 0.4),
        "dt": st.floats(0.1, 1.0), "reset": st.sampled_from(["soft", "hard", "none"]),
        "refractory_steps": st.integers(0, 5),
        "refractory_mode": st.sampled_from(["clamp", "integrate"]),
        "surrogate_fn": st.sampled_from(["sigmoid", "triangle", "arctan"])},
        {"tau": numbers, "v_th": numbers, "v_reset": numbers, "dt": numbers,
         "reset": st.sampled_from(["bogus", None, 1]), "refractory_mode": st.just("x"),
         "surrogate_fn": st.sampled_from(["nope", None])})
    attempt(lambda: neurons.lif(a["tau"], a["v_th"], a["v_reset"], dt=a["dt"], reset=a["reset"],
                                refractory_steps=a["refractory_steps"],
                                refractory_mode=a["refractory_mode"],
                                surrogate_fn=a["surrogate_fn"]), one_step)


@given(st.data())
def test_alif(data):
    a = arguments(data, {"tau_m": positive(), "tau_a": positive(), "thr": st.floats(0.01, 1),
                         "beta": st.floats(0, 2), "dt": st.floats(0.1, 1.0),
                         "refractory_steps": st.integers(0, 5)},
                  {k: numbers for k in ("tau_m", "tau_a", "thr", "beta", "dt")})
    attempt(lambda: neurons.alif(a["tau_m"], a["tau_a"], a["thr"], a["beta"], dt=a["dt"],
                                 refractory_steps=a["refractory_steps"]), one_step)


@given(st.data())
def test_conductance_lif(data):
    a = arguments(data, {"tau_m": positive(5, 30), "v_th": st.floats(-55, -40),
                         "reversal": st.just((0.0, -80.0)), "dt": st.floats(0.05, 0.5),
                         "tau_ref": st.floats(0, 5),
                         "method": st.sampled_from(["exp_euler", "euler"])},
                  {k: numbers for k in ("tau_m", "v_th", "dt", "tau_ref")}
                  | {"method": st.just("rk4")})
    attempt(lambda: neurons.conductance_lif(a["tau_m"], v_th=a["v_th"], reversal=a["reversal"],
                                            dt=a["dt"], tau_ref=a["tau_ref"],
                                            method=a["method"]))


@given(st.data())
def test_synapses(data):
    a = arguments(data, {"tau": positive(1, 20), "dt": st.floats(0.05, 0.5),
                         "method": st.sampled_from(["exact", "euler"]),
                         "kind": st.sampled_from(["current", "conductance"])},
                  {"tau": numbers, "dt": numbers, "method": st.just("x"),
                   "kind": st.just("current")})
    make = synapses.current_synapse if a["kind"] == "current" else synapses.conductance_synapse
    attempt(lambda: make(a["tau"], dt=a["dt"], method=a["method"]))


def deliver_once(proj):
    state = proj.init_state((2,), jnp.float32)
    _, y = proj.deliver(state, jnp.ones((2, proj.n_pre)))
    assert np.asarray(y).shape[-1] == proj.n_post


counts = st.sampled_from([1, 3, 5])  # few shapes: compilations are cached across examples
small_sizes = st.one_of(st.integers(-3, 40), st.sampled_from([0, 10**5, 2**40]), weird)


@settings(max_examples=15)  # each new table shape compiles a delivery
@given(st.data())
def test_dense(data):
    a = arguments(data, {"n_pre": counts, "n_post": counts, "gain": st.floats(0, 3),
                         "delay": st.integers(0, 3), "channel": st.just(0),
                         "self_connections": st.booleans(), "w": st.none()},
                  {"n_pre": sizes, "n_post": sizes, "gain": numbers,
                   "delay": st.one_of(st.integers(-2, -1), weird),
                   "channel": st.one_of(st.integers(-2, -1), weird), "self_connections": weird,
                   "w": st.one_of(weird, st.just(np.ones((3, 3)) * np.nan),
                                  st.just(np.ones((2, 3))))})
    attempt(lambda: projections.dense("a", "b", a["w"], key=jax.random.PRNGKey(0),
                                      n_pre=a["n_pre"], n_post=a["n_post"], gain=a["gain"],
                                      delay=a["delay"], channel=a["channel"],
                                      self_connections=a["self_connections"]), deliver_once)


@settings(max_examples=15)  # each new table shape compiles a delivery
@given(st.data())
def test_sparse(data):
    a = arguments(data, {"builder": st.sampled_from(["fixed_probability", "fixed_in_degree",
                                                      "small_world"]),
                         "n_pre": st.sampled_from([6, 9]), "n_post": st.sampled_from([6, 9]),
                         "p": st.floats(0, 1), "k": st.sampled_from([2, 4]),
                         "weight": st.floats(-1, 1), "delay": st.integers(0, 2),
                         "backend": st.sampled_from(["event", "dense"])},
                  # sizes up to 10^5 here: small_world and the dense regime of fixed_in_degree
                  # loop in Python per neuron (~30 s at 10^6 on a loaded 2-core machine)
                  {"builder": st.just("fixed_probability"), "n_pre": small_sizes,
                   "n_post": small_sizes,
                   "p": st.one_of(st.floats(-0.5, 1.5), weird),
                   "k": st.one_of(st.integers(-2, 30), weird), "weight": numbers,
                   "delay": st.one_of(st.integers(-2, -1), weird),
                   "backend": st.sampled_from(["gpu", None])})

    def build():
        if a["builder"] == "fixed_probability":
            conn = projections.fixed_probability(0, a["n_pre"], a["n_post"], a["p"],
                                                 weights=a["weight"])
        elif a["builder"] == "fixed_in_degree":
            conn = projections.fixed_in_degree(0, a["n_pre"], a["n_post"], a["k"],
                                               weights=a["weight"])
        else:
            conn = projections.small_world(0, a["n_pre"], a["k"], a["p"], weights=a["weight"])
        return projections.sparse("a", "b", conn, backend=a["backend"], delay=a["delay"])

    attempt(build, deliver_once)


@settings(max_examples=15)  # each new table shape compiles a delivery
@given(st.data())
def test_from_edges(data):
    edges = st.lists(st.integers(0, 5), min_size=4, max_size=4)
    a = arguments(data, {"pre": edges, "post": edges, "n_pre": st.just(6), "n_post": st.just(6),
                         "weights": st.floats(-1, 1)},
                  {"pre": st.one_of(weird, st.lists(st.integers(-2, 9), max_size=6)),
                   "post": st.one_of(weird, st.lists(st.integers(-2, 9), max_size=6)),
                   "n_pre": sizes, "n_post": sizes, "weights": numbers})
    attempt(lambda: projections.sparse("a", "b", projections.from_edges(
        a["pre"], a["post"], a["n_pre"], a["n_post"], weights=a["weights"])), deliver_once)


@given(st.data())
def test_readout(data):
    a = arguments(data, {"source": st.just("e"), "n_out": counts, "n_in": counts,
                         "tau": positive(1, 30), "dt": st.floats(0.1, 1)},
                  {"source": weird, "n_out": sizes, "n_in": sizes, "tau": numbers,
                   "dt": numbers})

    def use(r):
        y, _ = r.step(r.init_state((2,)), jnp.ones((2, r.n_in)))
        assert y.shape == (2, r.n_out)

    attempt(lambda: readouts.leaky(a["source"], a["n_out"], key=jax.random.PRNGKey(0),
                                   n_in=a["n_in"], tau=a["tau"] if np.ndim(a["tau"]) == 0
                                   else a["tau"][:1], dt=a["dt"]), use)


@settings(max_examples=20)
@given(st.data())
def test_network(data):
    a = arguments(data, {"size": counts, "n_in": counts, "n_out": counts, "target": st.just("e"),
                         "n_channels": st.just(1), "synapse": st.sampled_from([None, "current"]),
                         "inputs": st.just("x")},
                  {"size": sizes, "n_in": sizes, "n_out": sizes,
                   "target": st.sampled_from(["x", "other"]),
                   "n_channels": st.one_of(st.integers(-1, 0), weird),
                   "synapse": st.just("conductance"),
                   "inputs": st.one_of(st.none(), st.dictionaries(st.sampled_from(["x", "e"]),
                                                                  sizes, max_size=2))})
    syn = {None: None, "current": synapses.current_synapse(dt=1.0),
           "conductance": synapses.conductance_synapse()}[a["synapse"]]
    inputs = {"x": a["n_in"]} if a["inputs"] == "x" else a["inputs"]

    def build():
        pop = network.population(neurons.lif(), a["size"], synapse=syn,
                                 n_channels=a["n_channels"])
        proj = projections.dense("x", a["target"], key=jax.random.PRNGKey(1), n_pre=a["n_in"],
                                 n_post=pop.size)
        ro = readouts.leaky("e", a["n_out"], key=jax.random.PRNGKey(2), n_in=pop.size)
        return network.network({"e": pop}, {"in": proj}, readouts={"y": ro}, inputs=inputs)

    def use(net):
        xs = {k: jnp.ones((2, n)) for k, n in net.input_sizes.items()}
        _, out = net.step(net.init_state(2), xs if len(xs) != 1 else next(iter(xs.values())))
        assert out["spikes"]["e"].shape == (2, net.populations["e"].size)

    attempt(build, use)


@given(x=st.one_of(st.just(np.ones((0, 2, 3))), st.just(np.ones((2, 7, 3))),
                   st.just(np.full((4, 2, 3), np.nan)), st.just(np.ones((4, 2, 3))),
                   st.just(np.ones((4, 3))), st.just(np.ones(3)), weird),
       every=st.one_of(st.integers(-1, 5), weird), chunk=st.one_of(st.none(), st.integers(-1, 5),
                                                                   weird))
def test_simulate_arguments(x, every, chunk):
    from neuro.run import simulate

    net = network.network({"e": network.population(neurons.lif(), 4)},
                          {"in": projections.dense("x", "e", key=jax.random.PRNGKey(0), n_pre=3,
                                                   n_post=4)}, inputs={"x": 3})
    attempt(lambda: simulate(net, net.init_state(2), x, monitors="spikes.e", every=every,
                             chunk=chunk))


@pytest.mark.parametrize("build", [
    lambda: projections.dense("a", "b", key=jax.random.PRNGKey(0), n_pre=10**6, n_post=10**6),
    lambda: readouts.leaky("e", 10**6, key=jax.random.PRNGKey(0), n_in=10**6),
    lambda: projections.fixed_probability(0, 10**7, 10**7, 0.5),
    lambda: projections.fixed_in_degree(0, 10**5, 10**8, 1000),
    lambda: network.network({"e": network.population(neurons.lif(), 10**12)}).init_state(10**3),
])
def test_huge_sizes_are_refused_before_allocating(build):
    from neuro.validation import SizeError

    with no_hang(10), pytest.raises(SizeError, match="needs about"):
        build()
