"""Child: one of two processes on localhost (CPU collectives over gloo, coordinator on
127.0.0.1): the COBA network partitioned over the devices of both processes, and three
data-parallel training steps over them, checked against single-process runs; process 0 prints
the comparison as JSON."""

import json
import sys
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from coba_child import POP, SPIKES, coba  # noqa: E402
from train_child import losses  # noqa: E402

from neuro import distributed  # noqa: E402
from neuro.run import simulate  # noqa: E402

if __name__ == "__main__":
    port, pid, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    distributed.initialize(f"127.0.0.1:{port}", 2, pid, cpu_collectives="gloo")
    net, state = coba(400)
    xs = jnp.zeros((steps, 0))
    with jax.default_device(jax.local_devices()[0]):
        ref = np.asarray(simulate(net, state, xs, monitors=(SPIKES,)).records[SPIKES])
    mesh = distributed.mesh()  # every device of both processes
    pnet = distributed.partition(net, mesh)
    res = distributed.simulate(pnet, distributed.shard_state(pnet, state), xs,
                               monitors=(SPIKES,), chunk=steps // 2)
    got = np.asarray(res.records[SPIKES])
    out = {"processes": jax.process_count(), "devices": len(jax.devices()),
           "local_devices": len(jax.local_devices()), "spikes": int(ref.sum()),
           "identical": bool(np.array_equal(got, ref))}
    final = distributed.gather_state(pnet, res.state)
    out["v_equal"] = bool(np.array_equal(final.neurons[POP].v, np.asarray(
        simulate(net, state, xs).state.neurons[POP].v)))
    with jax.default_device(jax.local_devices()[0]):
        ref_losses = losses(None, steps=3)[0]
    out["train_losses"] = losses(distributed.mesh({"batch": 4}), steps=3)[0]
    out["train_ref"] = ref_losses
    if pid == 0:
        print(json.dumps(out))
