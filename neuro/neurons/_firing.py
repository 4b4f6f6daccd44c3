"""Shared spike-and-reset logic of the integrate-and-fire family (LIF, IF).

Given the pre-reset potential ``v_tilde`` the neuron fires ``z = H(x)`` with the surrogate argument
``x`` scaled per ``scale`` (neurons.md §0), then resets:

* ``soft``  (reset by subtraction): ``v = v_tilde - (V_th - V_reset) z``   (keeps the residue)
* ``hard``: ``v = v_tilde (1 - z) + V_reset z``                           (discards the residue)
* ``none``: ``v = v_tilde``

``detach_reset`` uses ``stop_gradient(z)`` inside the reset.

Refractoriness (``n_ref`` steps; the refractory period is the spike step and the ``n_ref - 1``
steps after it, as Brian2's ``refractory`` with ``n_ref = round(tau_ref / dt)``, so the minimal
inter-spike interval is ``n_ref`` steps). Counter ``r_t = clip(r_{t-1} + n_ref z_t - 1, 0, n_ref)``;
while ``r_{t-1} > 0`` the neuron cannot fire (``z_t = 0``) and, per ``refractory_mode``:

* ``"clamp"`` (default; Brian2's ``(unless refractory)``, NEST's ``iaf_psc_*``, and the
  conductance LIF of :mod:`neuro.neurons.conductance`): the membrane does not integrate,
  ``v_t = v_{t-1}`` (the post-reset value: ``V_reset`` after a hard reset);
* ``"integrate"``: the membrane keeps integrating its input and only spikes are suppressed
  (LSNN-style); a strong input can carry ``v`` far above threshold, and the neuron fires as
  soon as the period ends.

Membrane-potential rectifier (MPR, Guo et al. ECCV 2022; *reconstructed*, the paper's exact form is
not available, see neurons.md §2). With ``V_n = V_th - V_reset`` and ``u = (v_tilde - V_reset)/V_n``::

    phi(u) = u                                            u < 0 or u > 1
    phi(u) = tanh(k (u - 1/2)) / (2 tanh(k/2)) + 1/2       0 <= u <= 1

The spike is ``H(phi(u) - 1/2)`` (round-to-nearest quantisation: one spike carries ``V_n``), so
the forward spikes are those of a threshold at ``V_reset + V_n/2`` and the gradient is multiplied by
``phi'(u)``. ``mpr="state"`` also stores ``phi(u)`` as the membrane state; ``"spike_only"`` applies
it inside the spike function only. With MPR the reset is always by subtraction of ``V_n``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from neuro.spikes import Surrogate, spike
from neuro.validation import ConfigError

RESETS = ("soft", "hard", "none")
SCALES = ("reset", "threshold", "none")
MPR_MODES = (None, "spike_only", "state")
REFRACTORY_MODES = ("clamp", "integrate")


def mpr_phi(u: jax.Array, k: float = 4.0) -> jax.Array:
    """The membrane-potential rectifier ``phi`` (identity outside [0, 1], a tanh S-curve inside)."""
    inside = jnp.tanh(k * (u - 0.5)) / (2.0 * jnp.tanh(k / 2.0)) + 0.5
    return jnp.where((u >= 0.0) & (u <= 1.0), inside, u)


def surrogate_argument(v, v_th, v_reset, scale: str):
    """Distance to threshold as the surrogate sees it (neurons.md §0)."""
    if scale == "reset":
        return (v - v_th) / (v_th - v_reset)
    if scale == "threshold":
        return (v - v_th) / v_th
    return v - v_th


def fire_and_reset(
    v_tilde: jax.Array,
    refractory: jax.Array,
    *,
    v_th: jax.Array,
    v_reset: jax.Array,
    reset: str,
    detach_reset: bool,
    surrogate: Surrogate,
    scale: str,
    mpr: str | None,
    mpr_k: float,
    n_ref: int,
    v_prev: jax.Array | None = None,
    refractory_mode: str = "clamp",
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Return ``(v, refractory, z)`` after spiking and resetting from pre-reset ``v_tilde``.

    ``v_prev`` (the potential of the previous step) is needed by ``refractory_mode="clamp"``."""
    held = refractory > 0 if n_ref > 0 else None
    if held is not None and refractory_mode == "clamp" and v_prev is None:
        raise ConfigError("refractory_mode='clamp' needs v_prev")
    if mpr is None:
        z = spike(surrogate_argument(v_tilde, v_th, v_reset, scale), surrogate)
    else:
        v_n = v_th - v_reset
        phi = mpr_phi((v_tilde - v_reset) / v_n, mpr_k)
        z = spike(phi - 0.5, surrogate)
        if mpr == "state":
            v_tilde = v_reset + v_n * phi
    if held is not None:
        z = z * (~held).astype(z.dtype)
        refractory = jnp.clip(refractory + n_ref * z.astype(refractory.dtype) - 1, 0, n_ref)
    zr = jax.lax.stop_gradient(z) if detach_reset else z
    if mpr is not None or reset == "soft":
        v = v_tilde - (v_th - v_reset) * zr
    elif reset == "hard":
        v = v_tilde * (1.0 - zr) + v_reset * zr
    else:
        v = v_tilde
    if held is not None and refractory_mode == "clamp":
        v = jnp.where(held, v_prev, v)  # no integration while refractory (z = 0 there)
    return v, refractory, z
