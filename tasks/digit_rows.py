"""Sequential digits: a temporal classification task from scikit-learn's 8x8 digits.

Each image is fed row by row: row ``r`` (8 pixel intensities in [0, 1]) is the input current of 8
channels for ``steps_per_row`` steps, so a sample is a sequence of ``8 * steps_per_row`` steps and
the class must be read out after the whole image has passed. Split: fixed, stratified, by seed.
"""

from __future__ import annotations

import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from neuro.models.rsnn import rsnn
from neuro.neurons import alif, lif
from neuro.run import scan_steps
from neuro.tasks.data import load_dataset
from neuro.train import Trainer, cross_entropy, rate_regularizer, readout_logits


def row_sequences(images: np.ndarray, steps_per_row: int, gain: float = 1.0) -> np.ndarray:
    """``[n, 64]`` images -> time-major currents ``[8 * steps_per_row, n, 8]``."""
    if steps_per_row < 1:
        raise ValueError(f"steps_per_row must be >= 1; got {steps_per_row}")
    rows = images.reshape(len(images), 8, 8)
    seq = np.repeat(rows, steps_per_row, axis=1)  # [n, T, 8]
    return np.ascontiguousarray(seq.transpose(1, 0, 2)) * gain


def run_network(net, xs: jax.Array) -> dict:
    """Spikes ``[T, B, N]`` and readout ``[T, B, C]`` of the network on time-major ``xs``."""
    _, rec = scan_steps(net, net.init_state(xs.shape[1]), xs, monitors=("spikes.h", "readout.y"))
    return {"spikes": rec["spikes.h"], "readout": rec["readout.y"]}


def make_loss(dt: float, target_hz: float, reg: float):
    """Cross-entropy on the readout mean over the second half, plus the rate regulariser."""

    def loss_fn(net, batch, key):
        xs, labels = batch
        rec = run_network(net, xs)
        logits = readout_logits(rec["readout"], "mean", window=xs.shape[0] // 2)
        ce, acc = cross_entropy(logits, labels)
        rate = rec["spikes"].mean() / (dt * 1e-3)
        return ce + rate_regularizer(rec["spikes"], target_hz, dt, reg), {"accuracy": acc,
                                                                        "rate_hz": rate}

    return loss_fn


def run_demo(*, neuron: str = "alif", hidden: int = 128, steps_per_row: int = 4, epochs: int = 25,
             batch_size: int = 64, lr: float = 5e-3, seed: int = 0, dt: float = 1.0,
             progress: bool = True, data: Any = None) -> dict[str, Any]:
    """Train a recurrent ALIF (or LIF) network on sequential digits; return metrics and traces.

    ``data``: another sequence task to train the same network on instead, an object with
    time-major ``x_train``/``x_test`` ``[T, n, F]``, ``y_train``, ``y_test`` and ``num_classes``
    (e.g. :func:`neuro.tasks.events.load_event_task`: SHD, SSC, N-MNIST from files).
    """
    start = time.perf_counter()
    if data is None:
        digits = load_dataset("digits", seed=seed)
        x_tr = np.swapaxes(row_sequences(digits.x_train, steps_per_row, gain=2.0), 0, 1)
        x_te = row_sequences(digits.x_test, steps_per_row, gain=2.0)
        y_tr, y_te, classes = digits.y_train, digits.y_test, digits.num_classes
    else:
        x_tr, x_te = np.swapaxes(data.x_train, 0, 1), data.x_test
        y_tr, y_te, classes = data.y_train, data.y_test, data.num_classes
    if neuron == "alif":
        cell = alif(tau_m=20.0, tau_a=100.0, thr=0.5, beta=0.5, dt=dt)
    elif neuron == "lif":
        cell = lif(tau=20.0, v_th=0.5, dt=dt, reset="soft", surrogate_fn="triangle")
    else:
        raise ValueError(f"neuron must be 'alif' or 'lif'; got {neuron!r}")
    net = rsnn(jax.random.PRNGKey(seed), x_tr.shape[-1], hidden, classes, neuron=cell,
               in_gain=3.0, rec_gain=1.0, readout_tau=10.0, dt=dt)

    def time_major(loss_fn):  # batches arrive sample-major; the model is time-major
        return lambda p, b, k: loss_fn(p, (jnp.swapaxes(b[0], 0, 1), b[1]), k)

    trainer = Trainer(time_major(make_loss(dt, 10.0, 1.0)), optax.adam(lr))
    net, _, history = trainer.fit(net, x_tr, y_tr, epochs=epochs, batch_size=batch_size,
                                  seed=seed, progress=progress)
    rec = jax.jit(run_network)(net, jnp.asarray(x_te))
    logits = readout_logits(rec["readout"], "mean", window=x_te.shape[0] // 2)
    accuracy = float((jnp.argmax(logits, -1) == y_te).mean())
    rate = float(rec["spikes"].mean() / (dt * 1e-3))
    return {
        "test_accuracy": accuracy,
        "mean_rate_hz": rate,
        "seconds": time.perf_counter() - start,
        "train_accuracy": history[-1]["accuracy"],
        "epochs": epochs,
        "neuron": neuron,
        "hidden": hidden,
        "_spikes": np.asarray(rec["spikes"][:, 0]),
        "_readout": np.asarray(rec["readout"][:, 0]),
        "_dt": dt,
    }
