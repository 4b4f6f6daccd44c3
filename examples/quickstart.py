"""Quickstart: define a recurrent spiking network, simulate it, plot a raster, train it.

    python examples/quickstart.py            # full size, ~1 minute on 2 cores
    python examples/quickstart.py --quick    # tiny size (used by the test suite)
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np
import optax

from neuro import plot, simulate
from neuro.models.rsnn import rsnn
from neuro.neurons import alif
from neuro.run import scan_steps
from neuro.tasks.data import load_dataset
from neuro.tasks.digit_rows import row_sequences
from neuro.train import Trainer, cross_entropy, readout_logits


def main(quick: bool = False, out: str = "quickstart.png") -> dict:
    hidden, epochs = (32, 2) if quick else (128, 20)

    # 1. Define: a Network of 8 inputs -> 'hidden' recurrent ALIF neurons "h" -> 10 leaky
    #    readouts "y" (projections "in" and "rec"; see neuro.models.rsnn).
    neuron = alif(tau_m=20.0, tau_a=100.0, thr=0.5, beta=0.5)
    net = rsnn(jax.random.PRNGKey(0), 8, hidden, 10, neuron=neuron, in_gain=3.0, readout_tau=10.0)

    # 2. Simulate: digits fed row by row (4 steps per row), one compiled lax.scan.
    data = load_dataset("digits")
    xs = row_sequences(data.x_test[:16], steps_per_row=4, gain=2.0)  # [T, batch, 8]
    result = simulate(net, net.init_state(16), jnp.asarray(xs), monitors=("spikes.h", "v.h"))
    spikes = np.asarray(result.records["spikes.h"][:, 0])  # [T, hidden] for sample 0

    # 3. Plot a raster and the population rate.
    fig, axes = plot.figure(2, 1, sharex=True)
    plot.raster(spikes, dt=1.0, ax=axes[0])
    plot.population_rate(spikes, dt=1.0, ax=axes[1])
    plot.save(fig, out)

    # 4. Train by BPTT with Adam (the fused recurrent backend computes the loop).
    def readout(n, xs):
        return scan_steps(n, n.init_state(xs.shape[1]), xs, monitors="readout.y")[1]["readout.y"]

    def loss_fn(n, batch, key):
        x, y = batch
        y_t = readout(n, jnp.swapaxes(x, 0, 1))
        return cross_entropy(readout_logits(y_t, "mean", window=16), y)[0], {}

    x_train = np.swapaxes(row_sequences(data.x_train, 4, gain=2.0), 0, 1)
    trainer = Trainer(loss_fn, optax.adam(5e-3))
    net, _, history = trainer.fit(net, x_train, data.y_train, epochs=epochs, batch_size=64)
    y_t = jax.jit(readout)(net, jnp.asarray(row_sequences(data.x_test, 4, gain=2.0)))
    logits = readout_logits(y_t, "mean", window=16)
    accuracy = float((jnp.argmax(logits, -1) == data.y_test).mean())
    print(f"loss {history[0]['loss']:.3f} -> {history[-1]['loss']:.3f}; test accuracy {accuracy:.3f}")
    return {"accuracy": accuracy, "history": history}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny size, for tests")
    parser.add_argument("--out", default="quickstart.png", help="raster figure file")
    args = parser.parse_args()
    main(args.quick, args.out)
