"""The examples run at small size, so they never rot."""

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_quickstart_script_runs(tmp_path):
    out = tmp_path / "raster.png"
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "quickstart.py"), "--quick", "--out", str(out)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "test accuracy" in proc.stdout and out.stat().st_size > 1000


def test_quickstart_notebook_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("NEURO_QUICK", "1")
    monkeypatch.chdir(tmp_path)
    nb = nbformat.read(EXAMPLES / "quickstart.ipynb", as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3").execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert any(o.get("output_type") == "display_data" or "image/png" in o.get("data", {})
               for o in outputs)


# pipeline.py runs the same stages as examples/pipeline.ipynb and `neuro pipeline` (both run by
# the default suite), so its own run is among the slow checks
@pytest.mark.parametrize("script", [
    pytest.param(name, marks=pytest.mark.slow) if name == "pipeline.py" else name
    for name in sorted(p.name for p in EXAMPLES.glob("*.py") if p.name != "quickstart.py")])
def test_other_examples_run_quick(script, tmp_path):
    env = dict(os.environ, NEURO_QUICK="1", MPLBACKEND="Agg")
    proc = subprocess.run([sys.executable, str(EXAMPLES / script), "--quick"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
