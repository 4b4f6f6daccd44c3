"""Hypothesis strategies: valid argument sets with zero, one or two arguments replaced by
implausible values (so that both the working and the refusing paths are exercised)."""

import numpy as np
from hypothesis import event
from hypothesis import strategies as st

floats = st.floats(allow_nan=True, allow_infinity=True, width=32)
small_floats = st.one_of(st.floats(-100, 100, width=32), st.sampled_from(
    [0.0, -1.0, 1e-30, 1e30, float("nan"), float("inf"), -float("inf")]))
sizes = st.one_of(st.integers(-3, 40), st.sampled_from([0, 10**7, 2**40]), st.booleans(),
                  st.floats(-2, 40), st.none(), st.text(max_size=2))
weird = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), floats,
                  st.text(max_size=3), st.lists(small_floats, max_size=3),
                  st.just(np.array([[1.0, 2.0]])), st.just(object()))
numbers = st.one_of(small_floats, weird,
                    st.lists(small_floats, min_size=1, max_size=4).map(np.array))


def positive(lo=0.5, hi=50.0):
    return st.one_of(st.floats(lo, hi), st.lists(st.floats(lo, hi), min_size=3, max_size=3)
                     .map(np.array))


def arguments(data, valid: dict, bad: dict) -> dict:
    """Draw every argument from ``valid``, then replace 0-2 of them by draws from ``bad``
    (per-name strategies; default :data:`weird`)."""
    args = {name: data.draw(strategy, label=name) for name, strategy in valid.items()}
    broken = data.draw(st.lists(st.sampled_from(sorted(valid)), max_size=2, unique=True),
                       label="broken")
    for name in broken:
        args[name] = data.draw(bad.get(name, weird), label=f"bad {name}")
    event(f"{len(broken)} arguments broken")
    return args
