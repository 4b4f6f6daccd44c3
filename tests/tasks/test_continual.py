"""Task streams, the continual-learning protocol, checkpoint/resume and HLOP vs fine-tuning."""

import numpy as np
import pytest

from neuro.tasks import continual as cl
from neuro.tasks.data import load_dataset

TINY = dict(hidden=(64, 64), epochs=2, batch=32, timesteps=10, fwt=False)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def test_permuted_stream(digits):
    s = cl.permuted_tasks(digits, n_tasks=3, seed=1)
    assert len(s) == 3 and s.heads == 1 and s.classes == 10 and s.input_dim == 64
    a, b = s.tasks[0], s.tasks[1]
    # lazy: a batch is the permuted rows, as a materialised copy would give
    perm = np.random.default_rng(1).permutation(64)
    x, _ = cl.normalize(digits)
    np.testing.assert_array_equal(a.x_train[[3, 1, 4]], x[[3, 1, 4]][:, perm])
    a = a._replace(x_train=np.asarray(a.x_train), x_test=np.asarray(a.x_test))
    b = b._replace(x_train=np.asarray(b.x_train), x_test=np.asarray(b.x_test))
    # same images, different fixed permutations, same labels; normalised inputs
    assert np.array_equal(a.y_train, b.y_train)
    assert np.allclose(np.sort(a.x_train[0]), np.sort(b.x_train[0]))
    assert not np.allclose(a.x_train, b.x_train)
    assert abs(float(a.x_train.mean())) < 1e-3 and abs(float(a.x_train.std()) - 1) < 1e-3
    again = cl.permuted_tasks(digits, n_tasks=3, seed=1)
    assert np.array_equal(np.asarray(again.tasks[2].x_test), np.asarray(s.tasks[2].x_test))


def test_stream_memory_does_not_grow_with_tasks(digits):
    """Memory model: one normalised copy of the data + 4 N bytes per task (the permutation)."""
    small, large = cl.permuted_tasks(digits, n_tasks=2), cl.permuted_tasks(digits, n_tasks=50)
    x_tr, x_te = cl.normalize(digits)
    data = x_tr.nbytes + x_te.nbytes + digits.y_train.nbytes + digits.y_test.nbytes
    assert cl.stream_nbytes(small) == data + 2 * 64 * 4
    assert cl.stream_nbytes(large) - cl.stream_nbytes(small) == 48 * 64 * 4


def test_split_streams(digits):
    t = cl.split_tasks(digits, "task")
    assert len(t) == 5 and t.heads == 5 and t.classes == 2
    for i, task in enumerate(t.tasks):
        assert task.head == i and set(np.unique(task.y_train)) == {0, 1}
    c = cl.split_tasks(digits, "class")
    assert c.heads == 1 and c.classes == 10
    assert set(np.unique(c.tasks[3].y_test)) == {6, 7}
    with pytest.raises(ValueError, match="mode"):
        cl.split_tasks(digits, "domain")


def test_hlop_schedule_matches_reference_pmnist():
    plan = cl.hlop_schedule((784, 800, 800), 10, cl.HLOPConfig())
    assert plan[0] == (80, 200, 100)
    assert [p[0] for p in plan[1:]] == [70, 70, 50, 50, 50, 30, 30, 30, 10]
    assert tuple(map(sum, zip(*plan, strict=True))) == (470, 590, 490)


def test_run_config_validation():
    with pytest.raises(ValueError, match="method"):
        cl.RunConfig(method="replay")
    with pytest.raises(ValueError, match="epochs"):
        cl.RunConfig(epochs=0)
    with pytest.raises(ValueError, match="benchmark"):
        cl.make_stream("cifar")


@pytest.mark.slow
def test_hlop_beats_finetuning_and_keeps_rows_orthonormal(digits):
    """Tiny permuted-digits run (4 tasks): the qualitative HLOP result of hlop.md §8.3."""
    stream = cl.permuted_tasks(digits, n_tasks=4)
    ft = cl.run_continual(stream, cl.RunConfig(method="finetune", **TINY))
    hl = cl.run_continual(stream, cl.RunConfig(method="hlop", **TINY))
    assert hl["acc"] - ft["acc"] >= 10.0, (hl["acc"], ft["acc"])
    assert hl["bwt"] >= -8.0, hl["bwt"]
    assert max(hl["orthonormality_error"][:2]) < 0.3
    r = np.asarray(hl["accuracy_matrix"])
    assert r.shape == (4, 4) and np.all(np.triu(r, 1) == 0)


@pytest.mark.slow
def test_threshold_training_on_task_0_only(digits):
    stream = cl.permuted_tasks(digits, n_tasks=2)
    rc = cl.RunConfig(method="finetune", hidden=(16, 16), epochs=1, batch=64, timesteps=6,
                      fwt=False, train_threshold=True)
    one = cl.run_continual(cl.TaskStream("pmnist", stream.tasks[:1], 1, 10, 64), rc)
    two = cl.run_continual(stream, rc)
    assert one["thresholds"] != [0.3, 0.3]  # trained on task 0
    assert two["thresholds"] == one["thresholds"]  # then fixed


def test_checkpoint_resume_reproduces_the_run(digits, tmp_path, monkeypatch):
    stream = cl.permuted_tasks(digits, n_tasks=3)
    rc = cl.RunConfig(method="gpm", hidden=(16, 16), epochs=1, batch=64, timesteps=4)
    full = cl.run_continual(stream, rc)
    ckpt = tmp_path / "run.npz"
    calls = {"n": 0}
    real = cl.evaluate

    def crash_in_task_2(*args, **kwargs):
        calls["n"] += 1
        # baseline (3 tasks) + task 0 (2 evals) + task 1 (3 evals); then fail inside task 2
        if calls["n"] > 3 + 2 + 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(cl, "evaluate", crash_in_task_2)
    with pytest.raises(KeyboardInterrupt):
        cl.run_continual(stream, rc, checkpoint=ckpt)
    monkeypatch.setattr(cl, "evaluate", real)
    resumed = cl.run_continual(stream, rc, checkpoint=ckpt)
    np.testing.assert_allclose(resumed["accuracy_matrix"], full["accuracy_matrix"], atol=1e-6)
    assert resumed["subspace_sizes"] == full["subspace_sizes"]
    other = cl.RunConfig(method="gpm", hidden=(16, 16), epochs=2, batch=64, timesteps=4)
    with pytest.raises(ValueError, match="different run"):
        cl.run_continual(stream, other, checkpoint=ckpt)


@pytest.mark.slow
def test_network_stream_on_a_recurrent_sparse_network(digits):
    """run_network_stream on any Network: HLOP circuits follow the schedule on the input,
    sparse recurrent and readout projections; GPM bases grow; the matrix is lower-triangular."""
    import jax
    import jax.numpy as jnp

    from neuro import network as nw
    from neuro import projections as pj
    from neuro import readouts
    from neuro.neurons import lif
    from neuro.plasticity import presynaptic_activity
    from neuro.run import scan_steps
    from neuro.train import cross_entropy, readout_logits

    k1, k2 = jax.random.split(jax.random.PRNGKey(0))
    conn = pj.fixed_probability(0, 16, 16, 0.3)
    conn = pj.Connectivity(conn.targets, np.full(conn.targets.shape, 0.2, np.float32), 16, 16)
    net = nw.network({"e": nw.population(lif(tau=10.0, v_th=0.5), 16)},
                     {"in": pj.dense("x", "e", key=k1, n_pre=16, n_post=16, gain=2.0),
                      "rec": pj.sparse("e", "e", conn)},
                     readouts={"y": readouts.leaky("e", 10, key=k2, n_in=16, tau=5.0)},
                     inputs={"x": 16})

    def loss(net, batch, key):
        x, y = batch
        xs = jnp.broadcast_to(x[:, :16], (4, *x[:, :16].shape))
        _, rec = scan_steps(net, net.init_state(x.shape[0]), xs, monitors=("spikes", "readout"))
        ce, acc = cross_entropy(readout_logits(rec["readout"]["y"]), y)
        return ce, {"accuracy": acc, "presynaptic": {
            m: presynaptic_activity(net, m, rec, xs, reduce="steps") for m in ("in", "rec", "y")}}

    tasks = cl.permuted_tasks(digits, n_tasks=2).tasks
    sched = ((3, 4, 2), (2, 2, 2))
    for method in ("hlop", "gpm"):
        rc = cl.NetworkRunConfig(method=method, modules=("in", "rec", "y"), epochs=1, batch=128,
                                 schedule=sched, momentum=0.9)
        r = cl.run_network_stream(net, loss, tasks, rc)
        m = np.asarray(r["accuracy_matrix"])
        assert m.shape == (2, 2) and m[0, 1] == 0 and m[1, 1] > 10
        if method == "hlop":
            assert r["subspace_sizes"] == [5, 6, 4]
        else:
            assert min(r["subspace_sizes"]) >= 1
    with pytest.raises(ValueError, match="modules"):
        cl.run_network_stream(net, loss, tasks, cl.NetworkRunConfig(method="gpm"))


_RSS_SCRIPT = """
import resource, sys
import numpy as np
from neuro.tasks import continual as cl
from neuro.tasks.data import Dataset
n_tasks = int(sys.argv[1])
rng = np.random.default_rng(0)
x = rng.uniform(size=(20000, 784)).astype(np.float32)   # 63 MB, MNIST-shaped
y = rng.integers(0, 10, 20000).astype(np.int32)
data = Dataset(x, y, x[:2000], y[:2000], (28, 28), "synthetic")
del x
stream = cl.permuted_tasks(data, n_tasks=n_tasks)
total = 0.0
for task in stream.tasks:                                # every batch of every task, as training
    for i in range(0, len(task.y_train), 64):
        total += float(task.x_train[i:i + 64][0, 0])
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


@pytest.mark.slow
def test_peak_memory_does_not_grow_with_the_number_of_tasks():
    """Issue 16: a 20,000 x 784 stream with 2 or 10 tasks has the same peak RSS (eager permuted
    copies would add 63 MB per task)."""
    import subprocess
    import sys

    rss = [float(subprocess.run([sys.executable, "-c", _RSS_SCRIPT, str(n)], check=True,
                                capture_output=True, text=True).stdout.split()[-1])
           for n in (2, 10)]
    assert rss[1] - rss[0] < 20, rss
