import json

import pytest

from neuro.cli import main


def test_prune_cli_random_lorenz_json_and_plot(tmp_path, capsys):
    plot = tmp_path / "prune.png"
    rc = main(["prune", "--method", "random", "--task", "lorenz", "--neurons", "40",
               "--scale", "0.04", "--spectrum-k", "5", "--json", "--plot", str(plot)])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("neurons_kept", "synapses_kept", "lambda_max_before", "lambda_max_after", "nrmse"):
        assert key in out
    assert out["neurons_kept"] == 20 and out["neurons_dense"] == 40
    assert out["synapses_kept"] < out["synapses_dense"]
    assert 0 < out["nrmse"] < 2
    assert plot.exists() and plot.stat().st_size > 1000


def test_prune_cli_none_digits_accuracy(capsys):
    assert main(["prune", "--method", "none", "--task", "digits", "--neurons", "40",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["neurons_kept"] == 40 and 0.5 < out["accuracy"] <= 1
    assert out["lambda_max_before"] == pytest.approx(out["lambda_max_after"])


@pytest.mark.slow
def test_prune_cli_lnp(capsys):
    assert main(["prune", "--method", "lnp", "--task", "mackey-glass", "--neurons", "60",
                 "--scale", "0.04", "--trials", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["neurons_kept"] == 30 and "tau_mean" in out


def test_prune_cli_rejects_bad_input(capsys):
    assert main(["prune", "--sparsity", "1.5"]) == 2
    assert "sparsity" in capsys.readouterr().err
    assert main(["prune", "--neurons", "3"]) == 2
    assert main(["prune", "--node-fraction", "0.99"]) == 2
    with pytest.raises(SystemExit):
        main(["prune", "--method", "pagerank"])


def test_cli_offers_every_pruning_method():
    from neuro.cli.prune import METHODS
    from neuro.tasks.pruning import METHODS as TASK_METHODS

    assert tuple(METHODS) == tuple(TASK_METHODS)
