"""Strong and weak scaling of neuron-parallel COBA and of a data-parallel training step.

* COBA (:func:`neuro.models.coba.ei_network`, Brette et al. 2007, BrainPy variant: I = 20 mV, V0 ~
  N(-55, 5) mV, in-degree 80, float32, event-driven Sparse projection) partitioned over 1, 2, 4,
  ... devices by :func:`neuro.distributed.partition`: *strong* scaling at fixed N, *weak* scaling
  at fixed N per device. Reported: time per step (median of ``--repeats`` runs of ``--steps``
  steps after a compile run), speed-up against one device, mean rate, and the bytes every device
  receives per step in the spike exchange (bit-packed words, and what values would cost).
* Training step: :class:`neuro.train.Trainer` with a ``"batch"`` mesh on a recurrent LIF network
  (sparse recurrence), strong (fixed global batch) and weak (fixed batch per device); the bytes
  of the all-reduce XLA compiled (gradients and loss; 2 (D - 1) / D of them per device, ring);
  the same step with HLOP's lateral circuits (``hlop`` rows: the Hebbian statistics join the
  all-reduce), and any all-gather XLA put in a training step (on CPU the native event kernel,
  a custom call XLA cannot split over the batch, is fed by a per-step all-gather of the batch;
  ``NEURO_EVENT_KERNEL=jax`` selects the pure-JAX kernel, which XLA splits).
  Exchanged bytes are read from the compiled programs
  (:func:`neuro.distributed.compiled_collectives`) and checked against the expected sizes.
* The state checkpoint (:mod:`neuro.distributed.checkpoint`): save and load time at the largest N.

Devices: whatever JAX finds; on CPU ``--devices N`` starts JAX with N virtual host devices
(:func:`neuro.distributed.cpu_devices`). Virtual CPU devices share the machine's cores (2 on
the development machine), so their absolute times and speed-ups say nothing about real hardware:
they show the overhead of the exchange and that the code path runs. On a GPU machine the same
script measures the GPUs. There is no peer: no other simulator distributes this network in JAX.

Usage: ``python benchmarks/scaling.py [--devices 4] [--neurons 4000] [--steps 500] [--full]
[--json FILE]``; ``--full`` runs COBA from 4k to 400k neurons (long).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import tempfile
import time


@functools.lru_cache(maxsize=2)  # one build per size serves every device count
def coba(n: int, variant: str = "brainpy"):
    """:func:`neuro.models.coba.ei_network` (float32) and its initial state."""
    import jax.numpy as jnp

    from neuro.models.coba import ei_network

    return ei_network("coba", n, variant=variant, seed=0, dtype=jnp.float32)


def _count(outputs):
    """Spikes per step: a small record."""
    from neuro.models.coba import POPULATION

    return outputs["spikes"][POPULATION].sum(-1)


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def plain_row(n: int, steps: int, repeats: int) -> dict:
    """The unpartitioned Network in :func:`neuro.run.simulate` (the reference for 1 device)."""
    import numpy as np

    from neuro.run import simulate

    net, state = coba(n)
    start = time.perf_counter()
    res = simulate(net, state, n_steps=steps, monitors=_count)
    compile_s = time.perf_counter() - start
    rate = float(np.asarray(res.records).sum() / n / (steps * 1e-4))
    per_step = _median_time(lambda: simulate(net, state, n_steps=steps, monitors=_count),
                            repeats) / steps
    return {"bench": "coba", "mode": "plain", "neurons": n, "devices": 1,
            "us_per_step": per_step * 1e6, "compile_s": compile_s, "rate_hz": rate,
            "bytes_per_device_step": 0}


def coba_row(n: int, d: int, steps: int, repeats: int, exchange: str = "auto",
             variant: str = "brainpy") -> dict:
    import jax.numpy as jnp
    import numpy as np

    from neuro import distributed

    net, state = coba(n, variant)
    pnet = distributed.partition(net, distributed.mesh(d), exchange=exchange)
    dstate = distributed.shard_state(pnet, state)
    steps = max(steps - steps % pnet.interval, pnet.interval)  # whole exchange blocks
    xs = jnp.zeros((steps, 0), jnp.float32)
    count = _count
    start = time.perf_counter()
    res = distributed.simulate(pnet, dstate, xs, monitors=count)
    compile_s = time.perf_counter() - start
    rate = float(np.asarray(res.records).sum() / n / (steps * 1e-4))
    per_step = _median_time(lambda: distributed.simulate(pnet, dstate, xs, monitors=count),
                            repeats) / steps
    sent = distributed.exchange_bytes(pnet, dstate)["per_device"]
    # the same read from the compiled block: its all-gather results, less the own part, per step
    hlo = distributed.block_collectives(pnet, dstate, xs[: pnet.interval])
    measured = hlo.get("all-gather", 0) * (d - 1) / d / pnet.interval
    if d > 1 and measured != sent:
        raise AssertionError(f"compiled exchange {measured} B/step != expected {sent} B/step")
    values = (d - 1) * sum(pnet.block.values()) * 4
    return {"bench": "coba", "neurons": n, "devices": d, "us_per_step": per_step * 1e6,
            "compile_s": compile_s, "rate_hz": rate, "bytes_per_device_step": sent,
            "bytes_if_values": values, "exchange": ",".join(dict(pnet.exchange).values()),
            "interval": pnet.interval}


def train_row(batch: int, d: int, steps: int, repeats: int, method: str = "adam") -> dict:
    """One data-parallel training step; ``method`` ``"adam"`` (BPTT) or ``"hlop"`` (BPTT with
    HLOP's lateral circuits on the input, recurrent and readout projections: the loss returns
    sample-major presynaptic rows, whose Hebbian statistics are all-reduced like gradients)."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax

    from neuro import distributed, network, projections, readouts
    from neuro.neurons import lif
    from neuro.optim import hlop, hlop_add, presynaptic_size
    from neuro.plasticity import presynaptic_activity, subspace_init
    from neuro.run import scan_steps
    from neuro.train import Trainer, cross_entropy, readout_logits

    n_in, n, t = 64, 256, 50
    k1, k2 = jax.random.split(jax.random.PRNGKey(0))
    conn = projections.fixed_probability(0, n, n, 0.1, weights=0.1)
    if method == "hlop":  # HLOP projects per-edge weights
        pre, post, _, _ = conn.to_edges()
        conn = projections.from_edges(pre, post, n, n, weights=np.full(pre.size, 0.1))
    net = network.network(
        {"h": network.population(lif(tau=10.0, v_th=0.5), n)},
        {"in": projections.dense("x", "h", key=k1, n_pre=n_in, n_post=n, gain=2.0),
         "rec": projections.sparse("h", "h", conn)},
        readouts={"y": readouts.leaky("h", 10, key=k2, n_in=n, tau=5.0)}, inputs={"x": n_in})

    modules = ("in", "rec", "y")

    def loss_fn(net, batch, key):
        xs, y = batch
        _, rec = scan_steps(net, net.init_state(xs.shape[0]), jnp.swapaxes(xs, 0, 1),
                            monitors=("readout.y", "spikes"))
        ce = cross_entropy(readout_logits(rec["readout.y"]), y)[0]
        if method != "hlop":
            return ce, {}
        rows = {"spikes": jax.tree_util.tree_map(lambda a: jnp.swapaxes(a, 0, 1),
                                                 rec["spikes"])}
        return ce, {"presynaptic": {m: presynaptic_activity(net, m, rows, xs, reduce="steps")
                                    for m in modules}}

    rng = np.random.default_rng(0)
    x = (rng.random((batch, t, n_in)) < 0.1).astype(np.float32)
    y = rng.integers(0, 10, batch).astype(np.int32)
    mesh = distributed.mesh({"batch": d})
    if method == "hlop":
        circuits = {m: subspace_init(presynaptic_size(net, m), 40) for m in modules}
        tx = optax.chain(hlop(net, circuits, lr=0.01, block={m: 20 for m in modules}),
                         optax.sgd(0.1))
    else:
        tx = optax.adam(1e-3)
    trainer = Trainer(loss_fn, tx, mesh=mesh)
    opt = trainer.init(net)
    if method == "hlop":
        opt = hlop_add(opt, net, {m: 20 for m in modules})
    state = {"net": net, "opt": opt}

    def step():
        for _ in range(steps):
            state["net"], state["opt"], m = trainer.update(state["net"], state["opt"], (x, y),
                                                           None)
        jax.block_until_ready(m["loss"])

    start = time.perf_counter()
    step()
    compile_s = time.perf_counter() - start
    per_step = _median_time(step, repeats) / steps
    n_params = sum(int(np.size(p)) for p in jax.tree_util.tree_leaves(net)
                   if jnp.issubdtype(p.dtype, jnp.floating))
    params, placed, _ = trainer._place(state["net"], (x, y), None)
    hlo = distributed.compiled_collectives(trainer._update, params, state["opt"], placed, None)
    # a ring all-reduce sends and receives 2 (D - 1) / D of the reduced bytes per device
    reduced = hlo.get("all-reduce", 0)
    return {"bench": "train" if method == "adam" else "hlop", "batch": batch, "devices": d,
            "ms_per_step": per_step * 1e3, "compile_s": compile_s,
            "bytes_per_device_step": 2 * (d - 1) / d * reduced, "all_reduce_bytes": reduced,
            "all_gather_bytes": hlo.get("all-gather", 0), "gradient_bytes": 4 * n_params}


def checkpoint_row(n: int, d: int) -> dict:
    from neuro import distributed

    net, state = coba(n)
    pnet = distributed.partition(net, distributed.mesh(d))
    dstate = distributed.shard_state(pnet, state)
    ckpt = distributed.checkpoint
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "state.npz")
        start = time.perf_counter()  # the run's identity included (simulate digests it once)
        identity = ckpt.run_identity(pnet, state, None, None)
        ckpt.save(path, pnet, dstate, identity=identity)
        save_s = time.perf_counter() - start
        size = os.path.getsize(path)
        start = time.perf_counter()
        ckpt.load(path, pnet, dstate, identity=identity)
        load_s = time.perf_counter() - start
    return {"bench": "checkpoint", "neurons": n, "devices": d, "save_s": save_s,
            "load_s": load_s, "bytes": size}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=None,
                        help="virtual CPU devices to start JAX with (default: what JAX finds)")
    parser.add_argument("--neurons", type=int, default=4000, help="N for strong scaling")
    parser.add_argument("--per-device", type=int, default=2000, help="N per device (weak)")
    parser.add_argument("--steps", type=int, default=500, help="COBA steps per timed run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=32, help="global batch (training, strong)")
    parser.add_argument("--full", action="store_true", help="COBA from 4k to 400k neurons")
    parser.add_argument("--json", metavar="FILE", default=None, help="also save rows as JSON")
    args = parser.parse_args(argv)
    import jax

    from neuro import distributed

    if args.devices:
        distributed.cpu_devices(args.devices)

    n_dev = len(jax.devices())
    counts = [d for d in (1, 2, 4, 8, 16, 32, 64) if d <= n_dev]
    print(f"# {n_dev} {jax.devices()[0].platform} devices"
          + (" (virtual CPU devices sharing the host's cores: absolute numbers mean little)"
             if jax.devices()[0].platform == "cpu" else ""))
    rows = []
    sizes = [4000, 40000, 400000] if args.full else [args.neurons]
    for n in sizes:
        rows.append(plain_row(n, args.steps, args.repeats))
        print(json.dumps(rows[-1]), flush=True)
        for d in counts:
            rows.append(dict(coba_row(n, d, args.steps, args.repeats), mode="strong"))
            print(json.dumps(rows[-1]), flush=True)
        if counts[-1] > 1:  # does bit packing pay? the same run exchanging float32 values
            rows.append(dict(coba_row(n, counts[-1], args.steps, args.repeats, "values"),
                             mode="values"))
            print(json.dumps(rows[-1]), flush=True)
            # NEST's min-delay rule: in Auryn's COBA a spike acts 9 steps later (8 extra
            # steps of delay), so spikes travel once per M = 9 steps
            for d in (1, counts[-1]):
                rows.append(dict(coba_row(n, d, args.steps, args.repeats, variant="auryn"),
                                 mode="delay"))
                print(json.dumps(rows[-1]), flush=True)
    for d in counts:
        rows.append(dict(coba_row(args.per_device * d, d, args.steps, args.repeats), mode="weak"))
        print(json.dumps(rows[-1]), flush=True)
    for d in counts:
        rows.append(dict(train_row(args.batch, d, 2, args.repeats), mode="strong"))
        print(json.dumps(rows[-1]), flush=True)
        rows.append(dict(train_row(8 * d, d, 2, args.repeats), mode="weak"))
        print(json.dumps(rows[-1]), flush=True)
    for d in counts:
        rows.append(dict(train_row(args.batch, d, 2, args.repeats, "hlop"), mode="strong"))
        print(json.dumps(rows[-1]), flush=True)
    rows.append(checkpoint_row(sizes[-1], counts[-1]))
    print(json.dumps(rows[-1]), flush=True)

    print(f"\n{'bench':<6} {'mode':<6} {'size':>7} {'dev':>3} {'time/step':>12} {'speed-up':>8} "
          f"{'bytes/dev/step':>14} {'(values)':>9} {'rate Hz':>7} {'M':>3}")
    base = {}
    for r in rows:
        if r["bench"] == "checkpoint":
            continue
        size = r.get("neurons", r.get("batch"))
        t = r.get("us_per_step", r.get("ms_per_step", 0) * 1e3)
        mode = "strong" if r["mode"] in ("plain", "values") else r["mode"]
        if r["mode"] == "delay":
            mode = "delay"
        key = (r["bench"], mode, size if mode == "strong" else None)
        base.setdefault(key, t)
        speed = base[key] / t  # strong: speed-up against the first row; weak: efficiency
        print(f"{r['bench']:<6} {r['mode']:<6} {size:>7} {r['devices']:>3} {t:>10.1f}us "
              f"{speed:>8.2f} {r['bytes_per_device_step']:>14.0f} "
              f"{r.get('bytes_if_values', float('nan')):>9.0f} {r.get('rate_hz', float('nan')):>7.1f}"
              f" {r.get('interval', ''):>3}")
    ck = rows[-1]
    print(f"checkpoint of {ck['neurons']} neurons on {ck['devices']} devices: {ck['bytes']} bytes, "
          f"save {ck['save_s']:.2f} s, load {ck['load_s']:.2f} s")
    print("(strong rows: speed-up against the plain single-device Network in neuro.run.simulate; "
          "values: the last strong row exchanging float32 values instead of bit-packed words; "
          "delay: Auryn's COBA (8 extra steps of delay), spikes exchanged every M = 9 steps, "
          "against 1 device; "
          "weak rows: efficiency t(1 device) / t(D devices) at fixed N per device; train/hlop "
          "bytes: the all-reduce of gradients (and HLOP's Hebbian statistics), 2 (D - 1) / D "
          "of it per device)")
    gathers = {(r["bench"], r["batch"], r["devices"]): r["all_gather_bytes"] for r in rows
               if r["bench"] in ("train", "hlop") and r["all_gather_bytes"]}
    if gathers:
        print(f"all-gathers in the training steps (bytes of their results, (bench, batch, "
              f"devices)): {gathers}; they sit in the time loop and run every step: XLA does not "
              "split the native CPU event kernel (a custom call) over the batch, so each device "
              "gathers the batch for it (NEURO_EVENT_KERNEL=jax: none)")
    if args.json:
        from neuro.io import save_json

        save_json(args.json, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
