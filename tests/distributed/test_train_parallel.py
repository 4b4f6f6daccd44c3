"""Data-parallel continual learning: HLOP's Hebbian updates and the EWC Fisher reduced across a
split batch, and ``neuro continual|pipeline --devices N`` equal to one device."""

import numpy as np
import pytest

CONTINUAL = ("continual", "--data", "digits", "--tasks", "2", "--epochs", "1", "--hidden", "16",
             "16", "--timesteps", "4", "--no-fwt")
PIPELINE = ("pipeline", "--neurons", "32", "--astro-block", "4", "--tasks", "2", "--epochs", "1",
            "--probe-steps", "100", "--lyapunov-steps", "300")


def test_hebbian_updates_and_fisher_reduce_across_the_batch(child):
    out = child("optim_child.py", "4", devices=4)
    assert out["circuits_moved"] > 0.01  # the Hebbian rule acted on the circuits
    assert out["hebbian_rel"] < 1e-6, out
    assert out["params_rel"] < 1e-6, out
    assert out["fisher_max"] > 0 and out["fisher_rel"] < 1e-6, out
    assert out["fisher_sharded"] == [4]
    assert out["uneven_batch"].startswith("batch 30 is not a multiple of the 4 devices")
    # the Hebbian statistics are all-reduced like the gradients: no device gathers the
    # presynaptic rows of the batch (one module's rows alone are 32 x 8 x 16 float32 = 16 kB)
    assert out["step_collectives"].get("all-gather", 0) < 32 * 8 * 16 * 4, out["step_collectives"]


def _same(one, many, keys):
    for key in keys:
        np.testing.assert_allclose(many[key], one[key], rtol=1e-5, atol=1e-5, err_msg=key)


def test_continual_devices_flag_gives_the_single_device_result(child):
    out = child("cli_child.py", "1", "4", "--", *CONTINUAL, "--method", "hlop", devices=4)
    one, four = out["1"], out["4"]
    assert (one["devices"], four["devices"]) == (1, 4)
    assert one["acc"] > 15  # it learns (10 classes: chance is 10 %)
    _same(one, four, ("accuracy_matrix", "acc", "bwt", "subspace_sizes", "orthonormality_error"))


@pytest.mark.slow
def test_continual_ewc_and_pipeline_on_4_devices(child):
    out = child("cli_child.py", "1", "4", "--", *CONTINUAL, "--method", "ewc", devices=4)
    _same(out["1"], out["4"], ("accuracy_matrix", "acc", "bwt"))
    out = child("cli_child.py", "1", "4", "--", *PIPELINE, devices=4)
    _same(out["1"], out["4"], ("accuracy_matrix", "acc", "bwt", "lambda_max_before",
                               "lambda_max_after"))
    assert out["1"]["neurons"] == out["4"]["neurons"]


@pytest.mark.parametrize("argv, message", [
    (["continual", "--batch", "64", "--devices", "3"], "--batch 64 is not a multiple of "
     "--devices 3"),
    (["pipeline", "--devices", "3"], "--devices 3 does not divide the training batch of 64"),
    (["continual", "--devices", "0"], "--devices must be >= 1"),
])
def test_devices_flag_refuses_an_uneven_split(capsys, argv, message):
    from neuro.cli import main

    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_batch_mesh_and_check_batch():
    from neuro import distributed

    assert distributed.batch_mesh(1) is None  # the single-device path, JAX untouched
    with pytest.raises(ValueError, match="devices must be a positive int"):
        distributed.batch_mesh(0)
    distributed.check_batch(7, None)
    mesh = distributed.mesh({"batch": 1})
    distributed.check_batch(7, mesh)
    with pytest.raises(ValueError, match="no axis 'batch'"):
        distributed.check_batch(8, distributed.mesh(1))
