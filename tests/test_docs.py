"""The API reference builds from the docstrings with warnings as errors (``mkdocs build --strict``)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_api_reference_builds_strict(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings_handlers.python")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
                           str(tmp_path / "site")], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    page = tmp_path / "site" / "api" / "neuro.network" / "index.html"
    assert "NetworkState" in page.read_text()
    assert (tmp_path / "site" / "api" / "neuro.models.rsnn" / "index.html").exists()
