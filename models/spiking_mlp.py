"""Spiking MLP of HLOP (DSR LIF neurons, no biases), with a shared or a multi-head classifier.

Architecture (hlop.md §4; pkuxmq/HLOP-SNN ``models/spiking_mlp_hlop.py``): ``sizes = (784, 800,
800, 10)``; the (normalised) image is a constant input current for ``T = 20`` steps; each hidden
layer is ``I_t = out^{l-1}_t W_l`` followed by a DSR LIF (:mod:`neuro.neurons.dsr`), whose spikes
carry ``V_th/dt``; the readout is the weighted firing rate of the classifier current,
``logits = wfr(out^L) W_{L+1}``. Kernels are ``[in, out]``; init ``U(-1/sqrt(in), 1/sqrt(in))``
(PyTorch's ``nn.Linear`` default, as in the reference).

Multi-head (``heads > 1``): the classifier has ``heads * classes`` outputs and head ``h`` uses
columns ``[h C, (h+1) C)``; labels are local to the head (task-incremental learning).

Gradient. The DSR backward is the same at every time step, so for linear layers the whole
backward pass is exact in the rate domain (``B`` rows instead of ``T B``): with ``R_l = sum_t
out^l_t``, ``q_L = wfr(out^L)``, gates ``m_l = [0 < wfr(I^l) < V_th tau/dt]`` and
``c = sum_t wbar_t^2`` (the readout weights, normalised)::

    dL/dW_{L+1} = q_L^T dlogits
    g_L  = m_L * c / tau * (dlogits W_{L+1}^T)       dL/dW_L = R_{L-1}^T g_L
    g_l  = m_l / tau * (g_{l+1} W_{l+1}^T)             dL/dW_l = R_{l-1}^T g_l      (R_0 = T x)

which is what back-propagating through :func:`neuro.neurons.dsr.dsr_lif` at every step gives
(``tests/models/test_spiking_mlp.py`` compares the two). HLOP/GPM projection is applied to the
presynaptic rows ``R_{l-1}`` (``x - B^T B x``), the input-side form of
:func:`neuro.optim.orthogonal_projection` that costs ``B K in`` instead of ``K in out``.

Presynaptic activities for Hebbian learning and GPM: ``a_0 = x``, ``a_l = wfr(out^l)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from neuro.neurons.dsr import (
    _spike_train,
    dsr_gate,
    dsr_lif,
    rate_surrogate,
    rate_weights,
    weighted_firing_rate,
)
from neuro.plasticity import project_out
from neuro.validation import check_positive

Array = jax.Array


@dataclasses.dataclass(frozen=True)
class SpikingMLP:
    """Static configuration (hashable; a jit static argument)."""

    sizes: tuple[int, ...] = (784, 800, 800, 10)
    timesteps: int = 20
    v_th: float = 0.3
    tau: float = 1.0
    dt: float = 0.05
    kappa: float = 0.3
    heads: int = 1

    @property
    def n_hidden_layers(self) -> int:
        return len(self.sizes) - 2

    @property
    def classes(self) -> int:
        return self.sizes[-1]

    @property
    def presynaptic_sizes(self) -> tuple[int, ...]:
        """Input size of every layer (the dimension of each HLOP module)."""
        return tuple(self.sizes[:-1])


def spiking_mlp(sizes=(784, 800, 800, 10), *, timesteps: int = 20, v_th: float = 0.3,
                tau: float = 1.0, dt: float = 0.05, kappa: float = 0.3,
                heads: int = 1) -> SpikingMLP:
    """Validated configuration; see :class:`SpikingMLP` and the module docstring."""
    sizes = tuple(int(s) for s in sizes)
    if len(sizes) < 3 or min(sizes) < 1:
        raise ValueError(f"sizes needs input, >= 1 hidden and output sizes, all >= 1; got {sizes}")
    if not isinstance(timesteps, int) or timesteps < 1:
        raise ValueError(f"timesteps must be a positive int; got {timesteps!r}")
    if not isinstance(heads, int) or heads < 1:
        raise ValueError(f"heads must be a positive int; got {heads!r}")
    for name, value in (("v_th", v_th), ("tau", tau), ("dt", dt), ("kappa", kappa)):
        check_positive(name, value)
    return SpikingMLP(sizes, timesteps, float(v_th), float(tau), float(dt), float(kappa), heads)


def init_params(cfg: SpikingMLP, seed: int | Sequence[int] | np.random.Generator = 0
                ) -> tuple[Array, ...]:
    """Kernels ``[in, out]`` drawn from ``U(-1/sqrt(in), 1/sqrt(in))``; the last has heads * C.

    Drawn with NumPy (host-side, once per run; no per-shape compilation).
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    outs = list(cfg.sizes[1:])
    outs[-1] *= cfg.heads
    return tuple(
        jnp.asarray(rng.uniform(-1.0, 1.0, (n_in, n_out)) / np.sqrt(n_in), jnp.float32)
        for n_in, n_out in zip(cfg.sizes[:-1], outs, strict=True)
    )


def _select_head(cfg: SpikingMLP, logits: Array, head: Array | int) -> Array:
    if cfg.heads == 1:
        return logits
    return jax.lax.dynamic_slice_in_dim(logits, head * cfg.classes, cfg.classes, axis=1)


def _forward_values(cfg: SpikingMLP, params, x):
    """Spike-driven forward: sums ``R_l``, rates ``a_l``, gates ``m_l`` and all-head logits."""
    steps, amp = cfg.timesteps, cfg.v_th / cfg.dt
    current = x @ params[0]
    cur_seq = jnp.broadcast_to(current, (steps,) + current.shape)
    rate_in = current
    sums, acts, gates = [steps * x], [x], []
    for layer in range(cfg.n_hidden_layers):
        out = _spike_train(cur_seq, cfg.v_th, cfg.tau, cfg.dt, cfg.kappa) * amp
        gates.append(dsr_gate(rate_in, cfg.v_th, cfg.tau, cfg.dt))
        acts.append(weighted_firing_rate(out, cfg.tau, cfg.dt))
        if layer + 1 < cfg.n_hidden_layers:
            sums.append(jnp.sum(out, axis=0))
            cur_seq = jnp.einsum("tbi,io->tbo", out, params[layer + 1])
            rate_in = weighted_firing_rate(cur_seq, cfg.tau, cfg.dt)
    return sums, acts, gates, acts[-1] @ params[-1]


def forward(cfg: SpikingMLP, params, x: Array, head: Array | int = 0):
    """Logits ``[B, C]`` (of ``head``) and presynaptic activities ``(a_0, ..., a_L)``."""
    _, acts, _, logits = _forward_values(cfg, params, x)
    return _select_head(cfg, logits, head), tuple(acts)


@jax.custom_vjp
def _dense(x: Array, w: Array, x_for_w: Array) -> Array:
    """``x @ w``; backward ``dx = g w^T`` and ``dw = x_for_w^T g`` (``x_for_w``: projected ``x``)."""
    del x_for_w
    return x @ w


def _dense_fwd(x, w, x_for_w):
    return x @ w, (w, x_for_w)


def _dense_bwd(res, g):
    w, x_for_w = res
    return g @ w.T, x_for_w.T @ g, jnp.zeros_like(x_for_w)


_dense.defvjp(_dense_fwd, _dense_bwd)


def _cross_entropy(logits: Array, labels: Array) -> Array:
    logp = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.mean(jnp.take_along_axis(logp, labels[:, None], axis=-1))


def loss_and_grad(cfg: SpikingMLP, params, x: Array, labels: Array, head: Array | int = 0,
                  bases: tuple[Array | None, ...] | None = None,
                  grams: tuple[Array | None, ...] | None = None):
    """Cross-entropy loss, its DSR gradient, logits and presynaptic activities.

    ``bases[l]`` (``[K, in_l]`` or None) projects layer ``l``'s weight gradient onto the
    complement of its span (HLOP: the merged lateral rows; GPM: the SVD basis, transposed).
    ``grams[l]`` (``[in_l, in_l]``, ``B^T B``) does the same as ``x - x @ G`` (cheaper when ``K``
    is large; for the input layer written as ``T (x - x @ G)`` so that ``x @ G`` is shared with
    the Hebbian reconstruction). Returns ``(loss, grads, logits, activities)``.
    """
    sums, acts, gates, _ = _forward_values(cfg, params, x)
    sums, acts, gates = [jax.lax.stop_gradient(a) for a in (sums, acts, gates)]
    n_layers = len(params)
    bases = (None,) * n_layers if bases is None else tuple(bases)
    pre_values = sums + [acts[-1]]  # what each layer's weight gradient is formed from
    grams = (None,) * n_layers if grams is None else tuple(grams)
    pre_proj = []
    for layer, (v, b, g) in enumerate(zip(pre_values, bases, grams, strict=True)):
        if g is not None:
            v = cfg.timesteps * (x - x @ g) if layer == 0 else v - v @ g
        elif b is not None:
            v = project_out(b, v)
        pre_proj.append(v)
    readout = jnp.sum(rate_weights(cfg.timesteps, cfg.tau, cfg.dt) ** 2)

    def loss_fn(ws):
        drive = _dense(pre_values[0], ws[0], pre_proj[0])
        for layer in range(cfg.n_hidden_layers):
            last = layer + 1 == cfg.n_hidden_layers
            gain = gates[layer] / cfg.tau * (readout if last else 1.0)
            value = acts[-1] if last else sums[layer + 1]
            rate = rate_surrogate(drive, value, gain)
            drive = _dense(rate, ws[layer + 1], pre_proj[layer + 1])
        logits = _select_head(cfg, drive, head)
        return _cross_entropy(logits, labels), logits

    (loss, logits), grads = jax.value_and_grad(loss_fn, has_aux=True)(tuple(params))
    return loss, grads, logits, tuple(acts)


def reference_loss(cfg: SpikingMLP, params, x: Array, labels: Array, head: Array | int = 0):
    """The same loss through per-step layers and :func:`dsr_lif` (slow; for checking gradients)."""
    steps = cfg.timesteps
    h = jnp.broadcast_to(x, (steps,) + x.shape)
    for layer in range(cfg.n_hidden_layers):
        cur = jnp.einsum("tbi,io->tbo", h, params[layer])
        h = dsr_lif(cur, jnp.float32(cfg.v_th), cfg.tau, cfg.dt, cfg.kappa)
    out = weighted_firing_rate(jnp.einsum("tbi,io->tbo", h, params[-1]), cfg.tau, cfg.dt)
    return _cross_entropy(_select_head(cfg, out, head), labels)


@partial(jax.jit, static_argnums=0)
def predict(cfg: SpikingMLP, params, x: Array, head: Array | int = 0) -> Array:
    """Predicted class (within ``head``) for ``x [B, in]``."""
    logits, _ = forward(cfg, params, x, head)
    return jnp.argmax(logits, axis=-1)
