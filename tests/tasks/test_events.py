"""SHD/SSC and N-MNIST readers on small synthetic files written in the distributed formats."""

import numpy as np
import pytest

from neuro.tasks.events import (
    NMNIST_UNITS,
    EventSample,
    bin_events,
    decode_nmnist,
    event_lists,
    load_event_task,
    read_nmnist,
    read_nmnist_file,
    read_shd,
    write_nmnist,
    write_shd,
)

h5py = pytest.importorskip("h5py")


def _samples(rng, n, units, duration_ms=50.0, events=40):
    out = []
    for _ in range(n):
        t = np.sort(rng.uniform(0, duration_ms, events))
        out.append(EventSample(t, rng.integers(0, units, events).astype(np.int32)))
    return out


def _write_raw_shd(path, times_s, units, labels):
    """The layout of the published files, written with h5py directly (not with write_shd)."""
    with h5py.File(path, "w") as fh:
        vt, vu = h5py.vlen_dtype(np.float16), h5py.vlen_dtype(np.uint16)
        fh.create_dataset("spikes/times", data=np.array(times_s, dtype=object), dtype=vt)
        fh.create_dataset("spikes/units", data=np.array(units, dtype=object), dtype=vu)
        fh.create_dataset("labels", data=np.asarray(labels, np.uint16))
        fh.create_dataset("extra/speaker", data=np.zeros(len(labels), np.uint16))


def test_read_shd_parses_the_published_layout(tmp_path):
    times = [np.array([0.0005, 0.0121, 0.0121], np.float16), np.array([0.25], np.float16)]
    units = [np.array([3, 699, 3], np.uint16), np.array([0], np.uint16)]
    _write_raw_shd(tmp_path / "shd_train.h5", times, units, [7, 19])
    data = read_shd(tmp_path / "shd_train.h5")
    assert data.n_units == 700 and list(data.labels) == [7, 19] and data.num_classes == 20
    np.testing.assert_allclose(data.samples[0].times, np.float64(times[0]) * 1e3)
    np.testing.assert_array_equal(data.samples[0].units, [3, 699, 3])
    x = bin_events(data, dt=1.0, steps=20)
    assert x.shape == (20, 2, 700) and x.dtype == np.float32
    assert x[0, 0, 3] == 1 and x[12, 0, 699] == 1 and x[12, 0, 3] == 1 and x.sum() == 3  # 250 ms dropped
    assert bin_events(data, dt=1.0).shape[0] == 251


def test_bin_events_counts_and_binary():
    s = EventSample(np.array([0.1, 0.2, 0.9, 1.0, 2.5]), np.array([1, 1, 1, 0, 2], np.int32))
    x = bin_events([s], 3, dt=1.0)
    np.testing.assert_array_equal(x[:, 0], [[0, 3, 0], [1, 0, 0], [0, 0, 1]])
    assert bin_events([s], 3, dt=1.0, binary=True).max() == 1
    idx, steps, units = event_lists([s], dt=1.0)
    np.testing.assert_array_equal(steps, [0, 0, 0, 1, 2])
    with pytest.raises(ValueError, match="units outside"):
        bin_events([s], 2, dt=1.0)
    with pytest.raises(ValueError, match="dt"):
        bin_events([s], 3, dt=0.0)


def test_shd_round_trip_and_bad_files(tmp_path):
    rng = np.random.default_rng(0)
    samples = _samples(rng, 4, 700)
    write_shd(tmp_path / "a.h5", samples, [0, 1, 2, 3])
    back = read_shd(tmp_path / "a.h5")
    for a, b in zip(samples, back.samples, strict=True):
        np.testing.assert_allclose(a.times, b.times, rtol=1e-6, atol=1e-4)
        np.testing.assert_array_equal(a.units, b.units)
    with h5py.File(tmp_path / "bad.h5", "w") as fh:
        fh.create_dataset("labels", data=np.zeros(2))
    with pytest.raises(ValueError, match="spikes/times"):
        read_shd(tmp_path / "bad.h5")
    with pytest.raises(FileNotFoundError):
        read_shd(tmp_path / "missing.h5")


def test_nmnist_40_bit_events(tmp_path):
    # two events by hand: (x=33, y=0, ON, t=0x7FFFFF us) and (x=1, y=2, OFF, t=258 us)
    raw = bytes([33, 0, 0x80 | 0x7F, 0xFF, 0xFF, 1, 2, 0x00, 0x01, 0x02])
    ev = decode_nmnist(raw)
    np.testing.assert_array_equal(ev["x"], [33, 1])
    np.testing.assert_array_equal(ev["p"], [1, 0])
    np.testing.assert_array_equal(ev["t"], [(1 << 23) - 1, 258])
    (tmp_path / "s.bin").write_bytes(raw)
    s = read_nmnist_file(tmp_path / "s.bin")  # sorted by time
    np.testing.assert_allclose(s.times, [0.258, ((1 << 23) - 1) * 1e-3])
    np.testing.assert_array_equal(s.units, [2 * 34 + 1, 34 * 34 + 33])
    with pytest.raises(ValueError, match="5-byte"):
        decode_nmnist(raw[:7])


def test_nmnist_folder_and_event_task(tmp_path):
    rng = np.random.default_rng(1)
    for split, per in (("Train", 2), ("Test", 1)):
        for digit in range(10):
            (tmp_path / split / str(digit)).mkdir(parents=True)
            for k, s in enumerate(_samples(rng, per, NMNIST_UNITS, duration_ms=30.0)):
                s = EventSample(np.round(s.times, 3), s.units)
                write_nmnist(tmp_path / split / str(digit) / f"{k:05d}.bin", s)
    train = read_nmnist(tmp_path, "Train")
    assert len(train.samples) == 20 and list(train.labels[:3]) == [0, 0, 1]
    task = load_event_task(f"nmnist:{tmp_path}", dt=5.0, steps=7)
    assert task.x_train.shape == (7, 20, NMNIST_UNITS) and task.x_test.shape == (7, 10, NMNIST_UNITS)
    assert task.num_classes == 10 and task.x_train.sum() == 20 * 40


def test_shd_single_file_split_and_pooling(tmp_path):
    rng = np.random.default_rng(2)
    write_shd(tmp_path / "shd.h5", _samples(rng, 20, 700), np.repeat(np.arange(4), 5))
    task = load_event_task(f"shd:{tmp_path / 'shd.h5'}", dt=10.0, pool=5, test_fraction=0.2)
    assert task.x_train.shape[1:] == (16, 140) and task.x_test.shape[1] == 4
    assert sorted(task.y_test) == [0, 1, 2, 3] and task.x_train.sum() + task.x_test.sum() == 800
    with pytest.raises(ValueError, match="shd:PATH"):
        load_event_task("mnist:/x")
    with pytest.raises(ValueError, match="pool"):
        load_event_task(f"shd:{tmp_path / 'shd.h5'}", pool=3)


def test_demo_trains_on_a_synthetic_shd_file(tmp_path, capsys):
    """``neuro demo --data shd:PATH``: classes fire different bands of the 700 channels."""
    import json

    from neuro.cli import main

    rng = np.random.default_rng(3)
    samples, labels = [], []
    for i in range(120):
        c = i % 4
        units = rng.integers(c * 175, (c + 1) * 175, 150).astype(np.int32)
        samples.append(EventSample(np.sort(rng.uniform(0, 150.0, 150)), units))
        labels.append(c)
    write_shd(tmp_path / "shd_train.h5", samples[:96], labels[:96])
    write_shd(tmp_path / "shd_test.h5", samples[96:], labels[96:])
    code = main(["demo", "--data", f"shd:{tmp_path}", "--pool", "25", "--hidden", "24",
                 "--epochs", "20", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["data"] == f"shd:{tmp_path}"
    assert out["test_accuracy"] >= 0.75  # chance is 0.25
