"""Memory tasks where retention matters, BPTT training, and accuracy against delay over seeds.

Tasks (time-major spike inputs ``[T, B, n_in]`` at step ``dt`` ms, labels ``[B]``; every trial of a
task has the same length, so a batch may mix delays; the decision window is the last
``decision_ms``):

* ``delayed-recall`` (project design, astrocytes.md section 5): ``n_patterns`` fixed sparse
  patterns (``pattern_k`` of ``n_pattern_channels`` channels, Poisson at ``rate`` Hz) are shown for
  ``pattern_ms = 100 ms``; after the delay a cue population fires for ``decision_ms`` and the
  readout must name the pattern. The pattern is placed so that the cue always comes at the end
  (a silent lead-in of ``max_delay - delay`` precedes it).
* ``evidence`` (Bellec et al. 2020 e-prop evidence accumulation, reduced): 7 cues of 100 ms,
  150 ms apart, each on the left or the right population (40 Hz); after the delay a recall
  population fires for 150 ms and the readout reports the side with more cues.

Both tasks carry background Poisson noise channels (10 Hz) throughout, as in e-prop.

Training (:func:`train`): BPTT through the whole trial (``lax.scan``), cross-entropy on the
readout averaged over the decision window, plus the firing-rate regulariser
``lambda_f sum_j (mean_t z_j - f0 dt)^2`` (f0 = 10 Hz) of e-prop; Adam (optax). Delays of a
training batch are drawn uniformly from the evaluated delays. :func:`retention` trains one network
per seed and reports the test accuracy at each delay; for astrocyte networks it also reports the
accuracy of the trained network with its astrocyte gains set to 0 (is the memory held by the
astrocytes?).

Measured (``benchmarks/memory_retention.py``, seeds 3-7, 64 neurons, dt = 10 ms, 300 iterations,
one shared 2-core machine; accuracy mean +- std over seeds at delays 0.5 / 1 / 1.5 / 2 s):

====================  =========================================  =========================================
model                 delayed recall (chance 0.25)               evidence (chance 0.5)
====================  =========================================  =========================================
lif                   0.24+-.03 0.22+-.03 0.27+-.02 0.27+-.02    0.49+-.03 0.49+-.04 0.50+-.05 0.50+-.04
astro (LIF, grp 2)    0.58+-.17 0.58+-.17 0.54+-.12 0.51+-.14    0.95+-.05 0.94+-.03 0.92+-.05 0.92+-.08
  gains -> 0          0.26+-.02 0.26+-.02 0.21+-.05 0.26+-.02    0.51+-.05 0.51+-.06 0.51+-.04 0.50+-.02
astro (LIF, grp 8)    0.37+-.13 0.35+-.15 0.39+-.12 0.33+-.12    0.92+-.08 0.91+-.10 0.90+-.13 0.89+-.14
alif                  0.68+-.11 0.57+-.08 0.49+-.09 0.45+-.05    0.94+-.01 0.90+-.02 0.88+-.05 0.87+-.02
astro-alif (grp 2)    0.99+-.00 0.99+-.01 0.97+-.02 0.93+-.02    0.98+-.01 0.98+-.01 0.96+-.02 0.96+-.01
  gains -> 0          0.43+-.15 0.48+-.09 0.55+-.10 0.38+-.13    0.81+-.07 0.73+-.10 0.69+-.11 0.67+-.12
====================  =========================================  =========================================

Astrocytes make each network hold the memory longer than the same network without them: on LIF
neurons, which hold nothing at any delay, they reach 0.51 / 0.92 at 2 s (zeroing the trained gains
drops it to chance: the memory is in the astrocytes); on the ALIF network they raise 2 s accuracy
from 0.45 to 0.93 and from 0.87 to 0.96, with a far flatter decay. The LIF-based astro network
against ALIF: flatter (0.5 -> 2 s: -0.07 vs -0.23; -0.03 vs -0.08) and higher at 1.5 and 2 s, but
within about one standard deviation at 2 s, and below ALIF at 0.5 s on delayed recall. A likely
cause, not tested: the LIF network's synchronous noise-driven bursts (visible in
``neuro memory --plot``) drive every group trace alike, which ALIF's adaptation suppresses.

Li-Rinzel astrocytes (``lr-alif``, models/astrosnn.py: one Li-Rinzel astrocyte per group of 2
driven by its neurons' spikes, trainable slow inward current into them), against the same ALIF
network (and the trainable modulation), each task in one run of ``benchmarks/memory_retention.py
--task T --peers lr-alif alif [astro-alif] --seeds 3 4 5 6 7`` (300 iterations; accuracy at
0.5 / 1 / 1.5 / 2 s, mean +- std over the 5 seeds):

====================  =========================================  =========================================
model                 delayed recall (chance 0.25)               evidence (chance 0.5)
====================  =========================================  =========================================
lr-alif               0.99+-.01 1.00+-.00 0.99+-.00 0.99+-.01    0.99+-.01 1.00+-.00 1.00+-.00 1.00+-.00
  SIC gains -> 0      0.23+-.06 0.26+-.03 0.22+-.04 0.23+-.04    0.53+-.05 0.54+-.05 0.49+-.07 0.53+-.03
alif                  0.79+-.17 0.71+-.19 0.55+-.18 0.49+-.15    0.93+-.04 0.90+-.02 0.87+-.05 0.86+-.03
astro-alif (grp 2)    1.00+-.00 0.99+-.01 0.96+-.05 0.91+-.07
  gains -> 0          0.41+-.14 0.50+-.08 0.53+-.09 0.40+-.22
====================  =========================================  =========================================

The Li-Rinzel astrocytes help retention at 2 s: 0.99 +- 0.01 against 0.49 +- 0.15 without
astrocytes on delayed recall (1.00 against 0.86 +- 0.03 on evidence), and above the trainable
modulation (0.91 +- 0.07); with their SIC gains set to 0 the trained networks are at chance, so
the memory is held in the astrocytes' IP3/Ca (IP3 relaxes with tau_IP3 = 2 s). The network code
of this revision trains exactly as the code at dbe7d37 for the first 20 iterations (equal losses
and accuracies, four task/model pairs, seed 3); over 300 iterations float rounding (a first 1-ulp
loss difference at iteration 3 after later core changes) grows through the spiking dynamics, so
the alif and astro-alif rows above differ from the first table (which dbe7d37 reproduces: alif
0.68 / 0.57 / 0.49 / 0.45, astro-alif 0.99 / 0.99 / 0.97 / 0.93) by up to one standard deviation.

How the design got there (delayed recall, seeds 0-2, then confirmed on seeds 3-7), one change at
a time:

* ``c`` as the reference defines it (spike probability per step, ~0.1, so tanh c ~ c and the
  gains would have to reach O(10)): chance (0.25-0.29 at all delays) even with tau_c = 2 s and
  groups of 2; measured against 10 Hz (``drive_scale = 1/(f0 dt)``): 0.82 / 0.82 / 0.79 / 0.73.
* tau_c = 500 ms (reference default; decays by e^-4 over 2 s): chance (seed 0, 0.21-0.30);
  tau_c = tau_a = 2 s: 0.72-0.78 at every delay (seed 0, groups of 8).
* groups of 8 (8 slow variables): ~0.5; groups of 4: ~0.5; groups of 2 (32 slow variables, as many
  as ALIF's adaptive neurons): ~0.8 on seeds 0-2 (0.51-0.58 on seeds 3-7, table above).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm.auto import tqdm

from neuro import train as T
from neuro.models.astrosnn import model_by_name, trained_leaves, without_astrocytes
from neuro.network import Network
from neuro.run import scan_steps
from neuro.validation import check_choice, check_positive

TASKS = ("delayed-recall", "evidence")
DEFAULT_DELAYS = (0.5, 1.0, 1.5, 2.0)


@dataclasses.dataclass(frozen=True)
class MemoryTask:
    """Task layout (times in ms). Build with :func:`memory_task`."""

    name: str
    dt: float
    max_delay_ms: float
    n_noise: int = 10
    noise_rate: float = 10.0
    rate: float = 40.0
    # delayed recall
    n_patterns: int = 4
    n_pattern_channels: int = 20
    pattern_k: int = 4
    pattern_ms: float = 100.0
    # evidence accumulation
    n_cues: int = 7
    cue_ms: float = 100.0
    cue_spacing_ms: float = 150.0
    population: int = 10
    decision_ms: float = 150.0
    seed: int = 0

    def steps(self, ms: float) -> int:
        return int(round(ms / self.dt))

    @property
    def n_in(self) -> int:
        if self.name == "delayed-recall":
            return self.n_pattern_channels + self.population + self.n_noise
        return 3 * self.population + self.n_noise

    @property
    def n_out(self) -> int:
        return self.n_patterns if self.name == "delayed-recall" else 2

    @property
    def stimulus_ms(self) -> float:
        if self.name == "delayed-recall":
            return self.pattern_ms
        return (self.n_cues - 1) * self.cue_spacing_ms + self.cue_ms

    @property
    def n_steps(self) -> int:
        return self.steps(self.stimulus_ms + self.max_delay_ms + self.decision_ms)

    @property
    def decision_steps(self) -> int:
        return self.steps(self.decision_ms)

    def patterns(self) -> np.ndarray:
        """The fixed sparse patterns ``[n_patterns, n_pattern_channels]`` (0/1), from ``seed``."""
        rng = np.random.default_rng(self.seed + 7919)
        pats = np.zeros((self.n_patterns, self.n_pattern_channels))
        for i in range(self.n_patterns):
            pats[i, rng.choice(self.n_pattern_channels, self.pattern_k, replace=False)] = 1.0
        return pats


def memory_task(name: str, *, max_delay: float = 2.0, dt: float = 10.0, seed: int = 0,
                **kwargs: Any) -> MemoryTask:
    """Validated task (``max_delay`` in seconds, ``dt`` in ms)."""
    check_choice("task", name, TASKS)
    check_positive("max_delay", max_delay)
    check_positive("dt", dt)
    task = MemoryTask(name, float(dt), float(max_delay) * 1000.0, seed=int(seed), **kwargs)
    if name == "delayed-recall" and not 0 < task.pattern_k <= task.n_pattern_channels:
        raise ValueError("pattern_k must lie in [1, n_pattern_channels]")
    if task.rate * dt / 1000.0 > 1.0:
        raise ValueError(f"rate * dt must be <= 1 spike per step; got {task.rate} Hz at {dt} ms")
    return task


def make_batch(task: MemoryTask, delays_s: np.ndarray, rng: np.random.Generator
               ) -> tuple[np.ndarray, np.ndarray]:
    """Spike inputs ``[T, B, n_in]`` (float32) and labels ``[B]`` for the given delays (s)."""
    b, t_all = len(delays_s), task.n_steps
    dec = task.decision_steps
    p = task.rate * task.dt / 1000.0
    rates = np.zeros((t_all, b, task.n_in))
    labels = np.zeros(b, dtype=np.int32)
    rates[:, :, -task.n_noise:] = task.noise_rate * task.dt / 1000.0
    stim = task.steps(task.stimulus_ms)
    pats = task.patterns() if task.name == "delayed-recall" else None
    for i, d in enumerate(delays_s):
        start = t_all - dec - task.steps(d * 1000.0) - stim  # stimulus ends `delay` before cue
        if task.name == "delayed-recall":
            labels[i] = rng.integers(task.n_patterns)
            rates[start:start + stim, i, :task.n_pattern_channels] = p * pats[labels[i]]
            cue = slice(task.n_pattern_channels, task.n_pattern_channels + task.population)
        else:
            sides = rng.integers(0, 2, task.n_cues)
            labels[i] = int(sides.sum() * 2 > task.n_cues)
            for k, s in enumerate(sides):
                t0 = start + task.steps(k * task.cue_spacing_ms)
                ch = slice(s * task.population, (s + 1) * task.population)
                rates[t0:t0 + task.steps(task.cue_ms), i, ch] = p
            cue = slice(2 * task.population, 3 * task.population)
        rates[t_all - dec:, i, cue] = p
    spikes = (rng.random(rates.shape) < rates).astype(np.float32)
    return spikes, labels


# --------------------------------------------------------------------------------------------
# training
# --------------------------------------------------------------------------------------------


def logits_and_rate(net: Network, x: jax.Array, decision_steps: int
                    ) -> tuple[jax.Array, jax.Array]:
    """Readout averaged over the decision window ``[B, n_out]`` and mean rate per neuron."""
    _, rec = scan_steps(net, net.init_state(x.shape[1:-1]), x, monitors=("spikes.h", "readout.y"))
    return rec["readout.y"][-decision_steps:].mean(0), rec["spikes.h"].mean((0, 1))


def loss_fn(net: Network, x: jax.Array, labels: jax.Array, decision_steps: int,
            reg_rate: float, target_rate: float) -> tuple[jax.Array, dict]:
    """Cross-entropy over the decision window + e-prop firing-rate regulariser."""
    logits, rate = logits_and_rate(net, x, decision_steps)
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
    return ce + reg_rate * jnp.sum((rate - target_rate) ** 2), {}


@partial(jax.jit, static_argnames=("decision_steps",))
def _predict(net, x, *, decision_steps):
    logits, _ = logits_and_rate(net, x, decision_steps)
    return jnp.argmax(logits, -1)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Training settings (defaults sized for a few minutes on 2 CPU cores per model and task)."""

    n_hidden: int = 64
    # 32 astrocyte groups of 2: as many slow state variables as the 32 adaptive neurons of the
    # ALIF baseline. With groups of 8 (8 slow variables) delayed recall reached only ~0.5
    # (measured on seeds 0-2, see the module docstring).
    group_size: int = 2
    iterations: int = 300
    batch: int = 32
    lr: float = 0.01
    reg_rate: float = 0.5
    target_rate_hz: float = 10.0
    test_trials: int = 128
    tau_c: float = 2000.0  # = tau_a: the same slow time scale for astrocytes and ALIF
    tau_a: float = 2000.0
    ref_rate: float = 10.0  # Hz: the astrocyte state c ~ 1 when its group fires at this rate


def build(task: MemoryTask, model_name: str, seed: int, config: TrainConfig) -> Network:
    """The untrained network of ``model_name`` for ``task`` (weights from ``seed``)."""
    return model_by_name(model_name, task.n_in, config.n_hidden, task.n_out,
                         key=jax.random.PRNGKey(seed), dt=task.dt, group_size=config.group_size,
                         tau_c=config.tau_c, tau_a=config.tau_a, ref_rate=config.ref_rate)


def train(task: MemoryTask, model_name: str, seed: int, delays_s: Sequence[float],
          config: TrainConfig = TrainConfig(), progress: bool = False
          ) -> tuple[Network, list[float]]:
    """Train one network with BPTT (:class:`neuro.train.Trainer`); returns it and the losses."""
    net = build(task, model_name, seed, config)
    target = config.target_rate_hz * task.dt / 1000.0
    loss = partial(_batch_loss, decision_steps=task.decision_steps, reg_rate=config.reg_rate,
                   target_rate=target)
    trainer = T.Trainer(loss, T.masked(optax.adam(config.lr), trained_leaves(net)))
    opt_state = trainer.init(net)
    rng = np.random.default_rng(seed)
    key = jax.random.PRNGKey(seed)
    losses = []
    for _ in tqdm(range(config.iterations), disable=not progress, desc=f"{model_name} s{seed}",
                  leave=False):
        x, y = make_batch(task, rng.choice(np.asarray(delays_s), config.batch), rng)
        net, opt_state, metrics = trainer.update(net, opt_state, (jnp.asarray(x), jnp.asarray(y)),
                                                 key)
        losses.append(float(metrics["loss"]))
    return net, losses


def _batch_loss(net, batch, key, *, decision_steps, reg_rate, target_rate):
    x, labels = batch
    return loss_fn(net, x, labels, decision_steps, reg_rate, target_rate)


def evaluate(task: MemoryTask, net: Network, delays_s: Sequence[float], n_trials: int,
             seed: int) -> dict[float, float]:
    """Test accuracy at each delay on fresh trials."""
    rng = np.random.default_rng(10_000 + seed)
    out = {}
    for d in delays_s:
        x, y = make_batch(task, np.full(n_trials, d), rng)
        pred = _predict(net, jnp.asarray(x), decision_steps=task.decision_steps)
        out[float(d)] = float(np.mean(np.asarray(pred) == y))
    return out


def retention(task_name: str, model_name: str, *, delays_s: Sequence[float] = DEFAULT_DELAYS,
              seeds: Sequence[int] = (0, 1, 2), dt: float = 10.0,
              config: TrainConfig = TrainConfig(), progress: bool = False) -> dict[str, Any]:
    """Accuracy against delay over seeds: ``{"accuracy_by_delay": {"0.5": {mean, std}}, ...}``."""
    delays_s = [float(d) for d in delays_s]
    if not delays_s or min(delays_s) < 0:
        raise ValueError(f"delay must be a non-empty list of non-negative seconds; got {delays_s}")
    if not seeds:
        raise ValueError("seeds must name at least one seed")
    task = memory_task(task_name, max_delay=max(max(delays_s), dt / 1000.0), dt=dt)
    per_seed, ablated, last = [], [], None
    for s in tqdm(seeds, disable=not progress, desc=f"{task_name}/{model_name}"):
        net, losses = train(task, model_name, int(s), delays_s, config, progress)
        per_seed.append(evaluate(task, net, delays_s, config.test_trials, int(s)))
        if net.modulators:  # diagnosis: the trained network with its astrocyte gains set to 0
            ablated.append(evaluate(task, without_astrocytes(net), delays_s,
                                    config.test_trials, int(s)))
        last = (net, losses)
    out = {"task": task_name, "model": model_name, "seeds": list(map(int, seeds)),
           "dt_ms": dt, "chance": 1.0 / task.n_out,
           "accuracy_by_delay": _summary(per_seed, delays_s),
           "final_loss": last[1][-1], "_last": (task, *last)}
    if ablated:
        out["astrocytes_removed_accuracy_by_delay"] = _summary(ablated, delays_s)
    return out


def _summary(per_seed: list[dict[float, float]], delays_s: Sequence[float]) -> dict[str, dict]:
    by_delay = {}
    for d in delays_s:
        vals = np.array([a[d] for a in per_seed])
        by_delay[f"{d:g}"] = {"mean": float(vals.mean()), "std": float(vals.std()),
                              "per_seed": vals.tolist()}
    return by_delay


__all__ = ["DEFAULT_DELAYS", "TASKS", "MemoryTask", "TrainConfig", "evaluate", "loss_fn",
           "build", "make_batch", "memory_task", "retention", "train"]
