import numpy as np
import pytest

from neuro.tasks.memory import TrainConfig, make_batch, memory_task, retention, train


def test_delayed_recall_layout_puts_the_pattern_exactly_delay_before_the_cue():
    task = memory_task("delayed-recall", max_delay=1.0, dt=10.0, rate=100.0, noise_rate=0.0)
    rng = np.random.default_rng(0)
    delays = np.array([0.2, 0.5, 1.0])
    x, y = make_batch(task, delays, rng)
    assert x.shape == (task.n_steps, 3, task.n_in) == (125, 3, 40)
    assert set(np.unique(x)) <= {0.0, 1.0}
    pats = task.patterns()
    assert pats.shape == (4, 20) and np.all(pats.sum(1) == 4)
    for i, d in enumerate(delays):
        active = np.nonzero(x[:, i, :20].any(1))[0]
        cue_start = task.n_steps - task.decision_steps
        assert active[-1] == cue_start - int(round(d * 100)) - 1  # pattern ends `delay` before cue
        assert active[0] == active[-1] - 9  # 100 ms = 10 steps (rate 100 Hz: p = 1)
        np.testing.assert_array_equal(x[active[0], i, :20], pats[y[i]])  # the labelled pattern
        assert np.all(x[cue_start:, i, 20:30] == 1) and not x[:cue_start, i, 20:30].any()


def test_evidence_labels_are_the_majority_side_and_rates_are_poisson():
    task = memory_task("evidence", max_delay=0.5, dt=10.0, rate=100.0, noise_rate=0.0)
    x, y = make_batch(task, np.full(64, 0.5), np.random.default_rng(1))
    left = x[:, :, :10].sum((0, 2)) / (10 * 10)  # cues of 10 steps on 10 channels at p = 1
    right = x[:, :, 10:20].sum((0, 2)) / (10 * 10)
    assert np.all(left + right == 7)
    np.testing.assert_array_equal(y, (right > left).astype(int))
    assert 0 < y.mean() < 1
    noisy = memory_task("evidence", max_delay=0.5, dt=10.0)
    xn, _ = make_batch(noisy, np.full(256, 0.5), np.random.default_rng(2))
    assert xn[:, :, -10:].mean() == pytest.approx(0.1, rel=0.05)  # 10 Hz background at 10 ms


def test_bad_task_input_is_rejected():
    with pytest.raises(ValueError, match="task"):
        memory_task("copy")
    with pytest.raises(ValueError, match="rate"):
        memory_task("evidence", dt=50.0)  # 40 Hz * 50 ms > 1 spike per step
    with pytest.raises(ValueError, match="delay"):
        retention("evidence", "lif", delays_s=[-1.0])


def test_training_lowers_the_loss_on_a_short_delay():
    task = memory_task("evidence", max_delay=0.2, dt=20.0)
    cfg = TrainConfig(n_hidden=16, group_size=4, iterations=60, batch=16, lr=0.02)
    _, losses = train(task, "alif", 0, [0.2], cfg)
    assert np.mean(losses[-10:]) < np.mean(losses[:10]) - 0.05
