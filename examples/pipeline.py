"""The mission pipeline in one script: build -> Lyapunov -> LNP -> BPTT -> HLOP -> Lyapunov.

    python examples/pipeline.py            # the default size (a few minutes on 2 cores)
    python examples/pipeline.py --quick    # tiny (also NEURO_QUICK=1), as the test suite runs it

Every stage is a call of the package's public API on ONE Network (see neuro.tasks.pipeline for
the same steps as a function): the heterogeneous ALIF network with sparse recurrence and
astrocytes, its whole-state Lyapunov spectrum, Lyapunov Noise Pruning into a smaller Network that
is still event-driven, BPTT on task A and HLOP's orthogonal projection on tasks B and C.
"""

import argparse
import json
import os

import jax

from neuro import dynamics
from neuro import prune as P
from neuro.tasks import continual as cl
from neuro.tasks.pipeline import (
    MODULES,
    DigitLoss,
    PipelineConfig,
    pipeline_network,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    quick = args.quick or os.environ.get("NEURO_QUICK") == "1"
    cfg = (PipelineConfig(neurons=32, astro_block=4, tasks=2, epochs=1, probe_steps=150,
                          lyapunov_steps=300) if quick else PipelineConfig())

    net = pipeline_network(cfg)                                           # 1. one network
    noise = P.noise_drive(jax.random.PRNGKey(1), cfg.lyapunov_steps, P.input_size(net))
    before = dynamics.network_spectrum(net, noise, jacobian="smoothed", k=3,  # 2. spectrum
                                       burn_in=cfg.lyapunov_steps // 3)
    pruned = P.lnp(net, jax.random.PRNGKey(0), probe_steps=cfg.probe_steps,  # 3. LNP
                   tune=False, linearisation="network", jacobian="smoothed").net
    rc = cl.NetworkRunConfig(method="hlop", modules=MODULES, epochs=cfg.epochs, lr=cfg.lr,
                             momentum=0.9)
    result = cl.run_network_stream(pruned, DigitLoss(cfg.feed, cfg.steps, cfg.gain),  # 4. A, B, C
                                   cl.permuted_digit_tasks(cfg.tasks, 0), rc, return_network=True)
    trained = result.pop("network")
    after = dynamics.network_spectrum(trained, noise, jacobian="smoothed", k=3,  # 5. spectrum
                                      burn_in=cfg.lyapunov_steps // 3)
    print(json.dumps({
        "neurons": [net.num_neurons(), pruned.num_neurons()],
        "synapses": [net.num_synapses(), pruned.num_synapses()],
        "lyapunov_before": before.exponents.tolist(), "lyapunov_after": after.exponents.tolist(),
        "accuracy_matrix": result["accuracy_matrix"], "acc": result["acc"], "bwt": result["bwt"],
    }, indent=1))


if __name__ == "__main__":
    main()
