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


@pytest.mark.parametrize("window_ms", [1.0, 5.0, 20.0])
def test_constant_train_keeps_its_rate_up_to_the_edges(window_ms):
    spikes = np.ones((100, 7))  # every neuron fires every 1 ms step: 1000 Hz
    np.testing.assert_allclose(plot.smoothed_rate(spikes, 1.0, window_ms), 1000.0)
    ax = plot.population_rate(spikes, 1.0, window_ms=window_ms)
    np.testing.assert_allclose(ax.lines[0].get_ydata(), 1000.0)


def test_smoothed_rate_matches_a_numpy_loop():
    rng = np.random.default_rng(3)
    spikes = (rng.random((60, 5)) < 0.2).astype(float)
    dt, width = 0.5, 7  # window 3.5 ms
    rate = spikes.mean(axis=1) / (dt * 1e-3)
    ref = [rate[max(0, t - width // 2): t + width - width // 2].mean() for t in range(60)]
    np.testing.assert_allclose(plot.smoothed_rate(spikes, dt, 3.5), ref)
