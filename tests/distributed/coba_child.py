"""Child: the COBA network (neuro.models.coba, float64) on one device with neuro.run.simulate
and partitioned over meshes of the given sizes; prints whether the spike trains are identical."""

import argparse
import json
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from neuro import distributed  # noqa: E402
from neuro.models.coba import POPULATION as POP  # noqa: E402
from neuro.models.coba import ei_network  # noqa: E402
from neuro.run import simulate  # noqa: E402

SPIKES = f"spikes.{POP}"


def coba(n, seed=0, variant="brainpy"):
    """The COBA network of neuro.models.coba (float64)."""
    return ei_network("coba", n, variant=variant, seed=seed, dtype=jnp.float64)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("devices", type=int, nargs="+")
    ap.add_argument("--neurons", type=int, default=500)
    ap.add_argument("--steps", type=int, default=10000)
    ap.add_argument("--variant", default="brainpy")
    args = ap.parse_args()
    net, state = coba(args.neurons, variant=args.variant)
    xs = jnp.zeros((args.steps, 0))
    t0 = time.perf_counter()
    ref = np.asarray(simulate(net, state, xs, monitors=(SPIKES,)).records[SPIKES])
    out = {"rate_hz": float(ref.mean() / 1e-4), "ref_s": time.perf_counter() - t0}
    for d in args.devices:
        t0 = time.perf_counter()
        pnet = distributed.partition(net, distributed.mesh(d))
        res = distributed.simulate(pnet, distributed.shard_state(pnet, state), xs,
                                   monitors=(SPIKES,))
        got = np.asarray(res.records[SPIKES])
        ds = distributed.shard_state(pnet, state)
        hlo = distributed.block_collectives(pnet, ds, xs[: pnet.interval])
        first = np.nonzero(np.any(got != ref, axis=1))[0]
        out[str(d)] = {"identical": bool(np.array_equal(got, ref)),
                       "first_difference": int(first[0]) if first.size else None,
                       "interval": pnet.interval, "seconds": time.perf_counter() - t0,
                       "bytes": distributed.exchange_bytes(pnet, ds), "hlo": hlo}
    print(json.dumps(out))
