import json

import pytest

from neuro.cli import main


@pytest.mark.parametrize("benchmark,method", [
    ("pmnist", "hlop"),
    pytest.param("split-mnist", "ewc", marks=pytest.mark.slow),
    pytest.param("split-mnist", "hlop", marks=pytest.mark.slow),
    pytest.param("split-mnist-class", "gpm", marks=pytest.mark.slow),
    pytest.param("pmnist", "finetune", marks=pytest.mark.slow),
])
def test_continual_json_and_plot(tmp_path, capsys, benchmark, method):
    plot = tmp_path / "r.png"
    code = main(["continual", "--benchmark", benchmark, "--method", method, "--data", "digits",
                 "--tasks", "2", "--epochs", "1", "--hidden", "24", "24", "--timesteps", "5",
                 "--json", "--plot", str(plot)])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    for k in ("acc", "bwt", "fwt", "accuracy_matrix", "seconds"):
        assert k in out
    assert len(out["accuracy_matrix"]) == 2 and 0 <= out["acc"] <= 100
    assert plot.stat().st_size > 1000


def test_continual_rejects_bad_values(capsys):
    assert main(["continual", "--method", "sgd"]) == 2
    assert "method" in capsys.readouterr().err
    assert main(["continual", "--epochs", "0"]) == 2
    assert main(["continual", "--data", "/nonexistent/folder"]) == 2
