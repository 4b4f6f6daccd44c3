"""Headless plots of simulations: spike raster, membrane traces, population rate.

All functions draw on a given matplotlib ``Axes`` (or a new figure) and return it; :func:`save`
writes a figure with the Agg backend, so nothing needs a display.
"""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from neuro.validation import ConfigError, ShapeError  # noqa: E402


def _axes(ax):
    return plt.subplots(figsize=(7, 3))[1] if ax is None else ax


def raster(spikes, dt: float = 1.0, ax=None, *, max_neurons: int | None = 500, **style):
    """Raster of ``spikes`` ``[T, N]`` (time in ms = step * dt)."""
    spikes = np.asarray(spikes)
    if spikes.ndim != 2:
        raise ShapeError(f"spikes must have shape [time, neurons]; got {spikes.shape}")
    if max_neurons is not None:
        spikes = spikes[:, :max_neurons]
    ax = _axes(ax)
    t, n = np.nonzero(spikes)
    ax.scatter(t * dt, n, s=style.pop("s", 1.0), c=style.pop("c", "k"), marker="|", **style)
    ax.set(xlabel="time (ms)", ylabel="neuron", xlim=(0, spikes.shape[0] * dt))
    return ax


def traces(values, dt: float = 1.0, ax=None, *, neurons=(0,), threshold: float | None = None,
           label: str = "membrane"):
    """Traces of chosen neurons from ``values`` ``[T, N]``; optional threshold line."""
    values = np.asarray(values)
    ax = _axes(ax)
    time = np.arange(values.shape[0]) * dt
    for i in neurons:
        ax.plot(time, values[:, i], lw=1, label=f"neuron {i}")
    if threshold is not None:
        ax.axhline(threshold, color="r", ls="--", lw=0.8, label="threshold")
    ax.set(xlabel="time (ms)", ylabel=label)
    ax.legend(loc="upper right", fontsize="small")
    return ax


def smoothed_rate(spikes, dt: float = 1.0, window_ms: float = 5.0) -> np.ndarray:
    """Population rate (Hz) of ``spikes`` ``[T, N]`` averaged over a centred box of
    ``window_ms``. Near the ends the box holds fewer steps and the mean is over those only (no
    zero padding: a constant train stays constant up to the edges)."""
    spikes = np.asarray(spikes, dtype=float)
    if spikes.ndim != 2:
        raise ShapeError(f"spikes must have shape [time, neurons]; got {spikes.shape}")
    if not dt > 0 or not window_ms > 0:
        raise ConfigError(f"dt and window_ms must be positive; got {dt}, {window_ms}")
    rate = spikes.mean(axis=1) / (dt * 1e-3)
    width = max(1, int(round(window_ms / dt)))
    box = np.ones(min(width, len(rate)) or 1)
    total = np.convolve(rate, box, mode="same")
    count = np.convolve(np.ones_like(rate), box, mode="same")
    return total / np.maximum(count, 1.0)


def population_rate(spikes, dt: float = 1.0, ax=None, *, window_ms: float = 5.0):
    """Population rate (Hz) of ``spikes`` ``[T, N]``, smoothed with a box of ``window_ms``
    (:func:`smoothed_rate`: the edges average over the steps that exist)."""
    rate = smoothed_rate(spikes, dt, window_ms)
    ax = _axes(ax)
    ax.plot(np.arange(len(rate)) * dt, rate, lw=1)
    ax.set(xlabel="time (ms)", ylabel="rate (Hz)")
    return ax


def save(fig, path: str | os.PathLike) -> str:
    """Save ``fig`` to ``path`` (format from the extension) and close it."""
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return str(path)


def figure(rows: int = 1, cols: int = 1, **kwargs):
    """A new figure and its axes (a thin wrapper so callers need not import pyplot)."""
    kwargs.setdefault("figsize", (7, 2.5 * rows))
    return plt.subplots(rows, cols, **kwargs)
