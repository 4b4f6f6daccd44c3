"""Child: a COBA population modulated by astrocytes (AstroModulation: threshold and gain from a
slow astrocyte state; block and overlapping random coverage) on one device and partitioned;
prints the comparison as JSON (float64)."""

import json
import sys
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from coba_child import POP, SPIKES, coba  # noqa: E402

from neuro import distributed, network  # noqa: E402
from neuro.modulators import astro_modulation, coverage_map  # noqa: E402
from neuro.run import simulate  # noqa: E402

N, STEPS = 400, 2000

if __name__ == "__main__":
    net, state = coba(N)
    rng = np.random.default_rng(3)
    overlap = (rng.random((6, N)) < 0.2) * rng.uniform(0.5, 1.5, (6, N))
    mods = {"zones": astro_modulation(POP, 50, N, tau_c=20.0, dt=0.1, kappa_th=0.4,
                                      kappa_g=0.5, drive_scale=100.0),
            "web": astro_modulation(POP, coverage_map(overlap), tau_c=50.0, dt=0.1,
                                    kappa_th=-0.2, drive_scale=100.0)}
    net = network.network(net.populations, net.projections, mods)
    state = state._replace(modulators={n: m.init_state(net, (), jnp.float64)
                                       for n, m in mods.items()})
    xs = jnp.zeros((STEPS, 0))
    plain = simulate(net, state, xs, monitors=(SPIKES,))
    bare = simulate(network.network(net.populations, net.projections), state._replace(
        modulators={}), xs, monitors=(SPIKES,))
    ref = np.asarray(plain.records[SPIKES])
    out = {"spikes": int(ref.sum()), "astro_changes_spikes": bool(
        not np.array_equal(ref, np.asarray(bare.records[SPIKES])))}
    for d in map(int, sys.argv[1:]):
        pnet = distributed.partition(net, distributed.mesh(d))
        res = distributed.simulate(pnet, distributed.shard_state(pnet, state), xs,
                                   monitors=(SPIKES,))
        got = np.asarray(res.records[SPIKES])
        final = distributed.gather_state(pnet, res.state)
        diff = max(float(np.max(np.abs(final.modulators[n] - np.asarray(
            plain.state.modulators[n])))) for n in mods)
        first = np.nonzero(np.any(got != ref, axis=1))[0]
        out[str(d)] = {"identical": bool(np.array_equal(got, ref)), "astro_state_diff": diff,
                       "first_difference": int(first[0]) if first.size else None}
    print(json.dumps(out))
