"""Recurrent spiking network with a leaky readout (LSNN / e-prop architecture), as a ``Network``.

``x_t -> population "h" (LIF or ALIF) -> z_t -> leaky readout "y"``, with delta synapses::

    I_t = x_t W_in + b + z_{t-1} W_rec          (W_rec without its diagonal unless self_connections)
    (s_t, z_t) = neuron.step(s_{t-1}, I_t)
    y_t = kappa y_{t-1} + (1 - kappa) (z_t W_out + b_out),   kappa = exp(-dt / readout_tau)

Parts: input projection ``"in"`` (:func:`neuro.projections.dense`, trainable bias), recurrent
projection ``"rec"`` (dense, or event-driven :func:`neuro.projections.sparse` with
``recurrent="sparse"``) and readout ``"y"`` (:func:`neuro.readouts.leaky`). Run it with
:func:`neuro.run.scan_steps` / :func:`neuro.run.simulate`, train it with
:class:`neuro.train.Trainer`; there is no step function here.

``backend`` (dense recurrence) selects how the loop computes a run (static configuration):
``"fused"`` (default) and ``"fused-event"`` use :mod:`neuro.fast_rnn`, whose hand-written backward
keeps only the neuron's elementwise VJP and ``delta_t W_rec^T`` inside the reverse loop and does
the weight gradients as single large matmuls after it (``-event``: Numba event-driven products,
worth it for spike inputs of a few % density); ``"xla"`` is the reference, plain autodiff of one
``Network.step`` per time step. Both give the same values (tests/models/test_rsnn.py).

Initial weights (LSNN / e-prop): ``W_in ~ N(0, in_gain^2 / n_in)``, ``W_rec ~ N(0, rec_gain^2 /
n_rec)``, ``W_out ~ N(0, 1 / n_rec)``, zero biases.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from neuro.network import Network, network, population
from neuro.neurons import alif
from neuro.projections import connectivity, dense, sparse
from neuro.readouts import leaky
from neuro.validation import check_choice, check_positive

Array = jax.Array
RECURRENT = ("dense", "sparse")


def _normal(key: Array, n_in: int, n_out: int, gain: float) -> Array:
    return jax.random.normal(key, (n_in, n_out)) * (gain / jnp.sqrt(n_in))


def rsnn(
    key: Array, n_in: int, n_rec: int, n_out: int, *, neuron: Any = None, in_gain: float = 1.0,
    rec_gain: float = 1.0, readout_tau: float = 20.0, dt: float = 1.0,
    self_connections: bool = False, recurrent: str = "dense", backend: str = "fused",
) -> Network:
    """A recurrent spiking :class:`~neuro.network.Network` (module docstring).

    ``neuron`` defaults to :func:`neuro.neurons.alif` with its defaults; ``recurrent="sparse"``
    holds ``W_rec`` (its non-zero entries) in an event-driven sparse projection (``backend`` is
    then not used). Input name ``"x"`` (``[..., n_in]``), population ``"h"``, readout ``"y"``.
    """
    for name, n in (("n_in", n_in), ("n_rec", n_rec), ("n_out", n_out)):
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
            raise ValueError(f"{name} must be a positive int; got {n!r}")
    check_positive("in_gain", in_gain, allow_zero=True)
    check_positive("rec_gain", rec_gain, allow_zero=True)
    check_choice("recurrent", recurrent, RECURRENT)
    neuron = alif(dt=dt) if neuron is None else neuron
    k_layer, k_out = jax.random.split(key)
    k_in, k_rec = jax.random.split(k_layer)
    w_rec = _normal(k_rec, n_rec, n_rec, rec_gain)
    projections = {"in": dense("x", "h", _normal(k_in, n_in, n_rec, in_gain), bias=True)}
    if recurrent == "dense":
        projections["rec"] = dense("h", "h", w_rec, self_connections=self_connections,
                                   backend=backend)
    else:
        w = np.array(w_rec)
        if not self_connections:
            np.fill_diagonal(w, 0.0)
        projections["rec"] = sparse("h", "h", connectivity.from_dense(w))
    readout = leaky("h", n_out, w=_normal(k_out, n_rec, n_out, 1.0), tau=readout_tau, dt=dt)
    return network({"h": population(neuron, n_rec)}, projections, readouts={"y": readout},
                   inputs={"x": n_in})
