import numpy as np
import pytest

from neuro import plot


def test_plots_write_files(tmp_path):
    rng = np.random.default_rng(0)
    spikes = (rng.random((200, 30)) < 0.05).astype(np.float32)
    fig, axes = plot.figure(3, 1)
    plot.raster(spikes, 0.5, axes[0])
    plot.population_rate(spikes, 0.5, axes[1])
    plot.traces(rng.normal(size=(200, 3)), 0.5, axes[2], neurons=(0, 2), threshold=1.0)
    path = plot.save(fig, tmp_path / "f.png")
    assert (tmp_path / "f.png").stat().st_size > 2000 and path.endswith("f.png")
    with pytest.raises(ValueError, match="spikes"):
        plot.raster(np.zeros(5))
