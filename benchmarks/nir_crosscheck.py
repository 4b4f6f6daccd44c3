"""Cross-framework NIR check: snnTorch -> NIR file -> neuro, and neuro -> NIR file -> snnTorch.

1. A three-layer snnTorch network (Linear -> Leaky -> Linear -> Synaptic -> Linear -> Leaky,
   reset to zero without delay, as snnTorch's own NIR import builds them) is exported with
   ``snntorch.export_nir.export_to_nir``, written to a ``.nir`` file, read by
   :func:`neuro.interop.nir.read_nir` (``dt = 1e-4`` s, snnTorch's assumed step) and both are
   run on the same Bernoulli input spikes.
2. A neuro network of the same shape is written with :func:`neuro.interop.nir.write_nir`, read
   by ``snntorch.import_nir.import_from_nir`` and both are run on the same input.

Both again with a recurrent hidden layer (snnTorch's ``RLeaky`` with all-to-all recurrent
weights; neuro's recurrent projection, whose one-step latency is the ``RLeaky``'s), and
snnTorch's own recurrent round trip (its export read back by its import) as the yardstick of
the neuro -> snnTorch direction: snnTorch's importer does not reproduce its own ``RLeaky``.

neuro's output trails the NIR time line by ``lag`` steps (one per population-to-population
edge, see :mod:`neuro.interop.nir`), so neuro's spikes at ``t + lag`` are compared with
snnTorch's at ``t``. Both run in float32 (snnTorch's spike functions return float32); prints
the number of output spikes, of differing entries and the first step at which they differ.
Needs torch, snntorch and nir next to neuro, e.g. the peer environment:

    python3 -m venv .venv-peers && .venv-peers/bin/pip install /path/to/torch-cpu.whl \
        snntorch nirtorch "nir>=1.0,<1.1" -e .
    .venv-peers/bin/python benchmarks/nir_crosscheck.py [--json]

Without snnTorch the script says so and exits 0.

3. Spyx (``--spyx PYTHON``, default ``.venv-peers-spyx/bin/python`` when it exists, since Spyx
   pins its own flax/jax): a Spyx ``Linear -> LIF -> Linear -> LIF`` network is run by Spyx and
   exported with ``spyx.nir.to_nir`` in that interpreter; neuro reads the file. Spyx writes
   ``r = beta`` (snnTorch and NIR's LIF equation need ``r = tau / dt`` for Spyx's unit input
   gain), resets by subtraction and reads its spike before the update, so its graph does not
   describe the network Spyx runs; the script prints the counts to show it.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

try:  # installed package, or the repository on PYTHONPATH
    import neuro  # noqa: F401
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DT = 1e-4  # s, the step snnTorch's NIR export and import assume
SIZES = (12, 24, 16, 6)


def _input(steps: int, batch: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.random((steps, batch, SIZES[0])) < 0.25).astype(np.float64)


def snntorch_model(seed: int):
    import snntorch as snn
    import torch

    torch.manual_seed(seed)
    kw = dict(reset_mechanism="zero", reset_delay=False, init_hidden=True)
    full = lambda n, v: torch.full((n,), v)  # per-neuron parameters: the export needs shapes
    return torch.nn.Sequential(
        torch.nn.Linear(SIZES[0], SIZES[1]),
        snn.Leaky(beta=full(SIZES[1], 0.9), threshold=full(SIZES[1], 1.0), **kw),
        torch.nn.Linear(SIZES[1], SIZES[2], bias=False),
        snn.Synaptic(alpha=full(SIZES[2], 0.8), beta=full(SIZES[2], 0.85),
                     threshold=full(SIZES[2], 0.7), **kw),
        torch.nn.Linear(SIZES[2], SIZES[3], bias=False),
        snn.Leaky(beta=full(SIZES[3], 0.95), threshold=full(SIZES[3], 0.8), **kw),
    )


def snntorch_recurrent(seed: int):
    """Linear -> RLeaky (all-to-all recurrent weights) -> Linear -> Leaky."""
    import snntorch as snn
    import torch

    torch.manual_seed(seed)
    kw = dict(reset_mechanism="zero", reset_delay=False, init_hidden=True)
    full = lambda n, v: torch.full((n,), v)
    return torch.nn.Sequential(
        torch.nn.Linear(SIZES[0], SIZES[1]),
        snn.RLeaky(beta=full(SIZES[1], 0.9), threshold=0.5, all_to_all=True,
                   linear_features=SIZES[1], **kw),
        torch.nn.Linear(SIZES[1], SIZES[3], bias=False),
        snn.Leaky(beta=full(SIZES[3], 0.95), threshold=full(SIZES[3], 0.5), **kw),
    )


def run_snntorch(model, x: np.ndarray) -> np.ndarray:
    import torch
    from snntorch import utils

    for m in model.modules():  # snnTorch keeps hidden states as attributes: start at rest
        if hasattr(m, "reset_hidden"):
            m.reset_hidden()
    utils.reset(model)
    out = []
    with torch.no_grad():
        for t in range(x.shape[0]):
            z = model(torch.as_tensor(x[t], dtype=torch.float32))
            out.append((z[0] if isinstance(z, tuple) else z).numpy())
    return np.stack(out)


def run_neuro(net, x: np.ndarray, monitor: str) -> np.ndarray:
    import jax.numpy as jnp

    from neuro.run import simulate

    xs = jnp.asarray(x)
    return np.asarray(simulate(net, net.init_state(x.shape[1], xs.dtype), xs,
                               monitors=(monitor,)).records[monitor])


def neuro_model(seed: int):
    """The neuro network of the same shape, with snnTorch's unit input coefficient
    (``R = 1 / (1 - exp(-dt/tau))``, which snnTorch's importer requires)."""
    import jax

    from neuro import neurons, projections, synapses
    from neuro.network import network, population

    dt_ms = DT * 1e3
    k = jax.random.split(jax.random.PRNGKey(seed), 3)

    def cell(tau, v_th):
        return neurons.lif(tau=tau, v_th=v_th, resistance=1.0 / (1.0 - np.exp(-dt_ms / tau)),
                           reset="hard", dt=dt_ms)

    pops = {"h1": population(cell(1.0, 1.0), SIZES[1]),
            "h2": population(cell(0.8, 0.7), SIZES[2],
                             synapse=synapses.current_synapse((0.5,), dt=dt_ms, method="euler")),
            "out": population(cell(2.0, 0.8), SIZES[3])}
    projs = {"fc1": projections.dense("x", "h1", key=k[0], n_pre=SIZES[0], n_post=SIZES[1],
                                      gain=3.0),
             "fc2": projections.dense("h1", "h2", key=k[1], n_pre=SIZES[1], n_post=SIZES[2],
                                      gain=1.5),
             "fc3": projections.dense("h2", "out", key=k[2], n_pre=SIZES[2], n_post=SIZES[3],
                                      gain=2.0)}
    return network(pops, projs, inputs={"x": SIZES[0]})


SPYX = """
import sys
import numpy as np, jax.numpy as jnp, nir
from flax import nnx
from spyx import nn as snn
from spyx.nir import to_nir
rngs = nnx.Rngs(0)
model = snn.Sequential(nnx.Linear(12, 24, rngs=rngs), snn.LIF((24,), beta=0.9, rngs=rngs),
                       nnx.Linear(24, 6, use_bias=False, rngs=rngs),
                       snn.LIF((6,), beta=0.95, rngs=rngs))
x = np.load(sys.argv[1])
out, _ = snn.run(model, jnp.asarray(x))
nir.write(sys.argv[2], to_nir(model, {"input": np.array([12])}, {"output": np.array([6])},
                              dt=float(sys.argv[4])))
np.save(sys.argv[3], np.asarray(out))
"""


def run_spyx(python: str, x: np.ndarray, tmp: Path) -> tuple[Path, np.ndarray]:
    import subprocess

    np.save(tmp / "spyx_x.npy", x)
    proc = subprocess.run([python, "-c", SPYX, str(tmp / "spyx_x.npy"), str(tmp / "spyx.nir"),
                           str(tmp / "spyx_out.npy"), str(DT)], capture_output=True, text=True,
                          timeout=900)
    if proc.returncode:
        raise RuntimeError(proc.stderr[-2000:])
    return tmp / "spyx.nir", np.load(tmp / "spyx_out.npy")


def neuro_recurrent(seed: int):
    """The recurrent network in neuro. snnTorch's importer finds a recurrent layer only when the
    LIF and its recurrent weights are named ``<layer>.<part>`` (``_create_rnn_subgraph``)."""
    import jax

    from neuro import neurons, projections
    from neuro.network import network, population

    dt_ms = DT * 1e3
    k = jax.random.split(jax.random.PRNGKey(seed), 3)
    cell = lambda tau, v_th: neurons.lif(tau=tau, v_th=v_th, reset="hard", dt=dt_ms,
                                         resistance=1.0 / (1.0 - np.exp(-dt_ms / tau)))
    pops = {"1.lif": population(cell(1.0, 0.5), SIZES[1]), "out": population(cell(2.0, 0.5),
                                                                              SIZES[3])}
    projs = {"0": projections.dense("x", "1.lif", key=k[0], n_pre=SIZES[0], n_post=SIZES[1],
                                    gain=3.0),
             "1.w_rec": projections.dense("1.lif", "1.lif", key=k[1], n_pre=SIZES[1],
                                          n_post=SIZES[1], gain=1.0),
             "2": projections.dense("1.lif", "out", key=k[2], n_pre=SIZES[1], n_post=SIZES[3],
                                    gain=2.0)}
    return network(pops, projs, inputs={"x": SIZES[0]})


def in_flow_order(graph):
    """The graph with its nodes in data-flow order (reverse DFS post-order from the inputs).
    snnTorch's importer (nirtorch 2.6) executes nodes in dict order, and ``nir.read`` returns
    them sorted by name, which breaks a recurrent layer; this is a workaround on the peer side."""
    import nir

    succ = {n: [b for a, b in graph.edges if a == n] for n in graph.nodes}
    seen, post = set(), []

    def visit(n):
        seen.add(n)
        for m in succ[n]:
            if m not in seen:
                visit(m)
        post.append(n)

    for n, node in graph.nodes.items():
        if isinstance(node, nir.Input) and n not in seen:
            visit(n)
    order = post[::-1] + [n for n in graph.nodes if n not in seen]
    return nir.NIRGraph(nodes={n: graph.nodes[n] for n in order}, edges=list(graph.edges),
                        metadata=dict(graph.metadata or {}))


def compare(neuro_z: np.ndarray, peer_z: np.ndarray, lag: int) -> dict:
    a, b = neuro_z[lag:], peer_z[: len(peer_z) - lag]
    diff = np.argwhere(a != b)
    return {"lag": lag, "steps_compared": int(len(a)), "neuro_spikes": int(a.sum()),
            "peer_spikes": int(b.sum()), "differing_entries": int(len(diff)),
            "first_differing_step": int(diff[0, 0]) if len(diff) else None}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    default_spyx = Path(__file__).resolve().parents[1] / ".venv-peers-spyx" / "bin" / "python"
    parser.add_argument("--spyx", default=str(default_spyx) if default_spyx.exists() else None,
                        metavar="PYTHON", help="an interpreter with spyx and nir installed")
    args = parser.parse_args()
    try:
        import snntorch  # noqa: F401
        import torch  # noqa: F401
        from snntorch.export_nir import export_to_nir
        from snntorch.import_nir import import_from_nir
    except ImportError as exc:
        print(f"snnTorch is not installed here ({exc}); skipping the NIR cross-check. "
              "Run it in the peer environment (see this file's docstring).")
        return 0
    import nir
    import torch

    from neuro.interop.nir import from_nir, read_nir, write_nir

    x = _input(args.steps, args.batch, args.seed)
    results = {"dt_s": DT, "steps": args.steps, "batch": args.batch, "snntorch": snntorch.__version__,
               "nir": nir.__version__}
    tmp = Path(tempfile.mkdtemp())
    xs = x.astype(np.float32)  # snnTorch's spike functions return float32: both run in float32
    # 1. snnTorch -> NIR -> neuro
    model = snntorch_model(args.seed)
    graph = export_to_nir(model, torch.zeros(1, SIZES[0]), ignore_dims=[0])
    path = tmp / "snntorch.nir"
    nir.write(path, graph)
    imp = read_nir(path, dt=DT)
    (out_name, monitor), = imp.outputs.items()
    results["snntorch_to_neuro"] = compare(run_neuro(imp.net, xs, monitor),
                                           run_snntorch(model, xs), imp.lag[out_name])
    # 2. neuro -> NIR -> snnTorch
    net = neuro_model(args.seed)
    path = tmp / "neuro.nir"
    write_nir(path, net, dt=DT)
    back = from_nir(nir.read(path))
    peer_model = import_from_nir(in_flow_order(nir.read(path)))
    results["neuro_to_snntorch"] = compare(run_neuro(net, xs, "spikes.out"),
                                           run_snntorch(peer_model, xs), back.lag["out_output"])
    # 1b, 2b. the same with a recurrent layer (snnTorch's RLeaky, neuro's recurrent projection)
    model = snntorch_recurrent(args.seed)
    path = tmp / "snntorch_rec.nir"
    nir.write(path, export_to_nir(model, torch.zeros(1, SIZES[0]), ignore_dims=[0]))
    imp = read_nir(path, dt=DT)
    (out_name, monitor), = imp.outputs.items()
    results["snntorch_recurrent_to_neuro"] = compare(run_neuro(imp.net, xs, monitor),
                                                     run_snntorch(model, xs), imp.lag[out_name])
    # snnTorch's own recurrent round trip (its export, then its import) as the yardstick of (2b)
    results["snntorch_recurrent_self_round_trip"] = compare(
        run_snntorch(model, xs), run_snntorch(import_from_nir(in_flow_order(nir.read(
            tmp / "snntorch_rec.nir"))), xs), 0)
    net = neuro_recurrent(args.seed)
    path = tmp / "neuro_rec.nir"
    write_nir(path, net, dt=DT)
    peer_model = import_from_nir(in_flow_order(nir.read(path)))
    results["neuro_recurrent_to_snntorch"] = compare(
        run_neuro(net, xs, "spikes.out"), run_snntorch(peer_model, xs),
        from_nir(nir.read(path)).lag["out_output"])
    # 3. Spyx -> NIR -> neuro, in Spyx's own interpreter
    if args.spyx:
        path, peer = run_spyx(args.spyx, xs, tmp)
        imp = read_nir(path, dt=DT)
        (out_name, monitor), = imp.outputs.items()
        lif = nir.read(path).nodes["layer_1"]
        results["spyx_to_neuro"] = compare(run_neuro(imp.net, xs, monitor), peer,
                                           imp.lag[out_name])
        results["spyx_graph_r_over_tau_dt"] = float(np.mean(lif.r / (lif.tau / DT)))
    else:
        results["spyx_to_neuro"] = "skipped: no interpreter with spyx (see --spyx)"
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for key, value in results.items():
            print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
