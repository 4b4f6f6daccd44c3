"""Shared by the peer benchmarks (astro_nest, stdp_song): find the peer interpreter, print results.

Peers (NEST, Brian2) live in a separate, gitignored venv: ``--peers-python``, else
``$NEURO_PEERS_PYTHON``, else ``./.venv-peers/bin/python``.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def find_peers_python(given: str | None) -> str | None:
    """The peer interpreter, or None if there is none."""
    for cand in (given, os.environ.get("NEURO_PEERS_PYTHON"),
                 str(ROOT / ".venv-peers" / "bin" / "python")):
        if cand and Path(cand).exists():
            return cand
    return None


def peer_with(module: str, given: str | None = None) -> str | None:
    """The peer interpreter if it can import ``module``, else None."""
    python = find_peers_python(given)
    if python is None:
        return None
    ok = subprocess.run([python, "-c", f"import {module}"], capture_output=True).returncode == 0
    return python if ok else None


def emit(result: dict, path: str | None) -> None:
    """Print ``result`` as JSON and write it to ``path`` if given."""
    text = json.dumps(result, indent=1)
    print(text)
    if path:
        Path(path).write_text(text)
