import json

import numpy as np
import pytest

from neuro.cli import main


def test_memory_cli_json_and_plot(tmp_path, capsys):
    plot = tmp_path / "memory.png"
    rc = main(["memory", "--task", "evidence", "--model", "astro", "--delay", "0.1", "0.2",
               "--seeds", "2", "--iterations", "2", "--hidden", "8", "--dt", "20", "--json",
               "--plot", str(plot)])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    acc = out["accuracy_by_delay"]
    assert set(acc) == {"0.1", "0.2"}
    for v in acc.values():
        assert 0 <= v["mean"] <= 1 and len(v["per_seed"]) == 2
        assert v["std"] == pytest.approx(np.std(v["per_seed"]))
    assert set(out["astrocytes_removed_accuracy_by_delay"]) == {"0.1", "0.2"}
    assert out["chance"] == 0.5
    assert out["model"] == "astro" and out["task"] == "evidence" and out["seeds"] == [0, 1]
    assert plot.exists() and plot.stat().st_size > 1000


def test_memory_cli_rejects_bad_input(capsys):
    assert main(["memory", "--model", "gru"]) == 2
    assert "model" in capsys.readouterr().err
    assert main(["memory", "--task", "copy"]) == 2
    assert main(["memory", "--seeds", "0"]) == 2
    assert main(["memory", "--delay", "-1"]) == 2


def test_memory_cli_associative_json_and_plot(tmp_path, capsys):
    plot = tmp_path / "assoc.png"
    rc = main(["memory", "--task", "associative", "--neurons", "50", "--active", "10",
               "--loads", "2", "6", "--noises", "0", "0.25", "--noise-load", "4", "--seeds", "1",
               "--json", "--plot", str(plot)])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert {"capacity", "overlap_by_load", "overlap_by_noise"} <= set(out)
    assert set(out["overlap_by_load"]) == {"hebbian", "hebbian+astrocytes"}
    assert set(out["overlap_by_load"]["hebbian"]) == {"2", "6"}
    assert set(out["overlap_by_noise"]["hebbian"]) == {"0", "0.25"}
    assert out["capacity"]["willshaw"]["p_max"] > 0
    assert out["overlap_by_load"]["hebbian"]["2"]["overlap"]["mean"] > 0.9
    assert plot.exists() and plot.stat().st_size > 1000
