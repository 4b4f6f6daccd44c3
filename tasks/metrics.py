"""Continual-learning metrics: the accuracy matrix R, ACC, BWT, FWT; heatmap; JSON result file.

``R[i, j]`` = test accuracy on task ``j`` after training task ``i`` (``T`` tasks, 0-based here);
``b[j]`` = accuracy of the randomly initialised model on task ``j`` (Lopez-Paz & Ranzato, GEM,
NeurIPS 2017; hlop.md §6)::

    ACC = (1/T)     sum_{j=0..T-1} R[T-1, j]
    BWT = (1/(T-1)) sum_{j=0..T-2} (R[T-1, j] - R[j, j])        (negative = forgetting)
    FWT = (1/(T-1)) sum_{j=1..T-1} (R[j-1, j] - b[j])

Convention: BWT and FWT divide by ``T - 1`` (the tasks that have a "before"/"after"), as GPM's
``main_pmnist.py`` and HLOP do; GEM's own ``metrics.py`` divides by ``T``. With ``T = 1`` BWT and
FWT are 0. Values are fractions in [0, 1] here; :func:`summary` reports percent.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from neuro.io import save_json

CONVENTION = "BWT and FWT averaged over T-1 tasks (GPM/HLOP convention; GEM divides by T)"


def _check(r: np.ndarray) -> np.ndarray:
    r = np.asarray(r, float)
    if r.ndim != 2 or r.shape[0] != r.shape[1] or r.shape[0] < 1:
        raise ValueError(f"accuracy matrix must be square [T, T] with T >= 1; got {r.shape}")
    return r


def acc(r: np.ndarray) -> float:
    """Average final accuracy, the mean of the last row."""
    r = _check(r)
    return float(r[-1].mean())


def bwt(r: np.ndarray) -> float:
    """Backward transfer over the first ``T - 1`` tasks (module docstring)."""
    r = _check(r)
    t = r.shape[0]
    if t == 1:
        return 0.0
    return float(np.mean(r[-1, :-1] - np.diag(r)[:-1]))


def fwt(r: np.ndarray, baseline: np.ndarray) -> float:
    """Forward transfer ``mean_j (R[j-1, j] - b[j])`` over tasks 1..T-1."""
    r = _check(r)
    b = np.asarray(baseline, float)
    if b.shape != (r.shape[0],):
        raise ValueError(f"baseline must have shape ({r.shape[0]},); got {b.shape}")
    t = r.shape[0]
    if t == 1:
        return 0.0
    return float(np.mean([r[j - 1, j] - b[j] for j in range(1, t)]))


def summary(r: np.ndarray, baseline: np.ndarray | None = None) -> dict[str, Any]:
    """``acc``, ``bwt``, ``fwt`` in percent (fwt None without a baseline) and the convention."""
    out = {"acc": 100 * acc(r), "bwt": 100 * bwt(r),
           "fwt": None if baseline is None else 100 * fwt(r, baseline)}
    out["convention"] = CONVENTION
    return out


def plot_accuracy_matrix(r: np.ndarray, path: str | os.PathLike, title: str = "") -> None:
    """Heatmap of ``R`` in percent (rows: after training task i; columns: tested on task j).

    Entries above the first superdiagonal (``j > i + 1``, never evaluated by the protocol) are
    left blank.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    r = _check(r) * 100
    t = r.shape[0]
    fig, ax = plt.subplots(figsize=(1.0 + 0.55 * t, 0.8 + 0.5 * t))
    shown = np.ma.masked_where(np.triu(np.ones((t, t), bool), 2), r)
    im = ax.imshow(shown, vmin=0, vmax=100, cmap="viridis")
    for i in range(t):
        for j in range(min(i + 2, t)):
            ax.text(j, i, f"{r[i, j]:.0f}", ha="center", va="center", fontsize=7,
                    color="white" if r[i, j] < 60 else "black")
    ax.set_xlabel("tested on task j")
    ax.set_ylabel("after training task i")
    ax.set_xticks(range(t))
    ax.set_yticks(range(t))
    if title:
        ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, label="accuracy (%)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def save_results(path: str | os.PathLike, r: np.ndarray, baseline: np.ndarray | None = None,
                 **extra: Any) -> dict[str, Any]:
    """Write ``summary`` + ``accuracy_matrix`` (percent) + ``extra`` as JSON (atomically)."""
    result = summary(r, baseline)
    result["accuracy_matrix"] = (100 * _check(r)).round(4).tolist()
    result.update(extra)
    save_json(path, result)
    return result
