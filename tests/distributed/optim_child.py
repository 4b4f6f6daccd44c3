"""Child: HLOP's lateral (Hebbian) updates and the EWC Fisher with the batch split over a
``"batch"`` mesh, against one device (float32; a recurrent LIF network with dense input, sparse
recurrence and a readout, its loss returning sample-major presynaptic rows [B T, n] as
:class:`neuro.tasks.pipeline.DigitLoss` does); prints the largest relative differences."""

import json
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from neuro import distributed
from neuro.optim import HLOPState, empirical_fisher, find_state, hlop, hlop_add, presynaptic_size
from neuro.plasticity import presynaptic_activity, subspace_init
from neuro.run import scan_steps
from neuro.train import Trainer, cross_entropy, readout_logits

sys.path.insert(0, str(Path(__file__).parent))
from train_child import build  # noqa: E402

MODULES = ("in", "rec", "y")
N_IN, N, STEPS = 16, 32, 8


def loss(net, batch, key):
    x, y = batch  # [B, STEPS, N_IN]
    xs = jnp.swapaxes(x, 0, 1)
    _, rec = scan_steps(net, net.init_state(x.shape[0]), xs, monitors=("spikes", "readout"),
                        check_finite=False)
    ce, acc = cross_entropy(readout_logits(rec["readout"]["y"]), y)
    swap = lambda tree: jax.tree_util.tree_map(lambda a: jnp.swapaxes(a, 0, 1), tree)
    pre = {m: presynaptic_activity(net, m, swap(rec), x, reduce="steps") for m in MODULES}
    return ce, {"accuracy": acc, "presynaptic": pre}


def rel(a, b):
    """max |a - b| / max |b| over every leaf of two pytrees."""
    la, lb = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    assert len(la) == len(lb)
    num = max(float(np.max(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64))))
              for x, y in zip(la, lb, strict=True))
    den = max(float(np.max(np.abs(np.asarray(y, np.float64)))) for y in lb)
    return num / den


def hlop_run(net, loss, x, y, mesh, steps=4, batch=32):
    circuits = {m: subspace_init(presynaptic_size(net, m), 12) for m in MODULES}
    tx = optax.chain(hlop(net, circuits, lr=0.01, block={m: 6 for m in MODULES}), optax.sgd(0.3))
    trainer = Trainer(loss, tx, mesh=mesh)
    opt_state = hlop_add(trainer.init(net), net, {m: 6 for m in MODULES}, seed=[0, 2])
    start = {m: c.weight for m, c in find_state(opt_state, HLOPState).circuits.items()}
    for i in range(steps):
        idx = slice(i * batch, (i + 1) * batch)
        net, opt_state, _ = trainer.update(net, opt_state, (x[idx], y[idx]), None)
    circuits = find_state(opt_state, HLOPState).circuits
    return (net, {m: (c.weight, c.momentum) for m, c in circuits.items()}, trainer, opt_state,
            start)


if __name__ == "__main__":
    devices = int(sys.argv[1])
    mesh = distributed.mesh({"batch": devices})
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, 128).astype(np.int32)
    x = rng.uniform(0, 0.3, (128, STEPS, N_IN)).astype(np.float32)
    x[np.arange(128), :, 4 * y] += 0.8  # class-coded inputs
    net = build(n_in=N_IN, n=N, n_out=4, p=0.2, edge_std=0.5, dtype=jnp.float32)  # per-edge
    net1, circ1, _, _, start = hlop_run(net, loss, x, y, None)
    netd, circd, trainer, opt_state, _ = hlop_run(net, loss, x, y, mesh)
    moved = rel({m: w for m, (w, _) in circ1.items()}, start)  # the Hebbian rule acted
    out = {"hebbian_rel": rel(circd, circ1), "params_rel": rel(netd, net1),
           "circuits_moved": moved}
    placed = trainer._place(netd, (x[:32], y[:32]), None)
    out["step_collectives"] = distributed.compiled_collectives(
        trainer._update, placed[0], opt_state, placed[1], None)
    # 30 examples in chunks of 7 (8 on the mesh: a multiple of the devices, padded at weight 0)
    f1 = empirical_fisher(loss, net, x[:30], y[:30], chunk=7)
    fd = empirical_fisher(loss, net, x[:30], y[:30], chunk=7, mesh=mesh)
    out["fisher_rel"] = rel(fd, f1)
    out["fisher_max"] = max(float(jnp.max(f)) for f in jax.tree_util.tree_leaves(f1))
    out["fisher_sharded"] = [len(f.sharding.device_set) for f in jax.tree_util.tree_leaves(fd)][:1]
    try:
        distributed.check_batch(30, mesh)
    except ValueError as exc:
        out["uneven_batch"] = str(exc)
    print(json.dumps(out))
