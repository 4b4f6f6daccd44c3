"""Neuron-parallel simulation: spike trains identical to the single-device run (float64), on 4
and 8 virtual CPU devices, with delays (exchange every M steps), padding, readouts, state
hand-over and checkpoints that resume on another device count."""

import pytest

SPIKES = ("spikes.e", "spikes.i")


def test_coba_spikes_identical_on_4_and_8_devices_for_1s(child):
    out = child("coba_child.py", "4", "8", "--neurons", "400", "--steps", "10000")
    assert 10 < out["rate_hz"] < 100  # an active network, not a silent one
    for d in ("4", "8"):
        assert out[d]["identical"], out[d]
        # one all-gather of bit-packed words per step: ceil(400 / D / 32) words per device
        words = -(-400 // int(d) // 32)
        assert out[d]["hlo"] == {"all-gather": 4 * words * int(d)}
        assert out[d]["bytes"]["per_device"] == 4 * words * (int(d) - 1)


@pytest.mark.slow
def test_coba_spikes_identical_at_1000_neurons(child):
    out = child("coba_child.py", "1", "4", "8", "--neurons", "1000", "--steps", "10000")
    for d in ("1", "4", "8"):
        assert out[d]["identical"], out[d]


@pytest.mark.slow
def test_auryn_coba_exchanges_every_9_steps(child):
    """Auryn's COBA (models.coba variant "auryn", matched to Auryn's source): a spike first acts
    9 steps later, i.e. 8 extra steps of delay, so spikes travel once per 9 steps."""
    out = child("coba_child.py", "4", "8", "--neurons", "400", "--steps", "9999", "--variant",
                "auryn")
    for d in ("4", "8"):
        assert out[d]["identical"] and out[d]["interval"] == 9, out[d]
        words = -(-400 // int(d) // 32)
        assert out[d]["hlo"] == {"all-gather": 9 * 4 * words * int(d)}  # 9 steps in one


def _check(result, d):
    assert result["interval"] == 3  # 1 + the smallest extra delay (2) between populations
    for key in SPIKES:
        assert result["full"][key], (d, key)
    assert result["full"]["v.e"] == 0.0
    assert result["full"]["readout.y"] < 1e-12  # summed over devices: rounding only


def test_checkpoint_written_on_4_devices_resumes_on_2_and_1_and_refuses_another_run(child):
    out = child("mixed_child.py", "resume", "4", "2", "1")
    assert out["spikes"] > 500 and out["spikes_i"] > 50
    _check(out["4"], "4")
    # per step, from the 3 other devices: 75 e neurons in 3 words, 25 i neurons in 1
    assert out["4"]["bytes"]["per_device"] == 3 * (3 * 4 + 4)
    for d in ("2", "1"):
        resumed = out[f"resume{d}"]
        assert all(resumed[k] for k in SPIKES) and resumed["v.e"] == 0.0, resumed
        assert resumed["readout.y"] < 1e-12
    # a checkpoint of another run (network, initial state or inputs) is refused and kept
    for what in ("network", "initial_state", "inputs"):
        message = out[f"refused_{what}"]
        assert "belongs to a different run" in message and f"{what} (checkpoint" in message, \
            message
        others = {"network", "initial_state", "inputs"} - {what}
        assert not any(f"{o} (checkpoint" in message for o in others), message
    assert out["file_kept"]


@pytest.mark.slow
def test_padding_and_state_hand_over(child):
    out = child("mixed_child.py", "handover", "3", "8")  # 300 and 100 over 8 devices: padded
    for d in ("3", "8"):
        _check(out[d], d)
        for part in ("shard_mid_run", "gather_mid_run"):
            assert all(out[d][part][k] for k in SPIKES), (d, part)
            assert out[d][part]["v.e"] == 0.0


@pytest.mark.slow
def test_astrocyte_modulation_partitioned(child):
    """Astrocytes that shift thresholds and gains: block zones straddling device boundaries
    (3 devices) and an overlapping random coverage; the pooled activity is summed over devices."""
    out = child("astro_child.py", "3", "4")
    assert out["astro_changes_spikes"]  # the modulation acts
    for d in ("3", "4"):
        assert out[d]["identical"], out[d]
        assert out[d]["astro_state_diff"] < 1e-12
