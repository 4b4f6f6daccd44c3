"""Cross-framework NIR check: snnTorch -> NIR file -> neuro, and neuro -> NIR file -> snnTorch.

1. A three-layer snnTorch network (Linear -> Leaky -> Linear -> Synaptic -> Linear -> Leaky,
   reset to zero without delay, as snnTorch's own NIR import builds them) is exported with
   ``snntorch.export_nir.export_to_nir``, written to a ``.nir`` file, read by
   :func:`neuro.interop.nir.read_nir` (``dt = 1e-4`` s, snnTorch's assumed step) and both are
   run on the same Bernoulli input spikes.
2. A neuro network of the same shape is written with :func:`neuro.interop.nir.write_nir`, read
   by ``snntorch.import_nir.import_from_nir`` and both are run on the same input.

neuro's output trails the NIR time line by ``lag`` steps (one per population-to-population
edge, see :mod:`neuro.interop.nir`), so neuro's spikes at ``t + lag`` are compared with
snnTorch's at ``t``. Both run in float32 (snnTorch's spike functions return float32); prints
the number of output spikes, of differing entries and the first step at which they differ.
Needs torch, snntorch and nir next to neuro, e.g. the peer environment:

    python3 -m venv .venv-peers && .venv-peers/bin/pip install /path/to/torch-cpu.whl \
        snntorch nirtorch "nir>=1.0,<1.1" -e .
    .venv-peers/bin/python benchmarks/nir_crosscheck.py [--json]

Without snnTorch the script says so and exits 0.
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
    peer_model = import_from_nir(nir.read(path))
    results["neuro_to_snntorch"] = compare(run_neuro(net, xs, "spikes.out"),
                                           run_snntorch(peer_model, xs), back.lag["out.output"])
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for key, value in results.items():
            print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
