"""Child: 20 data-parallel Trainer steps on meshes of 1, 4 and 8 devices (float64); prints the
losses of each as JSON."""

import json
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax

from neuro import network, projections, readouts
from neuro.neurons import lif
from neuro.run import scan_steps
from neuro.train import Trainer, cross_entropy, readout_logits


def build(seed=0, n_in=8, n=32, n_out=2, p=0.1, edge_std=None, dtype=jnp.float64):
    """Dense input, sparse recurrence (weight 0.3, or per-edge N(0, edge_std) weights) and a
    leaky readout (float64 needs jax_enable_x64)."""
    key = jax.random.PRNGKey(seed)
    k_in, k_out = jax.random.split(key)
    conn = projections.fixed_probability(seed, n, n, p, weights=0.3, dtype=dtype)
    if edge_std is not None:
        pre, post, _, _ = conn.to_edges()
        w = np.random.default_rng(seed).normal(0.0, edge_std, pre.size)
        conn = projections.from_edges(pre, post, n, n, weights=w, dtype=dtype)
    return network.network(
        {"h": network.population(lif(tau=10.0, v_th=0.6), n)},
        {"in": projections.dense("x", "h", key=k_in, n_pre=n_in, n_post=n, gain=3.0),
         "rec": projections.sparse("h", "h", conn)},
        readouts={"y": readouts.leaky("h", n_out, key=k_out, n_in=n, tau=5.0)},
        inputs={"x": n_in})


def loss_fn(net, batch, key):
    xs, y = batch  # xs [B, T, n_in]
    state = net.init_state(xs.shape[0])
    _, rec = scan_steps(net, state, jnp.swapaxes(xs, 0, 1), monitors=("readout.y", "spikes.h"))
    ce, acc = cross_entropy(readout_logits(rec["readout.y"]), y)
    return ce + 1e-3 * jnp.mean(rec["spikes.h"]), {"accuracy": acc}


def data(n=32, steps=12, n_in=8, seed=1):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.uniform(0, 0.3, (n, steps, n_in))
    x[y == 0, :, : n_in // 2] += 0.7
    x[y == 1, :, n_in // 2:] += 0.7
    return x, y.astype(np.int32)


def losses(mesh, steps=20):
    net = build()
    trainer = Trainer(loss_fn, optax.adam(2e-2), mesh=mesh)
    opt_state = trainer.init(net)
    x, y = data()
    out = []
    for i in range(steps):
        idx = np.arange(16) + 16 * (i % 2)
        net, opt_state, metrics = trainer.update(net, opt_state, (x[idx], y[idx]), None)
        out.append(float(metrics["loss"]))
    sharding = jax.tree_util.tree_leaves(net)[0].sharding
    return out, [len(sharding.device_set), sharding.is_fully_replicated]


if __name__ == "__main__":
    jax.config.update("jax_enable_x64", True)
    from neuro.distributed import mesh as make_mesh

    result = {}
    for n in (None, *map(int, sys.argv[1:])):
        m = None if n is None else make_mesh({"batch": n})
        result[str(n)], spec = losses(m)
        if n:
            result[f"spec{n}"] = spec
    print(json.dumps(result))
