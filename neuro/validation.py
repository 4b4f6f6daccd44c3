"""Input checks run once, at construction time, outside compiled code, and the package's errors.

Every error names the parameter and says what was expected, so a user sees at once which argument
to fix. Checks are skipped for traced values (inside ``jit``/``grad``), where the value is unknown.

Documented errors
-----------------
Everything the package raises on bad input derives from :class:`NeuroError`, and also from the
built-in class a caller would catch without knowing ``neuro`` (so ``except ValueError`` keeps
working):

========================= ====================== ==============================================
class                     also a                 raised for
========================= ====================== ==============================================
:class:`ConfigError`      ``ValueError``         a parameter or argument with a bad value
:class:`NonFiniteError`   ``ConfigError``        NaN or infinity where finite values are needed
:class:`ShapeError`       ``ValueError``         an array with the wrong shape (names the axes)
:class:`ArgumentTypeError` ``TypeError``         an argument of the wrong type
:class:`SizeError`        ``ValueError``         a request too large to allocate (with estimate)
:class:`CheckpointError`  ``ValueError``         a checkpoint that cannot be read (file kept)
:class:`CheckpointMismatch` ``CheckpointError``  a checkpoint of a different run
========================= ====================== ==============================================

The command line turns any :class:`NeuroError` into a one-line message and exit code 2.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import numpy as np


class NeuroError(Exception):
    """Base of every documented error of the package (see the module docstring)."""


class ConfigError(NeuroError, ValueError):
    """A parameter or argument has a value outside what is accepted."""


class NonFiniteError(ConfigError):
    """NaN or infinity where finite values are required."""


class ShapeError(NeuroError, ValueError):
    """An array has the wrong shape; the message names the expected axes."""


class ArgumentTypeError(NeuroError, TypeError):
    """An argument has the wrong type."""


class SizeError(NeuroError, ValueError):
    """A request would allocate more memory than is available; the message gives the estimate."""


class CheckpointError(NeuroError, ValueError):
    """A checkpoint file cannot be read (empty, truncated, corrupt, not a checkpoint). Nothing is
    loaded and the file is left in place."""


class CheckpointMismatch(CheckpointError):
    """A checkpoint belongs to another run (configuration, parameters, inputs, data or version
    differ); the message lists what differs."""


def _concrete(value: Any, name: str = "value") -> np.ndarray | None:
    if isinstance(value, jax.core.Tracer):
        return None
    if value is None or isinstance(value, str | bytes):
        raise ArgumentTypeError(f"{name} must be a number or an array of numbers; got {value!r}")
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ArgumentTypeError(f"{name} must be a number or an array of numbers; got "
                                f"{type(value).__name__}") from exc


def as_float_array(name: str, value: Any, dtype: Any = None, *, finite: bool = True) -> jax.Array:
    """``value`` as a JAX float array (default float dtype: float32, float64 under x64);
    :class:`ArgumentTypeError` for non-numbers, :class:`NonFiniteError` for NaN/inf."""
    import jax.numpy as jnp

    if finite:
        check_finite(name, value)
    else:
        _concrete(value, name)
    return jnp.asarray(value, dtype=dtype or float)


def check_finite(name: str, value: Any) -> None:
    """Raise :class:`NonFiniteError` if ``value`` holds NaN or infinity."""
    arr = _concrete(value, name)
    if arr is not None and not np.all(np.isfinite(arr)):
        raise NonFiniteError(f"{name} must be finite; it contains NaN or infinity")


def check_positive(name: str, value: Any, *, allow_zero: bool = False) -> None:
    """Raise :class:`ConfigError` unless every element of ``value`` is > 0 (>= 0 with
    ``allow_zero``)."""
    check_finite(name, value)
    arr = _concrete(value, name)
    if arr is None:
        return
    bad = arr < 0 if allow_zero else arr <= 0
    if np.any(bad):
        want = "non-negative" if allow_zero else "positive"
        raise ConfigError(f"{name} must be {want}; got min {arr.min():g}")


def check_in_range(name: str, value: Any, low: float, high: float) -> None:
    """Raise :class:`ConfigError` unless every element lies in the closed interval [low, high]."""
    check_finite(name, value)
    arr = _concrete(value, name)
    if arr is not None and (np.any(arr < low) or np.any(arr > high)):
        raise ConfigError(
            f"{name} must lie in [{low:g}, {high:g}]; got values in [{arr.min():g}, {arr.max():g}]"
        )


def check_choice(name: str, value: Any, choices: tuple[Any, ...]) -> None:
    """Raise :class:`ConfigError` unless ``value`` is one of ``choices``."""
    try:
        ok = value in choices
    except TypeError:  # unhashable or incomparable values are not among the choices
        ok = False
    if not ok:
        raise ConfigError(f"{name} must be one of {choices}; got {value!r}")


def check_int(name: str, value: Any, *, low: int | None = None) -> int:
    """``value`` as an int; :class:`ArgumentTypeError` for a non-integer (bools included),
    :class:`ConfigError` below ``low``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ArgumentTypeError(f"{name} must be an int; got {value!r}")
    if low is not None and value < low:
        raise ConfigError(f"{name} must be >= {low}; got {value}")
    return int(value)


def as_int_array(name: str, value: Any) -> np.ndarray:
    """``value`` as an int64 NumPy array; :class:`ArgumentTypeError` unless every element is an
    integer (floats with a fraction are not truncated silently)."""
    if value is None or isinstance(value, str | bytes):
        raise ArgumentTypeError(f"{name} must be integers; got {value!r}")
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise ArgumentTypeError(f"{name} must be integers; got {type(value).__name__}") from exc
    if arr.dtype.kind in "iub":
        return arr.astype(np.int64, copy=False)  # no second copy of a large edge list
    if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)) \
            and (arr.size == 0 or np.abs(arr).max() < 2**62):
        return arr.astype(np.int64)
    raise ArgumentTypeError(f"{name} must be integers; got {arr.dtype} values")


def check_scalar(name: str, value: Any) -> float:
    """``value`` as a Python float; :class:`ArgumentTypeError` unless it is one real number
    (a 0-d array included)."""
    arr = _concrete(value, name)
    if arr is None:
        raise ArgumentTypeError(f"{name} must be a concrete number (static), not a traced value")
    if arr.ndim != 0:
        raise ArgumentTypeError(f"{name} must be a single number; got shape {arr.shape}")
    return float(arr)


def check_last_dim(name: str, array: Any, expected: int) -> None:
    """Raise :class:`ShapeError` unless ``array.shape[-1] == expected``."""
    shape = np.shape(array)
    if len(shape) == 0 or shape[-1] != expected:
        raise ShapeError(f"{name} must have last dimension {expected}; got shape {tuple(shape)}")


# --- sizes ------------------------------------------------------------------------------------


def available_memory() -> int | None:
    """Bytes of host memory available to this process now (Linux ``MemAvailable``, else the
    physical memory), or ``None`` where unknown. ``NEURO_MEMORY_LIMIT`` (bytes) overrides it."""
    limit = os.environ.get("NEURO_MEMORY_LIMIT")
    if limit:
        return int(float(limit))
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def format_bytes(n: float) -> str:
    """``n`` bytes as a short human-readable string (binary units)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} PiB"  # pragma: no cover


def check_memory(what: str, nbytes: float, *, hint: str = "") -> None:
    """Raise :class:`SizeError` before allocating ``nbytes`` for ``what`` when that exceeds the
    memory available (:func:`available_memory`); ``hint`` says how to make it smaller."""
    if not np.isfinite(nbytes):
        raise SizeError(f"{what} has no finite size{'; ' + hint if hint else ''}")
    avail = available_memory()
    if avail is not None and nbytes > avail:
        raise SizeError(f"{what} needs about {format_bytes(nbytes)}, more than the "
                        f"{format_bytes(avail)} of memory available{'; ' + hint if hint else ''}")


# --- inputs of a network ----------------------------------------------------------------------


def check_input_shapes(sizes: dict[str, int], batch: tuple[int, ...], inputs: dict[str, Any], *,
                       time_axis: bool) -> None:
    """Raise :class:`ShapeError` unless every input ``name`` has shape ``[T, *batch, n]``
    (``time_axis=True``, what the loop takes) or ``[*batch, n]`` (one step), ``n = sizes[name]``.

    A batch-major array ``[*batch, T, n]`` is recognised where it can be (``T`` differs from the
    first batch size) and named as such."""
    axes = "[T, " + "".join(f"{b}, " for b in batch) + "n]" if time_axis else \
        "[" + "".join(f"{b}, " for b in batch) + "n]"
    for name, n in sizes.items():
        if name not in inputs:
            raise ConfigError(f"input {name!r} is missing; the network takes {sorted(sizes)}")
        shape = tuple(np.shape(inputs[name]))
        want = (*batch, n)
        got = shape[1:] if time_axis else shape
        if time_axis and len(shape) == 0:
            raise ShapeError(f"input {name!r} must be time-major {axes.replace('n]', f'{n}]')} "
                             f"(time, batch..., neurons); got a scalar")
        if got == want:
            continue
        layout = "time-major " if time_axis else ""
        msg = (f"input {name!r} must have shape {layout}{axes.replace('n]', f'{n}]')}"
               f"{' (time, batch..., neurons)' if time_axis else ' (batch..., neurons)'}; "
               f"got {shape}")
        if time_axis and batch and len(shape) == len(want) + 1 and shape[0] == batch[0] \
                and shape[2:] == want[1:] and shape[1] != batch[0]:
            msg += (f": it looks batch-major [batch, T, n]; pass jnp.swapaxes(x, 0, 1) "
                    f"(T = {shape[1]})")
        raise ShapeError(msg)
    extra = sorted(set(inputs) - set(sizes))
    if extra:
        raise ConfigError(f"inputs {extra} are not inputs of the network ({sorted(sizes)})")


def check_finite_inputs(name: str, tree: Any) -> None:
    """Raise :class:`NonFiniteError` naming the first leaf of ``tree`` that holds NaN or inf
    (concrete float leaves only; traced values are skipped)."""
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        if isinstance(leaf, jax.core.Tracer):
            continue
        arr = np.asarray(leaf)
        if np.issubdtype(arr.dtype, np.inexact) and not np.isfinite(arr).all():
            bad = np.argwhere(~np.isfinite(arr))[0]
            where = jax.tree_util.keystr(path) or ""
            raise NonFiniteError(
                f"{name}{where} holds NaN or infinity (first at index {tuple(int(i) for i in bad)}, "
                f"value {arr[tuple(bad)]}); NaN spreads silently and +inf makes every neuron "
                f"spike. Pass check_finite=False to skip this check")
