"""NIR export/import: round trips, an independent NumPy reference of NIR's forward-Euler reading,
and the refusals of parts without a NIR primitive."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neuro import neurons, projections, readouts, synapses
from neuro.network import Modulator, network, population
from neuro.run import simulate

nir = pytest.importorskip("nir")
from neuro.interop.nir import from_nir, read_nir, threshold_unit, to_nir, write_nir  # noqa: E402


def _net():
    k = jax.random.split(jax.random.PRNGKey(0), 5)
    return network(
        {"h": population(neurons.lif(tau=10.0, v_th=1.0, reset="hard"), 12),
         "c": population(neurons.lif(tau=8.0, v_th=0.8, v_rest=0.1, reset="hard"), 9,
                         synapse=synapses.current_synapse((5.0,), dt=1.0)),
         "o": population(neurons.integrate_and_fire(v_th=1.5, reset="hard"), 4)},
        {"in": projections.dense("x", "h", key=k[0], n_pre=5, n_post=12, gain=3.0, bias=True),
         "rec": projections.dense("h", "h", key=k[1], n_pre=12, n_post=12, gain=0.5, delay=2),
         "hc": projections.dense("h", "c", key=k[2], n_pre=12, n_post=9, gain=2.0),
         "co": projections.dense("c", "o", key=k[3], n_pre=9, n_post=4, gain=2.0)},
        readouts={"y": readouts.leaky("c", 3, key=k[4], n_in=9, tau=7.0)}, inputs={"x": 5})


def _x(steps=80, batch=2, n=5, seed=9):
    return jax.random.uniform(jax.random.PRNGKey(seed), (steps, batch, n)) * 2.0


def _run(net, x):
    return simulate(net, net.init_state(x.shape[1]), x, monitors=("spikes", "readout")).records


@pytest.mark.parametrize("method", ["euler", "exact"])
def test_round_trip_gives_the_same_spikes_and_readout(method, tmp_path):
    net, x = _net(), _x()
    path = tmp_path / "net.nir"
    write_nir(path, net, method=method)
    imp = read_nir(path)
    assert imp.outputs == {"y_output": "readout.y", "o_output": "spikes.o"}
    assert imp.lag == {"y_output": 1, "o_output": 2}
    a, b = _run(net, x), _run(imp.net, x)
    for pop in ("h", "c", "o"):
        assert float(a["spikes"][pop].sum()) > 5
        np.testing.assert_array_equal(a["spikes"][pop], b["spikes"][pop])
    np.testing.assert_allclose(a["readout"]["y"], b["readout"]["y"], rtol=1e-5, atol=1e-6)
    assert imp.net.projections["rec"].delay == 2


def _skip_net():
    k = jax.random.split(jax.random.PRNGKey(1), 3)
    cell = neurons.lif(tau=5.0, v_th=1.0, reset="hard")
    return network({"h": population(cell, 6), "o": population(cell, 3)},
                   {"xh": projections.dense("x", "h", key=k[0], n_pre=4, n_post=6, gain=4.0),
                    "xo": projections.dense("x", "o", key=k[1], n_pre=4, n_post=3, gain=3.0),
                    "ho": projections.dense("h", "o", key=k[2], n_pre=6, n_post=3, gain=3.0)},
                   inputs={"x": 4})


def test_explicit_latency_round_trips_a_skip_connection():
    net, x = _skip_net(), _x(n=4)
    imp = from_nir(to_nir(net, explicit_latency=True))
    assert "ho_delay" in to_nir(net, explicit_latency=True).nodes
    np.testing.assert_array_equal(_run(net, x)["spikes"]["o"], _run(imp.net, x)["spikes"]["o"])
    # implicit latency reads neuro's one-step h -> o latency as NIR's instantaneous edge: the
    # import delays the direct path by one step to keep the two paths aligned
    implicit = from_nir(to_nir(net))
    assert implicit.net.projections["xo"].delay == 1 and implicit.lag["o_output"] == 1


def _euler_reference(layers, x):
    """NIR's LIF / CubaLIF read with forward Euler and an instantaneous feed-forward chain,
    starting at rest (``v = v_leak``; NIR leaves the initial state to the simulator)."""
    z = x
    for kind, p in layers:
        steps, batch = z.shape[:2]
        n = p["w"].shape[0]
        v = np.broadcast_to(p["v_leak"], (batch, n)).copy()
        cur, out = np.zeros((batch, n)), np.zeros((steps, batch, n))
        for t in range(steps):
            i_in = z[t] @ p["w"].T + p["b"]
            if kind == "CubaLIF":
                cur = cur + p["dt"] / p["tau_syn"] * (-cur + p["w_in"] * i_in)
                i_in = cur
            v = v + p["dt"] / p["tau"] * (p["v_leak"] - v + p["r"] * i_in)
            out[t] = v > p["v_th"]
            v = np.where(out[t] > 0, p["v_reset"], v)
        z = out
    return z


def test_import_matches_a_numpy_reading_of_the_nir_equations():
    rng = np.random.default_rng(0)
    dt = 1e-4
    n_in, n1, n2 = 6, 10, 4
    p1 = dict(w=rng.normal(0, 1.2, (n1, n_in)), b=rng.normal(0, 0.2, n1), tau=np.full(n1, 2e-3),
              r=np.full(n1, 20.0), v_leak=np.zeros(n1), v_th=np.full(n1, 1.0),
              v_reset=np.zeros(n1), dt=dt)
    p2 = dict(w=rng.normal(0, 1.5, (n2, n1)), b=np.zeros(n2), tau=np.full(n2, 1e-3),
              tau_syn=np.full(n2, 5e-4), w_in=np.full(n2, 3.0), r=np.full(n2, 4.0),
              v_leak=np.full(n2, 0.05), v_th=np.full(n2, 0.5), v_reset=np.full(n2, -0.1), dt=dt)
    f = np.float32
    graph = nir.NIRGraph(
        nodes={"input": nir.Input(input_type=np.array([n_in])),
               "fc1": nir.Affine(weight=p1["w"].astype(f), bias=p1["b"].astype(f)),
               "lif1": nir.LIF(tau=p1["tau"].astype(f), r=p1["r"].astype(f),
                               v_leak=p1["v_leak"].astype(f), v_threshold=p1["v_th"].astype(f),
                               v_reset=p1["v_reset"].astype(f)),
               "fc2": nir.Linear(weight=p2["w"].astype(f)),
               "lif2": nir.CubaLIF(tau_syn=p2["tau_syn"].astype(f), tau_mem=p2["tau"].astype(f),
                                   r=p2["r"].astype(f), v_leak=p2["v_leak"].astype(f),
                                   v_threshold=p2["v_th"].astype(f),
                                   v_reset=p2["v_reset"].astype(f), w_in=p2["w_in"].astype(f)),
               "output": nir.Output(output_type=np.array([n2]))},
        edges=[("input", "fc1"), ("fc1", "lif1"), ("lif1", "fc2"), ("fc2", "lif2"),
               ("lif2", "output")])
    for p in (p1, p2):  # the reference uses the float32 parameters the graph stores
        for key in p:
            if key != "dt":
                p[key] = p[key].astype(f).astype(np.float64)
    x = (rng.random((120, 3, n_in)) < 0.3).astype(np.float64)
    ref = _euler_reference([("LIF", p1), ("CubaLIF", p2)], x)
    with jax.enable_x64(True):
        imp = from_nir(graph, dt=dt)
        assert imp.dt == pytest.approx(0.1) and imp.outputs == {"output": "spikes.lif2"}
        got = np.asarray(_run(imp.net, jnp.asarray(x))["spikes"]["lif2"])
    lag = imp.lag["output"]
    assert lag == 1 and ref.sum() > 20
    np.testing.assert_array_equal(got[lag:], ref[:-lag])


def test_threshold_and_delay_nodes():
    graph = nir.NIRGraph(
        nodes={"in": nir.Input(input_type=np.array([3])),
               "d": nir.Delay(delay=np.full(3, 3e-3, np.float32)),
               "th": nir.Threshold(threshold=np.array([0.5, 1.5, 2.5], np.float32)),
               "out": nir.Output(output_type=np.array([3]))},
        edges=[("in", "d"), ("d", "th"), ("th", "out")])
    imp = from_nir(graph, dt=1e-3)
    x = jnp.tile(jnp.arange(6.0)[:, None, None], (1, 1, 3))
    z = np.asarray(_run(imp.net, x)["spikes"]["th"][:, 0])
    expect = (np.arange(6.0)[:, None] - 3 >= np.array([0.5, 1.5, 2.5])) & (np.arange(6)[:, None] >= 3)
    np.testing.assert_array_equal(z, expect)
    again = from_nir(to_nir(imp.net))
    np.testing.assert_array_equal(_run(again.net, x)["spikes"]["th"][:, 0], z)
    assert isinstance(again.net.populations["th"].neuron, type(threshold_unit()))


def test_parts_without_a_nir_primitive_are_refused_by_name():
    cell = neurons.lif(reset="hard")
    inp = {"x": 2}
    proj = {"in": projections.dense("x", "a", np.ones((2, 3)))}
    cases = [
        ({"a": population(neurons.alif(), 3)}, "population 'a': ALIF"),
        ({"a": population(neurons.lif(reset="soft"), 3)}, "reset='soft'"),
        ({"a": population(neurons.conductance_lif(), 3, synapse=synapses.conductance_synapse())},
         "population 'a'"),
        ({"a": population(cell, 3, synapse=synapses.current_synapse((5.0, 10.0), dt=1.0))},
         "different time constants"),
    ]
    for pops, message in cases:
        with pytest.raises(ValueError, match=message):
            to_nir(network(pops, proj, inputs=inp))

    class Nudge(Modulator):
        pass

    with pytest.raises(ValueError, match="modulator 'astro'"):
        to_nir(network({"a": population(cell, 3)}, proj, {"astro": Nudge()}, inputs=inp))
    loop = {**proj, "ab": projections.dense("a", "b", np.ones((3, 3))),
            "ba": projections.dense("b", "a", np.ones((3, 3)))}
    with pytest.raises(ValueError, match="cycle"):
        to_nir(network({"a": population(cell, 3), "b": population(cell, 3)}, loop, inputs=inp))
    leaky = nir.NIRGraph(nodes={"in": nir.Input(input_type=np.array([3])),
                                "li": nir.CubaLI(tau_syn=np.ones(3), tau_mem=np.ones(3),
                                                 r=np.ones(3), v_leak=np.zeros(3)),
                                "out": nir.Output(output_type=np.array([3]))},
                         edges=[("in", "li"), ("li", "out")])
    with pytest.raises(ValueError, match="NIR node 'li' is a CubaLI"):
        from_nir(leaky)


def test_convolutional_network_round_trips():
    k = jax.random.split(jax.random.PRNGKey(4), 3)
    cell = neurons.lif(tau=5.0, v_th=0.5, reset="hard")
    net = network({"c": population(cell, 6 * 6 * 4), "o": population(cell, 5)},
                  {"conv": projections.conv("x", "c", (6, 6, 2), key=k[0], kernel=3,
                                            out_channels=4, padding="same", gain=3.0, bias=True),
                   "fc": projections.dense("c", "o", key=k[1], n_pre=144, n_post=5, gain=8.0)},
                  inputs={"x": 72})
    graph = to_nir(net)
    assert type(graph.nodes["conv"]).__name__ == "Conv2d" and "fc_flatten" in graph.nodes
    assert tuple(graph.nodes["c"].tau.shape) == (4, 6, 6)
    x = (jax.random.uniform(k[2], (40, 2, 72)) < 0.3).astype(float)
    a, b = _run(net, x), _run(from_nir(graph).net, x)
    assert float(a["spikes"]["o"].sum()) > 5
    for pop in ("c", "o"):
        np.testing.assert_array_equal(a["spikes"][pop], b["spikes"][pop])


def test_nir_conv2d_matches_a_numpy_cross_correlation():
    rng = np.random.default_rng(5)
    c_in, c_out, h, w, dt = 2, 3, 5, 5, 1e-3
    weight = rng.normal(0.3, 1.0, (c_out, c_in, 3, 3)).astype(np.float32)
    bias = rng.normal(0, 0.1, c_out).astype(np.float32)
    shape = (c_out, h - 2, w - 2)
    full = lambda v: np.full(shape, v, np.float32)
    graph = nir.NIRGraph(
        nodes={"in": nir.Input(input_type=np.array([c_in, h, w])),
               "conv": nir.Conv2d(input_shape=(h, w), weight=weight, stride=1, padding=0,
                                  dilation=1, groups=1, bias=bias),
               "lif": nir.LIF(tau=full(4e-3), r=full(1.0), v_leak=full(0.0),
                              v_threshold=full(0.4), v_reset=full(0.0)),
               "out": nir.Output(output_type=np.array(shape))},
        edges=[("in", "conv"), ("conv", "lif"), ("lif", "out")])
    x = (rng.random((30, c_in, h, w)) < 0.4).astype(np.float32)  # CHW frames
    v, ref = np.zeros(shape), np.zeros((30, *shape))
    for t in range(30):
        cur = np.zeros(shape)
        for o in range(c_out):
            for i in range(h - 2):
                for j in range(w - 2):
                    cur[o, i, j] = bias[o] + np.sum(weight[o] * x[t, :, i:i + 3, j:j + 3])
        v = v + dt / 4e-3 * (-v + cur)
        ref[t] = v > 0.4
        v = np.where(ref[t] > 0, 0.0, v)
    imp = from_nir(graph, dt=dt)
    x_hwc = jnp.asarray(x.transpose(0, 2, 3, 1).reshape(30, 1, -1))  # neuro's channel-last layout
    z = np.asarray(_run(imp.net, x_hwc)["spikes"]["lif"][:, 0]).reshape(30, h - 2, w - 2, c_out)
    assert ref.sum() > 10
    np.testing.assert_array_equal(z.transpose(0, 3, 1, 2), ref)


def test_nested_graphs_are_inlined():
    """snnTorch's importer wraps a recurrent layer as a nested graph; import inlines it."""
    rng = np.random.default_rng(6)
    f = np.float32
    lif = lambda: nir.LIF(tau=np.full(4, 1e-3, f), r=np.full(4, 10.0, f), v_leak=np.zeros(4, f),
                          v_threshold=np.full(4, 0.5, f), v_reset=np.zeros(4, f))
    w_in, w_rec = rng.normal(0, 1, (4, 3)).astype(f), rng.normal(0, 0.5, (4, 4)).astype(f)
    inner = nir.NIRGraph(nodes={"input": nir.Input(input_type=np.array([4])), "lif": lif(),
                                "w_rec": nir.Linear(weight=w_rec),
                                "output": nir.Output(output_type=np.array([4]))},
                         edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"),
                                ("lif", "output")])
    nested = nir.NIRGraph(nodes={"x": nir.Input(input_type=np.array([3])),
                                 "fc": nir.Linear(weight=w_in), "rnn": inner,
                                 "y": nir.Output(output_type=np.array([4]))},
                          edges=[("x", "fc"), ("fc", "rnn"), ("rnn", "y")])
    flat = nir.NIRGraph(nodes={"x": nir.Input(input_type=np.array([3])),
                               "fc": nir.Linear(weight=w_in), "lif": lif(),
                               "w_rec": nir.Linear(weight=w_rec),
                               "y": nir.Output(output_type=np.array([4]))},
                        edges=[("x", "fc"), ("fc", "lif"), ("lif", "w_rec"), ("w_rec", "lif"),
                               ("lif", "y")])
    a, b = from_nir(nested, dt=1e-4), from_nir(flat, dt=1e-4)
    assert a.outputs == {"y": "spikes.rnn.lif"} and "rnn.w_rec" in a.net.projections
    x = (jax.random.uniform(jax.random.PRNGKey(7), (60, 2, 3)) < 0.4).astype(float)
    za = simulate(a.net, a.net.init_state(2), x, monitors=lambda o: o["spikes"]["rnn.lif"])
    zb = simulate(b.net, b.net.init_state(2), x, monitors=lambda o: o["spikes"]["lif"])
    assert float(zb.records.sum()) > 5
    np.testing.assert_array_equal(za.records, zb.records)
