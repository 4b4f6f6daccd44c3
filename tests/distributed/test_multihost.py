"""Two processes on localhost (gloo CPU collectives, coordinator on 127.0.0.1): the partitioned
COBA run over the devices of both equals the single-process run, and so do data-parallel
training losses."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_match_one():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2",
               JAX_PLATFORMS="cpu")
    env.pop("PYTHONPATH", None)  # the installed package (the checkout's neuro/ lacks models)
    port = str(_free_port())
    procs = [subprocess.Popen([sys.executable, str(HERE / "multihost_child.py"), port, str(i),
                               "2000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env) for i in (0, 1)]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-4000:]
    result = json.loads(outs[0][0].strip().splitlines()[-1])
    assert result["processes"] == 2 and result["devices"] == 4 and result["local_devices"] == 2
    assert result["spikes"] > 100
    assert result["identical"] and result["v_equal"]
    np.testing.assert_allclose(result["train_losses"], result["train_ref"], rtol=1e-6, atol=0)
