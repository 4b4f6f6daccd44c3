"""Convolutional projections: 2-D convolution, average/max pooling and flattening of spike maps.

Layout (project design): a population or input that holds images is a flat vector of
``H * W * C`` values in **channel-last (HWC) order**, ``flat[(h W + w) C + c] = image[h, w, c]``
(``jnp.reshape`` of an ``[..., H, W, C]`` array). Convolutions run as ``NHWC`` with kernels in
``HWIO`` order, ``w [KH, KW, C_in, C_out]``: the ``[pre, post]`` convention of the package
applied to one kernel tap (``w[kh, kw]`` is a ``[C_in, C_out]`` matrix from presynaptic to
postsynaptic channels). Channel-last was measured faster than ``NCHW`` on XLA:CPU for the layer
sizes of ``benchmarks/reset_mpr.py`` (forward 2.0 ms against 8.5 ms for a batch of 64 28x28x1
maps into 8 channels; gradients equal). :func:`flatten` converts PyTorch ``NCHW`` data.

:class:`Conv` (``conv``): for presynaptic values ``z[..., H * W * C_in]`` (spikes or graded
inputs) the arrivals at the target, an ``[H', W', C_out]`` map, are (cross-correlation, as in
PyTorch, snnTorch and ``lax.conv_general_dilated``)::

    I[oh, ow, o] = b_o + sum_{kh, kw, c} w[kh, kw, c, o] zp[oh s_h + kh d_h, ow s_w + kw d_w, c]
    H' = floor((H + p_top + p_bottom - d_h (KH - 1) - 1) / s_h) + 1        (and W' alike)

with ``zp`` the zero-padded input, strides ``s`` and dilations ``d``. ``pool=`` pools the
convolved map before it reaches the target (snnTorch's ``Conv2d -> MaxPool2d -> Leaky`` order).

:class:`Pool` (``pool(projection, ...)``) pools the *presynaptic* map before any inner projection
(``Conv``, ``Dense``, ``Sparse``): the SpikingJelly order ``Conv -> LIF -> Pool -> Conv/Linear``.
Pooling over ``k_h x k_w`` windows with stride ``s``::

    avg:  y[i, j, c] = (1 / (k_h k_w)) sum_{a, b} x[i s_h + a, j s_w + b, c]
    max:  y[i, j, c] = max_{a, b} x[i s_h + a, j s_w + b, c]     (of spikes: a logical OR)

(no padding; windows that do not fit are dropped, as PyTorch's default). The max-pool gradient
goes to one maximal element of each window (XLA's select-and-scatter).

Flatten: populations are already flat, so a :func:`neuro.projections.dense` projection or a
readout from a convolutional population is the flatten layer; :func:`flatten` and
:func:`unflatten` convert image batches to and from that layout.

Everything is batched (leading axes free), differentiable (w.r.t. weights, bias and presynaptic
values, so surrogate gradients flow through convolutional recurrence: a ``Conv`` from a
population onto itself is a convolutional recurrent layer) and traceable.

Only the dense path exists. The event-driven alternative (scatter the ``KH KW C_out`` kernel
entries of every active pixel: the package's event kernel on the unrolled convolution) was timed
against this dense path in one invocation (``benchmarks/conv_events.py``, batch 32, XLA:CPU, a
loaded shared 2-core machine). Against the layer's fastest dense time it is never faster: 1.0-3.5x
slower at 0.2 % spike density, 2-8x at 1 %, 7-35x at 5 % (14x14x8 -> 16 up to 48x48x16 -> 32).
XLA's convolution is a vectorised dense loop, the scatter pays far more per element, and the
backward pass is dense either way, so an event path would not pay for these layers.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from neuro._pytree import pytree_dataclass, static_field
from neuro.projections.delays import delay_init, delay_step
from neuro.validation import ConfigError, check_choice, check_finite, check_positive

Array = jax.Array
POOLS = ("avg", "max")
_DIMENSIONS = ("NHWC", "HWIO", "NHWC")


def _positive_pair(name: str, value: Any) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int | np.integer) and not isinstance(value, bool) \
        else tuple(value) if isinstance(value, tuple | list) else None
    if pair is None or len(pair) != 2 or any(
            isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1 for v in pair):
        raise ConfigError(f"{name} must be a positive int or a pair of them; got {value!r}")
    return int(pair[0]), int(pair[1])


def _image_shape(name: str, shape: Any) -> tuple[int, int, int]:
    if not isinstance(shape, tuple | list) or len(shape) != 3 or any(
            isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1 for v in shape):
        raise ConfigError(f"{name} must be (height, width, channels) of positive ints; got {shape!r}")
    return int(shape[0]), int(shape[1]), int(shape[2])


def _padding(padding: Any, kernel: tuple[int, int], dilation: tuple[int, int]
             ) -> tuple[tuple[int, int], tuple[int, int]]:
    """Explicit ``((top, bottom), (left, right))`` from ``"valid"``, ``"same"`` (stride 1: output
    of the input's size; odd extents put the extra row at the bottom, as XLA), an int or pairs."""
    if isinstance(padding, str):
        check_choice("padding", padding, ("valid", "same"))
        if padding == "valid":
            return (0, 0), (0, 0)
        pads = []
        for k, d in zip(kernel, dilation, strict=True):
            total = d * (k - 1)
            pads.append((total // 2, total - total // 2))
        return pads[0], pads[1]
    if isinstance(padding, int | np.integer) and not isinstance(padding, bool) and padding >= 0:
        p = int(padding)
        return (p, p), (p, p)
    try:
        (a, b), (c, d) = padding
        out = ((int(a), int(b)), (int(c), int(d)))
        if min(a, b, c, d) >= 0 and all(isinstance(v, int | np.integer) for v in (a, b, c, d)):
            return out
    except (TypeError, ValueError):
        pass
    raise ConfigError(f"padding must be 'valid', 'same', a non-negative int or ((top, bottom), "
                     f"(left, right)); got {padding!r}")


def _as_images(z: Array, shape: tuple[int, int, int]) -> tuple[Array, tuple[int, ...]]:
    """``z[..., H W C]`` -> ``[B, H, W, C]`` and the leading axes."""
    batch = z.shape[:-1]
    return z.reshape(-1, *shape), batch


def pool2d(x: Array, window: tuple[int, int], stride: tuple[int, int], kind: str) -> Array:
    """Average or max pooling of ``[B, H, W, C]`` maps (no padding); see the module docstring."""
    dims, strides = (1, *window, 1), (1, *stride, 1)
    if kind == "max":
        return lax.reduce_window(x, -jnp.inf, lax.max, dims, strides, "VALID")
    total = lax.reduce_window(x, 0.0, lax.add, dims, strides, "VALID")
    return total / (window[0] * window[1])


def _pooled_shape(shape: tuple[int, int, int], window: tuple[int, int], stride: tuple[int, int]
                  ) -> tuple[int, int, int]:
    h, w, c = shape
    if window[0] > h or window[1] > w:
        raise ConfigError(f"pool window {window} is larger than the map {(h, w)}")
    return (h - window[0]) // stride[0] + 1, (w - window[1]) // stride[1] + 1, c


@pytree_dataclass
class Conv:
    """2-D convolution from ``source`` (an ``in_shape`` map) to ``target``; see module docstring.

    ``w [KH, KW, C_in, C_out]`` (HWIO), ``b [C_out]`` or None. ``conv_shape`` is the map after
    the convolution, ``out_shape`` the one the target receives (after ``pool``, if any).
    """

    w: Array
    b: Array | None
    source: str = static_field()
    target: str = static_field()
    in_shape: tuple = static_field()
    stride: tuple = static_field(default=(1, 1))
    padding: tuple = static_field(default=((0, 0), (0, 0)))
    dilation: tuple = static_field(default=(1, 1))
    pool_window: tuple | None = static_field(default=None)
    pool_stride: tuple | None = static_field(default=None)
    pool_kind: str = static_field(default="max")
    channel: int = static_field(default=0)
    delay: int = static_field(default=0)

    n_channels = 1

    @property
    def conv_shape(self) -> tuple[int, int, int]:
        """``(H', W', C_out)`` of the convolution (before ``pool``)."""
        kh, kw = self.w.shape[:2]
        (pt, pb), (pl, pr) = self.padding
        h = (self.in_shape[0] + pt + pb - self.dilation[0] * (kh - 1) - 1) // self.stride[0] + 1
        w = (self.in_shape[1] + pl + pr - self.dilation[1] * (kw - 1) - 1) // self.stride[1] + 1
        return h, w, int(self.w.shape[3])

    @property
    def out_shape(self) -> tuple[int, int, int]:
        """``(H, W, C)`` of the map delivered to the target."""
        if self.pool_window is None:
            return self.conv_shape
        return _pooled_shape(self.conv_shape, self.pool_window, self.pool_stride)

    @property
    def n_pre(self) -> int:
        return int(np.prod(self.in_shape))

    @property
    def n_post(self) -> int:
        return int(np.prod(self.out_shape))

    def num_synapses(self) -> int:
        """Non-zero shared kernel weights (each is reused at every position of the map)."""
        return int(np.count_nonzero(np.asarray(self.w)))

    def init_state(self, batch: tuple[int, ...], dtype: Any = None) -> Any:
        return delay_init(self.delay, (*batch, self.n_pre), dtype or self.w.dtype)

    def apply(self, z: Array) -> Array:
        """The convolved (and pooled) map ``[..., n_post]`` of ``z[..., n_pre]``, no delay."""
        x, batch = _as_images(z.astype(self.w.dtype), self.in_shape)
        y = lax.conv_general_dilated(x, self.w, self.stride, self.padding,
                                     rhs_dilation=self.dilation, dimension_numbers=_DIMENSIONS)
        if self.b is not None:
            y = y + self.b
        if self.pool_window is not None:
            y = pool2d(y, self.pool_window, self.pool_stride, self.pool_kind)
        return y.reshape(*batch, self.n_post)

    def deliver(self, state: Any, z: Array, *, binary: bool = False) -> tuple[Any, Array]:
        """Arrivals ``[..., 1, n_post]`` of this step (after the delay line)."""
        state, z = delay_step(self.delay, state, z)
        return state, self.apply(z)[..., None, :]

    def deliver_into(self, state: Any, z: Array, acc: Array, *, binary: bool = False
                     ) -> tuple[Any, Array]:
        """Add this step's arrivals into channel ``self.channel`` of the target's flat
        accumulator ``acc`` ``[..., C n_post + 1]``."""
        state, z = delay_step(self.delay, state, z)
        start = self.channel * self.n_post
        return state, acc.at[..., start: start + self.n_post].add(self.apply(z).astype(acc.dtype))


def conv(
    source: str,
    target: str,
    in_shape: tuple[int, int, int],
    w: Any = None,
    *,
    key: Array | None = None,
    kernel: int | tuple[int, int] = 3,
    out_channels: int | None = None,
    stride: int | tuple[int, int] = 1,
    padding: Any = "same",
    dilation: int | tuple[int, int] = 1,
    gain: float = 1.0,
    bias: bool = False,
    pool: int | tuple[int, int] | None = None,
    pool_stride: int | tuple[int, int] | None = None,
    pool_kind: str = "max",
    channel: int = 0,
    delay: int = 0,
    dtype: Any = None,
) -> Conv:
    """A :class:`Conv` projection from ``source`` (an ``in_shape = (H, W, C_in)`` map) to ``target``.

    Either ``w`` (``[KH, KW, C_in, C_out]``, HWIO) or ``key, kernel, out_channels`` for
    ``w ~ N(0, gain^2 / (KH KW C_in))`` (He-style fan-in scaling). ``padding``: ``"same"``
    (default), ``"valid"``, an int, or ``((top, bottom), (left, right))``. ``bias=True`` adds a
    trainable zero bias per output channel. ``pool`` (window, with ``pool_stride`` defaulting to
    the window, ``pool_kind`` ``"max"`` or ``"avg"``) pools the convolved map before delivery. The
    target must have ``H' W' C_out`` neurons (see :attr:`Conv.out_shape`). ``delay``: extra whole
    steps of uniform delay; ``channel``: the target's receptor channel.
    """
    from neuro.projections.dense import _check_delay_channel

    in_shape = _image_shape("in_shape", in_shape)
    dtype = dtype or float
    if w is None:
        if key is None or out_channels is None:
            raise ConfigError("conv needs either w or key and out_channels")
        if isinstance(out_channels, bool) or not isinstance(out_channels, int | np.integer) \
                or out_channels < 1:
            raise ConfigError(f"out_channels must be a positive int; got {out_channels!r}")
        kh, kw = _positive_pair("kernel", kernel)
        check_positive("gain", gain, allow_zero=True)
        fan_in = kh * kw * in_shape[2]
        w = jax.random.normal(key, (kh, kw, in_shape[2], int(out_channels))) * (gain / np.sqrt(fan_in))
    w = jnp.asarray(w, dtype=dtype)
    if w.ndim != 4:
        raise ConfigError(f"w must be a [KH, KW, C_in, C_out] (HWIO) kernel; got shape {w.shape}")
    if w.shape[2] != in_shape[2]:
        raise ConfigError(f"w has {w.shape[2]} input channels but in_shape {in_shape} has "
                         f"{in_shape[2]}")
    check_finite("w", w)
    _check_delay_channel(delay, channel)
    stride = _positive_pair("stride", stride)
    dilation = _positive_pair("dilation", dilation)
    pads = _padding(padding, tuple(w.shape[:2]), dilation)
    window = window_stride = None
    if pool is not None:
        check_choice("pool_kind", pool_kind, POOLS)
        window = _positive_pair("pool", pool)
        window_stride = window if pool_stride is None else _positive_pair("pool_stride", pool_stride)
    elif pool_stride is not None:
        raise ConfigError("pool_stride needs pool (the pooling window)")
    b = jnp.zeros((w.shape[3],), w.dtype) if bias else None
    proj = Conv(w, b, source, target, in_shape, stride, pads, dilation, window, window_stride,
                pool_kind, int(channel), int(delay))
    h, wd, _ = proj.conv_shape
    if h < 1 or wd < 1:
        raise ConfigError(f"the kernel {tuple(w.shape[:2])} (dilation {dilation}) does not fit the "
                         f"padded input {in_shape[:2]} with padding {pads}")
    if window is not None:
        _pooled_shape(proj.conv_shape, window, window_stride)
    return proj


@pytree_dataclass
class Pool:
    """A projection whose presynaptic ``in_shape`` map is pooled before ``projection`` sees it."""

    projection: Any
    in_shape: tuple = static_field()
    window: tuple = static_field(default=(2, 2))
    stride: tuple = static_field(default=(2, 2))
    kind: str = static_field(default="max")

    def __getattr__(self, name: str) -> Any:  # source, target, channel, n_post, ... of the inner
        if name in ("projection", "in_shape", "window", "stride", "kind"):
            raise AttributeError(name)
        return getattr(self.projection, name)

    @property
    def n_pre(self) -> int:
        return int(np.prod(self.in_shape))

    @property
    def pooled_shape(self) -> tuple[int, int, int]:
        return _pooled_shape(self.in_shape, self.window, self.stride)

    def num_synapses(self) -> int:
        return self.projection.num_synapses()

    def init_state(self, batch: tuple[int, ...], dtype: Any = None) -> Any:
        return self.projection.init_state(batch, dtype)

    def apply(self, z: Array) -> Array:
        """The pooled presynaptic values ``[..., prod(pooled_shape)]``."""
        x, batch = _as_images(z.astype(jnp.result_type(z.dtype, jnp.float32)), self.in_shape)
        y = pool2d(x, self.window, self.stride, self.kind)
        return y.reshape(*batch, -1)

    def deliver(self, state: Any, z: Array, *, binary: bool = False) -> tuple[Any, Array]:
        # max-pooled spikes stay binary; averaged ones are graded
        return self.projection.deliver(state, self.apply(z), binary=binary and self.kind == "max")

    def deliver_into(self, state: Any, z: Array, acc: Array, *, binary: bool = False
                     ) -> tuple[Any, Array]:
        return self.projection.deliver_into(state, self.apply(z), acc,
                                            binary=binary and self.kind == "max")


def pool(projection: Any, in_shape: tuple[int, int, int], window: int | tuple[int, int] = 2, *,
         stride: int | tuple[int, int] | None = None, kind: str = "max") -> Pool:
    """Pool the presynaptic ``in_shape = (H, W, C)`` map of ``projection`` (``"max"`` or ``"avg"``
    over ``window``, ``stride`` defaulting to the window) before it is delivered. The inner
    projection's ``n_pre`` must equal the pooled size; the wrapper's ``n_pre`` is ``H W C``."""
    in_shape = _image_shape("in_shape", in_shape)
    window = _positive_pair("window", window)
    stride = window if stride is None else _positive_pair("stride", stride)
    check_choice("kind", kind, POOLS)
    pooled = _pooled_shape(in_shape, window, stride)
    if projection.n_pre != int(np.prod(pooled)):
        raise ConfigError(f"the pooled map {pooled} has {int(np.prod(pooled))} values but the "
                         f"projection has n_pre = {projection.n_pre}")
    return Pool(projection, in_shape, window, stride, kind)


def flatten(images: Any, layout: str = "NHWC") -> Array:
    """Image batches ``[..., H, W, C]`` (``layout="NHWC"``) or ``[..., C, H, W]`` (``"NCHW"``,
    PyTorch) -> the flat channel-last vectors ``[..., H W C]`` that populations and inputs hold."""
    check_choice("layout", layout, ("NHWC", "NCHW"))
    x = jnp.asarray(images)
    if x.ndim < 3:
        raise ConfigError(f"images must have at least 3 axes ([..., H, W, C] or [..., C, H, W]); "
                         f"got shape {x.shape}")
    if layout == "NCHW":
        x = jnp.moveaxis(x, -3, -1)
    return x.reshape(*x.shape[:-3], -1)


def unflatten(z: Any, shape: tuple[int, int, int], layout: str = "NHWC") -> Array:
    """Flat channel-last vectors ``[..., H W C]`` -> ``[..., H, W, C]`` (or ``[..., C, H, W]``)."""
    check_choice("layout", layout, ("NHWC", "NCHW"))
    shape = _image_shape("shape", shape)
    z = jnp.asarray(z)
    if z.shape[-1] != int(np.prod(shape)):
        raise ConfigError(f"z has {z.shape[-1]} values per sample but shape {shape} needs "
                         f"{int(np.prod(shape))}")
    x = z.reshape(*z.shape[:-1], *shape)
    return jnp.moveaxis(x, -1, -3) if layout == "NCHW" else x
