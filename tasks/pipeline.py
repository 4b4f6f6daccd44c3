"""The mission pipeline: build -> Lyapunov spectrum -> LNP prune -> BPTT -> HLOP -> spectrum.

One network carries every capability of the package through one script:

1. **build** (:func:`pipeline_network`): a heterogeneous recurrent network of ALIF neurons (e-prop
   form, reset by subtraction of the threshold: soft reset) with Gamma-distributed membrane time
   constants (Chakraborty et al. 2024), an event-driven :class:`~neuro.projections.Sparse`
   recurrent projection (Bernoulli ``p``, zero-mean Gaussian weights scaled ``1/sqrt(p N)``), the
   trainable astrocyte modulation of threshold and gain (one astrocyte per block of neurons;
   :func:`neuro.modulators.astro_modulation`, gains start at ``kappa``), a dense input and a leaky
   readout;
2. **Lyapunov spectrum** of the whole state (membranes, adaptation, astrocytes) on the smoothed map
   (:func:`neuro.dynamics.network_spectrum`, ``jacobian="smoothed"``) under a white-noise drive;
3. **LNP** (:func:`neuro.prune.lnp` with ``linearisation="network"``): the recurrent projection
   pruned by the noise covariance of the whole-state linearisation, neurons dropped by
   betweenness, every neuron-indexed part (input rows, ALIF parameters, astrocyte coverage,
   readout rows) cut consistently; the result is again a Network with a Sparse projection;
4. **task A by BPTT, tasks B and C with HLOP** (:func:`neuro.tasks.continual.run_network_stream`):
   scikit-learn digits as a constant 64-pixel input current for ``steps`` steps (``feed="image"``,
   default) or row by row (``feed="rows"``: row ``r``'s 8 pixels for ``steps`` steps each), three
   pixel permutations (domain-incremental, one readout);
   surrogate gradients flow through the sparse recurrence and the astrocyte modulation; HLOP's
   lateral circuits protect the input, recurrent and readout projections (SGD with momentum);
5. **Lyapunov spectrum** of the trained pruned network, the same way.

Returned keys (the CLI prints them as JSON): ``neurons`` and ``synapses`` (``{"before": ...,
"after": ...}``, recurrent synapses), ``lambda_max_before``, ``lambda_max_after`` (1/ms),
``accuracy_matrix`` (percent; row = after task t, column = task j), ``acc``, ``bwt`` (percent),
``seconds`` and the settings used.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from neuro import projections, readouts
from neuro import prune as lnp_prune
from neuro.modulators import astro_modulation
from neuro.network import Network, network, population
from neuro.neurons import alif, gamma_time_constants
from neuro.plasticity import presynaptic_activity
from neuro.run import scan_steps
from neuro.train import cross_entropy, readout_logits
from neuro.validation import check_choice, check_in_range, check_positive

MODULES = ("in", "rec", "y")
FEEDS = ("image", "rows")


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    """Settings of :func:`run_pipeline` (defaults: a few minutes on 2 CPU cores)."""

    neurons: int = 128
    p: float = 0.2
    tasks: int = 3
    epochs: int = 3
    lr: float = 0.3
    feed: str = "image"
    steps: int = 8
    gain: float = 2.0
    astro_block: int = 8
    kappa: float = 0.1
    node_fraction: float = 0.5
    synapse_fraction: float = 0.5
    probe_steps: int = 600
    lyapunov_steps: int = 1500
    tune: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        check_choice("feed", self.feed, FEEDS)
        for name in ("neurons", "tasks", "epochs", "steps", "astro_block",
                     "probe_steps", "lyapunov_steps"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int; got {v!r}")
        if self.neurons < 4 or self.neurons % (2 * self.astro_block):
            raise ValueError(f"neurons must be a multiple of 2 * astro_block = "
                             f"{2 * self.astro_block} (the pruned half is still covered in "
                             f"blocks); got {self.neurons}")
        if self.lyapunov_steps < 300:
            raise ValueError(f"lyapunov_steps must be at least 300; got {self.lyapunov_steps}")
        check_in_range("p", self.p, 0.0, 1.0)
        check_in_range("node_fraction", self.node_fraction, 0.0, 0.95)
        check_in_range("synapse_fraction", self.synapse_fraction, 0.0, 0.95)
        for name in ("lr", "gain"):
            check_positive(name, getattr(self, name))
        check_positive("kappa", self.kappa, allow_zero=True)


def pipeline_network(cfg: PipelineConfig) -> Network:
    """The network of step 1 (module docstring), seeded by ``cfg.seed``."""
    n = cfg.neurons
    k_tau, k_in, k_out = jax.random.split(jax.random.PRNGKey(cfg.seed), 3)
    rng = np.random.default_rng([cfg.seed, 11])
    tau_m = np.asarray(gamma_time_constants(k_tau, n, k=4.0, mean=20.0))
    conn = projections.fixed_probability(rng, n, n, cfg.p, allow_self=False)
    pre, post, _, _ = conn.to_edges()
    w = rng.normal(0.0, 1.0 / np.sqrt(max(cfg.p * n, 1.0)), pre.size)
    conn = projections.from_edges(pre, post, n, n, weights=w)
    neuron = alif(tau_m=tau_m, tau_a=100.0, thr=0.5, beta=0.5)
    n_in = input_size(cfg.feed)
    return network(
        {"h": population(neuron, n)},
        {"in": projections.dense("x", "h", key=k_in, n_pre=n_in, n_post=n, gain=3.0),
         "rec": projections.sparse("h", "h", conn)},
        {"astro": astro_modulation("h", cfg.astro_block, n, tau_c=50.0, kappa_th=cfg.kappa,
                                   kappa_g=cfg.kappa)},
        {"y": readouts.leaky("h", 10, key=k_out, n_in=n, tau=10.0)},
        inputs={"x": n_in},
    )


def input_size(feed: str) -> int:
    """64 pixels at once (``"image"``) or one row of 8 (``"rows"``)."""
    return 64 if feed == "image" else 8


def digit_currents(x: jax.Array, feed: str, steps: int) -> jax.Array:
    """``[B, 64]`` digit images -> time-major input currents: the image held for ``steps``
    steps ``[steps, B, 64]`` (``"image"``), or row by row, each row for ``steps`` steps
    ``[8 steps, B, 8]`` (``"rows"``)."""
    x = jnp.asarray(x)
    if feed == "image":
        return jnp.broadcast_to(x, (steps, *x.shape))
    rows = x.reshape(x.shape[0], 8, 8)
    return jnp.repeat(jnp.swapaxes(rows, 0, 1), steps, axis=0)


@dataclasses.dataclass(frozen=True)
class DigitLoss:
    """Cross-entropy of the readout mean over the second half of the sequence, with the
    per-step presynaptic rows of ``modules`` for HLOP, sample-major ``[B T, n]`` (a hashable
    loss for the Trainer)."""

    feed: str = "image"
    steps: int = 8
    gain: float = 2.0
    modules: tuple[str, ...] = MODULES

    def __call__(self, net: Network, batch: Any, key: Any) -> tuple[jax.Array, dict]:
        del key
        x, y = batch
        xs = digit_currents(x, self.feed, self.steps) * self.gain
        _, rec = scan_steps(net, net.init_state(x.shape[0]), xs,
                            monitors=("spikes", "readout"), check_finite=False)
        ce, acc = cross_entropy(readout_logits(rec["readout"]["y"], "mean",
                                               window=xs.shape[0] // 2), y)
        # rows sample-major ([B T, n], not [T B, n]): with the batch split over a mesh each
        # device's rows stay its own, so the Hebbian statistics reduce across devices (an
        # all-reduce, like the gradients) instead of the rows being gathered; the rule sums
        # over rows, so their order does not matter
        swap = lambda tree: jax.tree_util.tree_map(lambda a: jnp.swapaxes(a, 0, 1), tree)
        pre = {m: presynaptic_activity(net, m, swap(rec), swap(xs), reduce="steps")
               for m in self.modules}
        return ce, {"accuracy": acc, "presynaptic": pre}


def _lambda_max(net: Network, steps: int, seed: int) -> float:
    drive = lnp_prune.noise_drive(jax.random.PRNGKey(seed), steps, lnp_prune.input_size(net))
    return float(lnp_prune.max_lyapunov(net, drive, burn_in=steps // 3,
                                        jacobian="smoothed").lambda_max)


def run_pipeline(cfg: PipelineConfig = PipelineConfig(), *, progress: bool = False,
                 mesh: Any = None) -> dict:
    """Steps 1-5 of the module docstring; returns the JSON-ready results. ``mesh``: step 4's
    training is data-parallel over its ``"batch"`` axis (:func:`neuro.distributed.batch_mesh`;
    the batch of 64 must be a multiple of its size); the spectra and LNP run on one device."""
    from neuro.tasks import continual as cl

    t0 = time.perf_counter()
    net = pipeline_network(cfg)
    lam_before = _lambda_max(net, cfg.lyapunov_steps, cfg.seed + 100)
    pruned = lnp_prune.lnp(net, jax.random.PRNGKey(cfg.seed), node_fraction=cfg.node_fraction,
                           synapse_fraction=cfg.synapse_fraction, probe_steps=cfg.probe_steps,
                           tune=cfg.tune, trials=6, linearisation="network",
                           jacobian="smoothed")
    small = pruned.net
    rc = cl.NetworkRunConfig(method="hlop", modules=MODULES, epochs=cfg.epochs, lr=cfg.lr,
                             momentum=0.9, seed=cfg.seed)
    loss = DigitLoss(cfg.feed, cfg.steps, cfg.gain)
    stream = cl.run_network_stream(small, loss, cl.permuted_digit_tasks(cfg.tasks, cfg.seed), rc,
                                   progress=progress, return_network=True, mesh=mesh)
    trained = stream.pop("network")
    if mesh is not None:  # replicated on every device: the spectrum runs once, on one device
        trained = jax.device_get(trained)
    lam_after = _lambda_max(trained, cfg.lyapunov_steps, cfg.seed + 100)
    return {
        "neurons": {"before": net.num_neurons(), "after": small.num_neurons()},
        "synapses": {"before": net.num_synapses(), "after": small.num_synapses()},
        "lambda_max_before": lam_before,
        "lambda_max_after": lam_after,
        "accuracy_matrix": stream["accuracy_matrix"],
        "acc": float(stream["acc"]),
        "bwt": float(stream["bwt"]),
        "seconds": time.perf_counter() - t0,
        "prune": {k: v for k, v in pruned.info.items() if isinstance(v, int | float | str)},
        "config": dataclasses.asdict(cfg),
    }
