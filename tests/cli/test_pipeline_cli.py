"""``neuro pipeline`` end to end at tiny size: every stage runs and the JSON has the keys."""

import json

from neuro.cli import main


def test_pipeline_runs_end_to_end_and_prints_its_keys(tmp_path, capsys):
    plot = tmp_path / "acc.png"
    code = main(["pipeline", "--neurons", "32", "--astro-block", "4", "--tasks", "2",
                 "--epochs", "1", "--probe-steps", "150", "--lyapunov-steps", "300",
                 "--json", "--plot", str(plot)])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("neurons", "synapses", "lambda_max_before", "lambda_max_after",
                "accuracy_matrix", "acc", "bwt", "seconds"):
        assert key in out
    assert out["neurons"] == {"before": 32, "after": 16}
    assert out["synapses"]["after"] < out["synapses"]["before"]
    assert len(out["accuracy_matrix"]) == 2
    assert 0.0 <= out["acc"] <= 100.0
    assert plot.exists()
