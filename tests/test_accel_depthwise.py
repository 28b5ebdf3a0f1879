"""The direct depthwise convolution (glassnet.accel.depthwise) against the reference pair in
glassnet.ops.conv over random geometries (hypothesis), float32 and float64, 1 and 2 threads:
forward, dL/dx, dL/dw, dL/db and the inference step; plus the rule that picks it.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rounding import assert_close

from glassnet import accel
from glassnet.accel import conv as fast_conv
from glassnet.accel import conv_backward, depthwise, infer, kernels, parallel
from glassnet.ops import conv as ref_conv

pytestmark = pytest.mark.skipif(not depthwise.AVAILABLE, reason="needs numba")

SETTINGS = settings(max_examples=50, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])




@st.composite
def depthwise_cases(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    c, m = draw(st.integers(2, 5)), draw(st.integers(1, 3))
    padding = draw(st.one_of(
        st.sampled_from(["valid", "same"]), st.integers(0, 3),
        st.tuples(*[st.integers(0, 3)] * 4),  # uneven: (top, bottom, left, right)
    ))
    return dict(
        shape=(c, draw(st.integers(1, 4)), draw(st.integers(1, 12)), draw(st.integers(1, 12))),
        w_shape=(kh, kw, 1, c * m),
        strides=(draw(st.integers(1, 3)), draw(st.integers(1, 3))),
        dilation=(draw(st.integers(1, 2)), draw(st.integers(1, 2))), padding=padding,
        bias=draw(st.booleans()), need_dx=draw(st.booleans()),
        dtype=draw(st.sampled_from([np.float64, np.float32])), seed=draw(st.integers(0, 2**31)),
    )


def _arrays(case):
    rng = np.random.default_rng(case["seed"])
    dt = case["dtype"]
    x = rng.standard_normal(case["shape"]).astype(dt)
    w = rng.standard_normal(case["w_shape"]).astype(dt)
    b = rng.standard_normal(case["w_shape"][3]).astype(dt) if case["bias"] else None
    return rng, x, w, b


@given(case=depthwise_cases())
@SETTINGS
def test_depthwise_equals_reference(threads, case):
    rng, x, w, b = _arrays(case)
    dt, c = case["dtype"], case["shape"][0]
    hyper = dict(strides=case["strides"], padding=case["padding"], dilation=case["dilation"],
                 groups=c)
    try:
        geo = ref_conv.conv_geometry(x.shape[2:], w.shape[:2], case["strides"],
                                     case["padding"], case["dilation"])
    except ValueError:  # the kernel does not fit: both paths refuse it (test_accel_differential)
        return
    ref, rcache = ref_conv.conv2d_forward(x, w, b, **hyper)
    out, cache = fast_conv.conv2d_forward(x, w, b, **hyper)
    assert isinstance(cache, depthwise.DepthwiseCache)  # the direct path ran
    assert out.dtype == ref.dtype == dt
    assert_close(out, ref, dt)
    dout = rng.standard_normal(ref.shape).astype(dt)
    dx, dw, db = accel.conv2d_backward(dout, cache, need_dx=case["need_dx"])
    rdx, rdw, rdb = ref_conv.conv2d_backward(dout, rcache)
    assert dw.shape == w.shape and dw.dtype == dt
    assert_close(dw, rdw, dt)
    assert (db is None) == (rdb is None)
    if rdb is not None:
        assert_close(db, rdb, dt)
    if case["need_dx"]:
        assert dx.shape == x.shape
        assert_close(dx, rdx, dt)
    else:
        assert dx is None
    assert_close(infer.ConvStep(geo, c)(x, w, b), ref, dt)


@pytest.mark.parametrize("shape,w_shape,hyper", [
    ((4, 3, 1, 1), (3, 3, 1, 4), dict(padding=1)),  # MobileNet's last stage at CIFAR size
    ((3, 2, 2, 2), (3, 3, 1, 6), dict(padding=1, strides=2)),  # 4 of 9 taps, multiplier 2
    ((2, 2, 3, 1), (5, 5, 1, 2), dict(padding=(1, 3, 2, 2), strides=(2, 1))),  # uneven padding
])
@pytest.mark.parametrize("dt", [np.float64, np.float32])
def test_depthwise_with_dead_taps_equals_reference(threads, shape, w_shape, hyper, dt):
    """Dead taps dropped first (accel.conv.live_geometry), then the direct path on the rest."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape).astype(dt)
    w = rng.standard_normal(w_shape).astype(dt)
    b = rng.standard_normal(w_shape[3]).astype(dt)
    hyper = dict(hyper, groups=shape[0])
    ref, rcache = ref_conv.conv2d_forward(x, w, b, **hyper)
    out, cache = fast_conv.conv2d_forward(x, w, b, **hyper)
    assert isinstance(cache, depthwise.DepthwiseCache) and cache.crop is not None
    assert_close(out, ref, dt)
    dout = rng.standard_normal(ref.shape).astype(dt)
    for got, want in zip(conv_backward.conv2d_backward(dout, cache),
                         ref_conv.conv2d_backward(dout, rcache), strict=True):
        assert_close(got, want, dt)


def test_depthwise_same_bits_for_any_thread_count(monkeypatch):
    """Each thread owns whole channels (no partial sums added): 1 and 2 threads agree exactly."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((6, 4, 9, 9)).astype(np.float32)
    w = rng.standard_normal((3, 3, 1, 6)).astype(np.float32)
    monkeypatch.setattr(parallel, "MIN_WORK_PER_CHUNK", 1)
    old, results = parallel.configured_threads(), []
    try:
        for n in (1, 2):
            parallel.set_num_threads(n)
            with parallel.split_scope():
                out, cache = fast_conv.conv2d_forward(x, w, padding="same", groups=6)
                results.append((out, *conv_backward.conv2d_backward(np.cos(out), cache)[:2]))
    finally:
        parallel.set_num_threads(old)
    for one, two in zip(*results, strict=True):
        np.testing.assert_array_equal(one, two)


def test_depthwise_rule(rng):
    """Depthwise (groups == C > 1) runs direct; ungrouped (C = 1 too), other grouped convs,
    mixed dtypes, numba switched off and reference mode do not."""
    x = rng.standard_normal((4, 2, 6, 6))
    assert isinstance(accel.conv2d_forward(x, rng.standard_normal((3, 3, 1, 8)), groups=4)[1],
                      depthwise.DepthwiseCache)
    not_direct = [
        (x[:1], rng.standard_normal((3, 3, 1, 4)), 1),  # one input channel, ungrouped
        (x, rng.standard_normal((3, 3, 2, 4)), 2),  # two channels per group
        (x.astype(np.float32), rng.standard_normal((3, 3, 1, 4)), 4),  # mixed dtypes
    ]
    for xi, wi, groups in not_direct:
        cache = accel.conv2d_forward(xi, wi, groups=groups)[1]
        assert isinstance(cache, fast_conv.FastConv2DCache)
    w = rng.standard_normal((3, 3, 1, 4))
    old = kernels.set_enabled(False)
    try:
        assert isinstance(accel.conv2d_forward(x, w, groups=4)[1], fast_conv.FastConv2DCache)
    finally:
        kernels.set_enabled(old)
    with accel.reference_mode():
        assert isinstance(accel.conv2d_forward(x, w, groups=4)[1], ref_conv.Conv2DCache)
