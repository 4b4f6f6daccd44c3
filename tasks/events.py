"""Event-based data sets read from files the user gives: SHD/SSC (HDF5) and N-MNIST (binary).

Nothing is downloaded; the readers parse the files as their authors distribute them.

* **SHD / SSC** (Spiking Heidelberg Digits / Spiking Speech Commands, Cramer et al. 2020,
  IEEE TNNLS 33:2744): one HDF5 file per split (``shd_train.h5``, ``shd_test.h5``,
  ``ssc_train.h5``, ``ssc_valid.h5``, ``ssc_test.h5``) with ragged datasets ``spikes/times``
  (float, seconds), ``spikes/units`` (uint16 channel of the cochlea model, 0..699) and
  ``labels`` (uint16, 20 classes for SHD, 35 for SSC). Reading needs ``h5py``
  (``pip install 'neuro[events]'``).
* **N-MNIST** (Orchard et al. 2015, Front. Neurosci. 9:437): one ``.bin`` file per sample,
  folders ``Train/<digit>/*.bin`` and ``Test/<digit>/*.bin``. Each event is 40 bits, big-endian::

      byte 0: x (0..33)      byte 1: y (0..33)
      byte 2: bit 7 polarity (1 = ON), bits 6..0 timestamp bits 22..16
      byte 3: timestamp bits 15..8    byte 4: timestamp bits 7..0      (timestamp in us)

  A pixel event becomes unit ``p * 34 * 34 + y * 34 + x`` (2,312 units).

A sample is an :class:`EventSample` (``times`` in ms, ``units`` int); :func:`bin_events` turns
samples into a dense time-major tensor ``[steps, samples, units]`` of spike counts per bin of
``dt`` ms (``binary=True`` clips counts to one spike per bin and says so in its name, it is a
choice of the caller), the input format of :func:`neuro.run.simulate`. :func:`write_shd` and
:func:`write_nmnist` write the same formats (to convert other recordings, and for tests).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import numpy as np

from neuro.tasks.data import _stratified_split

SHD_UNITS = 700
NMNIST_SIZE = 34
NMNIST_UNITS = 2 * NMNIST_SIZE * NMNIST_SIZE


class EventSample(NamedTuple):
    """One recording: event ``times`` (float64, ms, non-decreasing) and ``units`` (int32)."""

    times: np.ndarray
    units: np.ndarray


class EventDataset(NamedTuple):
    """Samples, int32 ``labels`` and the number of input ``units`` of the sensor."""

    samples: list[EventSample]
    labels: np.ndarray
    n_units: int
    name: str

    @property
    def num_classes(self) -> int:
        return int(self.labels.max()) + 1 if len(self.labels) else 0

    def duration_ms(self) -> float:
        """The latest event time over all samples."""
        return max((float(s.times[-1]) for s in self.samples if len(s.times)), default=0.0)


def _h5py():
    try:
        import h5py
    except ImportError as exc:
        raise ImportError("reading SHD/SSC files needs h5py: pip install 'neuro[events]'") from exc
    return h5py


def read_shd(path: str | os.PathLike, *, limit: int | None = None) -> EventDataset:
    """Read one SHD or SSC split (HDF5 with ``spikes/times``, ``spikes/units``, ``labels``).

    ``limit``: read only the first ``limit`` samples. Times are converted from s to ms.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no SHD/SSC file at {str(path)!r}")
    h5py = _h5py()
    with h5py.File(path, "r") as fh:
        for key in ("spikes/times", "spikes/units", "labels"):
            if key not in fh:
                raise ValueError(f"{path} is not an SHD/SSC file: it has no dataset {key!r}")
        times, units, labels = fh["spikes/times"], fh["spikes/units"], fh["labels"]
        n = len(labels) if limit is None else min(int(limit), len(labels))
        if len(times) != len(labels) or len(units) != len(labels):
            raise ValueError(f"{path}: spikes/times ({len(times)}), spikes/units ({len(units)}) "
                             f"and labels ({len(labels)}) differ in length")
        samples = []
        for i in range(n):
            t = np.asarray(times[i], np.float64) * 1e3
            u = np.asarray(units[i]).astype(np.int32)
            if t.shape != u.shape:
                raise ValueError(f"{path}: sample {i} has {t.size} times but {u.size} units")
            samples.append(EventSample(t, u))
        y = np.asarray(labels[:n]).astype(np.int32)
    n_units = SHD_UNITS
    top = max((int(s.units.max()) for s in samples if len(s.units)), default=-1)
    if top >= n_units:
        raise ValueError(f"{path}: unit {top} lies outside the {n_units} SHD/SSC channels")
    return EventDataset(samples, y, n_units, path.name)


def write_shd(path: str | os.PathLike, samples: list[EventSample], labels: np.ndarray) -> None:
    """Write samples (times in ms) as an SHD/SSC file (times stored in s, units uint16)."""
    h5py = _h5py()
    if len(samples) != len(labels):
        raise ValueError(f"{len(samples)} samples but {len(labels)} labels")
    with h5py.File(path, "w") as fh:
        ft, fu = h5py.vlen_dtype(np.dtype("float32")), h5py.vlen_dtype(np.dtype("uint16"))
        times = fh.create_dataset("spikes/times", (len(samples),), dtype=ft)
        units = fh.create_dataset("spikes/units", (len(samples),), dtype=fu)
        for i, s in enumerate(samples):
            times[i] = np.asarray(s.times, np.float32) * np.float32(1e-3)
            units[i] = np.asarray(s.units, np.uint16)
        fh.create_dataset("labels", data=np.asarray(labels, np.uint16))


def decode_nmnist(data: bytes) -> dict[str, np.ndarray]:
    """Decode N-MNIST's 40-bit events: ``{"x", "y", "p", "t"}`` (t in us)."""
    if len(data) % 5:
        raise ValueError(f"N-MNIST data must be a whole number of 5-byte events; got {len(data)} "
                         "bytes")
    raw = np.frombuffer(data, np.uint8).reshape(-1, 5).astype(np.uint32)
    t = ((raw[:, 2] & 0x7F) << 16) | (raw[:, 3] << 8) | raw[:, 4]
    return {"x": raw[:, 0].astype(np.int32), "y": raw[:, 1].astype(np.int32),
            "p": (raw[:, 2] >> 7).astype(np.int32), "t": t.astype(np.int64)}


def encode_nmnist(x: np.ndarray, y: np.ndarray, p: np.ndarray, t: np.ndarray) -> bytes:
    """The inverse of :func:`decode_nmnist` (``t`` in us, below 2**23)."""
    x, y, p, t = (np.asarray(a, np.int64) for a in (x, y, p, t))
    if np.any((x < 0) | (x > 255) | (y < 0) | (y > 255)):
        raise ValueError("x and y must lie in 0..255")
    if np.any((p != 0) & (p != 1)):
        raise ValueError("p must be 0 or 1")
    if np.any((t < 0) | (t >= 1 << 23)):
        raise ValueError("t must lie in 0..2**23-1 us (23 bits)")
    raw = np.stack([x, y, (p << 7) | (t >> 16), (t >> 8) & 0xFF, t & 0xFF], 1).astype(np.uint8)
    return raw.tobytes()


def read_nmnist_file(path: str | os.PathLike) -> EventSample:
    """One N-MNIST ``.bin`` file as an :class:`EventSample` (unit ``p*34*34 + y*34 + x``)."""
    ev = decode_nmnist(Path(path).read_bytes())
    if len(ev["x"]) and (ev["x"].max() >= NMNIST_SIZE or ev["y"].max() >= NMNIST_SIZE):
        raise ValueError(f"{path}: pixel ({ev['x'].max()}, {ev['y'].max()}) lies outside the "
                         f"{NMNIST_SIZE}x{NMNIST_SIZE} N-MNIST sensor")
    units = ev["p"] * NMNIST_SIZE * NMNIST_SIZE + ev["y"] * NMNIST_SIZE + ev["x"]
    order = np.argsort(ev["t"], kind="stable")
    return EventSample(ev["t"][order] * 1e-3, units[order].astype(np.int32))


def write_nmnist(path: str | os.PathLike, sample: EventSample) -> None:
    """Write one sample (times in ms, N-MNIST units) as an N-MNIST ``.bin`` file."""
    units = np.asarray(sample.units, np.int64)
    if np.any((units < 0) | (units >= NMNIST_UNITS)):
        raise ValueError(f"N-MNIST units must lie in 0..{NMNIST_UNITS - 1}")
    p, pix = np.divmod(units, NMNIST_SIZE * NMNIST_SIZE)
    y, x = np.divmod(pix, NMNIST_SIZE)
    t = np.rint(np.asarray(sample.times, np.float64) * 1e3).astype(np.int64)
    Path(path).write_bytes(encode_nmnist(x, y, p, t))


def read_nmnist(folder: str | os.PathLike, split: str = "Train", *, limit: int | None = None
                ) -> EventDataset:
    """Read ``folder/<split>/<digit>/*.bin`` (files sorted by name; ``limit`` per digit)."""
    root = Path(folder) / split
    if not root.is_dir():
        raise FileNotFoundError(f"no N-MNIST split folder {str(root)!r} (expected "
                                f"{split}/0 .. {split}/9 below {str(folder)!r})")
    samples, labels = [], []
    for digit in range(10):
        files = sorted((root / str(digit)).glob("*.bin"))
        for f in files[:limit]:
            samples.append(read_nmnist_file(f))
            labels.append(digit)
    if not samples:
        raise FileNotFoundError(f"{root} holds no <digit>/*.bin files")
    return EventDataset(samples, np.asarray(labels, np.int32), NMNIST_UNITS, f"nmnist-{split}")


def bin_events(samples: list[EventSample] | EventDataset, n_units: int | None = None, *,
               dt: float = 1.0, steps: int | None = None, binary: bool = False) -> np.ndarray:
    """Dense time-major spike counts ``[steps, samples, n_units]`` (float32).

    Event ``(t, u)`` falls into bin ``floor(t / dt)``; ``steps`` defaults to the bins needed by
    the latest event. Events at or after ``steps * dt`` are dropped, and that is the caller's
    choice of ``steps``; ``binary=True`` keeps at most one spike per bin and unit.
    """
    if isinstance(samples, EventDataset):
        n_units = samples.n_units if n_units is None else n_units
        samples = samples.samples
    if n_units is None or n_units < 1:
        raise ValueError(f"n_units must be a positive int; got {n_units!r}")
    if not dt > 0:
        raise ValueError(f"dt must be positive (ms); got {dt!r}")
    if steps is None:
        last = max((float(s.times.max()) for s in samples if len(s.times)), default=0.0)
        steps = int(np.floor(last / dt)) + 1
    if steps < 1:
        raise ValueError(f"steps must be a positive int; got {steps!r}")
    out = np.zeros((steps, len(samples), n_units), np.float32)
    for i, s in enumerate(samples):
        if len(s.units) and (s.units.min() < 0 or s.units.max() >= n_units):
            raise ValueError(f"sample {i} has units outside 0..{n_units - 1}")
        b = np.floor(np.asarray(s.times) / dt).astype(np.int64)
        keep = (b >= 0) & (b < steps)
        np.add.at(out, (b[keep], i, s.units[keep]), 1.0)
    if binary:
        np.minimum(out, 1.0, out=out)
    return out


def event_lists(samples: list[EventSample] | EventDataset, *, dt: float = 1.0
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flat event list ``(sample, step, unit)`` (int32 each), events sorted by sample then step:
    the sparse counterpart of :func:`bin_events`."""
    if isinstance(samples, EventDataset):
        samples = samples.samples
    if not dt > 0:
        raise ValueError(f"dt must be positive (ms); got {dt!r}")
    idx = [np.full(len(s.times), i, np.int32) for i, s in enumerate(samples)]
    steps = [np.floor(np.asarray(s.times) / dt).astype(np.int32) for s in samples]
    units = [np.asarray(s.units, np.int32) for s in samples]
    cat = lambda parts: np.concatenate(parts) if parts else np.zeros(0, np.int32)
    return cat(idx), cat(steps), cat(units)


class EventTask(NamedTuple):
    """A classification task of binned events: ``x`` time-major ``[steps, n, units]``."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_units: int
    num_classes: int
    name: str


def load_event_task(spec: str, *, dt: float = 10.0, steps: int | None = None,
                    limit: int | None = None, test_fraction: float = 0.2, seed: int = 0,
                    pool: int = 1) -> EventTask:
    """Binned train/test tensors from ``"shd:PATH"``, ``"ssc:PATH"`` or ``"nmnist:PATH"``.

    ``PATH`` is a folder with the distributed files (``shd_train.h5``/``shd_test.h5``,
    ``ssc_train.h5``/``ssc_test.h5``, N-MNIST's ``Train/`` and ``Test/``) or, for SHD/SSC, one
    file that is split stratified by ``seed`` with ``test_fraction``. ``pool`` sums groups of
    that many neighbouring units (700 SHD channels / 5 = 140 inputs), a common reduction.
    ``steps`` defaults to the bins spanning the latest event of the training set.
    """
    kind, sep, path = spec.partition(":")
    if not sep or kind not in ("shd", "ssc", "nmnist") or not path:
        raise ValueError(f"data must be 'shd:PATH', 'ssc:PATH' or 'nmnist:PATH'; got {spec!r}")
    if isinstance(pool, bool) or not isinstance(pool, int) or pool < 1:
        raise ValueError(f"pool must be a positive int; got {pool!r}")
    path = Path(path)
    if kind == "nmnist":
        train, test = read_nmnist(path, "Train", limit=limit), read_nmnist(path, "Test", limit=limit)
    elif path.is_dir():
        train = read_shd(path / f"{kind}_train.h5", limit=limit)
        test = read_shd(path / f"{kind}_test.h5", limit=limit)
    else:
        whole = read_shd(path, limit=limit)
        train, test = _split(whole, test_fraction, seed)
    if steps is None:
        steps = int(np.floor(train.duration_ms() / dt)) + 1
    x_tr, x_te = (_pool(bin_events(d, dt=dt, steps=steps), pool) for d in (train, test))
    classes = max(train.num_classes, test.num_classes)
    return EventTask(x_tr, train.labels, x_te, test.labels, x_tr.shape[-1], classes, spec)


def _pool(x: np.ndarray, pool: int) -> np.ndarray:
    if pool == 1:
        return x
    n = x.shape[-1] // pool * pool
    if n != x.shape[-1]:
        raise ValueError(f"pool={pool} does not divide the {x.shape[-1]} units")
    return x.reshape(*x.shape[:-1], n // pool, pool).sum(-1)


def _split(data: EventDataset, test_fraction: float, seed: int) -> tuple[EventDataset, EventDataset]:
    # the stratified split of the bundled data sets, applied to sample indices
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1); got {test_fraction}")
    index = np.arange(len(data.labels))[:, None]
    i_tr, y_tr, i_te, y_te = _stratified_split(index, data.labels, test_fraction, seed)
    part = lambda i, y, tag: EventDataset([data.samples[j] for j in i[:, 0].astype(int)], y,
                                          data.n_units, f"{data.name}-{tag}")
    return part(i_tr, y_tr, "train"), part(i_te, y_te, "test")
