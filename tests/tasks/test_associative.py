"""Associative memory: stored weights against the Willshaw matrix, recall, the analytic capacity."""

import numpy as np
import pytest

from neuro.tasks.associative import (
    AssociativeConfig,
    Memory,
    degrade,
    patterns,
    recall_quality,
    willshaw,
)


def test_willshaw_false_units_match_a_monte_carlo_of_the_clipped_rule():
    n, m, c = 100, 8, 6
    rng = np.random.default_rng(0)
    loads = [40, 120]
    wil = willshaw(n, m, loads, c)
    for p in loads:
        false = []
        for _ in range(20):
            pats = patterns(p, n, m, int(rng.integers(1 << 30)))
            w = (pats.T @ pats) > 0  # clipped Hebbian: W_ij = 1 if ever co-active
            for k in range(10):
                on = np.flatnonzero(pats[k])
                cue = rng.choice(on, c, replace=False)
                fired = w[cue].sum(0) >= c  # threshold c
                false.append(fired[pats[k] == 0].sum())
        np.testing.assert_allclose(np.mean(false) / m, wil["false_by_load"][str(p)], rtol=0.25,
                                   atol=0.01)
    # the criterion (N - M) p1^c = 0.1 M holds at P_max
    p1 = 1 - (1 - (m / n) ** 2) ** wil["p_max"]
    np.testing.assert_allclose((n - m) * p1**c, 0.1 * m, rtol=1e-9)


def test_online_hebbian_storage_gives_the_willshaw_matrix_and_recall_completes_patterns():
    cfg = AssociativeConfig(n=100, m=10)
    pats = patterns(8, 100, 10, 1)
    mem = Memory(cfg, astrocytes=False, seed=0)
    mem.store(pats)
    w = np.asarray(mem.state.modulators["hebb"].w)
    co = (pats.T @ pats) > 0
    np.fill_diagonal(co, False)
    assert np.all(w[co] == cfg.w)  # every co-active pair saturated at w
    assert w[~co].max() < 0.05 * cfg.w  # the rest stays near 0 (trace tails between patterns)
    ov, fa = mem.recall(pats, noise=0.2, rng=np.random.default_rng(2))
    np.testing.assert_array_equal(ov, 1.0)
    np.testing.assert_array_equal(fa, 0.0)
    astro = Memory(cfg, astrocytes=True, seed=0)  # astrocytes on: recall still completes
    astro.store(pats)
    ov, fa = astro.recall(pats, noise=0.2, rng=np.random.default_rng(2))
    assert ov.mean() >= 0.9 and fa.mean() <= 0.1


def test_cues_remove_and_add_exactly_round_noise_m_units():
    pats = patterns(5, 50, 10, 3)
    cues = degrade(pats, 0.3, np.random.default_rng(0))
    np.testing.assert_array_equal(cues.sum(1), 10)
    np.testing.assert_array_equal((cues * pats).sum(1), 7)
    ov, fa = recall_quality(cues, pats)
    np.testing.assert_allclose(ov, 0.7)
    np.testing.assert_allclose(fa, 0.3)
    with pytest.raises(ValueError, match="m"):
        AssociativeConfig(n=10, m=10)
    with pytest.raises(ValueError, match="sustain"):
        AssociativeConfig(n=100, m=4)
