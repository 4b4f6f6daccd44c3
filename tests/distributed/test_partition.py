"""In-process checks of the partition (one device): bit packing, layouts, and bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neuro import distributed, network, projections
from neuro.distributed.partition import _cut, _flat_channels, _unflat_channels
from neuro.distributed.simulate import pack_bits, unpack_bits
from neuro.neurons import conductance_lif
from neuro.synapses import conductance_synapse


def test_bit_packing_round_trip():
    z = (np.random.default_rng(0).random((3, 77)) < 0.3).astype(np.float32)
    words = pack_bits(jnp.asarray(z))
    assert words.shape == (3, 3) and words.dtype == jnp.uint32
    np.testing.assert_array_equal(unpack_bits(words, 77, jnp.float32), z)
    # bit b of word w is neuron 32 w + b
    assert int(pack_bits(jnp.zeros(40).at[33].set(1.0))[1]) == 2


def test_channel_blocks_join_back():
    g = np.arange(2 * 10 + 1, dtype=float)  # two channels of 10 neurons and the sink
    parts = np.stack([_flat_channels(g, 2, 10, d, 4) for d in range(3)])  # padded to 12
    assert parts.shape == (3, 9)
    np.testing.assert_array_equal(parts[0], [0, 1, 2, 3, 10, 11, 12, 13, 20])
    np.testing.assert_array_equal(_unflat_channels(parts, 2, 10, 4), g)
    # fewer neurons than devices: a device past the end holds a copy of the last neuron
    np.testing.assert_array_equal(_cut(np.array([1.0, 2.0, 3.0]), 4, 3, 1), [3.0])
    np.testing.assert_array_equal(_cut(np.array([1.0, 2.0, 3.0]), 2, 3, 2), [3.0, 3.0])


def _net(delay=0):
    conn = projections.fixed_probability(0, 20, 20, 0.2, weights=0.5)
    pop = network.population(conductance_lif(), 20, synapse=conductance_synapse())
    return network.network({"e": pop}, {"ee": projections.sparse("e", "e", conn, delay=delay)})


def test_state_round_trip_and_interval():
    net = _net(delay=2)
    pnet = distributed.partition(net, distributed.mesh(1))
    assert pnet.interval == 3 and pnet.block == {"e": 20}
    state = net.init_state(2)
    state = state._replace(z={"e": jnp.ones((2, 20))})
    back = distributed.gather_state(pnet, distributed.shard_state(pnet, state))
    for a, b in zip(jax.tree_util.tree_leaves(back), jax.tree_util.tree_leaves(state),
                    strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert distributed.partition(net, distributed.mesh(1), interval=1).interval == 1


def test_bad_input_is_named():
    net = _net(delay=1)
    mesh = distributed.mesh(1)
    with pytest.raises(ValueError, match="interval"):
        distributed.partition(net, mesh, interval=3)
    with pytest.raises(ValueError, match="exchange"):
        distributed.partition(net, mesh, exchange="zip")
    with pytest.raises(ValueError, match="axis"):
        distributed.partition(net, mesh, axis="batch")
    with pytest.raises(ValueError, match="mesh"):
        distributed.mesh(len(jax.devices()) + 1)
    plastic = network.network(net.populations, net.projections, {"m": network.Modulator()})
    with pytest.raises(ValueError, match="modulator 'm'"):
        distributed.partition(plastic, mesh)
    pnet = distributed.partition(net, mesh)
    with pytest.raises(ValueError, match="multiples"):
        distributed.simulate(pnet, distributed.shard_state(pnet, net.init_state()),
                             jnp.zeros((5, 0)))
    with pytest.raises(ValueError, match="n_steps"):
        distributed.simulate(pnet, distributed.shard_state(pnet, net.init_state()))
    have = len(jax.devices("cpu"))
    assert distributed.cpu_devices(have) == have  # already running with as many: fine
    with pytest.raises(ValueError, match="already runs"):
        distributed.cpu_devices(have + 1)


def test_batched_run_on_one_device_equals_the_network():
    """Leading batch axes pass through the partition; delays make the exchange every 3 steps."""
    from neuro.neurons import ConductanceLIFState
    from neuro.run import simulate

    conn = projections.fixed_probability(0, 40, 40, 0.2, weights=0.8)
    pop = network.population(conductance_lif(bias=15.0), 40, synapse=conductance_synapse())
    net = network.network({"e": pop}, {"ee": projections.sparse("e", "e", conn, delay=2)})
    state = net.init_state(2)
    v0 = jnp.asarray(np.random.default_rng(1).uniform(-60, -50, (2, 40)))
    state = state._replace(neurons={"e": ConductanceLIFState(v0, jnp.zeros((2, 40), jnp.int32))})
    monitor = lambda out: {"z": out["spikes"]["e"], "v": out["v"]["e"],
                           "count": out["spikes"]["e"].sum(-1)}  # monitors see one step
    ref = simulate(net, state, n_steps=60, monitors=monitor)
    got = distributed.simulate_network(net, state, devices=1, n_steps=60, monitors=monitor)
    assert np.asarray(ref.records["count"]).sum() > 20
    for key in ("z", "v", "count"):
        np.testing.assert_array_equal(got.records[key], ref.records[key])
    # the final state in the single-device layout (delay lines may start at another position)
    for part in ("neurons", "synapses", "z"):
        for a, b in zip(jax.tree_util.tree_leaves(getattr(got.state, part)),
                        jax.tree_util.tree_leaves(getattr(ref.state, part)), strict=True):
            np.testing.assert_array_equal(a, b)
