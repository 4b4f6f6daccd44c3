"""Convolution, pooling and flatten projections against NumPy loops; gradients; in a Network."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neuro import neurons, readouts
from neuro._pytree import replace
from neuro.network import network, population
from neuro.projections import conv, dense, flatten, pool, unflatten
from neuro.run import scan_steps


def numpy_conv(x, w, b, stride, pads, dilation):
    """Direct loop over output positions: x [B, H, W, C], w [KH, KW, C, O] (cross-correlation)."""
    (pt, pb), (pl, pr) = pads
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    kh, kw, _, o = w.shape
    hh = (xp.shape[1] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ww = (xp.shape[2] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((x.shape[0], hh, ww, o))
    for i in range(hh):
        for j in range(ww):
            for a in range(kh):
                for c in range(kw):
                    patch = xp[:, i * stride[0] + a * dilation[0], j * stride[1] + c * dilation[1], :]
                    out[:, i, j, :] += patch @ w[a, c]
    return out + (0.0 if b is None else b)


def numpy_pool(x, window, stride, kind):
    hh = (x.shape[1] - window[0]) // stride[0] + 1
    ww = (x.shape[2] - window[1]) // stride[1] + 1
    out = np.zeros((x.shape[0], hh, ww, x.shape[3]))
    for i in range(hh):
        for j in range(ww):
            win = x[:, i * stride[0]: i * stride[0] + window[0], j * stride[1]: j * stride[1] + window[1]]
            out[:, i, j] = win.max(axis=(1, 2)) if kind == "max" else win.mean(axis=(1, 2))
    return out


@pytest.mark.parametrize("kernel, stride, padding, dilation, shape", [
    ((3, 3), 1, "same", 1, (7, 6, 2)),
    ((3, 2), (2, 1), "valid", 1, (9, 7, 3)),
    ((3, 3), 2, ((1, 0), (2, 1)), (2, 1), (10, 8, 2)),
    ((1, 1), 1, 0, 1, (4, 5, 3)),
    ((4, 4), 1, "same", 1, (6, 6, 1)),  # even kernel: XLA's "same" puts the extra row at the end
])
def test_conv_matches_numpy_loop(kernel, stride, padding, dilation, shape):
    rng = np.random.default_rng(1)
    w = rng.normal(size=(*kernel, shape[2], 4)).astype(np.float32)
    proj = conv("x", "c", shape, w, stride=stride, padding=padding, dilation=dilation, bias=True)
    proj = replace(proj, b=jnp.asarray(rng.normal(size=4), jnp.float32))
    z = (rng.random((2, 3, int(np.prod(shape)))) < 0.3).astype(np.float32)  # two leading axes
    got = np.asarray(proj.apply(jnp.asarray(z)))
    ref = numpy_conv(z.reshape(6, *shape), w, np.asarray(proj.b), proj.stride, proj.padding,
                     proj.dilation)
    assert ref.shape[1:] == proj.out_shape
    np.testing.assert_allclose(got, ref.reshape(2, 3, -1), rtol=1e-5, atol=1e-5)
    state, arrivals = proj.deliver(proj.init_state((2, 3)), jnp.asarray(z))
    assert arrivals.shape == (2, 3, 1, proj.n_post)


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pooling_matches_numpy(kind):
    rng = np.random.default_rng(2)
    shape, window, stride = (7, 9, 3), (2, 3), (2, 2)
    x = rng.normal(size=(5, *shape)).astype(np.float32)
    # Pool wrapper around an identity dense projection exposes the pooled map itself
    pooled = ((7 - 2) // 2 + 1) * ((9 - 3) // 2 + 1) * 3
    inner = dense("x", "p", np.eye(pooled, dtype=np.float32))
    proj = pool(inner, shape, window, stride=stride, kind=kind)
    assert proj.n_pre == int(np.prod(shape)) and proj.n_post == pooled
    _, y = proj.deliver(proj.init_state((5,)), jnp.asarray(x.reshape(5, -1)))
    np.testing.assert_allclose(np.asarray(y[:, 0]), numpy_pool(x, window, stride, kind).reshape(5, -1),
                               rtol=1e-6, atol=1e-6)
    # pooling of the convolved map (conv's own pool=) equals conv then a NumPy pool
    w = rng.normal(size=(3, 3, 3, 2)).astype(np.float32)
    cp = conv("x", "c", shape, w, pool=window, pool_stride=stride, pool_kind=kind)
    ref = numpy_pool(numpy_conv(x, w, None, (1, 1), cp.padding, (1, 1)), window, stride, kind)
    np.testing.assert_allclose(np.asarray(cp.apply(jnp.asarray(x.reshape(5, -1)))),
                               ref.reshape(5, -1), rtol=1e-5, atol=1e-5)


def test_gradients_match_finite_differences():
    rng = np.random.default_rng(3)
    shape = (5, 6, 2)
    with jax.enable_x64(True):
        w = jnp.asarray(rng.normal(size=(3, 3, 2, 3)))
        proj = conv("x", "c", shape, w, stride=(1, 2), padding=1, bias=True, pool=2,
                    pool_kind="avg", dtype=jnp.float64)
        outer = pool(conv("p", "c", (2, 3, 2), jnp.asarray(rng.normal(size=(2, 2, 2, 3))),
                          padding="valid", dtype=jnp.float64), (5, 6, 2), 2, kind="max")
        z = jnp.asarray(rng.normal(size=(2, int(np.prod(shape)))))
        probe_a = jnp.asarray(rng.normal(size=(2, proj.n_post)))
        probe_b = jnp.asarray(rng.normal(size=(2, outer.n_post)))

        def loss(w, b, z):
            p = replace(proj, w=w, b=b)
            return jnp.sum(jnp.tanh(p.apply(z)) * probe_a) + jnp.sum(
                outer.deliver(None, z)[1][:, 0] * probe_b)

        grads = jax.grad(loss, argnums=(0, 1, 2))(w, proj.b + 0.1, z)
        args = [w, proj.b + 0.1, z]
        for i, g in enumerate(grads):
            direction = jnp.asarray(rng.normal(size=g.shape))
            eps = 1e-6
            plus = [a + eps * direction if j == i else a for j, a in enumerate(args)]
            minus = [a - eps * direction if j == i else a for j, a in enumerate(args)]
            fd = (loss(*plus) - loss(*minus)) / (2 * eps)
            np.testing.assert_allclose(float(jnp.vdot(g, direction)), float(fd), rtol=1e-6)


def conv_as_matrix(proj):
    """The dense [n_pre, n_post] matrix of a Conv, built by NumPy from unit impulses."""
    eye = np.eye(proj.n_pre)
    rows = numpy_conv(eye.reshape(-1, *proj.in_shape), np.asarray(proj.w), None, proj.stride,
                      proj.padding, proj.dilation)
    return rows.reshape(proj.n_pre, -1)


def test_feedforward_and_recurrent_network_equal_dense_reference(key):
    """A conv SNN (input -> conv -> pool -> conv (+ recurrent conv) -> readout) gives the same
    spikes, readout and gradients as the same network with the convolutions unrolled into
    NumPy-built dense matrices."""
    k1, k2, k3, k4 = jax.random.split(key, 4)
    shape = (6, 6, 1)
    c1 = conv("x", "a", shape, key=k1, out_channels=3, gain=3.0)
    c2 = pool(conv("a", "b", (3, 3, 3), key=k2, out_channels=4, gain=4.0), (6, 6, 3), 2, kind="max")
    rec = conv("b", "b", (3, 3, 4), key=k3, out_channels=4, gain=1.0)
    lif = neurons.lif(tau=5.0)
    pops = {"a": population(lif, 6 * 6 * 3), "b": population(lif, 3 * 3 * 4)}
    ro = {"y": readouts.leaky("b", 5, key=k4, n_in=36, tau=5.0)}
    net = network(pops, {"c1": c1, "c2": c2, "rec": rec}, readouts=ro, inputs={"x": 36})

    d1 = dense("x", "a", conv_as_matrix(c1).astype(np.float32))
    drec = dense("b", "b", conv_as_matrix(rec).astype(np.float32))
    d2 = pool(dense("a", "b", conv_as_matrix(c2.projection).astype(np.float32)), (6, 6, 3), 2,
              kind="max")
    ref = network(pops, {"c1": d1, "c2": d2, "rec": drec}, readouts=ro, inputs={"x": 36})

    x = jax.random.uniform(key, (10, 2, 36)) * 1.5

    def loss(n):
        _, o = scan_steps(n, n.init_state(2), x, monitors=("spikes", "readout.y"))
        return jnp.sum(o["readout.y"] ** 2), o

    (_, out), g = jax.value_and_grad(loss, has_aux=True)(net)
    (_, out_ref), g_ref = jax.value_and_grad(loss, has_aux=True)(ref)
    assert float(out["spikes"]["b"].mean()) > 0.02  # the test is not vacuous
    for pop in ("a", "b"):
        np.testing.assert_array_equal(np.asarray(out["spikes"][pop]), np.asarray(out_ref["spikes"][pop]))
    np.testing.assert_allclose(np.asarray(out["readout.y"]), np.asarray(out_ref["readout.y"]),
                               rtol=1e-5, atol=1e-6)
    # d loss / d kernel tap = the sum of the dense gradient over the matrix entries of that tap
    for name in ("rec", "c1"):
        proj = net.projections[name]
        ids = conv_as_matrix(replace(proj, w=np.arange(1.0, proj.w.size + 1).reshape(proj.w.shape)))
        dmat = np.asarray(g_ref.projections[name].w)
        back = np.bincount(ids.astype(int).ravel(), weights=dmat.ravel(), minlength=proj.w.size + 1)
        assert np.abs(back[1:]).max() > 0
        np.testing.assert_allclose(np.asarray(g.projections[name].w).ravel(), back[1:],
                                   rtol=1e-4, atol=1e-6)


def test_flatten_unflatten_layouts():
    x = np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)  # NCHW
    flat = flatten(x, layout="NCHW")
    assert flat.shape == (2, 60)
    np.testing.assert_array_equal(np.asarray(unflatten(flat, (4, 5, 3))), np.moveaxis(x, 1, -1))
    np.testing.assert_array_equal(np.asarray(unflatten(flat, (4, 5, 3), layout="NCHW")), x)
    np.testing.assert_array_equal(np.asarray(flatten(np.moveaxis(x, 1, -1))), np.asarray(flat))


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="in_shape"):
        conv("x", "c", (4, 4), np.zeros((3, 3, 1, 2)))
    with pytest.raises(ValueError, match="input channels"):
        conv("x", "c", (4, 4, 2), np.zeros((3, 3, 1, 2)))
    with pytest.raises(ValueError, match="HWIO"):
        conv("x", "c", (4, 4, 1), np.zeros((3, 1, 2)))
    with pytest.raises(ValueError, match="padding"):
        conv("x", "c", (4, 4, 1), np.zeros((3, 3, 1, 2)), padding="full")
    with pytest.raises(ValueError, match="does not fit"):
        conv("x", "c", (2, 2, 1), np.zeros((3, 3, 1, 2)), padding="valid")
    with pytest.raises(ValueError, match="stride"):
        conv("x", "c", (4, 4, 1), np.zeros((3, 3, 1, 2)), stride=0)
    with pytest.raises(ValueError, match="pool_kind"):
        conv("x", "c", (4, 4, 1), np.zeros((3, 3, 1, 2)), pool=2, pool_kind="min")
    with pytest.raises(ValueError, match="n_pre"):
        pool(dense("x", "c", np.zeros((5, 2))), (4, 4, 1), 2)
    with pytest.raises(ValueError, match="larger than the map"):
        pool(dense("x", "c", np.zeros((5, 2))), (1, 4, 1), 2)
    proj = conv("x", "c", (4, 4, 1), np.zeros((3, 3, 1, 2)))
    pops = {"c": population(neurons.lif(), 31)}
    with pytest.raises(ValueError, match="postsynaptic"):
        network(pops, {"p": proj}, inputs={"x": 16})


def test_delay_and_channel_placement():
    rng = np.random.default_rng(4)
    w = rng.normal(size=(3, 3, 1, 2)).astype(np.float32)
    proj = conv("x", "c", (4, 4, 1), w, delay=2, channel=1)
    zs = [jnp.asarray(rng.random((3, 16)) < 0.5, jnp.float32) for _ in range(4)]
    state = proj.init_state((3,))
    for t, z in enumerate(zs):
        acc = jnp.zeros((3, 2 * 32 + 1))
        state, acc = proj.deliver_into(state, z, acc)
        expect = np.zeros((3, 32)) if t < 2 else np.asarray(proj.apply(zs[t - 2]))
        np.testing.assert_array_equal(np.asarray(acc[:, :32]), 0.0)  # channel 0 untouched
        np.testing.assert_allclose(np.asarray(acc[:, 32:64]), expect, rtol=1e-6)
        assert float(acc[:, -1].sum()) == 0.0  # the sink
