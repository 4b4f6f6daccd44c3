"""Recurrent spiking network with a leaky readout (LSNN / e-prop architecture).

``x_t -> Recurrent(LIF or ALIF) -> z_t -> LeakyReadout -> y_t``. The input projection
``x_t W_in + b`` is computed for all steps before the time loop (one large matmul), and the loop
is one ``lax.scan`` (:func:`neuro.run.scan_steps`), optionally rematerialised in chunks
(``remat_chunk``) so long sequences fit in memory during BPTT.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax

from neuro._pytree import pytree_dataclass
from neuro.layers import LeakyReadout, Recurrent, check_input, leaky_readout, recurrent
from neuro.neurons import alif
from neuro.run import scan_steps

Array = jax.Array


@pytree_dataclass
class RSNN:
    """A recurrent spiking layer and its leaky readout."""

    layer: Recurrent
    readout: LeakyReadout

    @property
    def n_in(self) -> int:
        return self.layer.w_in.shape[0]

    def init_state(self, batch: int) -> tuple[Any, Array]:
        return self.layer.init_state(batch), self.readout.init_state(batch)


def rsnn(
    key: Array, n_in: int, n_rec: int, n_out: int, *, neuron: Any = None, in_gain: float = 1.0,
    rec_gain: float = 1.0, readout_tau: float = 20.0, dt: float = 1.0,
) -> RSNN:
    """An :class:`RSNN`; the default neuron is :func:`neuro.neurons.alif` with its defaults."""
    neuron = alif(dt=dt) if neuron is None else neuron
    k_rec, k_out = jax.random.split(key)
    layer = recurrent(k_rec, n_in, n_rec, neuron, in_gain=in_gain, rec_gain=rec_gain)
    return RSNN(layer, leaky_readout(k_out, n_rec, n_out, tau=readout_tau, dt=dt))


def step(params: RSNN, state: tuple[Any, Array], current: Array) -> tuple[tuple, dict]:
    """One step from the projected input current; outputs spikes, readout and membrane."""
    rec_state, v_out = state
    rec_state, z = params.layer.step_projected(rec_state, current)
    v_out, _ = params.readout.step(v_out, z)
    return (rec_state, v_out), {"spikes": z, "readout": v_out, "v": rec_state.neuron.v}


def run(
    params: RSNN, xs: Array, *, monitors: Sequence[str] = ("spikes", "readout"),
    every: int = 1, remat_chunk: int | None = None,
) -> dict[str, Array]:
    """Run on time-major input ``xs`` ``[T, batch, n_in]``; return the monitored records."""
    check_input("xs", xs, params.n_in)
    if xs.ndim != 3:
        raise ValueError(f"xs must have shape [time, batch, n_in]; got {xs.shape}")
    currents = params.layer.project(xs)
    _, records = scan_steps(
        step, params, params.init_state(xs.shape[1]), currents, monitors=tuple(monitors),
        every=every, remat_chunk=remat_chunk,
    )
    return records
