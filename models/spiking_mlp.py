"""Spiking MLP of HLOP as a Network: DSR LIF populations, dense projections, a leaky readout.

Architecture (hlop.md §4; pkuxmq/HLOP-SNN ``models/spiking_mlp_hlop.py``): ``sizes = (784, 800,
800, 10)``; the (normalised) image ``x`` is a constant input current for ``T = 20`` steps; hidden
layer ``l`` is a population ``"h{l}"`` of DSR LIF neurons (:mod:`neuro.neurons.dsr`, output
``z V_th/dt``) driven through the dense projection ``"l{l}"`` (``I^l_t = out^{l-1}_t W_l``,
``out^0 = x``); the readout ``"out"`` is the weighted firing rate of the classifier current,
``logits = wfr(out^L) W_out``. No biases; weights ``[pre, post]``, init ``U(-1/sqrt(pre),
1/sqrt(pre))`` (PyTorch's ``nn.Linear`` default, as in the reference).

Timing in the Network: a population's spikes reach the next one a step later, so the network runs
``T + L - 1`` steps; layer ``l``'s reference steps ``1..T`` are network steps ``l..l+T-1`` (layer
``l`` receives nothing before, so its state is the reference's ``u_0 = 0``). The readout is
:func:`neuro.readouts.leaky` with ``kappa = exp(-dt/tau)`` and no input scaling, so its value
after the last step is ``sum_t kappa^{T-t} out^L_t W_out``; dividing by ``sum_t kappa^{T-t}``
gives the logits exactly (``tests/models/test_spiking_mlp.py`` checks the Network forward
against the layer-by-layer reference).

Multi-head (``heads > 1``): the readout has ``heads * classes`` outputs and head ``h`` uses
columns ``[h C, (h+1) C)``; :func:`loss` takes global labels ``h C + y`` and scores each sample
within its own head (task-incremental learning with one compiled step for all tasks).

Gradient (:func:`loss`, the fast exact backend). The DSR backward is the same at every step, so
for linear layers it is exact in the rate domain (``B`` rows instead of ``T B``): with ``R_l =
sum_t out^l_t``, ``q_L = wfr(out^L)``, gates ``m_l = [0 < wfr(I^l) < V_th tau/dt]`` and ``c =
sum_t wbar_t^2`` (the normalised readout weights)::

    dL/dW_out = q_L^T dlogits
    g_L  = m_L * c / tau * (dlogits W_out^T)          dL/dW_L = R_{L-1}^T g_L
    g_l  = m_l / tau * (g_{l+1} W_{l+1}^T)              dL/dW_l = R_{l-1}^T g_l      (R_0 = T x)

(and the threshold gradient of :func:`neuro.neurons.dsr.dsr_lif` when ``train_threshold``). The
forward values come from one run of the Network (:func:`neuro.run.scan_steps`); the rate chain
reads the same weights, so the Trainer differentiates the Network. :func:`reference_loss` is the
per-step back-propagation through :func:`~neuro.neurons.dsr.dsr_lif` (slow, for checking);
``benchmarks/continual_pmnist.py --backends`` measures both.

Presynaptic activities (Hebbian learning, GPM), by projection name: ``"l1": x``, ``"l{l+1}":
wfr(out^l)``, ``"out": wfr(out^L)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from neuro import network as nw
from neuro.neurons.dsr import dsr_gate, dsr_lif, dsr_neuron, rate_surrogate, rate_weights
from neuro.projections import dense
from neuro.readouts import leaky
from neuro.run import scan_steps
from neuro.validation import check_positive

Array = jax.Array


def spiking_mlp(sizes: Sequence[int] = (784, 800, 800, 10), *, seed: int | Sequence[int] = 0,
                v_th: float = 0.3, tau: float = 1.0, dt: float = 0.05, kappa: float = 0.3,
                heads: int = 1) -> nw.Network:
    """The spiking MLP as a :class:`~neuro.network.Network` (module docstring).

    ``sizes``: input, hidden..., classes per head. ``seed``: NumPy seed of the weights. The
    number of steps ``T`` is the caller's (:func:`loss`, :func:`forward`: ``timesteps``).
    """
    sizes = tuple(int(s) for s in sizes)
    if len(sizes) < 3 or min(sizes) < 1:
        raise ValueError(f"sizes needs input, >= 1 hidden and output sizes, all >= 1; got {sizes}")
    if isinstance(heads, bool) or not isinstance(heads, int) or heads < 1:
        raise ValueError(f"heads must be a positive int; got {heads!r}")
    for name, value in (("v_th", v_th), ("tau", tau), ("dt", dt), ("kappa", kappa)):
        check_positive(name, value)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    draw = lambda n_in, n_out: (rng.uniform(-1.0, 1.0, (n_in, n_out)) / np.sqrt(n_in)
                                ).astype(np.float32)
    n_hidden = len(sizes) - 2
    neuron = dsr_neuron(v_th, tau, dt=dt, kappa=kappa, output="amplitude")
    pops, projs = {}, {}
    for layer in range(1, n_hidden + 1):
        pops[f"h{layer}"] = nw.population(neuron, sizes[layer])
        source = "x" if layer == 1 else f"h{layer - 1}"
        projs[f"l{layer}"] = dense(source, f"h{layer}", draw(sizes[layer - 1], sizes[layer]))
    out = leaky(f"h{n_hidden}", w=draw(sizes[-2], sizes[-1] * heads), tau=tau, dt=dt,
                scale_input=False)
    return nw.network(pops, projs, readouts={"out": out}, inputs={"x": sizes[0]})


def hidden_names(net: nw.Network) -> list[str]:
    return [f"h{i}" for i in range(1, len(net.populations) + 1)]


def presynaptic_names(net: nw.Network) -> list[str]:
    """Names of the plastic projections in layer order: ``l1..lL`` and the readout ``out``."""
    return [f"l{i}" for i in range(1, len(net.populations) + 1)] + ["out"]


def presynaptic_sizes(net: nw.Network) -> list[int]:
    """Input size of every layer (the dimension of each HLOP module)."""
    return [net.projections[n].n_pre for n in presynaptic_names(net)[:-1]] + \
        [net.readouts["out"].n_in]


def _run(net: nw.Network, x: Array, steps: int):
    """One Network run over ``T + L - 1`` steps; each hidden layer's output over its T steps."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"timesteps must be a positive int; got {steps!r}")
    n_hidden = len(net.populations)
    xs = jnp.broadcast_to(x, (steps + n_hidden - 1, *x.shape))
    _, rec = scan_steps(net, net.init_state(x.shape[:-1], x.dtype), xs, monitors=("spikes",))
    return [rec["spikes"][f"h{i}"][i - 1: i - 1 + steps] for i in range(1, n_hidden + 1)]


def _values(net: nw.Network, x: Array, steps: int):
    """Spike-derived sums ``R_l``, rates ``a_l``, input rates ``wfr(I^l)``."""
    w = rate_weights(steps, net.populations["h1"].neuron.tau, net.populations["h1"].neuron.dt)
    outs = _run(net, x, steps)
    sums = [steps * x] + [jnp.sum(o, axis=0) for o in outs[:-1]]
    acts = [x] + [jnp.tensordot(w, o, axes=1) for o in outs]
    rates_in = [acts[i] @ net.projections[f"l{i + 1}"].w for i in range(len(outs))]
    return sums, acts, rates_in


def forward(net: nw.Network, x: Array, *, timesteps: int = 20
            ) -> tuple[Array, dict[str, Array]]:
    """Logits of every head ``[B, heads C]`` and the presynaptic activity by projection name."""
    _, acts, _ = _values(net, x, timesteps)
    logits = acts[-1] @ net.readouts["out"].w
    return logits, dict(zip(presynaptic_names(net), acts, strict=True))


def _head_logits(logits: Array, labels: Array, classes: int | None
                 ) -> tuple[Array, Array]:
    """Each sample's logits within its own head (labels are global ``h C + y``)."""
    n_cls = logits.shape[-1] if classes is None else int(classes)
    n_heads = logits.shape[-1] // n_cls
    if n_heads == 1:
        return logits, labels
    head = labels // n_cls
    grouped = logits.reshape(*logits.shape[:-1], n_heads, n_cls)
    picked = jnp.take_along_axis(grouped, head[:, None, None], axis=1)[:, 0]
    return picked, labels % n_cls


def predict(net: nw.Network, x: Array, head: Array | int = 0, *, timesteps: int = 20,
            classes: int | None = None) -> Array:
    """Predicted class within ``head`` (``classes`` outputs per head) for ``x [B, in]``."""
    logits, _ = forward(net, x, timesteps=timesteps)
    n_cls = logits.shape[-1] if classes is None else int(classes)
    logits = jax.lax.dynamic_slice_in_dim(logits, head * n_cls, n_cls, axis=-1)
    return jnp.argmax(logits, axis=-1)


def _cross_entropy(logits: Array, labels: Array) -> Array:
    logp = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.mean(jnp.take_along_axis(logp, labels[:, None], axis=-1))


def loss(net: nw.Network, batch: tuple[Array, Array], key: Array | None = None, *,
         timesteps: int = 20, classes: int | None = None, train_threshold: bool = False
         ) -> tuple[Array, dict]:
    """Cross-entropy with the exact rate-domain DSR gradient (module docstring), for
    :class:`neuro.train.Trainer` (bind the keywords with ``functools.partial``): ``batch = (x
    [B, in], labels [B])``; with several heads of ``classes`` outputs the labels are global
    (``head * classes + y``). Metrics: ``accuracy`` and ``presynaptic`` (by projection name, for
    :func:`neuro.optim.hlop`). ``train_threshold``: the DSR threshold gradient reaches the
    hidden populations' ``v_th`` (the reference trains it on task 0)."""
    del key
    x, labels = batch
    steps = timesteps
    sums, acts, rates_in = jax.lax.stop_gradient(_values(net, x, steps))
    names = hidden_names(net)
    n_hidden = len(names)
    readout_c = jnp.sum(rate_weights(steps, net.populations[names[0]].neuron.tau,
                                     net.populations[names[0]].neuron.dt) ** 2)
    drive = sums[0] @ net.projections["l1"].w
    for layer, name in enumerate(names):
        neuron = net.populations[name].neuron
        last = layer + 1 == n_hidden
        factor = readout_c if last else 1.0
        v_th = neuron.v_th if train_threshold else jax.lax.stop_gradient(neuron.v_th)
        gain = dsr_gate(rates_in[layer], neuron.v_th, neuron.tau, neuron.dt) / neuron.tau * factor
        upper = neuron.v_th * neuron.tau / neuron.dt
        vth_gain = jnp.where(rates_in[layer] > upper, neuron.dt * steps * factor, 0.0)
        value = acts[-1] if last else sums[layer + 1]
        rate = rate_surrogate(drive, value, jax.lax.stop_gradient(gain), v_th,
                              jax.lax.stop_gradient(vth_gain))
        w = net.readouts["out"].w if last else net.projections[f"l{layer + 2}"].w
        drive = rate @ w
    logits, local = _head_logits(drive, labels, classes)
    ce = _cross_entropy(logits, local)
    acc = jnp.mean(jnp.argmax(logits, -1) == local)
    return ce, {"accuracy": acc,
                "presynaptic": dict(zip(presynaptic_names(net), acts, strict=True))}


def reference_loss(net: nw.Network, x: Array, labels: Array, *, timesteps: int = 20,
                   classes: int | None = None) -> Array:
    """The same loss through per-step layers and :func:`dsr_lif` (slow; for checking)."""
    steps = timesteps
    h = jnp.broadcast_to(x, (steps,) + x.shape)
    for layer, name in enumerate(hidden_names(net)):
        neuron = net.populations[name].neuron
        cur = jnp.einsum("tbi,io->tbo", h, net.projections[f"l{layer + 1}"].w)
        h = dsr_lif(cur, neuron.v_th, neuron.tau, neuron.dt, neuron.kappa)
    w = rate_weights(steps, neuron.tau, neuron.dt)
    out = jnp.tensordot(w, jnp.einsum("tbi,io->tbo", h, net.readouts["out"].w), axes=1)
    logits, local = _head_logits(out, labels, classes)
    return _cross_entropy(logits, local)


def threshold_mask(net: nw.Network, train_threshold: bool = False) -> Any:
    """Trainable mask (for :func:`neuro.train.masked`): weights train; the readout bias never
    (the reference has none); the DSR thresholds only when ``train_threshold``."""
    from neuro._pytree import is_inexact_array

    def leaf(path, x):
        if not is_inexact_array(x):
            return None
        names = [getattr(p, "name", getattr(p, "key", None)) for p in path]
        if names[-1] == "v_th":
            return bool(train_threshold)
        return names[-1] == "w"

    return jax.tree_util.tree_map_with_path(leaf, net)
