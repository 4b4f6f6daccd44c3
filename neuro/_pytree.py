"""Frozen dataclasses that are JAX pytrees.

Array fields are pytree leaves (they are traced, differentiated and vmapped); fields declared with
:func:`static_field` are hashable metadata: changing one triggers a new compilation, which is how
"static configuration" (reset mode, surrogate, sizes) is kept apart from "dynamic values"
(weights, thresholds, time constants).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

import jax
import jax.numpy as jnp
import numpy as np

T = TypeVar("T")


def static_field(**kwargs: Any) -> Any:
    """A dataclass field that is pytree metadata (hashable, part of the compilation key)."""
    metadata = dict(kwargs.pop("metadata", {}) or {})
    metadata["static"] = True
    return dataclasses.field(metadata=metadata, **kwargs)


def pytree_dataclass(cls: type[T]) -> type[T]:
    """Make ``cls`` a frozen dataclass registered as a pytree (leaves: non-static fields).

    Validation goes in ``__post_init__``: it runs on construction, on :func:`replace` and on
    ``dataclasses.replace`` (so a changed parameter is checked like a new one), but NOT when JAX
    rebuilds the object from its leaves (unflattening bypasses ``__init__``). That matters because
    JAX unflattens with tracers, ``None`` placeholders, gradients and optimiser updates as leaves
    (a gradient of ``tau`` may well be negative). ``__post_init__`` should still skip traced
    values (:mod:`neuro.validation` does).
    """
    cls = dataclasses.dataclass(frozen=True)(cls)
    fields = dataclasses.fields(cls)
    data = tuple(f.name for f in fields if not f.metadata.get("static", False))
    meta = tuple(f.name for f in fields if f.metadata.get("static", False))
    keys = tuple(jax.tree_util.GetAttrKey(name) for name in data)

    def flatten_with_keys(obj):
        return ([(k, getattr(obj, n)) for k, n in zip(keys, data, strict=True)],
                tuple(getattr(obj, n) for n in meta))

    def flatten(obj):
        return [getattr(obj, n) for n in data], tuple(getattr(obj, n) for n in meta)

    def unflatten(aux, children):
        obj = object.__new__(cls)
        for name, value in zip(data, children, strict=True):
            object.__setattr__(obj, name, value)
        for name, value in zip(meta, aux, strict=True):
            object.__setattr__(obj, name, value)
        return obj

    jax.tree_util.register_pytree_with_keys(cls, flatten_with_keys, unflatten, flatten)
    return cls


def replace(obj: T, **changes: Any) -> T:
    """Functional update of a frozen pytree dataclass; the result is validated like a newly
    constructed one (the class's ``__post_init__`` runs)."""
    return dataclasses.replace(obj, **changes)


def is_inexact_array(x: Any) -> bool:
    """True for float (or complex) arrays: the leaves that can be differentiated and trained."""
    return isinstance(x, jax.Array | np.ndarray) and jnp.issubdtype(x.dtype, jnp.inexact)


def partition(tree: Any, predicate: Callable[[Any], bool] = is_inexact_array) -> tuple[Any, Any]:
    """Split ``tree`` into two trees of the same structure: the leaves where ``predicate`` holds
    (others ``None``), and the rest (equinox's ``partition``)."""
    keep = jax.tree_util.tree_map(lambda x: x if predicate(x) else None, tree)
    rest = jax.tree_util.tree_map(lambda x: None if predicate(x) else x, tree)
    return keep, rest


def combine(*trees: Any) -> Any:
    """Inverse of :func:`partition`: the first non-``None`` leaf of each position."""

    def first(*xs):
        return next((x for x in xs if x is not None), None)

    return jax.tree_util.tree_map(first, *trees, is_leaf=lambda x: x is None)


def value_and_grad(fn: Callable, *, has_aux: bool = False) -> Callable:
    """``jax.value_and_grad`` with respect to the float leaves of the first argument only.

    Integer and boolean leaves (connectivity tables, masks, counters) are held fixed, so a pytree
    that mixes structure and weights can be differentiated as a whole. The gradient tree has the
    structure of the first argument with ``None`` at the non-float leaves.
    """

    def wrapped(diff, rest, *args, **kwargs):
        return fn(combine(diff, rest), *args, **kwargs)

    vg = jax.value_and_grad(wrapped, has_aux=has_aux)

    def call(tree, *args, **kwargs):
        diff, rest = partition(tree)
        return vg(diff, rest, *args, **kwargs)

    return call
