"""Child: a network with two populations, an input, dense and sparse projections, uniform and
per-synapse delays (exchange every 3 steps) and a readout, in float64, on one device and
partitioned; prints comparisons as JSON. Also state hand-over and checkpoint resume."""

import json
import sys
import tempfile
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from neuro import distributed, network, projections, readouts  # noqa: E402
from neuro.neurons import ConductanceLIFState, conductance_lif, lif  # noqa: E402
from neuro.run import simulate  # noqa: E402
from neuro.synapses import conductance_synapse  # noqa: E402
from neuro.validation import CheckpointMismatch  # noqa: E402

N_E, N_I, N_IN = 300, 100, 20
MONITORS = ("spikes.e", "spikes.i", "v.e", "readout.y")
CHUNK = 150  # every call runs the same compiled chunk


def build(seed=0):
    rng = np.random.default_rng(seed)
    ee = projections.fixed_probability(seed, N_E, N_E, 0.05, weights=0.5)
    ee_delays = rng.integers(0, 4, ee.targets.shape)
    ei = projections.fixed_probability(seed + 1, N_E, N_I, 0.1, weights=3.0)
    pops = {"e": network.population(conductance_lif(bias=12.0), N_E,
                                    synapse=conductance_synapse()),
            "i": network.population(lif(tau=10.0, v_th=1.0, dt=0.1), N_I)}
    projs = {"in": projections.dense("x", "e", rng.uniform(0, 1.0, (N_IN, N_E)), delay=1),
             "ee": projections.sparse("e", "e", ee, delay=2, delays=ee_delays),
             "ei": projections.sparse("e", "i", ei, delay=3),
             "ie": projections.dense("i", "e", rng.uniform(0, 2.0, (N_I, N_E)), channel=1,
                                     delay=2)}
    outs = {"y": readouts.leaky("e", 3, key=jax.random.PRNGKey(seed), n_in=N_E, tau=5.0)}
    net = network.network(pops, projs, readouts=outs, inputs={"x": N_IN})
    state = net.init_state()
    v0 = -60.0 + 8.0 * rng.random(N_E)
    neurons = dict(state.neurons, e=ConductanceLIFState(jnp.asarray(v0), jnp.zeros(N_E, jnp.int32)))
    xs = jnp.asarray((rng.random((600, N_IN)) < 0.02).astype(np.float64))
    return net, state._replace(neurons=neurons), xs


def compare(got, ref):
    out = {}
    for k in MONITORS:
        a, b = np.asarray(got[k]), np.asarray(ref[k])
        out[k] = bool(np.array_equal(a, b)) if k.startswith("spikes") else float(
            np.max(np.abs(a - b)) / (np.max(np.abs(b)) + 1e-300))
    return out


def handover(net, state, xs, ref, devices, result):
    """Full runs on each device count, and a state handed between layouts mid-run."""
    half = simulate(net, state, xs[:300], monitors=MONITORS, chunk=CHUNK)
    tail = {k: np.asarray(v)[300:] for k, v in ref.items()}
    for d in devices:
        pnet = distributed.partition(net, distributed.mesh(d))
        ds = distributed.shard_state(pnet, state)
        full = distributed.simulate(pnet, ds, xs, monitors=MONITORS, chunk=CHUNK)
        # a single-device state continues partitioned, and a partitioned one on one device
        cont = distributed.simulate(pnet, distributed.shard_state(pnet, half.state), xs[300:],
                                    monitors=MONITORS, chunk=CHUNK)
        first = distributed.simulate(pnet, ds, xs[:300], monitors=MONITORS, chunk=CHUNK)
        back = simulate(net, distributed.gather_state(pnet, first.state), xs[300:],
                        monitors=MONITORS, chunk=CHUNK)
        result[str(d)] = {"interval": pnet.interval, "full": compare(full.records, ref),
                          "shard_mid_run": compare(cont.records, tail),
                          "gather_mid_run": compare(back.records, tail)}


def resume(net, state, xs, ref, devices, result):
    """300 steps on ``devices[0]`` with a checkpoint, resumed to 600 on each of the others."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "run.npz"
        pnet = distributed.partition(net, distributed.mesh(devices[0]))
        ds = distributed.shard_state(pnet, state)
        first = distributed.simulate(pnet, ds, xs[:300], monitors=MONITORS, chunk=CHUNK,
                                     checkpoint=path)
        result[str(devices[0])] = {
            "interval": pnet.interval, "bytes": distributed.exchange_bytes(pnet, ds),
            "full": compare(first.records, {k: np.asarray(v)[:300] for k, v in ref.items()})}
        saved = path.read_bytes()
        for d in devices[1:]:
            path.write_bytes(saved)
            pnet = distributed.partition(net, distributed.mesh(d))
            res = distributed.simulate(pnet, distributed.shard_state(pnet, state), xs,
                                       monitors=MONITORS, chunk=CHUNK, checkpoint=path)
            result[f"resume{d}"] = compare(res.records, ref)
        # another run's checkpoint is refused, naming what differs, and left as it is
        path.write_bytes(saved)
        other, other_state, _ = build(seed=1)
        changed = np.asarray(xs).copy()
        changed[7, 0] = 1.0 - changed[7, 0]
        cases = {"network": (other, state, xs), "initial_state": (net, other_state, xs),
                 "inputs": (net, state, changed)}
        for what, (n2, s2, x2) in cases.items():
            pnet = distributed.partition(n2, distributed.mesh(devices[-1]))
            try:
                distributed.simulate(pnet, distributed.shard_state(pnet, s2), x2,
                                     monitors=MONITORS, chunk=CHUNK, checkpoint=path)
                result[f"refused_{what}"] = "resumed"
            except CheckpointMismatch as exc:
                result[f"refused_{what}"] = str(exc)
        result["file_kept"] = path.read_bytes() == saved


if __name__ == "__main__":
    mode = resume if sys.argv[1] == "resume" else handover
    devices = [int(a) for a in sys.argv[2:]]
    net, state, xs = build()
    ref = simulate(net, state, xs, monitors=MONITORS, chunk=CHUNK).records
    result = {"spikes": int(np.asarray(ref["spikes.e"]).sum()),
              "spikes_i": int(np.asarray(ref["spikes.i"]).sum())}
    mode(net, state, xs, ref, devices, result)
    print(json.dumps(result))
