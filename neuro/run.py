"""One compiled time loop for simulation and training.

A model is a :class:`neuro.network.Network` (``net.step(state, x_t) -> (state, outputs)``), or
any ``(step, params)`` with a pure ``step(params, state, x_t) -> (state, outputs)``, ``outputs``
any pytree (usually a dict). Time is one ``lax.scan`` over the leading axis of ``inputs``; this
module is the only time loop of the package. A network part with a fused backend (the recurrent
projection's ``backend="fused"``, :mod:`neuro.fast_rnn`) computes the whole run here, inside this
loop's entry point, when the network has its pattern.

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

Checkpoints carry the identity of the run (:mod:`neuro.io`): the package version and digests of
the static configuration (step function, network structure, monitors, ``every``), of the
parameters, of the initial state and of the inputs. Resuming with anything different is refused
with a message naming what differs (``force_restart=True`` starts over); an unreadable file is
refused naming the file and is kept.

Inputs are checked at this boundary (outside compiled code): at least one time step; for a
Network every input must be time-major ``[T, batch..., n]`` (a batch-major ``[batch, T, n]``
array is named as such where ``T`` differs from the batch size); and, unless
``check_finite=False`` (for speed), free of NaN and infinity. The records a run would keep are
estimated first and a run that cannot fit in memory is refused before it starts
(:class:`~neuro.validation.SizeError`).

A network without external inputs (e.g. a self-sustained E/I network) runs for ``n_steps`` steps
with no input array at all: ``simulate(net, state, n_steps=10000)`` (``x`` is then ``None``).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import numpy as np
from tqdm.auto import tqdm

from neuro.fast_rnn import fused_scan
from neuro.io import digest, load_checkpoint, run_identity, save_checkpoint
from neuro.network import network_step
from neuro.validation import (
    ArgumentTypeError,
    ConfigError,
    ShapeError,
    check_finite_inputs,
    check_input_shapes,
    check_int,
    check_memory,
)

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
        raise ArgumentTypeError("monitors select keys of the step's outputs, which must then be "
                                "a dict")
    selected = {}
    for m in monitors:
        node = outputs
        for part in m.split("."):
            if not isinstance(node, dict) or part not in node:
                have = sorted(node) if isinstance(node, dict) else []
                raise ConfigError(f"monitor {m!r} is not an output of the step; at {part!r} "
                                  f"it gives {have}")
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
        if len(args) not in (2, 3):
            raise ArgumentTypeError(f"a step function is called as (step, params, state[, "
                                    f"inputs]); got {1 + len(args)} arguments")
        step = model
    elif hasattr(model, "step") and hasattr(model, "init_state"):
        if len(args) not in (1, 2):
            raise ArgumentTypeError(f"a network is called as (net, state[, inputs]); got "
                                    f"{1 + len(args)} arguments")
        step, args = network_step, (model, *args)
    else:
        raise ArgumentTypeError(f"expected a Network or a step function; got "
                                f"{type(model).__name__}")
    if len(args) == 2:
        args = (*args, None)
    return step, args


def num_steps(inputs: Any, n_steps: int | None = None) -> int:
    """The common length of the leading (time) axis of every array in ``inputs``, or
    ``n_steps`` when there are no inputs (``inputs=None``); both given must agree."""
    if inputs is None:
        if isinstance(n_steps, bool) or not isinstance(n_steps, int | np.integer) or n_steps < 1:
            raise ConfigError(f"without inputs, n_steps must be a positive int; got {n_steps!r}")
        return int(n_steps)
    leaves = jax.tree_util.tree_leaves(inputs)
    if not leaves:
        raise ConfigError("inputs must hold at least one array with a leading time axis")
    lengths = {np.shape(x)[0] if np.ndim(x) else None for x in leaves}
    if None in lengths:
        raise ShapeError("inputs must be time-major arrays [T, ...]; got a scalar")
    if len(lengths) != 1:
        raise ShapeError(f"all inputs need the same leading time axis; got lengths {lengths}")
    n = lengths.pop()
    if n == 0:
        raise ConfigError("inputs have 0 time steps (leading axis T = 0); a run needs T >= 1")
    if n_steps is not None and n_steps != n:
        raise ConfigError(f"n_steps={n_steps!r} differs from the inputs' time axis {n}")
    return n


def check_inputs(step: Step, params: Any, state: Any, inputs: Any, *,
                 check_finite: bool = True, n_steps: int | None = None) -> int:
    """The checks of the module docstring; returns the number of steps ``T``."""
    n = num_steps(inputs, n_steps)
    if inputs is None:
        return n
    if step is network_step and params.inputs:
        batch = _batch_shape(params, state)
        if batch is not None:
            check_input_shapes(params.input_sizes, batch, params._inputs(inputs), time_axis=True)
    if check_finite:
        check_finite_inputs("inputs", inputs)
    return n


def _batch_shape(net: Any, state: Any) -> tuple[int, ...] | None:
    """The leading (batch) axes of a network state (from any population's last spikes)."""
    z = getattr(state, "z", None)
    if not isinstance(z, dict) or not z:
        return None
    name, value = next(iter(z.items()))
    return tuple(np.shape(value)[:-1])


def scan_steps(
    model: Step | Any,
    *args: Any,
    monitors: Sequence[str] | Callable | None = None,
    every: int = 1,
    remat_chunk: int | None = None,
    check_finite: bool = True,
    n_steps: int | None = None,
) -> tuple[Any, Any]:
    """Run a network over the leading (time) axis of ``inputs``; return ``(state, records)``.

    Called as ``scan_steps(net, state, inputs)`` for a :class:`~neuro.network.Network`, or
    ``scan_steps(step, params, state, inputs)`` for any pure ``step(params, state, x)``;
    ``scan_steps(net, state, n_steps=T)`` runs ``T`` steps without inputs.
    ``records`` stacks the selected outputs of every ``every``-th step (the last of each block).
    Inputs are checked as in the module docstring (the finiteness check only sees concrete
    arrays: inside ``jit``/``grad`` it is skipped).
    """
    step, (params, state, inputs) = _as_step(model, args)
    n = check_inputs(step, params, state, inputs, check_finite=check_finite, n_steps=n_steps)
    return _scan(step, params, state, inputs, monitors=_monitors(monitors), every=every,
                 remat_chunk=remat_chunk, length=n)


def _scan(step, params, state, inputs, *, monitors=None, every=1, remat_chunk=None, length=None):
    n = num_steps(inputs, length)
    if isinstance(every, bool) or not isinstance(every, int) or every < 1 or n % every:
        raise ConfigError(f"every must be a positive divisor of the number of steps {n}; got "
                          f"{every!r}")
    if step is network_step and every == 1 and inputs is not None:  # a fused backend
        fused = fused_scan(params, state, inputs, monitors, remat_chunk)
        if fused is not None:
            return fused[0], _select(fused[1], monitors)

    def one(carry, x):
        new, out = step(params, carry, x)
        return _like(new, carry), _select(out, monitors)

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
        raise ConfigError(
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
    force_restart: bool = False,
    progress: bool = False,
    check_finite: bool = True,
    n_steps: int | None = None,
) -> SimulationResult:
    """Compiled simulation over ``inputs`` (time-major pytree); see module docstring.

    Called as ``simulate(net, state, inputs)`` for a :class:`~neuro.network.Network`, or
    ``simulate(step, params, state, inputs)``; ``simulate(net, state, n_steps=T)`` runs ``T``
    steps of a network without inputs. ``chunk`` splits the run into pieces of that many
    steps (a multiple of ``every``); each piece is one call of the same compiled scan when
    ``chunk`` divides the number of steps. ``checkpoint=PATH`` saves after every chunk and
    resumes a run with the same identity; ``force_restart=True`` ignores an existing file.
    ``check_finite=False`` skips the NaN/inf check of the inputs (one pass over them).
    """
    step, (params, state, inputs) = _as_step(model, args)
    monitors = _monitors(monitors)
    n = check_inputs(step, params, state, inputs, check_finite=check_finite, n_steps=n_steps)
    every = check_int("every", every, low=1)
    if n % every:
        raise ConfigError(f"every must divide the number of steps {n}; got {every}")
    chunk = n if chunk is None else check_int("chunk", chunk, low=1)
    if chunk % every:
        raise ConfigError(f"chunk must be a positive multiple of every={every}; got {chunk}")
    layout = _record_shape(step, params, state, inputs, monitors, n // every)
    record_bytes = sum(r.size * r.dtype.itemsize for r in jax.tree_util.tree_leaves(layout))
    # the records are held once as pieces and once joined (twice more with a checkpoint)
    check_memory(f"recording {n // every} steps of {_describe(monitors)}",
                 record_bytes * (4 if checkpoint is not None else 2),
                 hint="record fewer outputs (monitors=), fewer steps (every=) or shorter runs")

    done, pieces, identity = 0, [], None
    if checkpoint is not None:
        identity = run_identity(
            config=(_config_text(step, params, monitors, every), n),
            params=params, initial_state=state, inputs=inputs)
        like = (state, _zeros(layout))
        found = load_checkpoint(checkpoint, like, identity=identity, force_restart=force_restart)
        if found is not None:
            (state, saved), meta = found
            done = int(meta["steps_done"])
            if not 0 <= done <= n or done % every:
                raise ConfigError(f"checkpoint {checkpoint} records {done} steps done, which does "
                                  f"not fit a run of {n} steps with every={every}")
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
            save_checkpoint(checkpoint, (state, _pad_records(joined, n // every)),
                            identity=identity, steps_done=done, num_records=done // every)
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


def _like(new: Any, old: Any) -> Any:
    """The new carry with the dtypes of the old one: the state's dtype (``init_state(dtype=)``)
    decides, so a step that promotes (a float64 parameter with a float32 state under
    ``JAX_ENABLE_X64``, say) does not break ``lax.scan``'s fixed carry type."""
    def cast(a, b):
        if hasattr(a, "dtype") and hasattr(b, "dtype") and a.dtype != b.dtype:
            return a.astype(b.dtype)
        return a

    return jax.tree_util.tree_map(cast, new, old)


def _describe(monitors: Any) -> str:
    if monitors is None:
        return "every output"
    if callable(monitors):
        return f"the outputs selected by {getattr(monitors, '__name__', 'a callable')}"
    return ", ".join(monitors)


def _config_text(step, params, monitors, every) -> str:
    """The static configuration of a run as text: what triggers compilation."""
    name = f"{getattr(step, '__module__', '')}.{getattr(step, '__qualname__', repr(step))}"
    mon = monitors if not callable(monitors) else \
        f"{getattr(monitors, '__module__', '')}.{getattr(monitors, '__qualname__', '')}"
    return f"{name}|{digest(jax.tree_util.tree_structure(params))}|{mon}|{every}"


def _zeros(layout: Any) -> Any:
    return jax.tree_util.tree_map(lambda s: np.zeros(s.shape, s.dtype), layout)


def _concat(pieces: list) -> Any:
    return jax.tree_util.tree_map(lambda *xs: np.concatenate(xs, axis=0), *pieces)


def _record_shape(step, params, state, inputs, monitors, length: int) -> Any:
    """Shapes and dtypes (``jax.ShapeDtypeStruct``) of the full record of a run (the
    checkpoint layout); nothing is allocated."""
    x0 = None if inputs is None else jax.tree_util.tree_map(
        lambda x: jax.ShapeDtypeStruct(x.shape[1:], x.dtype), inputs)
    out = _one_record.eval_shape(step, monitors, params, state, x0)
    return jax.tree_util.tree_map(
        lambda o: jax.ShapeDtypeStruct((length, *o.shape), o.dtype), out)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _one_record(step, monitors, params, state, x):
    """The record of one step (only its shape is used; traced once per configuration)."""
    return _select(step(params, state, x)[1], monitors)


def _pad_records(records: Any, length: int) -> Any:
    def pad(r):
        full = np.zeros((length, *r.shape[1:]), r.dtype)
        full[: r.shape[0]] = r
        return full

    return jax.tree_util.tree_map(pad, records)
