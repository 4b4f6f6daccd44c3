"""Run checks on several virtual CPU devices: XLA fixes the device count when JAX initialises,
so every check runs in a child process started with ``--xla_force_host_platform_device_count``."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent


def run_child(script: str, *args: str, devices: int = 8, timeout: float = 600.0,
              env: dict | None = None) -> dict:
    """Run ``tests/distributed/<script>`` with ``devices`` virtual CPU devices; return the JSON it
    prints on its last line of stdout."""
    child_env = dict(os.environ)
    # no PYTHONPATH to the checkout: the child imports the installed package, as the tests do
    # (the checkout's neuro/ lacks neuro.models and neuro.tasks, which the install maps in)
    child_env.pop("PYTHONPATH", None)
    child_env.update({"XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}",
                      "JAX_PLATFORMS": "cpu"})
    child_env.update(env or {})
    proc = subprocess.run([sys.executable, str(HERE / script), *args], capture_output=True,
                          text=True, timeout=timeout, env=child_env)
    if proc.returncode:
        raise AssertionError(f"{script} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n"
                             f"{proc.stderr[-6000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture
def child():
    return run_child
