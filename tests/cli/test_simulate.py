import json

import numpy as np
import pytest

from neuro.cli import main


@pytest.mark.parametrize("model", ["coba", "cuba"])
def test_simulate_json_keys_and_plot(model, tmp_path, capsys):
    plot = tmp_path / "net.png"
    code = main(["simulate", model, "--neurons", "400", "--duration", "0.1", "--variant",
                 "brainpy", "--record", "400", "--json", "--plot", str(plot)])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    for key in ("mean_rate_hz", "cv_isi", "synaptic_events", "compile_seconds",
                "run_seconds_per_biological_second"):
        assert key in result
    assert result["mean_rate_hz"] > 1 and result["synaptic_events"] > 0
    # every spike delivers ~80 events (in-degree 80 means mean out-degree 80)
    spikes = result["mean_rate_hz"] * 400 * 0.1
    assert 60 < result["synaptic_events"] / spikes < 100
    assert np.isfinite(result["cv_isi"]) and result["compile_seconds"] > 0
    assert result["rate_exc_hz"] > 0 and result["rate_inh_hz"] > 0
    assert plot.stat().st_size > 1000


def test_simulate_auryn_variant(capsys):
    assert main(["simulate", "coba", "--variant", "auryn", "--neurons", "400", "--duration",
                 "0.05", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["variant"] == "auryn" and result["mean_rate_hz"] > 1
    assert main(["simulate", "cuba", "--variant", "auryn"]) == 2
    assert "auryn" in capsys.readouterr().err


def test_simulate_text_output(capsys):
    assert main(["simulate", "coba", "--neurons", "200", "--duration", "0.02"]) == 0
    out = capsys.readouterr().out
    assert "mean_rate_hz:" in out and "run_seconds_per_biological_second:" in out


@pytest.mark.parametrize(
    "argv, name",
    [
        (["--neurons", "-5"], "--neurons"),
        (["--duration", "0"], "--duration"),
        (["--dt", "7"], "dt"),
        (["--record", "5000", "--neurons", "100"], "--record"),
        (["--threads", "-1"], "--threads"),
    ],
)
def test_simulate_rejects_bad_values(argv, name, capsys):
    assert main(["simulate", "coba", *argv]) == 2
    assert name in capsys.readouterr().err
