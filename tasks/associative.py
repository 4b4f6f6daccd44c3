"""Associative (content-addressable) memory in a recurrent spiking network with online Hebbian
plasticity, its capacity against the Willshaw network's, with and without astrocytes.

Network (project design after ``shared/reference/associative.md``; dt = 1 ms)::

    populations  "e": N LIF neurons (tau_m = 1 ms, V_th = 1, hard reset to 0)
    projections  "in":  x_t -> e, identity * input_gain  (the teacher during storage, the cue)
                 "ee":  z_{t-1} -> e, dense W (0 at start, no self-connections), plastic:
                        clipped Hebbian, neuro.modulators.hebbian(lr = w_max = w, tau = 1 ms,
                        W in [0, w]): a pair that fires together once saturates at w (Willshaw)
                 "inh": z_{t-1} -> e, uniform -g (global feedback inhibition)
    modulators   "hebb" (above); optional "astro": neuro.modulators.astro_modulation, one
                 astrocyte over the population (or blocks of ``astro_block``) raising the
                 threshold with activity: V_th (1 + kappa tanh c), c ~ 1 at the coding level

A neuron ``j`` then receives ``w k_j - g n`` from ``n`` active neurons of which ``k_j`` connect to it,
so it fires when ``k_j / n`` exceeds about ``g / w`` (an activity-dependent Willshaw threshold).

Protocol: the ``P`` patterns (exactly ``M`` of ``N`` units active, coding level ``f = M/N``) are
stored one after another: ``store_steps`` steps of input ``+teacher input_gain`` on the pattern's
units and ``-teacher input_gain`` on the others, then ``gap_steps`` steps of ``-teacher input_gain``
on all units (so the pattern's attractor does not persist into the next one), plasticity on
(:class:`neuro.modulators.Hebbian`, weights in the modulator's state). Recall, plasticity off
(``lr = 0``) from the stored weights, a batch of cues in parallel: a cue keeps ``M - m`` of the
pattern's units and adds ``m`` spurious ones, ``m = round(noise M)``; it is input for ``cue_steps``,
then the network runs free for ``settle_steps``; the recalled set is the units that fired in at
least half of the last ``read_steps`` steps. ``overlap = |recalled and stored| / M`` and
``false = |recalled not stored| / M``; the load sweep stores incrementally and tests after each
load, on up to ``n_test`` stored patterns.

Capacity: the largest load ``P`` at which the mean overlap is at least 0.9 and the mean false
fraction at most 0.1 (the load grid's resolution). Willshaw analytic (Willshaw, Buneman &
Longuet-Higgins 1969; textbook): after ``P`` patterns a synapse is set with probability
``p1 = 1 - (1 - f^2)^P``; a cue of ``c = M - m`` correct units (erasure only) with threshold ``c``
recalls every pattern unit and ``(N - M) p1^c`` false ones, so the same criterion
(``(N - M) p1^c <= 0.1 M``) gives ``P_max = ln(1 - p1*) / ln(1 - f^2)``, ``p1* = (0.1 M/(N - M))^(1/c)``.
The spiking network's cue also carries spurious units, which the analytic bound does not.

Measured (``neuro memory --task associative --seeds 3``: N = 200, M = 10, cue noise 0.2, so
c = 8; seeds 0-2, a loaded shared 2-core machine, 3.3 min). Overlap / false fraction, mean over
seeds (std of the overlap <= 0.05):

=========  ===========  ===========  ===========  ===========  ===========  ===========
P          100          150          200          250          300          400
=========  ===========  ===========  ===========  ===========  ===========  ===========
Hebbian    1.00 / 0.01  1.00 / 0.09  0.97 / 0.42  0.83 / 1.46  0.59 / 3.13  0.54 / 7.01
+ astro    1.00 / 0.01  1.00 / 0.08  0.98 / 0.29  0.87 / 0.88  0.68 / 2.34  0.53 / 6.54
Willshaw   1 / 0.000    1 / 0.002    1 / 0.011    1 / 0.042    1 / 0.115    1 / 0.487
=========  ===========  ===========  ===========  ===========  ===========  ===========

Capacity by the criterion: 133 +- 24 patterns (150, 100, 150 on the three seeds) with and
without astrocytes, against Willshaw's analytic P_max = 292 for an erasure-only cue of 8 units.
The spiking network holds about half the Willshaw load: its threshold is set by subtractive
inhibition (k/n > ~0.7 rather than k = c) and its cue carries 2 spurious units. The astrocyte's
activity-dependent threshold removes a third of the false units at P = 200-300 (0.42 -> 0.29,
1.46 -> 0.88) without moving the capacity at this load resolution; against cue noise (P = 100)
it costs completion: overlap 0.98 / 0.57 / 0.30 at noise 0.3 / 0.4 / 0.5 against 1.00 / 0.98 /
0.60 without it (a raised threshold recruits fewer missing units).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from neuro import network as nw
from neuro._pytree import replace
from neuro.modulators import astro_modulation, blocks, hebbian
from neuro.neurons import lif
from neuro.projections import dense
from neuro.run import scan_steps
from neuro.validation import check_in_range, check_positive


@dataclasses.dataclass(frozen=True)
class AssociativeConfig:
    """Sizes and protocol (defaults: N = 200, M = 10, f = 0.05; a few minutes on 2 cores)."""

    n: int = 200
    m: int = 10
    w: float = 2.0  # saturated synaptic weight
    g: float = 1.4  # global inhibition per active neuron: fires at k/n > ~ g/w = 0.7
    input_gain: float = 4.0  # cue current per unit
    teacher: float = 5.0  # storage input in units of input_gain (must beat the inhibition g M)
    tau_m: float = 1.0
    store_steps: int = 5
    gap_steps: int = 5
    cue_steps: int = 3
    settle_steps: int = 12
    read_steps: int = 6
    n_test: int = 64
    # one astrocyte covering the whole population (None), raising every threshold with the
    # population's activity; measured on seed 0 at loads 100-300 (noise 0.2), kappa = 1 and
    # tau_c = 2 ms cut false units most (kappa = 0.5: less; 2: overlap falls; blocks of 10 as 0.5)
    astro_block: int | None = None
    astro_kappa: float = 1.0
    astro_tau: float = 2.0

    def __post_init__(self) -> None:
        for name in ("n", "m", "store_steps", "gap_steps", "cue_steps", "settle_steps",
                     "read_steps", "n_test", "astro_block"):
            v = getattr(self, name)
            if name == "astro_block" and v is None:
                continue
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int; got {v!r}")
        if self.m >= self.n:
            raise ValueError(f"m (active units per pattern) must be < n; got {self.m} >= {self.n}")
        if self.read_steps > self.settle_steps:
            raise ValueError("read_steps must be <= settle_steps")
        for name in ("w", "g", "input_gain", "teacher", "tau_m", "astro_tau"):
            check_positive(name, getattr(self, name))
        check_positive("astro_kappa", self.astro_kappa, allow_zero=True)
        # a stored pattern must hold itself: each of its units gets w (M - 1) - g M from the
        # other M - 1, times (1 - exp(-1/tau_m)) per step, against V_th (1 + kappa tanh 1)
        drive = (1.0 - np.exp(-1.0 / self.tau_m)) * (self.w * (self.m - 1) - self.g * self.m)
        if drive <= 1.0 + self.astro_kappa * np.tanh(1.0):
            raise ValueError(f"w = {self.w}, g = {self.g}, m = {self.m}, tau_m = {self.tau_m}: a "
                             "stored pattern cannot sustain itself; raise w or m, or lower g")


def patterns(n_patterns: int, n: int, m: int, seed: int) -> np.ndarray:
    """``[P, N]`` 0/1 patterns with exactly ``m`` active units each."""
    rng = np.random.default_rng(seed)
    out = np.zeros((n_patterns, n), np.float32)
    for p in range(n_patterns):
        out[p, rng.choice(n, m, replace=False)] = 1.0
    return out


def degrade(pats: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    """Cues: remove ``round(noise M)`` active units of each pattern and add as many spurious."""
    cues = pats.copy()
    for c in cues:
        on, off = np.flatnonzero(c), np.flatnonzero(c == 0)
        k = int(round(noise * on.size))
        c[rng.choice(on, k, replace=False)] = 0.0
        c[rng.choice(off, k, replace=False)] = 1.0
    return cues


def associative_network(config: AssociativeConfig, *, astrocytes: bool = False) -> nw.Network:
    """The network of the module docstring, with zero recurrent weights."""
    n = config.n
    ee = dense("e", "e", np.zeros((n, n), np.float32), self_connections=False)
    mods = {"hebb": hebbian(("ee", ee), lr=config.w, tau_pre=1.0, tau_post=1.0, w_min=0.0,
                            w_max=config.w)}
    if astrocytes:
        # c ~ 1 when a block fires at the coding level: drive_scale = 1 / f
        mods["astro"] = astro_modulation("e", blocks(n, config.astro_block or n),
                                         tau_c=config.astro_tau, kappa_th=config.astro_kappa,
                                         drive_scale=n / config.m)
    return nw.network(
        {"e": nw.population(lif(tau=config.tau_m, reset="hard"), n)},
        {"in": dense("x", "e", np.eye(n, dtype=np.float32) * config.input_gain), "ee": ee,
         "inh": dense("e", "e", np.full((n, n), -config.g, np.float32))},
        mods, inputs={"x": n})


def _store_inputs(pats: np.ndarray, config: AssociativeConfig) -> np.ndarray:
    teach = config.teacher * (2.0 * pats - 1.0)  # + on the pattern, - elsewhere
    # between patterns every unit is held silent, so one pattern's attractor does not persist
    # into the next pattern's storage (and the Hebbian traces decay by exp(-gap_steps))
    quiet = np.full((len(pats), config.gap_steps, pats.shape[1]), -config.teacher, np.float32)
    block = np.concatenate([np.repeat(teach[:, None], config.store_steps, 1), quiet], 1)
    return block.reshape(-1, pats.shape[1])


@jax.jit
def _store(net, state, xs):
    return scan_steps(net, state, xs, monitors=())[0]


def _recall_fn(config: AssociativeConfig):
    @jax.jit
    def recall(net, state, cues):
        xs = jnp.concatenate([jnp.repeat(cues[None], config.cue_steps, 0),
                              jnp.zeros((config.settle_steps, *cues.shape), cues.dtype)])
        _, rec = scan_steps(net, state, xs, monitors=("spikes.e",))
        z = rec["spikes.e"][-config.read_steps:]
        return (z.sum(0) * 2 >= config.read_steps).astype(cues.dtype)

    return recall


def recall_quality(recalled: np.ndarray, pats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-cue ``overlap = |R and S| / M`` and ``false = |R - S| / M``."""
    m = pats.sum(1)
    return (recalled * pats).sum(1) / m, (recalled * (1 - pats)).sum(1) / m


class Memory:
    """Stores patterns incrementally into one network and recalls them (module docstring)."""

    def __init__(self, config: AssociativeConfig, astrocytes: bool, seed: int):
        self.config = config
        self.net = associative_network(config, astrocytes=astrocytes)
        self.state = self.net.init_state()
        self.recall_fn = _recall_fn(config)
        self.stored = 0
        self.seed = seed

    def store(self, pats: np.ndarray) -> None:
        self.state = _store(self.net, self.state, jnp.asarray(_store_inputs(pats, self.config)))
        self.stored += len(pats)

    def recall(self, pats: np.ndarray, noise: float, rng: np.random.Generator
               ) -> tuple[np.ndarray, np.ndarray]:
        cues = degrade(pats, noise, rng)
        w = self.state.modulators["hebb"].w
        hebb = replace(self.net.modulators["hebb"], lr=jnp.zeros_like(self.net.modulators["hebb"].lr))
        net = replace(self.net, modulators={**self.net.modulators, "hebb": hebb})
        state = net.init_state(len(cues))
        state = state._replace(modulators={**state.modulators,
                                           "hebb": state.modulators["hebb"]._replace(w=w)})
        recalled = np.asarray(self.recall_fn(net, state, jnp.asarray(cues)))
        return recall_quality(recalled, pats)


def willshaw(n: int, m: int, loads: Sequence[int], cue_units: int, tol: float = 0.1
             ) -> dict[str, Any]:
    """Willshaw analytic values (module docstring): false fraction per load and ``P_max``."""
    f2 = (m / n) ** 2
    p1 = 1.0 - (1.0 - f2) ** np.asarray(loads, float)
    false = (n - m) * p1 ** cue_units / m
    p1_star = (tol * m / (n - m)) ** (1.0 / cue_units)
    return {"p_max": float(np.log(1.0 - p1_star) / np.log(1.0 - f2)),
            "false_by_load": {str(p): float(v) for p, v in zip(loads, false, strict=True)},
            "p1_by_load": {str(p): float(v) for p, v in zip(loads, p1, strict=True)}}


def capacity_of(by_load: dict[str, dict], min_overlap: float = 0.9, max_false: float = 0.1
                ) -> int:
    """Largest load meeting the criterion (0 if none)."""
    ok = [int(p) for p, r in by_load.items()
          if r["overlap"]["mean"] >= min_overlap and r["false"]["mean"] <= max_false]
    return max(ok, default=0)


def _stats(values: list[float]) -> dict[str, Any]:
    v = np.asarray(values, float)
    return {"mean": float(v.mean()), "std": float(v.std()), "per_seed": v.tolist()}


def run_associative(
    loads: Sequence[int] = (25, 50, 100, 150, 200, 250, 300, 400),
    noises: Sequence[float] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5),
    *,
    noise: float = 0.2,
    noise_load: int = 100,
    seeds: Sequence[int] = (0, 1, 2),
    config: AssociativeConfig = AssociativeConfig(),
    progress: bool = False,
) -> dict[str, Any]:
    """Capacity curve (overlap against load at cue noise ``noise``) and overlap against cue noise
    at load ``noise_load``, with and without astrocytes, over seeds; Willshaw analytic values."""
    loads = sorted(int(p) for p in loads)
    if not loads or loads[0] < 1:
        raise ValueError(f"loads must be positive pattern counts; got {loads}")
    check_in_range("noise", noise, 0.0, 1.0)
    for v in noises:
        check_in_range("noises", v, 0.0, 1.0)
    if not seeds:
        raise ValueError("seeds must name at least one seed")
    n, m = config.n, config.m
    out: dict[str, Any] = {"n": n, "m": m, "coding_level": m / n, "noise": noise,
                           "noise_load": int(noise_load), "seeds": [int(s) for s in seeds],
                           "loads": loads, "noises": list(map(float, noises))}
    overlap_by_load, overlap_by_noise, capacity = {}, {}, {}
    bar = tqdm(total=2 * len(seeds) * (len(loads) + len(noises)), disable=not progress,
               desc="associative")
    for variant, astro in (("hebbian", False), ("hebbian+astrocytes", True)):
        per_load = {str(p): {"overlap": [], "false": []} for p in loads}
        per_noise = {f"{v:g}": {"overlap": [], "false": []} for v in noises}
        for seed in seeds:
            pats = patterns(max(loads[-1], noise_load), n, m, seed)
            rng = np.random.default_rng(1000 + seed)
            mem = Memory(config, astro, seed)
            for p in loads:
                mem.store(pats[mem.stored:p])
                test = pats[rng.choice(p, min(p, config.n_test), replace=False)]
                ov, fa = mem.recall(test, noise, rng)
                per_load[str(p)]["overlap"].append(float(ov.mean()))
                per_load[str(p)]["false"].append(float(fa.mean()))
                bar.update()
            mem = Memory(config, astro, seed)
            mem.store(pats[:noise_load])
            test = pats[rng.choice(noise_load, min(noise_load, config.n_test), replace=False)]
            for v in noises:
                ov, fa = mem.recall(test, v, rng)
                per_noise[f"{v:g}"]["overlap"].append(float(ov.mean()))
                per_noise[f"{v:g}"]["false"].append(float(fa.mean()))
                bar.update()
        overlap_by_load[variant] = {p: {k: _stats(v) for k, v in r.items()}
                                    for p, r in per_load.items()}
        overlap_by_noise[variant] = {v: {k: _stats(x) for k, x in r.items()}
                                     for v, r in per_noise.items()}
        caps = [capacity_of({p: {k: {"mean": r[k][i]} for k in r} for p, r in per_load.items()})
                for i in range(len(seeds))]
        capacity[variant] = _stats(caps)
    bar.close()
    cue_units = m - int(round(noise * m))
    wil = willshaw(n, m, loads, cue_units)
    capacity["willshaw"] = {"p_max": wil["p_max"], "cue_units": cue_units,
                            "criterion": "mean overlap >= 0.9 and false <= 0.1 M"}
    out.update(capacity=capacity, overlap_by_load=overlap_by_load,
               overlap_by_noise=overlap_by_noise, willshaw=wil)
    return out


__all__ = ["AssociativeConfig", "Memory", "associative_network", "capacity_of", "degrade",
           "patterns", "recall_quality", "run_associative", "willshaw"]
