"""Atomic checkpoints and result files.

Every write goes to a temporary file in the target's folder, is flushed to disk, then renamed over
the target (``os.replace`` is atomic on POSIX): an interrupted run leaves either the old file or
the new one, never a torn one.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import jax
import numpy as np


def _atomic_write(path: str | os.PathLike, write) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def save_pytree(path: str | os.PathLike, tree: Any, **meta: Any) -> Path:
    """Atomically save the array leaves of ``tree`` plus JSON-able ``meta`` to an ``.npz`` file."""
    leaves = jax.tree_util.tree_leaves(tree)
    arrays = {f"leaf_{i}": np.asarray(x) for i, x in enumerate(leaves)}
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    return _atomic_write(path, lambda fh: np.savez(fh, **arrays))


def load_pytree(path: str | os.PathLike, like: Any) -> tuple[Any, dict]:
    """Load a file written by :func:`save_pytree` into the structure of ``like``; return (tree, meta)."""
    with np.load(path) as data:
        meta = json.loads(bytes(data["__meta__"]).decode())
        leaves, treedef = jax.tree_util.tree_flatten(like)
        n = sum(1 for k in data.files if k.startswith("leaf_"))
        if n != len(leaves):
            raise ValueError(
                f"checkpoint {path} holds {n} arrays but the expected structure has {len(leaves)}"
            )
        loaded = [data[f"leaf_{i}"] for i in range(n)]
    for i, (a, b) in enumerate(zip(loaded, leaves, strict=True)):
        if np.shape(a) != np.shape(b):
            raise ValueError(f"checkpoint {path}: leaf {i} has shape {a.shape}, expected {np.shape(b)}")
    return jax.tree_util.tree_unflatten(treedef, loaded), meta


def save_json(path: str | os.PathLike, obj: Any) -> Path:
    """Atomically write ``obj`` as indented JSON."""
    text = json.dumps(obj, indent=2, default=_json_default).encode()
    return _atomic_write(path, lambda fh: fh.write(text))


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.generic, jax.Array)) and np.ndim(obj) == 0:
        return np.asarray(obj).item()
    if isinstance(obj, (np.ndarray, jax.Array)):
        return np.asarray(obj).tolist()
    raise TypeError(f"cannot write {type(obj).__name__} as JSON")
