"""AstroSNN: a recurrent spiking network with astrocytes, and its baselines, as a ``Network``.

A constructor only (no step of its own): the network runs in :func:`neuro.run.scan_steps` and
trains with :class:`neuro.train.Trainer`. Parts (project design; astrocytes.md section 4)::

    populations  "h": n_hidden LIF or ALIF neurons, soft reset
    projections  "in":  x_t -> h, dense W_in;   "rec": z_{t-1} -> h, dense W_rec, no self-connections
    modulators   "astro": trainable astrocyte modulation of threshold and gain
                          (neuro.modulators.astro_modulation; blocks of ``group_size`` neurons)
                 "lr":    Li-Rinzel astrocytes (neuro.modulators.tripartite), optional
    readouts     "y": y_t = kappa y_{t-1} + z_t W_out + b_out,  kappa = exp(-dt/tau_out)

Configurations (:func:`model_by_name`) share the same initial weights for the same key:

* ``lif``: the recurrent LIF network; ``astro``: the same with the astrocyte modulation (gains
  initialised at 0, so training starts from the plain LIF network, and the modulator with zero
  gains is the plain network bit for bit);
* ``alif``: the e-prop LSNN (Bellec et al. 2020): half the neurons adaptive, no astrocytes;
  ``astro-alif``: the astrocyte modulation on that network;
* ``lr-lif``, ``lr-alif``: Li-Rinzel astrocytes instead of the trainable modulation: astrocyte
  ``a`` senses the spikes its ``group_size`` neurons emit onto the recurrent synapses
  (``IP3 += delta_IP3 sum_{i in a} z_i``) and returns a slow inward current
  ``I_i += g_i I_SIC,a`` to them, with a trainable per-neuron ``sic_gain`` g initialised at 0 and a
  softplus-smoothed SIC so the gain has a gradient below threshold. Li-Rinzel defaults here
  (project design, scaled for 10 ms steps and a 10 Hz network): ``delta_IP3 = 0.005 uM``,
  ``tau_IP3 = 2000 ms``, NEST's values otherwise.

Neurons at step ``dt`` (ms): LIF ``tau_m = 20 ms``, ``V_th = 1``; ALIF e-prop form with ``thr = 1``,
``tau_a = 2000 ms`` and ``beta = 1.7 (1 - rho)/(1 - alpha)`` (neurons.md section 4.3). The
astrocyte state measures its group's rate against ``ref_rate`` (10 Hz): ``drive_scale = 1/(ref_rate
dt)``. Input and recurrent weights are ``N(0, gain^2/n)``, scaled by ``1/(1 - alpha)`` for LIF
(whose input enters as ``(1 - alpha) I``) so both neuron types see the same effective drive.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from neuro import network as nw
from neuro._pytree import replace
from neuro.modulators import astro_modulation, li_rinzel, tripartite
from neuro.modulators.coverage import blocks
from neuro.neurons import alif, lif
from neuro.projections import dense
from neuro.readouts import leaky
from neuro.train import trainable_mask
from neuro.validation import check_choice, check_positive

Array = jax.Array
MODELS = ("lif", "alif", "astro", "astro-alif", "lr-lif", "lr-alif")
#: float leaves trained by BPTT (weights, readout bias, astrocyte parameters)
TRAINED = ("w", "b", "c_logit", "kappa_th", "kappa_g", "sic_gain")


def astro_snn(
    n_in: int,
    n_hidden: int,
    n_out: int,
    *,
    key: Array,
    neuron: str = "lif",
    astrocytes: str | None = "modulation",
    group_size: int = 8,
    dt: float = 10.0,
    tau_m: float = 20.0,
    tau_a: float = 2000.0,
    tau_c: float = 500.0,
    tau_out: float = 20.0,
    ref_rate: float = 10.0,
    refractory_steps: int = 0,
    input_gain: float = 1.0,
    rec_gain: float = 1.0,
    delta_ip3: float = 0.005,
    tau_ip3: float = 2000.0,
    sic_softness: float = 0.05,
) -> nw.Network:
    """The network of the module docstring. ``astrocytes``: ``"modulation"``, ``"li-rinzel"`` or
    None; ``key`` draws the weights (the same key gives the same weights for every choice)."""
    for name, v in (("n_in", n_in), ("n_hidden", n_hidden), ("n_out", n_out)):
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v <= 0:
            raise ValueError(f"{name} must be a positive int; got {v!r}")
    check_choice("neuron", neuron, ("lif", "alif"))
    check_choice("astrocytes", astrocytes, ("modulation", "li-rinzel", None))
    for name, v in (("dt", dt), ("tau_m", tau_m), ("tau_a", tau_a), ("tau_c", tau_c),
                    ("tau_out", tau_out), ("ref_rate", ref_rate)):
        check_positive(name, v)
    coverage = blocks(int(n_hidden), group_size)
    if neuron == "lif":
        cell = lif(tau=tau_m, dt=dt, refractory_steps=refractory_steps)
        scale, thr = 1.0 / (1.0 - float(np.exp(-dt / tau_m))), 1.0
    else:
        alpha, rho = np.exp(-dt / tau_m), np.exp(-dt / tau_a)
        beta = 1.7 * (1.0 - rho) / (1.0 - alpha)
        betas = np.where(np.arange(n_hidden) < n_hidden // 2, beta, 0.0)  # e-prop: half adaptive
        cell = alif(tau_m=tau_m, tau_a=tau_a, thr=1.0, beta=betas, dt=dt,
                    refractory_steps=refractory_steps)
        scale, thr = 1.0, 1.0
    k_in, k_rec, k_out = jax.random.split(key, 3)
    n = int(n_hidden)
    w_in = jax.random.normal(k_in, (n_in, n)) * input_gain * scale * thr / np.sqrt(n_in)
    w_rec = jax.random.normal(k_rec, (n, n)) * rec_gain * scale * thr / np.sqrt(n)
    w_out = jax.random.normal(k_out, (n, n_out)) / np.sqrt(n)
    rec = dense("h", "h", w_rec * (1.0 - jnp.eye(n)), self_connections=False)
    modulators = {}
    if astrocytes == "modulation":
        modulators["astro"] = astro_modulation("h", coverage, tau_c=tau_c, dt=dt,
                                               drive_scale=1000.0 / (ref_rate * dt))
    elif astrocytes == "li-rinzel":
        astro = li_rinzel(dt=dt, delta_ip3=delta_ip3, tau_ip3=tau_ip3, sic_softness=sic_softness)
        # each astrocyte senses the spikes its own neurons send onto the recurrent synapses
        modulators["lr"] = tripartite("h", coverage, source="h", w_in=coverage.matrix().T,
                                      astro=astro, sic_gain=np.zeros(n))
    return nw.network(
        {"h": nw.population(cell, n)},
        {"in": dense("x", "h", w_in), "rec": rec},
        modulators,
        {"y": leaky("h", w=w_out, tau=tau_out, dt=dt, scale_input=False)},
        inputs={"x": int(n_in)},
    )


def model_by_name(name: str, n_in: int, n_hidden: int, n_out: int, *, key: Array,
                  **kwargs: Any) -> nw.Network:
    """One of :data:`MODELS` (see the module docstring)."""
    check_choice("model", name, MODELS)
    neuron = "alif" if name.endswith("alif") else "lif"
    astrocytes = ("modulation" if name.startswith("astro") else
                  "li-rinzel" if name.startswith("lr") else None)
    return astro_snn(n_in, n_hidden, n_out, key=key, neuron=neuron, astrocytes=astrocytes,
                     **kwargs)


def trained_leaves(net: nw.Network) -> Any:
    """Mask of the leaves BPTT trains (:data:`TRAINED`); neuron and Li-Rinzel constants stay."""
    return trainable_mask(net, TRAINED)


def without_astrocytes(net: nw.Network) -> nw.Network:
    """The trained network with its astrocyte gains set to 0 (is the memory in the astrocytes?)."""
    mods = {}
    for name, m in net.modulators.items():
        if hasattr(m, "without_gains"):
            m = m.without_gains()
        elif hasattr(m, "sic_gain"):
            m = replace(m, sic_gain=jnp.zeros_like(m.sic_gain))
        mods[name] = m
    return replace(net, modulators=mods)


__all__ = ["MODELS", "TRAINED", "astro_snn", "model_by_name", "trained_leaves",
           "without_astrocytes"]
