"""Every capability notebook in examples/ runs at small size (``NEURO_QUICK=1``) and is stored
without outputs (they are produced by running it, never committed)."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
NOTEBOOKS = sorted(p.name for p in EXAMPLES.glob("*.ipynb") if p.name != "quickstart.ipynb")


def test_there_is_a_notebook_per_capability():
    assert {"coba.ipynb", "astrocytes.ipynb", "continual.ipynb",
            "lyapunov_pruning.ipynb", "pipeline.ipynb"} <= set(NOTEBOOKS)


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.ipynb")))
def test_notebook_is_stored_without_outputs(name):
    nb = nbformat.read(EXAMPLES / name, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{name}: strip outputs"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_quick(name, tmp_path, monkeypatch):
    monkeypatch.setenv("NEURO_QUICK", "1")
    monkeypatch.chdir(tmp_path)
    nb = nbformat.read(EXAMPLES / name, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3").execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert any("image/png" in o.get("data", {}) for o in outputs), f"{name} shows no figure"
