"""Astrocytes in `neuro`: a single Li-Rinzel astrocyte, and an astrocyte-modulated memory network.

1. NEST's single-astrocyte behaviour: 20 Hz Poisson input raises IP3 and Ca; above
   SIC_th = 196.69 nM the astrocyte emits a slow inward current (strong weight only).
2. AstroSNN (models/astrosnn.py, a Network with an astrocyte modulator) trained on e-prop's
   evidence accumulation against the same network without astrocytes, and with Li-Rinzel
   astrocytes (trainable slow inward current) instead of the trainable modulation.

    python examples/astrocytes.py [--quick] [--plot FILE]
"""

from __future__ import annotations

import argparse
import os

import jax
import jax.numpy as jnp
import numpy as np

from neuro.modulators import LR_DEFAULTS, li_rinzel
from neuro.tasks.memory import TrainConfig, evaluate, memory_task, train


def single_astrocyte(seconds: float, dt: float = 0.1) -> dict[str, np.ndarray]:
    """Ca and SIC of one astrocyte per input weight (0, 1, 5, 10) under 20 Hz Poisson input."""
    astro = li_rinzel(dt=dt)
    steps = int(seconds * 1000 / dt)
    weights = jnp.array([0.0, 1.0, 5.0, 10.0])
    spikes = jax.random.bernoulli(jax.random.PRNGKey(0), 20e-3 * dt, (steps, 1)).astype(float)

    def f(state, s):
        state, sic = astro.step(state, s * weights)
        return state, (state.ca, sic)

    _, (ca, sic) = jax.jit(lambda s: jax.lax.scan(f, astro.init_state(4), s))(spikes)
    every = max(1, steps // 2000)
    return {"t": np.arange(steps)[::every] * dt / 1000, "ca": np.asarray(ca)[::every],
            "sic": np.asarray(sic)[::every], "weights": np.asarray(weights)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", default=bool(os.environ.get("QUICK")))
    parser.add_argument("--plot", default=None)
    args = parser.parse_args()

    res = single_astrocyte(10.0 if args.quick else 60.0, dt=1.0 if args.quick else 0.1)
    for w, ca, sic in zip(res["weights"], res["ca"].T, res["sic"].T, strict=True):
        print(f"w = {w:4.1f}: peak Ca = {ca.max():.3f} uM (SIC_th = {LR_DEFAULTS['sic_th']}), "
              f"SIC > 0 for {(sic > 0).mean() * res['t'][-1]:.1f} s")

    delay = 0.5 if args.quick else 1.0
    task = memory_task("evidence", max_delay=delay, dt=20.0 if args.quick else 10.0)
    cfg = TrainConfig(n_hidden=16 if args.quick else 64, group_size=4 if args.quick else 8,
                      iterations=15 if args.quick else 300, batch=16 if args.quick else 32)
    for name in ("lif", "astro", "lr-lif"):
        net, losses = train(task, name, 0, [delay], cfg)
        acc = evaluate(task, net, [delay], 64, 0)[delay]
        print(f"{name:6s}: evidence accumulation, delay {delay} s: loss {losses[-1]:.3f}, "
              f"accuracy {acc:.2f}")
        if name == "astro":
            a = net.modulators["astro"]
            tau = -task.dt / np.log(np.asarray(jax.nn.sigmoid(a.c_logit)))
            print(f"        astrocyte tau_c (ms) {np.round(tau)}; kappa_th "
                  f"{np.round(np.asarray(a.kappa_th), 2)}; kappa_g {np.round(np.asarray(a.kappa_g), 2)}")
        if name == "lr-lif":
            g = np.asarray(net.modulators["lr"].sic_gain)
            print(f"        SIC gains: mean {g.mean():.3f}, range [{g.min():.3f}, {g.max():.3f}]")

    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(2, 1, figsize=(6, 5), sharex=True)
        for w, ca, sic in zip(res["weights"], res["ca"].T, res["sic"].T, strict=True):
            ax[0].plot(res["t"], ca, label=f"w = {w:g}")
            ax[1].plot(res["t"], sic)
        ax[0].axhline(LR_DEFAULTS["sic_th"], ls="--", c="gray")
        ax[0].set_ylabel("Ca (uM)")
        ax[0].legend()
        ax[1].set_ylabel("SIC")
        ax[1].set_xlabel("time (s)")
        fig.savefig(args.plot, dpi=100)


if __name__ == "__main__":
    main()
