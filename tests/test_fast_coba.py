"""The fused CPU backend (neuro.fast_coba) equals the pure-JAX event reference step by step."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neuro import fast_coba, network, neurons, projections, run, synapses
from neuro.models import coba
from neuro.validation import ConfigError

pytestmark = pytest.mark.skipif(not fast_coba.applies(), reason="needs XLA:CPU and Numba")


def _runs(n, steps, monitors, chunk=None, **kw):
    out = {}
    for backend in ("event", "fused"):
        net, s0 = coba.coba_network(n, seed=1, backend=backend, **kw)
        mon = monitors(net) if callable(monitors) else monitors
        out[backend] = run.simulate(net, s0, n_steps=steps, monitors=mon, chunk=chunk)
    return out["event"], out["fused"]


def _assert_same(ref, got, atol=0.0):
    for a, b in zip(jax.tree_util.tree_leaves(ref), jax.tree_util.tree_leaves(got), strict=True):
        a, b = np.asarray(a), np.asarray(b)
        assert a.dtype == b.dtype and a.shape == b.shape
        if atol and np.issubdtype(a.dtype, np.floating):
            np.testing.assert_allclose(b, a, rtol=0, atol=atol)
        else:
            np.testing.assert_array_equal(b, a)


@pytest.mark.parametrize("dtype", [jnp.float32, pytest.param(jnp.float64,
                                                            marks=pytest.mark.slow)])
def test_auryn_variant_is_bitwise_equal_with_its_delay_line(dtype):
    """Forward Euler, an 8-step uniform delay, ~17 Hz: the raster, the activity counts and the
    final state (potentials, counters, conductances, the delay buffer and its position)."""
    with jax.enable_x64(dtype == jnp.float64):
        ref, got = _runs(300, 1500, lambda net: coba.monitor(net, record=300), variant="auryn",
                         dtype=dtype)
        assert int(np.asarray(ref.records["spikes"]).sum()) > 500  # an active network
        _assert_same(ref.records, got.records)
        _assert_same(ref.state, got.state)


def test_exp_euler_cuba_and_the_membrane_monitor_match_the_reference():
    """Exponential Euler (the kernel's expf is within ~1 ulp of XLA's): spikes equal and
    potentials within 1e-4 mV over 400 steps; CUBA (current synapses) likewise; the ``v``
    monitor is served by the kernel too."""
    ref, got = _runs(300, 400, ("spikes", "v"), variant="brainpy")
    assert np.asarray(ref.records["spikes"]["n"]).sum() > 100
    np.testing.assert_array_equal(got.records["spikes"]["n"], ref.records["spikes"]["n"])
    np.testing.assert_allclose(got.records["v"]["n"], ref.records["v"]["n"], atol=1e-4)
    _assert_same(ref.state, got.state, atol=1e-4)
    net_e, s0 = coba.cuba_network(300, seed=2, variant="brainpy")
    net_f, _ = coba.cuba_network(300, seed=2, variant="brainpy", backend="fused")
    a = run.simulate(net_e, s0, n_steps=300, monitors=("spikes",))
    b = run.simulate(net_f, s0, n_steps=300, monitors=("spikes",))
    assert np.asarray(a.records["spikes"]["n"]).sum() > 100
    np.testing.assert_array_equal(b.records["spikes"]["n"], a.records["spikes"]["n"])


def test_a_run_in_pieces_continues_from_the_state_of_either_backend(monkeypatch):
    """The fused run keeps the reference's state layout: chunks of a run (several kernel calls
    and a remainder, chunk boundaries inside the delay line) give the run in one piece."""
    monkeypatch.setattr(fast_coba, "CHUNK_BYTES", 300 * 7)  # 7 steps per kernel call
    ref, got = _runs(300, 1000, ("spikes",), chunk=300, variant="auryn")
    _assert_same(ref.records, got.records)
    _assert_same(ref.state, got.state)
    net, _ = coba.coba_network(300, seed=1, variant="auryn")
    net_f, s0 = coba.coba_network(300, seed=1, variant="auryn", backend="fused")
    half = run.simulate(net_f, s0, n_steps=500, monitors=("spikes",)).state
    rest = run.simulate(net, half, n_steps=500, monitors=("spikes",))  # the event step goes on
    _assert_same(ref.state, rest.state)


def _two_projection_net(backend, per_neuron=False, shuffle=False):
    """E -> n on channel 0 (delay 2, per-synapse weights) and I -> n on channel 1 (delay 0),
    two Sparse projections of one population; per-neuron thresholds and time constants.
    ``shuffle``: each table row lists its targets in random order (not ascending)."""
    rng = np.random.default_rng(3)
    n, n_e = 200, 160
    v_th = -50.0 + (rng.normal(0.0, 1.0, n) if per_neuron else 0.0)
    neuron = neurons.conductance_lif(v_th=v_th, bias=20.0, dt=0.1)
    tau = np.array([[5.0] * n, list(8.0 + rng.random(n) * 4)]) if per_neuron else (5.0, 10.0)
    pop = network.population(neuron, n, synapse=synapses.conductance_synapse(tau))
    pre, post = np.nonzero(rng.random((n, n)) < 0.05)
    if shuffle:
        order = np.random.default_rng(4).permutation(pre.size)
        pre, post = pre[order], post[order]
    exc, inh = pre < n_e, pre >= n_e
    ce = projections.from_edges(pre[exc], post[exc], n, n, weights=rng.random(exc.sum()) * 0.8)
    ci = projections.from_edges(pre[inh], post[inh], n, n,
                                source_weights=np.full(n, 6.0))
    projs = {"e": projections.sparse("n", "n", ce, delay=2, channel=0, backend=backend),
             "i": projections.sparse("n", "n", ci, channel=1, backend=backend)}
    net = network.network({"n": pop}, projs)
    state = net.init_state()
    v0 = jnp.asarray(rng.normal(-55.0, 5.0, n), jnp.float32)
    return net, state._replace(neurons={"n": state.neurons["n"]._replace(v=v0)})


@pytest.mark.parametrize("tau_ref, threads", [(5.1, 1), (5.1, 3), (20.0, 1)])
def test_long_refractory_counters_run_as_in_the_reference(tau_ref, threads, monkeypatch):
    """Counters set far above n_ref (1000, 300; n_ref = 51: the int8 counters and their
    excess, in one block or three; n_ref = 200: int32), negative ones and ones at n_ref count
    down as in the reference, over kernel calls of 45 steps (the excess carried from call to
    call)."""
    monkeypatch.setattr(fast_coba, "CHUNK_BYTES", 45 * 300)
    monkeypatch.setattr(fast_coba, "MIN_NEURONS_PER_THREAD", 16)
    net_e, s0 = coba.coba_network(300, seed=1, variant="auryn", tau_ref=tau_ref)
    fast_coba.set_threads(threads)
    try:
        net_f, _ = coba.coba_network(300, seed=1, variant="auryn", tau_ref=tau_ref,
                                     backend="fused")
        n_ref = net_f.populations["n"].neuron.n_ref
        assert (n_ref <= fast_coba.NARROW_REF) == (tau_ref < 10)
        neuron = s0.neurons["n"]
        ref = np.zeros(300, np.asarray(neuron.refractory).dtype)
        held, long, at_n_ref, negative = (np.arange(k, 300, 15) for k in (0, 7, 3, 11))
        ref[held], ref[long], ref[at_n_ref], ref[negative] = 1000, 300, n_ref, -7
        s0 = s0._replace(neurons={"n": neuron._replace(refractory=jnp.asarray(ref))})
        a = run.simulate(net_e, s0, n_steps=800, monitors=("spikes",))
        b = run.simulate(net_f, s0, n_steps=800, monitors=("spikes",))
    finally:
        fast_coba.set_threads(1)
    z = np.asarray(a.records["spikes"]["n"])
    assert not z[:300, long].any() and z[:, long].any()  # held, then firing
    assert (np.asarray(a.state.neurons["n"].refractory)[held] == 200).all()  # still counting
    _assert_same(a.records, b.records)
    _assert_same(a.state, b.state)


@pytest.mark.parametrize("per_neuron", [False, True])
def test_several_projections_channels_delays_and_per_neuron_parameters(per_neuron):
    ref_net, s0 = _two_projection_net("event", per_neuron)
    net, _ = _two_projection_net("fused", per_neuron)
    a = run.simulate(ref_net, s0, n_steps=400, monitors=("spikes", "v"))
    b = run.simulate(net, s0, n_steps=400, monitors=("spikes", "v"))
    assert np.asarray(a.records["spikes"]["n"]).sum() > 50
    np.testing.assert_array_equal(b.records["spikes"]["n"], a.records["spikes"]["n"])
    np.testing.assert_allclose(b.records["v"]["n"], a.records["v"]["n"], atol=1e-4)


@pytest.mark.parametrize("per_call", [1, 5])
def test_delay_lines_are_brought_up_to_date_by_calls_shorter_and_longer_than_the_delay(
        per_call, monkeypatch):
    """The buffer of the delay-2 line (written once per kernel call) equals the reference's
    after calls of 1 and 5 steps and a remainder."""
    monkeypatch.setattr(fast_coba, "CHUNK_BYTES", 200 * per_call)
    ref_net, s0 = _two_projection_net("event")
    net, _ = _two_projection_net("fused")
    a = run.simulate(ref_net, s0, n_steps=103, monitors=("spikes",))
    b = run.simulate(net, s0, n_steps=103, monitors=("spikes",))
    assert np.asarray(a.records["spikes"]["n"])[-3:].any()  # spikes in the line at the end
    np.testing.assert_array_equal(b.records["spikes"]["n"], a.records["spikes"]["n"])
    _assert_same(a.state.projections, b.state.projections)


@pytest.fixture
def blocks(monkeypatch):
    """Three blocks of neurons on the threads (on two, if the machine has two): small networks
    split as large ones do."""
    monkeypatch.setattr(fast_coba, "MIN_NEURONS_PER_THREAD", 16)
    fast_coba.set_threads(3)
    yield
    fast_coba.set_threads(1)


def test_blocks_on_threads_are_bitwise_equal(blocks, monkeypatch):
    """Each thread advances its block of neurons through a window of steps, adding the events
    that land on it: the Auryn network (an 8-step delay, windows of 9 steps; kernel calls of 7
    steps end inside them) equals the reference bit for bit, and so do the spikes of the network
    of two projections (no delay on one: windows of one step; per-synapse weights and channel
    offsets; exponential Euler)."""
    monkeypatch.setattr(fast_coba, "CHUNK_BYTES", 300 * 7)
    ref, got = _runs(300, 1000, lambda net: coba.monitor(net, record=300), chunk=300,
                     variant="auryn")
    assert int(np.asarray(ref.records["spikes"]).sum()) > 300
    _assert_same(ref.records, got.records)
    _assert_same(ref.state, got.state)
    ref_net, s0 = _two_projection_net("event")
    net, _ = _two_projection_net("fused")
    a = run.simulate(ref_net, s0, n_steps=300, monitors=("spikes",))
    b = run.simulate(net, s0, n_steps=300, monitors=("spikes",))
    _assert_same(a.records, b.records)
    _assert_same(a.state, b.state, atol=1e-4)  # exponential Euler: expf within 1 ulp


@pytest.mark.parametrize("threads", [1, 3])
def test_spike_sums_are_added_per_spike_without_dense_spikes(threads, monkeypatch):
    """A SpikeSums monitor (the activity counts and a raster of 130 neurons; group counts with
    real weights) is computed by the kernel from its spike lists, per block: the integer counts
    and the raster equal the reference's, the real sums to float32 rounding, in kernel calls of
    two windows and a remainder call that ends inside one."""
    from neuro.monitors import SpikeSums

    monkeypatch.setattr(fast_coba, "MIN_NEURONS_PER_THREAD", 16)
    monkeypatch.setattr(fast_coba, "CHUNK_BYTES", 18 * (4 * 3 * 3 + 130))  # 18 steps a call
    fast_coba.set_threads(threads)
    calls = []
    init = fast_coba._Kernel.__init__

    def spy(self, *args, **kw):
        init(self, *args, **kw)
        calls.append((self.n_sums, self.n_blocks))

    monkeypatch.setattr(fast_coba._Kernel, "__init__", spy)
    try:
        ref, got = _runs(300, 1003, lambda net: coba.monitor(net, record=130),
                         variant="auryn")  # a raster that ends inside the second block
        assert calls == [(3, threads)]  # the sums path: a count and two digits of degree
        assert int(np.asarray(ref.records["events"]).sum()) > 20000
        _assert_same(ref.records, got.records)
        _assert_same(ref.state, got.state)
        rng = np.random.default_rng(3)
        groups = SpikeSums(np.stack([np.arange(300) < 240, rng.random(300)], 1), "n")
        ref, got = _runs(300, 400, lambda net: groups, variant="auryn")
        np.testing.assert_array_equal(got.records[:, 0], ref.records[:, 0])
        np.testing.assert_allclose(got.records[:, 1], ref.records[:, 1], rtol=1e-6)
        assert float(np.asarray(ref.records[:, 1]).sum()) > 10
    finally:
        fast_coba.set_threads(1)


def test_rows_out_of_block_order_are_delivered_in_slot_order(blocks):
    """Table rows whose targets are not ascending cannot be cut into one segment per block:
    each block takes its targets from the whole row, in slot order, so the sums still equal
    the reference's."""
    ref_net, s0 = _two_projection_net("event", shuffle=True)
    net, _ = _two_projection_net("fused", shuffle=True)
    targets = np.asarray(net.projections["e"].targets)
    assert (np.diff(np.where(targets < 200, targets, -1), axis=1) < -1).any()  # out of order
    a = run.simulate(ref_net, s0, n_steps=300, monitors=("spikes", "v"))
    b = run.simulate(net, s0, n_steps=300, monitors=("spikes", "v"))
    assert np.asarray(a.records["spikes"]["n"]).sum() > 50
    np.testing.assert_array_equal(b.records["spikes"]["n"], a.records["spikes"]["n"])
    np.testing.assert_allclose(b.records["v"]["n"], a.records["v"]["n"], atol=1e-4)  # expf


@pytest.mark.parametrize("bad", [-1, 1.5, True, "2"])
def test_set_threads_names_what_it_expects(bad):
    with pytest.raises(ValueError, match="threads must be an int >= 0"):
        fast_coba.set_threads(bad)
    assert fast_coba.get_threads() == 1


def test_set_threads_takes_effect_on_the_next_run(monkeypatch):
    """The thread count is part of the compiled loop: changing it drops the compiled loops."""
    monkeypatch.setattr(fast_coba, "MIN_NEURONS_PER_THREAD", 16)
    seen = []
    init = fast_coba._Kernel.__init__

    def spy(self, *args):
        init(self, *args)
        seen.append(self.threads)

    monkeypatch.setattr(fast_coba._Kernel, "__init__", spy)
    net, s0 = coba.coba_network(104, seed=0, variant="auryn", backend="fused")
    first = run.simulate(net, s0, n_steps=30, monitors=("spikes",))
    fast_coba.set_threads(2)
    try:
        second = run.simulate(net, s0, n_steps=30, monitors=("spikes",))
    finally:
        fast_coba.set_threads(1)
    assert seen == [1, 2]
    _assert_same(first, second)


def test_batched_states_run_one_network_each():
    net_e, s0 = coba.coba_network(200, seed=4, variant="auryn")
    net_f, _ = coba.coba_network(200, seed=4, variant="auryn", backend="fused")
    v = s0.neurons["n"].v + jnp.asarray([[0.0], [3.0]])  # two initial conditions
    batch = net_e.init_state(2)
    batch = batch._replace(neurons={"n": batch.neurons["n"]._replace(v=v)})
    a = run.simulate(net_e, batch, n_steps=300, monitors=("spikes",))
    b = run.simulate(net_f, batch, n_steps=300, monitors=("spikes",))
    assert b.records["spikes"]["n"].shape == (300, 2, 200)
    _assert_same(a.records, b.records)
    _assert_same(a.state, b.state)


def test_step_by_step_and_gradients_use_the_event_path():
    """``net.step`` of a fused projection is the event backend (same values); the kernel has no
    derivative, so ``remat_chunk`` (a gradient option) is refused with a message."""
    net_f, s0 = coba.coba_network(100, seed=0, variant="auryn", backend="fused")
    net_e, _ = coba.coba_network(100, seed=0, variant="auryn")
    _assert_same(net_e.step(s0)[0], net_f.step(s0)[0])
    with pytest.raises(ConfigError, match="no derivative"):
        run.scan_steps(net_f, s0, n_steps=10, remat_chunk=5)


def test_networks_outside_the_pattern_are_refused_by_name():
    net, s0 = coba.coba_network(100, seed=0, variant="auryn", backend="fused")
    pop = net.populations["n"]
    two = network.network({"n": pop, "m": pop}, net.projections)
    with pytest.raises(ConfigError, match="2 populations"):
        run.simulate(two, two.init_state(), n_steps=5)
    conn = coba.connectivity(net)
    mixed = network.network({"n": pop}, {"a": net.projections["recurrent"],
                                          "b": projections.sparse("n", "n", conn)})
    with pytest.raises(ConfigError, match="'b' is not a Sparse projection with backend='fused'"):
        run.simulate(mixed, mixed.init_state(), n_steps=5)


def test_the_environment_switch_selects_the_reference(monkeypatch):
    monkeypatch.setenv("NEURO_EVENT_KERNEL", "jax")
    assert not fast_coba.applies()
    net, s0 = coba.coba_network(100, seed=0, variant="auryn", backend="fused")
    assert fast_coba.fused_scan(net, s0, None, ("spikes",), None, 10, run._select) is None


def test_a_fused_dense_projection_is_left_to_the_recurrent_backend():
    """``dense(..., backend="fused")`` belongs to neuro.fast_rnn: this backend does not claim it."""
    pop = network.population(neurons.lif(), 8)
    rec = projections.dense("n", "n", np.zeros((8, 8), np.float32), backend="fused")
    net = network.network({"n": pop}, {"r": rec})
    assert fast_coba.fused_scan(net, net.init_state(), None, ("spikes",), None, 5,
                                run._select) is None
