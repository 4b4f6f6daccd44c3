"""STAL vs rate vs latency coding at an equal spike budget (neurons.md §8-9, qualitative check).

Synthetic 2-class, 2-channel signals with a 1:4 class imbalance: the minority class carries a
short bump of random position on channel 0 (the rest is shared low-frequency noise). Each window
of ``omega`` steps is encoded with ``psi`` spike slots per (step, channel) by

* STAL (trained first, alone, with its MI + count loss; ``neuro.encoders.train_stal``),
* rate (``psi`` Bernoulli(x) slots) and latency (one spike at slot ``round((1 - x)(psi - 1))``),

and a recurrent LIF network (``neuro.models.rsnn``, beta ~ 0.9, soft reset) is trained with
cross-entropy on each code. The script prints the test MCC of each (the paper reports STAL above
rate and latency coding). ``--quick`` runs a tiny version in a few seconds.

Usage: ``python examples/stal.py [--quick] [--seed 0]``
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from sklearn.metrics import matthews_corrcoef

from neuro import encoders as enc
from neuro.models.rsnn import rsnn
from neuro.neurons import lif
from neuro.run import scan_steps
from neuro.train import Trainer, cross_entropy, readout_logits


def make_signals(n: int, omega: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Windows ``[n, omega, 2]`` in [0, 1] and labels (20 % class 1)."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.2).astype(np.int32)
    t = np.arange(omega)
    base = 0.35 + 0.15 * np.sin(2 * np.pi * (t[None, :, None] / omega * rng.uniform(0.5, 1.5, (
        n, 1, 2)) + rng.uniform(0, 1, (n, 1, 2))))
    x = base + rng.normal(0, 0.08, (n, omega, 2))
    centre = rng.integers(2, omega - 2, n)
    bump = 0.35 * np.exp(-0.5 * ((t[None, :] - centre[:, None]) / 1.2) ** 2)
    x[:, :, 0] += y[:, None] * bump
    return np.clip(x, 0.0, 1.0).astype(np.float32), y


def loss_fn(p, batch, key):
    """Cross-entropy of the time-averaged readout; ``batch = (x [n, omega, c psi], labels)``."""
    xs, labels = batch
    loss, acc = cross_entropy(readout_logits(_readout(p, jnp.swapaxes(xs, 0, 1))), labels)
    return loss, {"accuracy": acc}


def _readout(net, xs):
    """The readout ``[T, B, 2]`` of the network on time-major ``xs``."""
    return scan_steps(net, net.init_state(xs.shape[1]), xs, monitors="readout.y")[1]["readout.y"]


TRAINER = Trainer(loss_fn, optax.adam(5e-3))  # one compiled step, shared by the three codes
_run = jax.jit(_readout)


def classify(spikes_tr, y_tr, spikes_te, y_te, *, hidden, epochs, seed) -> float:
    """Train a recurrent LIF network on time-major spikes ``[omega, n, c psi]``; return MCC."""
    n_in = spikes_tr.shape[-1]
    neuron = lif(tau=-1.0 / np.log(0.9), v_th=1.0, reset="soft", surrogate_fn="arctan")
    params = rsnn(jax.random.PRNGKey(seed), n_in, hidden, 2, neuron=neuron, in_gain=6.0,
                  rec_gain=1.0, readout_tau=10.0)

    # Class weights would also do; oversampling keeps the loss the plain cross-entropy.
    rng = np.random.default_rng(seed)
    minority = np.flatnonzero(y_tr == 1)
    extra = rng.choice(minority, size=max(0, (y_tr == 0).sum() - len(minority)))
    idx = np.concatenate([np.arange(len(y_tr)), extra])
    x_bal = np.swapaxes(spikes_tr, 0, 1)[idx]
    params, _, _ = TRAINER.fit(params, x_bal, y_tr[idx], epochs=epochs, batch_size=32, seed=seed)
    pred = np.asarray(jnp.argmax(readout_logits(_run(params, jnp.asarray(spikes_te))), axis=-1))
    return float(matthews_corrcoef(y_te, pred))


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    n, omega, psi, hidden, epochs, stal_epochs = ((160, 12, 3, 16, 2, 2) if args.quick else
                                                   (1500, 24, 4, 64, 15, 30))
    start = time.perf_counter()
    x, y = make_signals(n, omega, args.seed)
    n_tr = int(0.7 * n)
    x_tr, y_tr, x_te, y_te = x[:n_tr], y[:n_tr], x[n_tr:], y[n_tr:]

    codes = {}
    stal = enc.stal(jax.random.PRNGKey(args.seed), omega, 2, psi)
    stal, hist = enc.train_stal(stal, x_tr, epochs=stal_epochs, batch_size=32, learning_rate=1e-2,
                                seed=args.seed)
    codes["stal"] = (enc.stal_encode(stal, x_tr), enc.stal_encode(stal, x_te))
    k_tr, k_te = jax.random.split(jax.random.PRNGKey(args.seed + 1))
    codes["rate"] = (enc.rate_slots(k_tr, x_tr, psi), enc.rate_slots(k_te, x_te, psi))
    codes["latency"] = (enc.latency_slots(x_tr, psi), enc.latency_slots(x_te, psi))

    results = {"stal_loss_first_last": [hist[0]["loss"], hist[-1]["loss"]]}
    for name, (s_tr, s_te) in codes.items():
        s_tr = np.swapaxes(np.asarray(s_tr), 0, 1)  # [omega, n, c psi]
        s_te = np.swapaxes(np.asarray(s_te), 0, 1)
        mcc = classify(s_tr, y_tr, s_te, y_te, hidden=hidden, epochs=epochs, seed=args.seed)
        results[name] = {"mcc": mcc, "spikes_per_window": float(s_te.sum(axis=(0, 2)).mean())}
        print(f"{name:8s} MCC {mcc:+.3f}   spikes per window {results[name]['spikes_per_window']:.1f}")
    results["seconds"] = time.perf_counter() - start
    print(f"STAL loss {hist[0]['loss']:.3f} -> {hist[-1]['loss']:.3f}; {results['seconds']:.1f} s")
    return results


if __name__ == "__main__":
    main()
