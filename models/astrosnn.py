"""AstroSNN: a recurrent spiking network of astrocyte-modulated units, and its baselines.

Network (project design; the unit is :func:`neuro.astrocytes.astro_unit_step`)::

    I_t = x_t W_in + z_{t-1} (W_rec * (1 - eye))            (no self-connections)
    (neuron, c)_t, z_t = astro unit step (LIF or ALIF neurons, groups of ``group_size``)
    y_t = kappa y_{t-1} + z_t W_out + b_out,   kappa = exp(-dt/tau_out)     (leaky readout)

Three configurations share this code and the same initial weights for the same seed:

* ``astro``: LIF neurons, trainable astrocyte modulation (``c_logit``, ``kappa_th``, ``kappa_g``;
  gains initialised at 0, so training starts from the plain LIF network);
* ``lif``: the same network without astrocytes: gains frozen at 0, which is the plain LIF network
  bit for bit (the ablation of astrocytes.md section 4);
* ``alif``: the e-prop LSNN (Bellec et al. 2020): half the neurons adaptive (``beta > 0``),
  half LIF (``beta = 0``), no astrocytes.

``astro-alif`` (``astro_snn(..., neuron="alif", astro=True)``) puts astrocytes on the ALIF network.
The astrocyte state ``c`` is computed (and can be plotted) in every configuration; it only acts
when the gains are non-zero.

Neurons at step ``dt`` (ms): LIF ``tau_m = 20 ms``, ``V_th = 1``, soft reset (neurons.md section 1);
ALIF e-prop form with ``thr = 1``, ``tau_a = 2000 ms`` and the e-prop evidence-accumulation
``beta = 1.7 (1 - rho)/(1 - alpha)`` in units of ``thr`` (neurons.md section 4.3). The astrocyte
state measures its group's rate against ``ref_rate`` (10 Hz): ``drive_scale = 1/(ref_rate dt)``.
Input weights are drawn ``N(0, gain^2/n_in)`` and scaled by ``1/(1 - alpha)`` for LIF (whose input
enters as ``(1 - alpha) I``) so both neuron types see the same effective drive.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from neuro._pytree import pytree_dataclass, replace, static_field
from neuro.astrocytes import (
    AstroModulation,
    AstroUnitState,
    GroupAssignment,
    astro_modulation,
    astro_unit_init,
    astro_unit_step,
    block_groups,
)
from neuro.neurons import ALIF, LIF, alif, lif
from neuro.run import scan_steps
from neuro.validation import check_choice, check_positive

Array = jax.Array
MODELS = ("lif", "alif", "astro", "astro-alif")


@pytree_dataclass
class AstroSNN:
    """Fixed (untrained) structure of the network: neurons, groups, readout decay, flags."""

    neuron: LIF | ALIF
    groups: GroupAssignment
    readout_decay: Array
    n_in: int = static_field()
    n_out: int = static_field()
    astro: bool = static_field(default=True)
    tau_c: float = static_field(default=500.0)
    ref_rate: float = static_field(default=10.0)

    @property
    def n_hidden(self) -> int:
        return self.groups.n_neurons


class AstroSNNState(NamedTuple):
    """Astrocyte-unit state (neurons and ``c``), last spikes ``z`` and readout ``y``."""

    unit: AstroUnitState
    z: Array
    y: Array


def astro_snn(
    n_in: int,
    n_hidden: int,
    n_out: int,
    *,
    neuron: str = "lif",
    astro: bool = True,
    group_size: int = 8,
    dt: float = 10.0,
    tau_m: float = 20.0,
    tau_a: float = 2000.0,
    tau_c: float = 500.0,
    tau_out: float = 20.0,
    ref_rate: float = 10.0,
    refractory_steps: int = 0,
) -> AstroSNN:
    """Validated network structure (see module docstring)."""
    for name, v in (("n_in", n_in), ("n_hidden", n_hidden), ("n_out", n_out)):
        if not isinstance(v, int | np.integer) or v <= 0:
            raise ValueError(f"{name} must be a positive int; got {v!r}")
    check_choice("neuron", neuron, ("lif", "alif"))
    for name, v in (("dt", dt), ("tau_m", tau_m), ("tau_a", tau_a), ("tau_c", tau_c),
                    ("tau_out", tau_out), ("ref_rate", ref_rate)):
        check_positive(name, v)
    groups = block_groups(int(n_hidden), group_size)
    if neuron == "lif":
        cell = lif(tau=tau_m, dt=dt, refractory_steps=refractory_steps)
    else:
        alpha, rho = np.exp(-dt / tau_m), np.exp(-dt / tau_a)
        beta = 1.7 * (1.0 - rho) / (1.0 - alpha)
        betas = np.where(np.arange(n_hidden) < n_hidden // 2, beta, 0.0)  # e-prop: half adaptive
        cell = alif(tau_m=tau_m, tau_a=tau_a, thr=1.0, beta=betas, dt=dt,
                    refractory_steps=refractory_steps)
    return AstroSNN(cell, groups, jnp.asarray(np.exp(-dt / tau_out)), int(n_in), int(n_out),
                    bool(astro), float(tau_c), float(ref_rate))


def model_by_name(name: str, n_in: int, n_hidden: int, n_out: int, **kwargs: Any) -> AstroSNN:
    """``"lif"``, ``"alif"``, ``"astro"`` or ``"astro-alif"`` (astrocytes on the ALIF network)."""
    check_choice("model", name, MODELS)
    neuron = "alif" if name.endswith("alif") else "lif"
    return astro_snn(n_in, n_hidden, n_out, neuron=neuron, astro=name.startswith("astro"), **kwargs)


def init_params(key: Array, model: AstroSNN, *, input_gain: float = 1.0,
                rec_gain: float = 1.0) -> dict[str, Any]:
    """Trainable parameters; the same ``key`` gives the same weights for every configuration."""
    k_in, k_rec, k_out = jax.random.split(key, 3)
    n_in, n, n_out = model.n_in, model.n_hidden, model.n_out
    cell = model.neuron
    if isinstance(cell, LIF):
        scale = 1.0 / (1.0 - float(jnp.mean(cell.alpha)))  # LIF input enters as (1 - alpha) I
        thr = float(jnp.mean(cell.v_th))
    else:
        scale, thr = 1.0, float(jnp.mean(cell.thr))
    w_in = jax.random.normal(k_in, (n_in, n)) * input_gain * scale * thr / np.sqrt(n_in)
    w_rec = jax.random.normal(k_rec, (n, n)) * rec_gain * scale * thr / np.sqrt(n)
    w_out = jax.random.normal(k_out, (n, n_out)) / np.sqrt(n)
    dt = cell.dt
    return {
        "w_in": w_in, "w_rec": w_rec * (1.0 - jnp.eye(n)), "w_out": w_out,
        "b_out": jnp.zeros(n_out),
        "astro": astro_modulation(model.groups.n_groups, tau_c=model.tau_c, dt=dt,
                                  drive_scale=1000.0 / (model.ref_rate * dt)),
    }


def trainable_mask(model: AstroSNN, params: dict[str, Any]) -> dict[str, Any]:
    """1.0 for trained leaves, 0.0 for the astrocyte leaves of the no-astrocyte baselines."""
    on = lambda tree, v: jax.tree_util.tree_map(lambda _: v, tree)
    mask = {k: on(v, 1.0) for k, v in params.items()}
    if not model.astro:
        mask["astro"] = on(params["astro"], 0.0)
    return mask


def init_state(model: AstroSNN, batch: tuple[int, ...] = ()) -> AstroSNNState:
    """Network at rest."""
    return AstroSNNState(astro_unit_init(model.neuron, model.groups, batch),
                         jnp.zeros((*batch, model.n_hidden)), jnp.zeros((*batch, model.n_out)))


def step(net: tuple[AstroSNN, dict[str, Any]], state: AstroSNNState, x_t: Array
         ) -> tuple[AstroSNNState, dict[str, Array]]:
    """One network step; ``net = (model, params)``. Outputs spikes ``z``, ``c`` and readout ``y``."""
    model, p = net
    mod: AstroModulation = p["astro"]
    if not model.astro:  # the ablation: exactly the plain neuron (gains 0), c still tracked
        mod = replace(mod, c_logit=jax.lax.stop_gradient(mod.c_logit),
                      kappa_th=jnp.zeros_like(mod.kappa_th), kappa_g=jnp.zeros_like(mod.kappa_g))
    current = x_t @ p["w_in"] + state.z @ (p["w_rec"] * (1.0 - jnp.eye(model.n_hidden)))
    unit, z = astro_unit_step(model.neuron, mod, model.groups, state.unit, current)
    y = model.readout_decay * state.y + z @ p["w_out"] + p["b_out"]
    return AstroSNNState(unit, z, y), {"z": z, "c": unit.c, "y": y}


def run(model: AstroSNN, params: dict[str, Any], inputs: Array,
        monitors: tuple[str, ...] = ("z", "c", "y"), remat_chunk: int | None = None
        ) -> dict[str, Array]:
    """Run over time-major ``inputs [T, B, n_in]`` from rest; returns time-major records."""
    state = init_state(model, inputs.shape[1:-1])
    _, rec = scan_steps(step, (model, params), state, inputs, monitors=monitors,
                        remat_chunk=remat_chunk)
    return rec


__all__ = ["MODELS", "AstroSNN", "AstroSNNState", "astro_snn", "init_params", "init_state",
           "model_by_name", "run", "step", "trainable_mask"]
