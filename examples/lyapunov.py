"""Lyapunov spectra with neuro.dynamics, and Lyapunov Noise Pruning of a heterogeneous RSNN.

1. The Lorenz-63 spectrum by the QR method (known: 0.906, 0, -14.57) and its convergence.
2. A dense HRSNN, its LNP-pruned version and a randomly pruned one at the same counts: maximal
   Lyapunov exponent of the smoothed map, and one-step Lorenz prediction NRMSE (ridge readout).

    python examples/lyapunov.py            # N = 500 (a few minutes on 2 cores)
    python examples/lyapunov.py --quick    # small sizes (seconds)
"""

from __future__ import annotations

import argparse
import os

import jax
import jax.numpy as jnp
import numpy as np

from neuro import prune
from neuro.dynamics import lyapunov_spectrum, plot_lyapunov
from neuro.models.hrsnn import hrsnn
from neuro.tasks.prediction import evaluate, make_series


def lorenz_rk4(params, s, x):
    h = 0.01
    f = lambda u: jnp.stack([10.0 * (u[1] - u[0]), u[0] * (28.0 - u[2]) - u[1],
                             u[0] * u[1] - 8.0 / 3.0 * u[2]])
    k1 = f(s)
    k2 = f(s + h / 2 * k1)
    k3 = f(s + h / 2 * k2)
    k4 = f(s + h * k3)
    return s + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", default=bool(os.environ.get("NEURO_QUICK")))
    ap.add_argument("--out", default="lyapunov.png")
    args = ap.parse_args()
    steps, n, scale, trials = (10_000, 60, 0.04, 1) if args.quick else (100_000, 500, 1.0, 12)

    res = lyapunov_spectrum(lorenz_rk4, jnp.array([1.0, 1.0, 20.0]), jnp.zeros((steps, 0)), k=3,
                            dt=0.01, burn_in=1000)
    print("Lorenz-63 exponents:", np.round(res.exponents, 3), "(known 0.906, 0, -14.572)")
    print("  convergence spread over the last quarter:", np.round(res.convergence(), 4))
    plot_lyapunov(res, args.out, "Lorenz-63")

    dense = hrsnn(jax.random.PRNGKey(0), n, 3, radius=20.0, input_scale=3.0)
    drive = prune.noise_drive(jax.random.PRNGKey(1), 1500, 3)
    series = make_series("lorenz", scale=scale)
    pruned = prune.lnp(dense, jax.random.PRNGKey(2), trials=trials, probe_steps=600)
    rand = prune.random_prune(dense, np.random.default_rng(0), pruned.net.num_neurons(),
                              pruned.net.num_synapses())
    for name, net in (("dense", dense), ("LNP", pruned.net), ("random", rand.net)):
        lam = prune.max_lyapunov(net, drive).lambda_max
        score = evaluate(net, series).nrmse
        w1 = prune.spectrum_distance(prune.recurrent_weights(dense), prune.recurrent_weights(net))
        print(f"{name:7s} neurons {net.num_neurons():4d} synapses {net.num_synapses():6d} "
              f"lambda_max {lam:+.4f}/ms  NRMSE {score:.4f}  eig-W1 {w1:.3f}")
    print("figure:", args.out)


if __name__ == "__main__":
    main()
