import json

import pytest

from neuro.cli import build_parser, main


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    assert "demo" in capsys.readouterr().out


def test_demo_json_and_plot(tmp_path, capsys):
    plot = tmp_path / "demo.png"
    code = main(["demo", "--epochs", "1", "--hidden", "16", "--steps-per-row", "2", "--json",
                 "--plot", str(plot)])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert 0.0 <= result["test_accuracy"] <= 1.0
    assert result["mean_rate_hz"] > 0 and result["seconds"] > 0
    assert plot.stat().st_size > 1000


def test_demo_rejects_bad_values(capsys):
    assert main(["demo", "--hidden", "0"]) == 2
    assert "--hidden" in capsys.readouterr().err
    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["demo", "--neuron", "hh"])
