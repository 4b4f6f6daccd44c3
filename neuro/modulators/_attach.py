"""Host-side checks and look-ups shared by the modulators (run once, in ``init_state``)."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp


def population_size(net: Any, name: str, who: str) -> int:
    """The size of population ``name`` of ``net``, or a clear error naming the modulator."""
    if name not in net.populations:
        raise ValueError(f"{who}: population {name!r} is not in the network "
                         f"({sorted(net.populations)})")
    return net.populations[name].size


def projection(net: Any, name: str, who: str) -> Any:
    """Projection ``name`` of ``net``, or a clear error naming the modulator."""
    if name not in net.projections:
        raise ValueError(f"{who}: projection {name!r} is not in the network "
                         f"({sorted(net.projections)})")
    return net.projections[name]


def presynaptic(view: Any, source: str, dtype: Any) -> Any:
    """What arrives at a projection from ``source`` this step: an input ``x_t``, or the
    population's spikes of the previous step (the network's one-step minimum delay)."""
    x = view.inputs[source] if source in view.inputs else view.state.z[source]
    return jnp.asarray(x).astype(dtype)
