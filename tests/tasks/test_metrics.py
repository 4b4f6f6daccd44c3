"""ACC / BWT / FWT with the T-1 convention, plot and JSON file."""

import json

import numpy as np
import pytest

from neuro.tasks import metrics

R = np.array([[0.9, 0.1, 0.2],
              [0.8, 0.95, 0.3],
              [0.7, 0.85, 0.9]])
B = np.array([0.1, 0.12, 0.08])


def test_values_by_hand():
    assert metrics.acc(R) == pytest.approx((0.7 + 0.85 + 0.9) / 3)
    assert metrics.bwt(R) == pytest.approx(((0.7 - 0.9) + (0.85 - 0.95)) / 2)  # T-1 = 2
    assert metrics.fwt(R, B) == pytest.approx(((0.1 - 0.12) + (0.3 - 0.08)) / 2)
    s = metrics.summary(R, B)
    assert s["acc"] == pytest.approx(100 * metrics.acc(R))
    assert "T-1" in s["convention"]
    assert metrics.summary(R)["fwt"] is None


def test_single_task_and_validation():
    assert metrics.bwt(np.array([[0.5]])) == 0.0
    assert metrics.fwt(np.array([[0.5]]), np.array([0.1])) == 0.0
    with pytest.raises(ValueError, match="square"):
        metrics.acc(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="baseline"):
        metrics.fwt(R, np.zeros(2))


def test_plot_and_json(tmp_path):
    png = tmp_path / "r.png"
    metrics.plot_accuracy_matrix(R, png, title="test")
    assert png.stat().st_size > 1000
    out = metrics.save_results(tmp_path / "r.json", R, B, seconds=1.5)
    loaded = json.loads((tmp_path / "r.json").read_text())
    assert loaded["accuracy_matrix"][2][1] == pytest.approx(85.0)
    assert loaded["seconds"] == 1.5 and loaded["bwt"] == pytest.approx(out["bwt"])
