"""Input checks run once, at construction time, outside compiled code.

Every error names the parameter and says what was expected, so a user sees at once which argument
to fix. Checks are skipped for traced values (inside ``jit``/``grad``), where the value is unknown.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np


def _concrete(value: Any) -> np.ndarray | None:
    if isinstance(value, jax.core.Tracer):
        return None
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"expected a number or an array of numbers, got {type(value).__name__}") from exc


def check_finite(name: str, value: Any) -> None:
    """Raise ``ValueError`` if ``value`` holds NaN or infinity."""
    arr = _concrete(value)
    if arr is not None and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite; it contains NaN or infinity")


def check_positive(name: str, value: Any, *, allow_zero: bool = False) -> None:
    """Raise ``ValueError`` unless every element of ``value`` is > 0 (>= 0 with ``allow_zero``)."""
    check_finite(name, value)
    arr = _concrete(value)
    if arr is None:
        return
    bad = arr < 0 if allow_zero else arr <= 0
    if np.any(bad):
        want = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{name} must be {want}; got min {arr.min():g}")


def check_in_range(name: str, value: Any, low: float, high: float) -> None:
    """Raise ``ValueError`` unless every element lies in the closed interval [low, high]."""
    check_finite(name, value)
    arr = _concrete(value)
    if arr is not None and (np.any(arr < low) or np.any(arr > high)):
        raise ValueError(
            f"{name} must lie in [{low:g}, {high:g}]; got values in [{arr.min():g}, {arr.max():g}]"
        )


def check_choice(name: str, value: Any, choices: tuple[Any, ...]) -> None:
    """Raise ``ValueError`` unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}; got {value!r}")


def check_last_dim(name: str, array: Any, expected: int) -> None:
    """Raise ``ValueError`` unless ``array.shape[-1] == expected``."""
    shape = np.shape(array)
    if len(shape) == 0 or shape[-1] != expected:
        raise ValueError(f"{name} must have last dimension {expected}; got shape {tuple(shape)}")
