"""Frozen dataclasses that are JAX pytrees.

Array fields are pytree leaves (they are traced, differentiated and vmapped); fields declared with
:func:`static_field` are hashable metadata: changing one triggers a new compilation, which is how
"static configuration" (reset mode, surrogate, sizes) is kept apart from "dynamic values"
(weights, thresholds, time constants).
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

import jax

T = TypeVar("T")


def static_field(**kwargs: Any) -> Any:
    """A dataclass field that is pytree metadata (hashable, part of the compilation key)."""
    metadata = dict(kwargs.pop("metadata", {}) or {})
    metadata["static"] = True
    return dataclasses.field(metadata=metadata, **kwargs)


def pytree_dataclass(cls: type[T]) -> type[T]:
    """Make ``cls`` a frozen dataclass registered as a pytree (leaves: non-static fields)."""
    cls = dataclasses.dataclass(frozen=True)(cls)
    fields = dataclasses.fields(cls)
    data = [f.name for f in fields if not f.metadata.get("static", False)]
    meta = [f.name for f in fields if f.metadata.get("static", False)]
    return jax.tree_util.register_dataclass(cls, data_fields=data, meta_fields=meta)


def replace(obj: T, **changes: Any) -> T:
    """Functional update of a frozen pytree dataclass."""
    return dataclasses.replace(obj, **changes)
