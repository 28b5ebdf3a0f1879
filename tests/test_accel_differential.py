"""Every fast drop-in of glassnet.accel against its reference pair in glassnet.ops, over random
geometries (hypothesis), float32 and float64: forward, every gradient, and the inference steps.

The reference pairs themselves are checked against PyTorch float64 (test_fuzz_reference.py);
these tests tie the code that runs by default to them.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rounding import assert_close

from glassnet import accel
from glassnet.accel import conv as fast_conv
from glassnet.accel import conv_backward, infer, kernels
from glassnet.accel import pool as fast_pool
from glassnet.accel.crop import live_geometry
from glassnet.errors import GlassnetError
from glassnet.ops import conv as ref_conv
from glassnet.ops import fused as ref_fused
from glassnet.ops import pool as ref_pool

DTYPES = st.sampled_from([np.float64, np.float32])
SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])




@st.composite
def conv_cases(draw):
    groups = draw(st.integers(1, 3))
    c, f = groups * draw(st.integers(1, 3)), groups * draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    padding = draw(st.one_of(
        st.sampled_from(["valid", "same"]), st.integers(0, 2),
        st.tuples(*[st.integers(0, 2)] * 4),
    ))
    return dict(
        shape=(c, draw(st.integers(1, 5)), draw(st.integers(kh, 11)), draw(st.integers(kw, 11))),
        w_shape=(kh, kw, c // groups, f),
        strides=(draw(st.integers(1, 3)), draw(st.integers(1, 3))),
        dilation=draw(st.sampled_from([1, 2])), padding=padding, groups=groups,
        bias=draw(st.booleans()), need_dx=draw(st.booleans()), dtype=draw(DTYPES),
        seed=draw(st.integers(0, 2**31)),
    )


@given(case=conv_cases())
@SETTINGS
def test_fast_conv_equals_reference(threads, case):
    rng = np.random.default_rng(case["seed"])
    dt = case["dtype"]
    x = rng.standard_normal(case["shape"]).astype(dt)
    w = rng.standard_normal(case["w_shape"]).astype(dt)
    b = rng.standard_normal(case["w_shape"][3]).astype(dt) if case["bias"] else None
    hyper = dict(strides=case["strides"], padding=case["padding"], dilation=case["dilation"],
                 groups=case["groups"])
    try:
        ref, rcache = ref_conv.conv2d_forward(x, w, b, **hyper)
    except GlassnetError as exc:  # the fast path refuses exactly what the reference refuses
        with pytest.raises(type(exc)):
            fast_conv.conv2d_forward(x, w, b, **hyper)
        return
    out, cache = fast_conv.conv2d_forward(x, w, b, **hyper)
    assert out.dtype == ref.dtype == dt
    assert_close(out, ref, dt)
    dout = rng.standard_normal(ref.shape).astype(dt)
    fast = conv_backward.conv2d_backward(dout, cache, need_dx=case["need_dx"])
    slow = ref_conv.conv2d_backward(dout, rcache)
    for got, want in zip(fast[1:], slow[1:], strict=True):
        assert (got is None) == (want is None)
        if want is not None:
            assert_close(got, want, dt)
    if case["need_dx"]:
        assert_close(fast[0], slow[0], dt)
    else:
        assert fast[0] is None
    # The inference step: the same output without caches.
    geo = ref_conv.conv_geometry(x.shape[2:], w.shape[:2], case["strides"], case["padding"],
                                 case["dilation"])
    assert_close(infer.ConvStep(geo, case["groups"])(x, w, b), ref, dt)


@pytest.mark.parametrize("shape,w_shape,hyper", [
    ((4, 3, 1, 1), (3, 3, 4, 5), dict(padding=1)),  # ResNet's last stage at CIFAR size: 1 tap
    ((4, 3, 2, 2), (3, 3, 4, 6), dict(padding=1, strides=2)),  # 4 of 9 taps
    ((4, 2, 1, 3), (3, 3, 2, 4), dict(padding="same", groups=2)),  # rows only, grouped
    ((2, 2, 2, 2), (3, 3, 2, 3), dict(padding=2, dilation=2)),  # dilated: the centre tap
    ((3, 2, 3, 1), (5, 5, 3, 2), dict(padding=(1, 3, 2, 2), strides=(2, 1))),  # uneven padding
])
@pytest.mark.parametrize("dt", [np.float64, np.float32])
def test_dropping_dead_taps_equals_reference(threads, shape, w_shape, hyper, dt):
    """Taps that read only padding are dropped (accel.conv.live_geometry): the output and every
    gradient still equal the reference's, dL/dw of the dropped taps exactly zero."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal(shape).astype(dt)
    w = rng.standard_normal(w_shape).astype(dt)
    b = rng.standard_normal(w_shape[3]).astype(dt)
    geo = ref_conv.conv_geometry(shape[2:], w_shape[:2], hyper.get("strides", 1),
                                 hyper["padding"], hyper.get("dilation", 1))
    assert live_geometry(shape[2:], w_shape[:2], geo) is not None  # a crop happens
    ref, rcache = ref_conv.conv2d_forward(x, w, b, **hyper)
    out, cache = fast_conv.conv2d_forward(x, w, b, **hyper)
    assert_close(out, ref, dt)
    dout = rng.standard_normal(ref.shape).astype(dt)
    for got, want in zip(conv_backward.conv2d_backward(dout, cache),
                         ref_conv.conv2d_backward(dout, rcache), strict=True):
        assert_close(got, want, dt)
    assert_close(infer.ConvStep(geo, hyper.get("groups", 1))(x, w, b), ref, dt)


@st.composite
def pool_cases(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    return dict(
        shape=(draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 10)),
               draw(st.integers(1, 10))),
        pool_size=(kh, kw), strides=draw(st.one_of(st.none(), st.integers(1, 3))),
        padding=draw(st.one_of(st.sampled_from(["valid", "same"]), st.integers(0, 1))),
        ceil_mode=draw(st.booleans()), relu=draw(st.booleans()), dtype=draw(DTYPES),
        seed=draw(st.integers(0, 2**31)),
    )


@pytest.mark.skipif(not kernels.AVAILABLE, reason="the fast pool needs numba")
@given(case=pool_cases())
@SETTINGS
def test_fast_max_pool_equals_reference(threads, case):
    rng = np.random.default_rng(case["seed"])
    dt = case["dtype"]
    x = rng.standard_normal(case["shape"]).astype(dt)
    x[..., :1, :2] = 0.5  # a tie: both must route the gradient to the first maximum
    hyper = {k: case[k] for k in ("pool_size", "strides", "padding", "ceil_mode")}
    forward = ref_fused.max_pool2d_relu_forward if case["relu"] else ref_pool.max_pool2d_forward
    backward = ref_fused.max_pool2d_relu_backward if case["relu"] else ref_pool.max_pool2d_backward
    try:
        ref, rcache = forward(x, **hyper)
    except GlassnetError as exc:
        with pytest.raises(type(exc)):
            fast_pool.max_pool2d_forward(x, relu=case["relu"], **hyper)
        return
    out, cache = fast_pool.max_pool2d_forward(x, relu=case["relu"], **hyper)
    np.testing.assert_array_equal(out, ref)  # a maximum is exact
    dout = rng.standard_normal(ref.shape).astype(dt)
    assert_close(fast_pool.max_pool2d_backward(dout, cache), backward(dout, rcache), dt)
    step = infer.PoolStep(x.shape[2:], relu=case["relu"], **hyper)
    np.testing.assert_array_equal(step(x), ref)
    with accel.reference_mode():  # the step's reference branch
        np.testing.assert_array_equal(step(x), ref)


def test_dispatch_picks_by_type_and_mode(rng):
    x, w = rng.standard_normal((2, 3, 6, 6)), rng.standard_normal((3, 3, 2, 4))
    assert isinstance(accel.conv2d_forward(x, w)[1], fast_conv.FastConv2DCache)
    with accel.reference_mode():
        assert isinstance(accel.conv2d_forward(x, w)[1], ref_conv.Conv2DCache)
    xi = x.astype(np.int64)  # not floating: the reference (which says what it accepts)
    assert isinstance(accel.conv2d_forward(xi, w.astype(np.int64))[1], ref_conv.Conv2DCache)
    if kernels.AVAILABLE:
        assert isinstance(accel.max_pool2d_forward(x, pool_size=2)[1],
                          fast_pool.FastMaxPool2DCache)
    with accel.reference_mode():
        assert isinstance(accel.max_pool2d_forward(x, pool_size=2)[1], ref_pool.MaxPool2DCache)


@pytest.mark.skipif(not kernels.AVAILABLE, reason="the fast activations need numba")
@pytest.mark.parametrize("cap", [None, 6.0])
@pytest.mark.parametrize("dt", [np.float64, np.float32])
def test_fast_relu_equals_reference_bit_for_bit(threads, cap, dt):
    """One pass each way; a maximum and a select are exact, NaN and the kinks included."""
    from glassnet.accel import activation as fast_act
    from glassnet.ops import activation as ref_act

    rng = np.random.default_rng(3)
    x = (rng.standard_normal((3, 5, 7, 9)) * 5).astype(dt)
    x.flat[:6] = [0.0, -0.0, 6.0, np.nan, np.inf, -np.inf]
    dout = rng.standard_normal(x.shape).astype(dt)
    if cap is None:
        (ref, rc), (out, fc) = ref_act.relu_forward(x), fast_act.relu_forward(x)
        want = ref_act.relu_backward(dout, rc)
    else:
        ref, rc = ref_act.clipped_relu_forward(x, max_value=cap)
        out, fc = fast_act.clipped_relu_forward(x, max_value=cap)
        want = ref_act.clipped_relu_backward(dout, rc)
    np.testing.assert_array_equal(out, ref)
    assert out.dtype == ref.dtype
    np.testing.assert_array_equal(fast_act.relu_backward(dout, fc), want)


@pytest.mark.parametrize("shape,w_shape,hyper", [
    ((8, 1, 1, 1), (3, 3, 8, 16), dict(padding=1)),
    ((8, 1, 2, 2), (3, 3, 8, 32), dict(padding=1, strides=2)),
    ((4, 1, 3, 2), (5, 5, 4, 16), dict(padding=(2, 1, 2, 2))),
])
@pytest.mark.parametrize("dt", [np.float64, np.float32])
def test_small_batch_step_drops_dead_taps_too(threads, shape, w_shape, hyper, dt):
    """Batch 1 takes the small-batch kernels: the crop applies there too."""
    from glassnet.accel import small_batch

    rng = np.random.default_rng(11)
    x = rng.standard_normal(shape).astype(dt)
    w = rng.standard_normal(w_shape).astype(dt)
    b = rng.standard_normal(w_shape[3]).astype(dt)
    geo = ref_conv.conv_geometry(shape[2:], w_shape[:2], hyper.get("strides", 1),
                                 hyper["padding"], 1)
    step = infer.ConvStep(geo, 1)
    got = step(x, w, b)
    planned = step._small_kernel(x, w)
    if small_batch.AVAILABLE:
        assert planned is not None and planned[1] is not None  # small kernels, with a crop
    assert_close(got, ref_conv.conv2d_forward(x, w, b, **hyper)[0], dt)


@pytest.mark.parametrize("shape,filters", [((5, 4, 3, 6), 7), ((16, 6, 8, 8), 24),
                                           ((3, 1, 1, 1), 2)])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("dt", [np.float64, np.float32])
def test_pointwise_conv_uses_the_input_as_its_columns(threads, shape, filters, bias, dt):
    """A 1×1 stride-1 unpadded convolution multiplies the maps themselves (no im2col copy):
    output and every gradient as the reference's; the cache holds views of x."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal(shape).astype(dt)
    w = rng.standard_normal((1, 1, shape[0], filters)).astype(dt)
    b = rng.standard_normal(filters).astype(dt) if bias else None
    ref, rcache = ref_conv.conv2d_forward(x, w, b)
    out, cache = fast_conv.conv2d_forward(x, w, b)
    assert cache.pointwise and all(np.shares_memory(c, x) for c in cache.cols)
    assert_close(out, ref, dt)
    dout = rng.standard_normal(ref.shape).astype(dt)
    for got, want in zip(conv_backward.conv2d_backward(dout, cache),
                         ref_conv.conv2d_backward(dout, rcache), strict=True):
        assert (got is None) == (want is None)
        if want is not None:
            assert_close(got, want, dt)
    dx, _, _ = conv_backward.conv2d_backward(dout, cache, need_dx=False)
    assert dx is None



@pytest.mark.parametrize("c,f,hw,n", [
    (3, 8, 16, 24),  # F·(K + 1) ≤ SMALL_OUTPUT and long chunks: dL/dw summed in column blocks
    (16, 24, 6, 5),  # one product per chunk; 5 images: chunks of unequal length
    (7, 5, 4, 3),  # K + 1 = 64 rows: each thread's share of dL/dw's rows
])
@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_conv_weight_gradient_split_by_rows_equals_reference(threads, c, f, hw, n, dt):
    """The chunk kernels split dL/dw (and dL/db, its last row) over the threads by rows, each
    summing every batch chunk's product: against the reference, and the same for 1 or 2
    threads up to rounding."""
    from glassnet.accel import small_batch

    rng = np.random.default_rng(c * 100 + f)
    x = rng.standard_normal((c, n, hw, hw)).astype(dt)
    w = rng.standard_normal((3, 3, c, f)).astype(dt)
    b = rng.standard_normal(f).astype(dt)
    out, cache = fast_conv.conv2d_forward(x, w, b, padding="same")
    assert small_batch.usable(out, cache.wm, *cache.cols), "the chunk kernels must run"
    assert len(cache.ranges) == threads
    dout = rng.standard_normal(out.shape).astype(dt)
    ref_out, ref_cache = ref_conv.conv2d_forward(x, w, b, padding="same")
    for got, want in zip(conv_backward.conv2d_backward(dout, cache),
                         ref_conv.conv2d_backward(dout, ref_cache), strict=True):
        assert got.dtype == want.dtype
        assert_close(got, want, dt)


def test_conv_backward_reuses_its_work_array_safely(threads):
    """The backward's dcols come from a per-thread pool kept across calls (no fresh pages per
    step): a larger call, a smaller one, then the first again give the fresh-array results."""

    rng = np.random.default_rng(11)
    cases = []
    for c, f, hw, n in [(8, 16, 10, 6), (3, 5, 4, 2)]:
        x = rng.standard_normal((c, n, hw, hw)).astype(np.float32)
        w = rng.standard_normal((3, 3, c, f)).astype(np.float32)
        out, cache = fast_conv.conv2d_forward(x, w, None, padding="same")
        cases.append((rng.standard_normal(out.shape).astype(np.float32), cache))
    got = [conv_backward.conv2d_backward(d, cache) for d, cache in cases + cases[:1]]
    fresh = lambda slot, shape, dtype: np.empty(shape, dtype=dtype)  # noqa: E731
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(conv_backward, "_scratch", fresh)
        want = [conv_backward.conv2d_backward(d, cache) for d, cache in cases + cases[:1]]
    for g, wnt in zip(got, want, strict=True):
        np.testing.assert_array_equal(g[0], wnt[0])
        np.testing.assert_array_equal(g[1], wnt[1])
