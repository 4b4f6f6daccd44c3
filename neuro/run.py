"""One compiled time loop for simulation and training.

A model is a :class:`neuro.network.Network` (``net.step(state, x_t) -> (state, outputs)``), or
any ``(step, params)`` with a pure ``step(params, state, x_t) -> (state, outputs)``, ``outputs``
any pytree (usually a dict). Time is one ``lax.scan`` over the leading axis of ``inputs``; this
module is the only time loop of the package.

* :func:`scan_steps` is the pure, differentiable loop (use it inside losses and ``grad``). It can
  record every ``every``-th output only, and trade compute for memory with ``remat_chunk``: the scan
  runs over chunks of that many steps, each wrapped in ``jax.checkpoint``, so the backward pass
  stores only chunk-boundary states and recomputes the rest (memory ~ T/chunk + chunk steps).
* :func:`simulate` compiles :func:`scan_steps` once per static configuration (the step function,
  the monitored keys, ``every``, ``remat_chunk``, and the input shapes): calling it again with new
  arrays of the same shapes does not retrace. Pass the *same* step function object each time (a
  new closure per call is a new static key, and recompiles). Long runs are split into ``chunk``
  steps with a tqdm progress bar; with ``checkpoint=PATH`` the state and the records are saved
  atomically after every chunk, and a rerun with the same path resumes after the last saved chunk.

A network without external inputs (e.g. a self-sustained E/I network) runs for ``n_steps`` steps
with no input array at all: ``simulate(net, state, n_steps=10000)`` (``x`` is then ``None``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import numpy as np
from tqdm.auto import tqdm

from neuro.io import load_pytree, save_pytree
from neuro.network import network_step

Step = Callable[[Any, Any, Any], tuple[Any, Any]]


class SimulationResult(NamedTuple):
    """Final state and the recorded outputs, time-major (leading axis = recorded steps)."""

    state: Any
    records: Any


def _select(outputs: Any, monitors: Any) -> Any:
    """The monitored part of a step's outputs: all (``None``), keys (``"spikes"``, or dotted
    paths into nested dicts such as ``"spikes.e"``), or a hashable callable ``outputs -> tree``."""
    if monitors is None:
        return outputs
    if callable(monitors):
        return monitors(outputs)
    if not isinstance(outputs, dict):
        raise TypeError("monitors select keys of the step's outputs, which must then be a dict")
    selected = {}
    for m in monitors:
        node = outputs
        for part in m.split("."):
            if not isinstance(node, dict) or part not in node:
                have = sorted(node) if isinstance(node, dict) else []
                raise KeyError(f"monitor {m!r} is not an output of the step; at {part!r} it "
                               f"gives {have}")
            node = node[part]
        selected[m] = node
    return selected


def _monitors(monitors: Any) -> Any:
    if monitors is None or callable(monitors):
        return monitors
    if isinstance(monitors, str):
        return (monitors,)
    return tuple(monitors)


def _as_step(model: Any, args: tuple) -> tuple[Step, tuple]:
    """``(net, state, inputs)`` for a Network, or ``(step, params, state, inputs)``; the inputs
    may be left out (``None``: a run of ``n_steps`` without inputs)."""
    if callable(model):
        step, args = model, args
    elif hasattr(model, "step") and hasattr(model, "init_state"):
        step, args = network_step, (model, *args)
    else:
        raise TypeError(f"expected a Network or a step function; got {type(model).__name__}")
    if len(args) == 2:
        args = (*args, None)
    if len(args) != 3:
        raise TypeError("expected (net, state[, inputs]) or (step, params, state[, inputs])")
    return step, args


def num_steps(inputs: Any, n_steps: int | None = None) -> int:
    """The common length of the leading (time) axis of every array in ``inputs``, or
    ``n_steps`` when there are no inputs (``inputs=None``); both given must agree."""
    if inputs is None:
        if isinstance(n_steps, bool) or not isinstance(n_steps, int | np.integer) or n_steps < 1:
            raise ValueError(f"without inputs, n_steps must be a positive int; got {n_steps!r}")
        return int(n_steps)
    leaves = jax.tree_util.tree_leaves(inputs)
    if not leaves:
        raise ValueError("inputs must hold at least one array with a leading time axis")
    lengths = {np.shape(x)[0] if np.ndim(x) else None for x in leaves}
    if None in lengths or len(lengths) != 1:
        raise ValueError(f"all inputs need the same leading time axis; got lengths {lengths}")
    n = lengths.pop()
    if n_steps is not None and n_steps != n:
        raise ValueError(f"n_steps={n_steps!r} differs from the inputs' time axis {n}")
    return n


def scan_steps(
    model: Step | Any,
    *args: Any,
    monitors: Sequence[str] | Callable | None = None,
    every: int = 1,
    remat_chunk: int | None = None,
    n_steps: int | None = None,
) -> tuple[Any, Any]:
    """Run a network over the leading (time) axis of ``inputs``; return ``(state, records)``.

    Called as ``scan_steps(net, state, inputs)`` for a :class:`~neuro.network.Network`, or
    ``scan_steps(step, params, state, inputs)`` for any pure ``step(params, state, x)``;
    ``scan_steps(net, state, n_steps=T)`` runs ``T`` steps without inputs.
    ``records`` stacks the selected outputs of every ``every``-th step (the last of each block).
    """
    step, (params, state, inputs) = _as_step(model, args)
    return _scan(step, params, state, inputs, monitors=_monitors(monitors), every=every,
                 remat_chunk=remat_chunk, length=num_steps(inputs, n_steps))


def _scan(step, params, state, inputs, *, monitors=None, every=1, remat_chunk=None, length=None):
    n = num_steps(inputs, length)
    if every < 1 or n % every:
        raise ValueError(f"every must be a positive divisor of the number of steps {n}; got {every}")

    def one(carry, x):
        carry, out = step(params, carry, x)
        return carry, _select(out, monitors)

    def block(carry, xs):  # `every` steps, record the last
        carry, outs = jax.lax.scan(one, carry, xs)
        return carry, jax.tree_util.tree_map(lambda o: o[-1], outs)

    def block_none(carry, _):  # `every` steps without inputs
        carry, outs = jax.lax.scan(one, carry, None, length=every)
        return carry, jax.tree_util.tree_map(lambda o: o[-1], outs)

    body = one if every == 1 else (block if inputs is not None else block_none)
    if every > 1 and inputs is not None:
        inputs = jax.tree_util.tree_map(lambda x: x.reshape(n // every, every, *x.shape[1:]), inputs)
    n = n // every
    if remat_chunk is None or remat_chunk >= n:
        return jax.lax.scan(body, state, inputs, length=n)
    if n % remat_chunk:
        raise ValueError(
            f"remat_chunk must divide the number of scanned blocks {n}; got {remat_chunk}"
        )
    chunked = jax.tree_util.tree_map(
        lambda x: x.reshape(n // remat_chunk, remat_chunk, *x.shape[1:]), inputs
    )

    @jax.checkpoint
    def chunk_body(carry, xs):
        return jax.lax.scan(body, carry, xs, length=remat_chunk)

    state, records = jax.lax.scan(chunk_body, state, chunked, length=n // remat_chunk)
    records = jax.tree_util.tree_map(lambda r: r.reshape(n, *r.shape[2:]), records)
    return state, records


_compiled_scan = jax.jit(_scan, static_argnames=("step", "monitors", "every", "remat_chunk",
                                                 "length"))


def simulate(
    model: Step | Any,
    *args: Any,
    monitors: Sequence[str] | Callable | None = None,
    every: int = 1,
    chunk: int | None = None,
    checkpoint: str | os.PathLike | None = None,
    progress: bool = False,
    n_steps: int | None = None,
) -> SimulationResult:
    """Compiled simulation over ``inputs`` (time-major pytree); see module docstring.

    Called as ``simulate(net, state, inputs)`` for a :class:`~neuro.network.Network`, or
    ``simulate(step, params, state, inputs)``; ``simulate(net, state, n_steps=T)`` runs ``T``
    steps of a network without inputs. ``chunk`` splits the run into pieces of that many
    steps (a multiple of ``every``); each piece is one call of the same compiled scan when
    ``chunk`` divides the number of steps.
    """
    step, (params, state, inputs) = _as_step(model, args)
    monitors = _monitors(monitors)
    n = num_steps(inputs, n_steps)
    chunk = n if chunk is None else int(chunk)
    if chunk < 1 or chunk % every:
        raise ValueError(f"chunk must be a positive multiple of every={every}; got {chunk}")
    if n % every:
        raise ValueError(f"every must divide the number of steps {n}; got {every}")

    done, pieces = 0, []
    if checkpoint is not None and os.path.exists(checkpoint):
        like = (state, _record_shape(step, params, state, inputs, monitors, n // every))
        (state, saved), meta = load_pytree(checkpoint, like)
        done = int(meta["steps_done"])
        if done > n:
            raise ValueError(f"checkpoint {checkpoint} has {done} steps, more than the {n} asked for")
        if meta.get("num_records"):
            pieces.append(jax.tree_util.tree_map(lambda r: r[: meta["num_records"]], saved))

    bar = tqdm(total=n, initial=done, disable=not progress, unit="step", desc="simulate")
    while done < n:
        stop = min(done + chunk, n)
        xs = jax.tree_util.tree_map(lambda x, a=done, b=stop: x[a:b], inputs)
        state, records = _compiled_scan(step, params, state, xs, monitors=monitors, every=every,
                                        length=stop - done)
        pieces.append(jax.tree_util.tree_map(np.asarray, records))
        bar.update(stop - done)
        done = stop
        if checkpoint is not None:
            joined = _concat(pieces)
            save_pytree(checkpoint, (state, _pad_records(joined, n // every)), steps_done=done,
                        num_records=done // every)
    bar.close()
    records = _concat(pieces) if pieces else None
    return SimulationResult(state, records)


def compile_simulation(
    model: Step | Any,
    *args: Any,
    monitors: Sequence[str] | Callable | None = None,
    every: int = 1,
    chunk: int | None = None,
    n_steps: int | None = None,
) -> float:
    """Compile ahead of time the loop that :func:`simulate` runs for the same arguments (its
    pieces of ``chunk`` steps and the remainder), so that a timed ``simulate`` excludes
    compilation (benchmarks: JAX's compilation cache serves the later call, which only traces);
    returns the seconds spent compiling."""
    import time

    step, (params, state, inputs) = _as_step(model, args)
    monitors = _monitors(monitors)
    n = num_steps(inputs, n_steps)
    chunk = n if chunk is None else int(chunk)
    start = time.perf_counter()
    for size in sorted({min(chunk, n), n % chunk} - {0}):
        xs = jax.tree_util.tree_map(lambda x, s=size: x[:s], inputs)
        _compiled_scan.lower(step, params, state, xs, monitors=monitors, every=every,
                             length=size).compile()
    return time.perf_counter() - start


def _concat(pieces: list) -> Any:
    return jax.tree_util.tree_map(lambda *xs: np.concatenate(xs, axis=0), *pieces)


def _record_shape(step, params, state, inputs, monitors, length: int) -> Any:
    """Zero arrays shaped like the full record of a run (the checkpoint layout)."""
    x0 = jax.tree_util.tree_map(lambda x: x[0], inputs)
    out = jax.eval_shape(lambda s: _select(step(params, s, x0)[1], monitors), state)
    return jax.tree_util.tree_map(lambda o: np.zeros((length, *o.shape), o.dtype), out)


def _pad_records(records: Any, length: int) -> Any:
    def pad(r):
        full = np.zeros((length, *r.shape[1:]), r.dtype)
        full[: r.shape[0]] = r
        return full

    return jax.tree_util.tree_map(pad, records)
