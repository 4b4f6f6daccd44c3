"""Orthogonal projection (HLOP/GPM) on any projection of a Network, HLOP in the optimiser,
GPM bases, EWC on a Network's float leaves."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from neuro import network as nw
from neuro import projections as pj
from neuro import readouts
from neuro.neurons import alif, lif
from neuro.optim import (
    EWCState,
    empirical_fisher,
    ewc_penalty,
    ewc_proximal,
    ewc_regularizer,
    fisher_diagonal,
    gpm_update_basis,
    hlop,
    hlop_add,
    hlop_circuits,
    hlop_merge,
    orthogonal_projection,
    projection_state,
)
from neuro.plasticity import (
    hebbian_update,
    num_fixed,
    presynaptic_activity,
    project_out,
    subspace_add,
    subspace_init,
)
from neuro.run import scan_steps
from neuro.train import Trainer, cross_entropy, readout_logits


def orthonormal_rows(seed, k, n):
    return np.linalg.qr(np.random.default_rng(seed).normal(size=(n, k)))[0].T.astype(np.float32)


def small_net(kind="dense", n_in=10, n=12, p=0.5, seed=0, delays=False):
    """Input -> e (dense), e -> e recurrent (dense or sparse), readout of e."""
    key = jax.random.PRNGKey(seed)
    k1, k2, k3 = jax.random.split(key, 3)
    pops = {"e": nw.population(alif(thr=0.5, beta=0.2), n)}
    proj = {"in": pj.dense("x", "e", key=k1, n_pre=n_in, n_post=n, gain=3.0)}
    if kind == "dense":
        proj["rec"] = pj.dense("e", "e", key=k2, n_pre=n, n_post=n)
    else:
        conn = pj.fixed_probability(seed, n, n, p, weights=0.3)
        rng = np.random.default_rng(seed)
        conn = pj.Connectivity(conn.targets, (rng.normal(size=conn.targets.shape) * 0.3
                                              ).astype(np.float32), conn.n_pre, conn.n_post,
                               conn.n_channels)
        dl = (lambda pre, post, ch: (pre + post) % 3) if delays else None
        proj["rec"] = pj.sparse("e", "e", conn, delays=dl)
    out = {"y": readouts.leaky("e", 3, key=k3, n_in=n)}
    return nw.network(pops, proj, readouts=out, inputs={"x": n_in})


def dense_rec_weights(net):
    rec = net.projections["rec"]
    return np.asarray(rec.to_dense()) if hasattr(rec, "to_dense") else np.asarray(rec.w)[None]


def test_dense_projection_equals_input_side_form_and_protects_old_inputs():
    rng = np.random.default_rng(0)
    net = small_net("dense")
    basis = orthonormal_rows(1, 3, 10)
    x = rng.normal(size=(6, 10)).astype(np.float32)
    delta = rng.normal(size=(6, 12)).astype(np.float32)
    grads = jax.tree_util.tree_map(jnp.zeros_like, net)
    grads = nw.replace(grads, projections={**grads.projections, "in": nw.replace(
        grads.projections["in"], w=jnp.asarray(x.T @ delta))})
    for form in ("rows", "gram"):
        tx = optax.chain(orthogonal_projection(net, {"in": basis}, form=form), optax.sgd(0.1))
        updates, _ = tx.update(grads, tx.init(net), net)
        # same as projecting the presynaptic rows (HLOP's input-side form)
        want = -0.1 * np.asarray(project_out(jnp.asarray(basis), jnp.asarray(x))).T @ delta
        np.testing.assert_allclose(np.asarray(updates.projections["in"].w), want, rtol=1e-4,
                                   atol=1e-5)
        old_in = rng.normal(size=(5, 3)).astype(np.float32) @ basis
        np.testing.assert_allclose(old_in @ np.asarray(updates.projections["in"].w), 0.0,
                                   atol=1e-5)
    with pytest.raises(ValueError, match="basis of 'in' must be"):
        orthogonal_projection(net, {"in": basis[:, :5]})
    with pytest.raises(KeyError, match="neither a projection"):
        orthogonal_projection(net, {"nope": basis})


@pytest.mark.parametrize("delays", [False, True])
def test_sparse_edge_projection_is_exact_per_column(delays):
    """For sparse edge weights, B dW = 0 holds for every postsynaptic column (and delay slot),
    the update is the closest such edge vector, and scatter-project-gather would not do it."""
    net = small_net("sparse", delays=delays)
    rec = net.projections["rec"]
    rng = np.random.default_rng(1)
    basis = orthonormal_rows(2, 3, 12)
    g = jnp.asarray(rng.normal(size=rec.weights.shape), jnp.float32)
    state = projection_state(net, {"rec": basis})
    tx = orthogonal_projection(net, {"rec": basis})
    grads = nw.replace(jax.tree_util.tree_map(jnp.zeros_like, net), projections={
        "in": nw.replace(net.projections["in"], w=jnp.zeros((10, 12))),
        "rec": nw.replace(rec, weights=g)})
    upd, _ = tx.update(grads, tx.init(net), net)
    u = np.asarray(upd.projections["rec"].weights)
    # the dense change of every delay slot: B dW_d = 0
    moved = nw.replace(rec, weights=rec.weights + jnp.asarray(u))
    dw = np.asarray(moved.to_dense()) - np.asarray(rec.to_dense())
    np.testing.assert_allclose(np.einsum("ki,dij->dkj", basis, dw), 0.0, atol=1e-4)
    # padding entries untouched; u - g is in the row space of the constraints (closest point):
    # g - u is orthogonal to every admissible direction, in particular to u itself
    sink = rec.n_channels * rec.n_post
    pad = np.asarray(rec.targets) == sink
    np.testing.assert_array_equal(u[pad], np.asarray(g)[pad])
    real = ~pad
    assert abs(float(np.sum((np.asarray(g) - u)[real] * u[real]))) < 1e-3
    # the naive dense projection of the masked gradient breaks B dW = 0
    naive = np.asarray(rec.to_dense())[0] * 0
    mask = np.asarray(nw.replace(rec, weights=jnp.ones_like(rec.weights)).to_dense()).sum(0) > 0
    if not delays:
        gd = np.asarray(nw.replace(rec, weights=g).to_dense())[0]
        naive = (gd - basis.T @ (basis @ gd)) * mask
        assert np.abs(basis @ naive).max() > 1e-2
    assert state.bases["rec"].edges is not None


def test_sparse_all_to_all_reduces_to_the_dense_rule():
    n = 8
    w = np.random.default_rng(3).normal(size=(n, n)).astype(np.float32)
    conn = pj.from_dense(w)
    pops = {"e": nw.population(lif(), n)}
    dnet = nw.network(pops, {"rec": pj.dense("e", "e", w)})
    snet = nw.network(pops, {"rec": pj.sparse("e", "e", conn)})
    basis = orthonormal_rows(4, 3, n)
    g = np.random.default_rng(5).normal(size=(n, n)).astype(np.float32)
    sg = np.zeros(conn.targets.shape, np.float32)
    rows, slots = np.nonzero(conn.targets[:-1] != n)
    sg[rows, slots] = g[rows, conn.targets[rows, slots]]
    sp = projection_state(snet, {"rec": basis})
    dp = projection_state(dnet, {"rec": basis})
    from neuro.optim import project_updates, weight_site

    su = project_updates({"rec": weight_site(snet, "rec")}, nw.replace(snet, projections={
        "rec": nw.replace(snet.projections["rec"], weights=jnp.asarray(sg))}), sp)
    du = project_updates({"rec": weight_site(dnet, "rec")}, nw.replace(dnet, projections={
        "rec": nw.replace(dnet.projections["rec"], w=jnp.asarray(g))}), dp)
    dense_from_sparse = np.asarray(nw.replace(snet.projections["rec"], weights=su.projections[
        "rec"].weights).to_dense())[0]
    np.testing.assert_allclose(dense_from_sparse, np.asarray(du.projections["rec"].w), atol=1e-5)


def test_presynaptic_activity_of_input_recurrent_and_readout():
    net = small_net("sparse")
    xs = jnp.asarray(np.random.default_rng(0).uniform(size=(7, 4, 10)), jnp.float32)
    _, rec = scan_steps(net, net.init_state(4), xs, monitors=("spikes",))
    a_in = presynaptic_activity(net, "in", rec, xs, reduce="steps")
    assert a_in.shape == (28, 10)
    np.testing.assert_allclose(np.asarray(a_in), np.asarray(xs).reshape(28, 10))
    a_rec = presynaptic_activity(net, "rec", rec, reduce="mean")
    np.testing.assert_allclose(np.asarray(a_rec), np.asarray(rec["spikes"]["e"]).mean(0))
    a_y = presynaptic_activity(net, "y", {"spikes.e": rec["spikes"]["e"]}, reduce="wfr",
                               window=(2, 7))
    w = np.exp(-(5 - np.arange(1, 6)) * 0.05)
    np.testing.assert_allclose(np.asarray(a_y), np.tensordot(w / w.sum(), np.asarray(
        rec["spikes"]["e"][2:7]), 1), rtol=1e-5)
    with pytest.raises(ValueError, match="inputs"):
        presynaptic_activity(net, "in", rec)


def _loss(net, batch, key):
    xs, y = batch
    xs = jnp.swapaxes(xs, 0, 1)
    _, rec = scan_steps(net, net.init_state(xs.shape[1]), xs, monitors=("spikes", "readout"))
    ce, acc = cross_entropy(readout_logits(rec["readout"]["y"]), y)
    return ce, {"accuracy": acc, "presynaptic": {
        "in": presynaptic_activity(net, "in", rec, xs, reduce="steps"),
        "rec": presynaptic_activity(net, "rec", rec, reduce="steps")}}


def test_hlop_in_the_trainer_learns_subspaces_and_protects_old_inputs():
    """HLOP through neuro.train.Trainer on a recurrent sparse network: the circuits learn during
    training; on the next task, old-subspace inputs see unchanged input and recurrent weights."""
    net = small_net("sparse", n=12)
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(64, 6, 10)).astype(np.float32)
    y = rng.integers(0, 3, 64).astype(np.int32)
    circuits = {"in": subspace_init(10, 6), "rec": subspace_init(12, 8)}
    tx = optax.chain(hlop(net, circuits, lr=0.05, block={"in": 3, "rec": 4}), optax.sgd(0.1))
    trainer = Trainer(_loss, tx)
    state = hlop_add(trainer.init(net), net, {"in": 3, "rec": 4}, seed=1)
    h0 = np.asarray(hlop_circuits(state)["in"].weight).copy()
    net1, state, hist = trainer.fit(net, x, y, epochs=2, batch_size=16, opt_state=state)
    assert np.isfinite(hist[-1]["loss"]) and "presynaptic" not in hist[-1]
    c = hlop_circuits(state)
    assert not np.allclose(np.asarray(c["in"].weight), h0)  # Hebbian learning ran
    state = hlop_add(hlop_merge(state), net1, {"in": 3, "rec": 4}, seed=2)
    c = hlop_circuits(state)
    assert num_fixed(c["in"]) == 3 and num_fixed(c["rec"]) == 4
    net2, state, _ = trainer.fit(net1, x[:, ::-1].copy(), y, epochs=1, batch_size=16,
                                 opt_state=state)
    for name, field in (("in", "w"), ("rec", None)):
        b = np.asarray(c[name].weight)[np.asarray(c[name].fixed)]
        if field:
            dw = np.asarray(net2.projections[name].w) - np.asarray(net1.projections[name].w)
            # HLOP's dense rule uses H^T H: exact only as far as the rows are orthonormal
            assert np.abs(dw).max() > 0
            assert np.linalg.norm(b @ dw) < 0.3 * np.linalg.norm(dw)
        else:  # sparse recurrent: exact pseudo-inverse rule
            dw = dense_rec_weights(net2)[0] - dense_rec_weights(net1)[0]
            assert np.abs(dw).max() > 0
            np.testing.assert_allclose(b @ dw, 0.0, atol=1e-4)


def test_empirical_fisher_on_a_network():
    net = small_net("dense", n=6)
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(4, 5, 10)).astype(np.float32)
    y = rng.integers(0, 3, 4).astype(np.int32)
    loss = lambda n, b, k: (_loss(n, b, k)[0], {})
    f = empirical_fisher(loss, net, x, y, chunk=2)
    from neuro._pytree import value_and_grad

    vg = jax.jit(value_and_grad(loss, has_aux=True))
    want = sum(np.asarray(vg(net, (x[i:i + 1], y[i:i + 1]), None)[1].projections["rec"].w) ** 2
               for i in range(4)) / 4
    np.testing.assert_allclose(np.asarray(f.projections["rec"].w), want, rtol=1e-4, atol=1e-9)
    assert f.projections["rec"].mask is None


def test_gpm_first_task_energy_threshold():
    rng = np.random.default_rng(0)
    r = rng.normal(size=(300, 20)) * np.linspace(5, 0.1, 20)
    m = gpm_update_basis(None, r, 0.9)
    s = np.linalg.svd(r.T, compute_uv=False)
    ratio = np.cumsum(s**2) / np.sum(s**2)
    assert m.shape == (20, int(np.sum(ratio < 0.9)))
    np.testing.assert_allclose(m.T @ m, np.eye(m.shape[1]), atol=1e-5)


def test_gpm_later_task_reaches_threshold_and_stays_orthonormal():
    rng = np.random.default_rng(1)
    m = gpm_update_basis(None, rng.normal(size=(300, 30)) * np.linspace(4, 0.1, 30), 0.8)
    r2 = rng.normal(size=(300, 30)) * np.linspace(0.1, 4, 30)
    m2 = gpm_update_basis(m, r2, 0.95)
    assert m2.shape[1] > m.shape[1]
    np.testing.assert_allclose(m2[:, : m.shape[1]], m)
    np.testing.assert_allclose(m2.T @ m2, np.eye(m2.shape[1]), atol=1e-4)
    captured = np.sum((m2.T @ r2.T) ** 2) / np.sum(r2**2)
    assert captured >= 0.95 - 1e-6
    with pytest.raises(ValueError, match="threshold"):
        gpm_update_basis(None, r2, 1.5)


def test_hlop_span_approaches_gpm_span():
    """After one task, the lateral rows learnt by Oja span what GPM's SVD keeps (hlop.md §5)."""
    rng = np.random.default_rng(2)
    basis = np.linalg.qr(rng.normal(size=(24, 5)))[0]
    x = (rng.normal(size=(3000, 5)) * np.linspace(3, 1, 5)) @ basis.T
    x = (x + 0.05 * rng.normal(size=x.shape)).astype(np.float32)
    # GPM keeps the directions whose cumulative energy stays below the threshold: the top 4 here
    gpm = gpm_update_basis(None, x[:300], 0.99)
    assert gpm.shape[1] == 4
    s = subspace_add(subspace_init(24, 5), 5, 0)
    batches = jnp.asarray(x[:2944].reshape(46, 64, 24))
    s = jax.jit(lambda s: jax.lax.scan(
        lambda s, _: (jax.lax.scan(lambda s, b: (hebbian_update(s, b, lr=0.01, rows=(0, 5)),
                                                 None), s, batches)[0], None),
        s, None, length=3)[0])(s)
    q = np.linalg.qr(np.asarray(s.weight).T)[0]
    cosines = np.linalg.svd(q.T @ gpm, compute_uv=False)
    assert np.degrees(np.arccos(np.clip(cosines.min(), -1, 1))) < 10.0


def test_ewc_regularizer_is_penalty_gradient():
    rng = np.random.default_rng(3)
    params = {"a": jnp.asarray(rng.normal(size=(3, 2)), jnp.float32)}
    anchor = {"a": jnp.zeros((3, 2))}
    fisher = {"a": jnp.asarray(rng.uniform(size=(3, 2)), jnp.float32)}
    tx = ewc_regularizer(5.0, anchor, fisher)
    zero = {"a": jnp.zeros((3, 2))}
    updates, _ = tx.update(zero, tx.init(params), params)
    want = jax.grad(lambda p: ewc_penalty(p, anchor, fisher, 5.0))(params)
    np.testing.assert_allclose(np.asarray(updates["a"]), np.asarray(want["a"]), rtol=1e-5)


def test_ewc_proximal_solves_the_implicit_step():
    p, a, f, lam, lr = jnp.array([2.0]), jnp.array([0.0]), jnp.array([3.0]), 10.0, 0.1
    tx = optax.chain(optax.sgd(lr), ewc_proximal(lam, lr))
    state = (tx.init(p)[0], EWCState(a, f))
    g = jnp.array([0.5])
    upd, _ = tx.update(g, state, p)
    new = p + upd
    # stationarity of |new - p + lr g|^2/(2 lr) + lam/2 f (new - a)^2
    resid = (new - p + lr * g) / lr + lam * f * (new - a)
    np.testing.assert_allclose(np.asarray(resid), 0.0, atol=1e-5)
    assert float(lr * lam * f[0]) > 2  # where the explicit step would diverge


def test_fisher_diagonal():
    g = {"w": jnp.array([[1.0, 2.0], [3.0, 0.0]])}
    np.testing.assert_allclose(np.asarray(fisher_diagonal(g)["w"]), [5.0, 2.0])
