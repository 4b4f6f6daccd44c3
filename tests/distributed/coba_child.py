"""Child: the COBA network (core API, float64) on one device with neuro.run.simulate and
partitioned over meshes of the given sizes; prints whether the spike trains are identical."""

import argparse
import json
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from neuro import distributed, network, projections  # noqa: E402
from neuro.neurons import ConductanceLIFState, conductance_lif  # noqa: E402
from neuro.run import simulate  # noqa: E402
from neuro.synapses import conductance_synapse  # noqa: E402


def coba(n, seed=0, delay=0):
    """Brette et al. (2007) COBA, BrainPy variant (I = 20 mV, V0 ~ N(-55, 5) mV), in-degree 80."""
    n_e = int(0.8 * n)
    conn = projections.excitatory_inhibitory(projections.fixed_probability, seed, n_e, n - n_e,
                                             0.6, 6.7, 80 / n)
    pop = network.population(conductance_lif(bias=20.0), n, synapse=conductance_synapse())
    net = network.network({"ei": pop}, {"ee": projections.sparse("ei", "ei", conn, delay=delay)})
    state = net.init_state()
    v0 = -55.0 + 5.0 * np.random.default_rng(seed + 1).standard_normal(n)
    neurons = {"ei": ConductanceLIFState(jnp.asarray(v0), jnp.zeros(n, jnp.int32))}
    return net, state._replace(neurons=neurons)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("devices", type=int, nargs="+")
    ap.add_argument("--neurons", type=int, default=500)
    ap.add_argument("--steps", type=int, default=10000)
    ap.add_argument("--delay", type=int, default=0)
    args = ap.parse_args()
    net, state = coba(args.neurons, delay=args.delay)
    xs = jnp.zeros((args.steps, 0))
    t0 = time.perf_counter()
    ref = np.asarray(simulate(net, state, xs, monitors=("spikes.ei",)).records["spikes.ei"])
    out = {"rate_hz": float(ref.mean() / 1e-4), "ref_s": time.perf_counter() - t0}
    for d in args.devices:
        t0 = time.perf_counter()
        pnet = distributed.partition(net, distributed.mesh(d))
        res = distributed.simulate(pnet, distributed.shard_state(pnet, state), xs,
                                   monitors=("spikes.ei",))
        got = np.asarray(res.records["spikes.ei"])
        ds = distributed.shard_state(pnet, state)
        hlo = distributed.block_collectives(pnet, ds, xs[: pnet.interval])
        first = np.nonzero(np.any(got != ref, axis=1))[0]
        out[str(d)] = {"identical": bool(np.array_equal(got, ref)),
                       "first_difference": int(first[0]) if first.size else None,
                       "interval": pnet.interval, "seconds": time.perf_counter() - t0,
                       "bytes": distributed.exchange_bytes(pnet, ds), "hlo": hlo}
    print(json.dumps(out))
