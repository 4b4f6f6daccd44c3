"""Data-parallel training: losses on 4 and 8 devices equal the single-device ones."""

import numpy as np


def test_data_parallel_losses_equal_single_device(child):
    out = child("train_child.py", "4", "8", devices=8)
    ref = np.array(out["None"])
    assert len(ref) == 20 and np.all(np.isfinite(ref))
    assert ref[-1] < ref[0]  # it trains
    for n in ("4", "8"):
        np.testing.assert_allclose(out[n], ref, rtol=1e-6, atol=0)
        assert out[f"spec{n}"] == [int(n), True]  # parameters replicated on every device
