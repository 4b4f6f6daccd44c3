"""Atomic checkpoints and result files; checkpoints that know which run they belong to.

Every write goes to a temporary file in the target's folder, is flushed to disk, then renamed over
the target (``os.replace`` is atomic on POSIX): an interrupted run leaves either the old file or
the new one, never a torn one.

A checkpoint is an ``.npz`` archive of the array leaves of a pytree plus a JSON header. It is read
with ``allow_pickle=False``: loading never runs pickle, so a checkpoint cannot execute code.

Identity of a run. :func:`save_checkpoint` stores an *identity*, a flat dict of short strings,
and :func:`load_checkpoint` refuses (:class:`~neuro.validation.CheckpointMismatch`) to resume from
a file whose identity differs, naming every entry that differs. Build it with
:func:`run_identity`: the package version and digests (:func:`digest`) of whatever determines the
run (static configuration, parameters, initial state, inputs) and, for tasks, a fingerprint of
the data set (:func:`digest` of its arrays). ``force_restart=True`` ignores an existing file (the
next save overwrites it). An empty, truncated or corrupt file raises
:class:`~neuro.validation.CheckpointError` naming the file; nothing is loaded and the file is
left in place.

Typical use in a resumable loop::

    ident = run_identity(config=cfg, params=params, data=(x_train, y_train))
    found = load_checkpoint(path, like=state, identity=ident, force_restart=force)
    state, meta = found if found is not None else (state, {"done": 0})
    for t in range(meta["done"], n):
        state = work(state, t)
        save_checkpoint(path, state, identity=ident, done=t + 1)
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import Any

import jax
import numpy as np

from neuro.validation import CheckpointError, CheckpointMismatch, ShapeError

FORMAT = 1  # version of the checkpoint layout (header keys, leaf naming)


_PARTIAL: set[str] = set()  # temporary files being written now (see remove_partial_writes)


def remove_partial_writes() -> None:
    """Delete the temporary files of writes in progress (before leaving with ``os._exit`` on
    Ctrl-C; the targets themselves are untouched)."""
    for tmp in list(_PARTIAL):
        try:
            os.unlink(tmp)
        except OSError:
            pass


def _atomic_write(path: str | os.PathLike, write) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    _PARTIAL.add(tmp)
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
    finally:
        _PARTIAL.discard(tmp)
    return path


# --- identity ---------------------------------------------------------------------------------

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _canonical(obj: Any) -> str:
    """A text that is the same in every process for equal configurations (object addresses
    removed, functions by qualified name)."""
    if callable(obj) and hasattr(obj, "__qualname__"):
        return f"{getattr(obj, '__module__', '')}.{obj.__qualname__}"
    return _ADDRESS.sub("", repr(obj))


def digest(tree: Any) -> str:
    """A 16-hex-digit BLAKE2 digest of a pytree: its structure with the static configuration
    (treedef) and every leaf's dtype, shape and bytes. Equal for equal runs in any process."""
    h = hashlib.blake2b(digest_size=8)
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    h.update(_canonical(treedef).encode())
    for leaf in leaves:
        if isinstance(leaf, jax.Array | np.ndarray | np.generic | int | float | complex | bool):
            arr = np.ascontiguousarray(np.asarray(leaf))
            h.update(f"{arr.dtype.str}{arr.shape}".encode())
            h.update(arr.tobytes())
        else:  # strings, callables, other objects: by their canonical text
            h.update(_canonical(leaf).encode())
    return h.hexdigest()


def run_identity(**parts: Any) -> dict[str, str]:
    """The identity of a run: ``{"neuro": version, name: digest(part), ...}``. Strings are kept
    as they are (e.g. a task's name), everything else is digested (:func:`digest`)."""
    from neuro import __version__

    ident = {"neuro": __version__}
    for name, part in parts.items():
        ident[name] = part if isinstance(part, str) else digest(part)
    return ident


def identity_differences(saved: dict, wanted: dict) -> list[str]:
    """Human-readable list of the entries in which two identities differ."""
    out = []
    for key in sorted(set(saved) | set(wanted)):
        a, b = saved.get(key), wanted.get(key)
        if a != b:
            if key == "neuro":
                out.append(f"package version (checkpoint {a}, now {b})")
            else:
                out.append(f"{key} (checkpoint {a}, now {b})")
    return out


# --- reading and writing -----------------------------------------------------------------------


def save_pytree(path: str | os.PathLike, tree: Any, **meta: Any) -> Path:
    """Atomically save the array leaves of ``tree`` plus JSON-able ``meta`` to an ``.npz`` file."""
    leaves = jax.tree_util.tree_leaves(tree)
    arrays = {f"leaf_{i}": np.asarray(x) for i, x in enumerate(leaves)}
    for i, a in enumerate(arrays.values()):
        if a.dtype == object:
            raise CheckpointError(f"leaf {i} of the tree is not a numeric array ({type(leaves[i])})")
    header = json.dumps(meta, default=_json_default, allow_nan=False)
    arrays["__meta__"] = np.frombuffer(header.encode(), dtype=np.uint8)
    return _atomic_write(path, lambda fh: np.savez(fh, **arrays))


def _read(path: str | os.PathLike) -> tuple[dict, list[np.ndarray]]:
    """Header and leaves of a checkpoint file, fully read and checked (CRC) before returning."""
    hint = ("; the file was left in place: delete it, or pass force_restart=True (CLI "
            "--force-restart) to start over")
    if os.path.getsize(path) == 0:
        raise CheckpointError(f"checkpoint {path} is empty{hint}")
    try:
        with np.load(path, allow_pickle=False) as data:
            if "__meta__" not in data.files:
                raise CheckpointError(f"checkpoint {path} has no neuro header (not a checkpoint "
                                      f"written by neuro){hint}")
            meta = json.loads(bytes(data["__meta__"]).decode())
            n = sum(1 for k in data.files if k.startswith("leaf_"))
            leaves = [data[f"leaf_{i}"] for i in range(n)]
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, EOFError, zlib.error, KeyError, UnicodeDecodeError,
            json.JSONDecodeError, OSError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "allow_pickle" in reason or "pickle" in reason.lower():
            reason = "it holds pickled objects, which neuro never loads"
        raise CheckpointError(f"checkpoint {path} is truncated or corrupt ({reason}); nothing "
                              f"was loaded{hint}") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"checkpoint {path} has a malformed header{hint}")
    return meta, leaves


def _restore(path, meta: dict, loaded: list, like: Any) -> Any:
    leaves, treedef = jax.tree_util.tree_flatten(like)
    if len(loaded) != len(leaves):
        raise ShapeError(f"checkpoint {path} holds {len(loaded)} arrays but the expected structure "
                         f"has {len(leaves)}")
    for i, (a, b) in enumerate(zip(loaded, leaves, strict=True)):
        if np.shape(a) != np.shape(b):
            raise ShapeError(f"checkpoint {path}: leaf {i} has shape {a.shape}, expected "
                             f"{np.shape(b)}")
    return jax.tree_util.tree_unflatten(treedef, loaded)


def load_pytree(path: str | os.PathLike, like: Any) -> tuple[Any, dict]:
    """Load a file written by :func:`save_pytree` into the structure of ``like``; return
    ``(tree, meta)``. Raises :class:`~neuro.validation.CheckpointError` for an unreadable file and
    :class:`~neuro.validation.ShapeError` when the arrays do not fit ``like``."""
    meta, loaded = _read(path)
    return _restore(path, meta, loaded, like), meta


def save_checkpoint(path: str | os.PathLike, tree: Any, *, identity: dict[str, str],
                    **meta: Any) -> Path:
    """Atomically save ``tree`` with its run ``identity`` (:func:`run_identity`) and ``meta``."""
    return save_pytree(path, tree, format=FORMAT, identity=dict(identity), **meta)


def load_checkpoint(path: str | os.PathLike | None, like: Any, *, identity: dict[str, str],
                    force_restart: bool = False) -> tuple[Any, dict] | None:
    """Resume from ``path``: ``(tree, meta)``, or ``None`` when there is nothing to resume (no
    path, no file, or ``force_restart``).

    The identity is compared before any array is used, so a run with other settings is refused
    with the list of what differs (:class:`~neuro.validation.CheckpointMismatch`) rather than
    with a shape error; an unreadable file raises :class:`~neuro.validation.CheckpointError`.
    In both cases the file is left as it is.
    """
    if path is None or force_restart or not os.path.exists(path):
        return None
    meta, loaded = _read(path)
    saved = meta.get("identity")
    if not isinstance(saved, dict):
        raise CheckpointMismatch(f"checkpoint {path} has no run identity (written by an older "
                                 "neuro or another program); pass force_restart=True (CLI "
                                 "--force-restart) to start over")
    diff = identity_differences(saved, dict(identity))
    if diff:
        raise CheckpointMismatch(
            f"checkpoint {path} belongs to a different run: " + "; ".join(diff)
            + ". Resume with the same settings, or pass force_restart=True (CLI --force-restart) "
            "to start over (the file is overwritten at the next save)")
    return _restore(path, meta, loaded, like), meta


def save_json(path: str | os.PathLike, obj: Any) -> Path:
    """Atomically write ``obj`` as indented JSON (NaN and infinity written as ``null``, see
    :func:`json_safe`)."""
    text = json.dumps(json_safe(obj), indent=2, allow_nan=False).encode()
    return _atomic_write(path, lambda fh: fh.write(text))


def json_safe(obj: Any) -> Any:
    """``obj`` with arrays and NumPy scalars as Python values and every NaN or infinity replaced
    by ``None`` (JSON has no NaN: ``json.dumps`` would write the invalid token ``NaN``)."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    if isinstance(obj, jax.Array | np.ndarray | np.generic):
        return json_safe(np.asarray(obj).tolist())
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    if obj is None or isinstance(obj, str | int | float | bool):
        return obj
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"cannot write {type(obj).__name__} as JSON")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic | jax.Array) and np.ndim(obj) == 0:
        return np.asarray(obj).item()
    if isinstance(obj, np.ndarray | jax.Array):
        return np.asarray(obj).tolist()
    raise TypeError(f"cannot write {type(obj).__name__} as JSON")
