"""``neuro simulate --devices N``: the partitioned run prints the same activity as one device."""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _simulate(*flags: str) -> dict:
    # the installed package, not the checkout's neuro/ (which lacks neuro.models): no
    # PYTHONPATH, and a working directory outside the checkout for ``python -m``
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env.pop("XLA_FLAGS", None)
    env.pop("PYTHONPATH", None)
    proc = subprocess.run([sys.executable, "-m", "neuro", "simulate", "coba", "--variant",
                           "brainpy", "--neurons", "300", "--duration", "0.2", "--json", *flags],
                          capture_output=True, text=True, env=env, timeout=600,
                          cwd=tempfile.gettempdir())
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


@pytest.mark.slow
def test_devices_flag_gives_the_same_activity():
    one, four = _simulate(), _simulate("--devices", "4")
    assert one["devices"] == 1 and four["devices"] == 4
    for key in ("mean_rate_hz", "synaptic_events", "rate_exc_hz", "rate_inh_hz", "cv_isi"):
        assert four[key] == one[key], key
    assert one["synaptic_events"] > 0


def test_devices_flag_rejects_zero(capsys):
    from neuro.cli import main

    assert main(["simulate", "coba", "--devices", "0"]) == 2
    assert "--devices must be >= 1" in capsys.readouterr().err
