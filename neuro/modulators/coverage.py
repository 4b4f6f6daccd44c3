"""Which astrocyte covers which neurons: contiguous blocks or a many-to-many (sparse) map.

A :class:`Coverage` of ``N`` neurons by ``G`` astrocytes (or astrocyte groups) is a non-negative
map ``A [G, N]`` (``A[a, i] > 0``: astrocyte ``a`` covers neuron ``i``, with that weight):

* ``pool(z [..., N]) -> [..., G]``: the mean of the covered neurons' values weighted by ``A``,
  ``pool(z)_a = sum_i A[a, i] z_i / sum_i A[a, i]`` (what an astrocyte senses of its domain);
* ``expand(c [..., G]) -> [..., N]``: what each neuron receives, ``sum_a A[a, i] c_a`` (summed over
  the astrocytes that cover it, as NEST sums the slow inward currents arriving at a neuron).

Blocks (:func:`blocks`, neuron ``i`` in block ``i // size``, Gordleeva et al.'s zones on a line)
pool by a reshape and expand by a repeat, with no matrix; :func:`coverage_map` takes any
``[G, N]`` map (one-to-one, overlapping zones, random sparse) and :func:`assign` a per-neuron
group index. The map is a fixed float array (structure): the trainer differentiates through it
only if a mask lets it.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from neuro._pytree import pytree_dataclass, static_field

Array = jax.Array


@pytree_dataclass
class Coverage:
    """Astrocyte -> neuron map; see the module docstring. ``A`` is None for blocks."""

    A: Array | None
    n_neurons: int = static_field()
    n_astro: int = static_field()
    block: int | None = static_field(default=None)

    def pool(self, z: Array) -> Array:
        """Weighted mean of ``z [..., N]`` over each astrocyte's domain -> ``[..., G]``."""
        if self.block is not None:
            return z.reshape(*z.shape[:-1], self.n_astro, self.block).mean(-1)
        return (z @ self.A.T) / jnp.sum(self.A, axis=1)

    def expand(self, c: Array) -> Array:
        """Per-astrocyte values ``[..., G]`` -> per-neuron sums ``[..., N]``."""
        if self.block is not None:
            return jnp.repeat(c, self.block, axis=-1)
        return c @ self.A

    def select(self, keep: np.ndarray) -> tuple[Coverage, np.ndarray]:
        """The coverage of the neurons ``keep`` (indices) and the indices of the astrocytes that
        still cover one of them (the others are dropped)."""
        A = self.matrix()[:, np.asarray(keep)]
        astro = np.flatnonzero(A.sum(1) > 0)
        return coverage_map(A[astro]), astro

    def matrix(self) -> np.ndarray:
        """The map ``A [G, N]`` as a host array (also for blocks)."""
        if self.block is None:
            return np.asarray(self.A)
        return np.kron(np.eye(self.n_astro), np.ones((1, self.block)))


def blocks(n_neurons: int, size: int) -> Coverage:
    """Contiguous blocks of ``size`` neurons, one astrocyte each; ``size`` must divide ``n``."""
    for name, v in (("n_neurons", n_neurons), ("size", size)):
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v <= 0:
            raise ValueError(f"{name} must be a positive int; got {v!r}")
    if n_neurons % size:
        raise ValueError(f"size must divide the population size; {size} does not divide "
                         f"{n_neurons}")
    return Coverage(None, int(n_neurons), int(n_neurons // size), int(size))


def coverage_map(A: Any) -> Coverage:
    """Any non-negative map ``A [G, N]`` in which every astrocyte covers at least one neuron."""
    A = np.asarray(A, dtype=float)
    if A.ndim != 2 or A.size == 0:
        raise ValueError(f"A must be a non-empty [n_astro, n_neurons] matrix; got shape {A.shape}")
    if not np.all(np.isfinite(A)) or np.any(A < 0):
        raise ValueError("A must be finite and non-negative")
    if np.any(A.sum(1) == 0):
        raise ValueError("every astrocyte must cover at least one neuron (a zero row in A)")
    return Coverage(jnp.asarray(A), int(A.shape[1]), int(A.shape[0]), None)


def assign(group_of_neuron: Any, n_astro: int | None = None) -> Coverage:
    """One astrocyte per neuron: ``group_of_neuron[i]`` (0..G-1) covers neuron ``i``."""
    idx = np.asarray(group_of_neuron)
    if idx.ndim != 1 or idx.size == 0 or not np.issubdtype(idx.dtype, np.integer):
        raise ValueError("group_of_neuron must be a non-empty 1-D integer array")
    n_astro = int(idx.max()) + 1 if n_astro is None else int(n_astro)
    if idx.min() < 0 or idx.max() >= n_astro:
        raise ValueError(f"group_of_neuron must lie in [0, {n_astro - 1}]")
    A = np.zeros((n_astro, idx.size))
    A[idx, np.arange(idx.size)] = 1.0
    return coverage_map(A)


def as_coverage(covers: Coverage | int, n_neurons: int) -> Coverage:
    """A :class:`Coverage` of ``n_neurons``: given, or blocks of ``covers`` neurons."""
    if isinstance(covers, Coverage):
        if covers.n_neurons != n_neurons:
            raise ValueError(f"the coverage maps {covers.n_neurons} neurons but the population "
                             f"has {n_neurons}")
        return covers
    return blocks(n_neurons, covers)


__all__ = ["Coverage", "as_coverage", "assign", "blocks", "coverage_map"]
