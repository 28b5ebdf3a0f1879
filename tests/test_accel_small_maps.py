"""The batch-1 small-map kernels (glassnet.accel.small_maps) against the reference pairs in
glassnet.ops over random geometries (hypothesis), float32 and float64, 1 and 2 threads: the
depthwise convolution with its bias or epilogue, the max-pool with its ReLU; the rules that
pick them in the inference steps (glassnet.accel.infer).
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rounding import assert_close

from glassnet import accel
from glassnet.accel import infer, kernels, parallel, small_maps
from glassnet.accel.epilogue import Epilogue, finish
from glassnet.ops import conv as ref_conv
from glassnet.ops import pool as ref_pool
from glassnet.ops.windows import pool_geometry

pytestmark = pytest.mark.skipif(not small_maps.AVAILABLE, reason="needs numba")

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
PADDINGS = st.one_of(st.sampled_from(["valid", "same"]), st.integers(0, 3),
                     st.tuples(*[st.integers(0, 3)] * 4))  # uneven: (top, bottom, left, right)


@st.composite
def depthwise_cases(draw):
    return dict(
        shape=(draw(st.integers(2, 9)), draw(st.integers(1, 2)), draw(st.integers(1, 9)),
               draw(st.integers(1, 9))),
        kernel=(draw(st.integers(1, 4)), draw(st.integers(1, 4))),
        strides=(draw(st.integers(1, 3)), draw(st.integers(1, 3))),
        dilation=(draw(st.integers(1, 2)), draw(st.integers(1, 2))), padding=draw(PADDINGS),
        bias=draw(st.booleans()), epilogue=draw(st.sampled_from([None, "bn", "relu", "relu6"])),
        dtype=draw(st.sampled_from([np.float64, np.float32])), seed=draw(st.integers(0, 2**31)),
    )


@given(case=depthwise_cases())
@SETTINGS
def test_depthwise_equals_reference(threads, case):
    """out = clip(conv(x, w)·scale + shift) (or + b) against the reference conv + finish."""
    rng, dt = np.random.default_rng(case["seed"]), case["dtype"]
    c = case["shape"][0]
    x = rng.standard_normal(case["shape"]).astype(dt)
    w = rng.standard_normal((*case["kernel"], 1, c)).astype(dt)
    b = rng.standard_normal(c).astype(dt) if case["bias"] else None
    try:
        geo = ref_conv.conv_geometry(x.shape[2:], case["kernel"], case["strides"],
                                     case["padding"], case["dilation"])
    except ValueError:  # the kernel does not fit the input
        return
    ref, _ = ref_conv.conv2d_forward(x, w, b, strides=case["strides"], padding=case["padding"],
                                     dilation=case["dilation"], groups=c)
    epilogue = None
    if case["epilogue"] is not None:
        scale = rng.standard_normal(c).astype(dt)
        shift = rng.standard_normal(c).astype(dt) * 3
        clip, cap = case["epilogue"] != "bn", 6.0 if case["epilogue"] == "relu6" else np.inf
        epilogue = Epilogue(scale, shift, clip, cap)
        if b is not None:  # a bias folds into the shift (layers.fused.ConvBN)
            epilogue = epilogue._replace(shift=shift + b * scale)
            ref, _ = ref_conv.conv2d_forward(x, w, None, strides=case["strides"],
                                             padding=case["padding"],
                                             dilation=case["dilation"], groups=c)
        ref = finish(ref, epilogue)
    out = small_maps.depthwise_values(x, w, None if epilogue is not None else b, geo, epilogue)
    assert out.shape == ref.shape and out.dtype == dt
    assert_close(out, ref, dt)


def test_depthwise_rejects_a_bias_with_an_epilogue(rng):
    x, w = rng.standard_normal((2, 1, 3, 3)), rng.standard_normal((3, 3, 1, 2))
    geo = ref_conv.conv_geometry((3, 3), (3, 3), 1, "same", 1)
    with pytest.raises(ValueError, match="fold the bias"):
        small_maps.depthwise_values(x, w, np.ones(2), geo, Epilogue(None, np.ones(2)))


def test_depthwise_clip_keeps_nan(rng):
    """A NaN input reaches the output through the ReLU6 clip, as finish() lets it."""
    x = rng.standard_normal((3, 1, 4, 4))
    x[1, 0, 2, 2] = np.nan
    w = rng.standard_normal((3, 3, 1, 3))
    geo = ref_conv.conv_geometry((4, 4), (3, 3), 1, "same", 1)
    ep = Epilogue(np.ones(3), np.zeros(3), True, 6.0)
    out = small_maps.depthwise_values(x, w, None, geo, ep)
    want = finish(ref_conv.conv2d_forward(x, w, None, padding="same", groups=3)[0], ep)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(want))
    assert np.isnan(out).any()


@st.composite
def pool_cases(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    return dict(
        shape=(draw(st.integers(1, 9)), draw(st.integers(1, 2)), draw(st.integers(1, 9)),
               draw(st.integers(1, 9))),
        pool_size=(kh, kw), strides=(draw(st.integers(1, 3)), draw(st.integers(1, 3))),
        padding=draw(st.one_of(st.sampled_from(["valid", "same"]), st.integers(0, 1))),
        ceil_mode=draw(st.booleans()), relu=draw(st.booleans()),
        dtype=draw(st.sampled_from([np.float64, np.float32])), seed=draw(st.integers(0, 2**31)),
    )


@given(case=pool_cases())
@SETTINGS
def test_max_pool_equals_reference(threads, case):
    """The maxima are exact: equal to the reference bit for bit, ReLU after."""
    rng, dt = np.random.default_rng(case["seed"]), case["dtype"]
    x = rng.standard_normal(case["shape"]).astype(dt)
    hyper = dict(pool_size=case["pool_size"], strides=case["strides"],
                 padding=case["padding"], ceil_mode=case["ceil_mode"])
    try:
        ref, _ = ref_pool.max_pool2d_forward(x, **hyper)
    except ValueError:  # no window fits
        return
    if case["relu"]:
        ref = np.maximum(ref, 0)
    geo = pool_geometry(x.shape[2:], case["pool_size"], case["strides"], case["padding"],
                        case["ceil_mode"])
    out = small_maps.max_pool_values(x, geo, case["relu"])
    assert out.dtype == dt
    np.testing.assert_array_equal(out, ref)


def test_max_pool_nan_wins_as_in_the_reference(rng):
    x = rng.standard_normal((2, 1, 4, 4))
    x[0, 0, 1, 1] = np.nan
    x[1, 0, 3, 3] = np.nan
    hyper = dict(pool_size=3, strides=1, padding=1, ceil_mode=True)
    ref, _ = ref_pool.max_pool2d_forward(x, **hyper)
    out = small_maps.max_pool_values(x, pool_geometry((4, 4), 3, 1, 1, True))
    np.testing.assert_array_equal(out, ref)  # assert_array_equal: NaN == NaN
    assert np.isnan(out).sum() == 4 + 9


def test_same_bits_for_any_thread_count(monkeypatch, rng):
    """Each thread owns whole channels: 1 and 2 threads agree exactly."""
    x = rng.standard_normal((7, 1, 5, 5)).astype(np.float32)
    w = rng.standard_normal((3, 3, 1, 7)).astype(np.float32)
    geo = ref_conv.conv_geometry((5, 5), (3, 3), 1, "same", 1)
    pool = pool_geometry((5, 5), 3, 2, 1, True)
    monkeypatch.setattr(parallel, "MIN_WORK_PER_CHUNK", 1)
    old, results = parallel.configured_threads(), []
    try:
        for n in (1, 2):
            parallel.set_num_threads(n)
            with parallel.split_scope():
                results.append((small_maps.depthwise_values(x, w, None, geo),
                                small_maps.max_pool_values(x, pool)))
    finally:
        parallel.set_num_threads(old)
    for one, two in zip(*results, strict=True):
        np.testing.assert_array_equal(one, two)


def test_rules(rng, monkeypatch):
    """Batch 1 and ≤ MAX_POSITIONS outputs: the steps run these kernels; otherwise not."""
    assert small_maps.pays(1, (16, 16)) and not small_maps.pays(1, (17, 16))
    assert not small_maps.pays(2, (2, 2))
    calls = []
    real_dw, real_pool = small_maps.depthwise_values, small_maps.max_pool_values
    monkeypatch.setattr(small_maps, "depthwise_values",
                        lambda *a: calls.append("dw") or real_dw(*a))
    monkeypatch.setattr(small_maps, "max_pool_values",
                        lambda *a: calls.append("pool") or real_pool(*a))
    w = rng.standard_normal((3, 3, 1, 4))
    for n, hw, expect in [(1, 4, ["dw"]), (2, 4, []), (1, 20, [])]:
        calls.clear()
        x = rng.standard_normal((4, n, hw, hw))
        step = infer.ConvStep(ref_conv.conv_geometry((hw, hw), (3, 3), 1, "same", 1), 4)
        assert_close(step(x, w, None),
                     ref_conv.conv2d_forward(x, w, None, padding="same", groups=4)[0],
                     np.float64)
        assert calls == expect
    for size, strides, padding, expect in [(3, 1, 1, ["pool"]), (2, 2, 0, [])]:
        calls.clear()
        x = rng.standard_normal((4, 1, 6, 6))
        step = infer.PoolStep((6, 6), size, strides, padding, False)
        np.testing.assert_array_equal(step(x), ref_pool.max_pool2d_forward(
            x, pool_size=size, strides=strides, padding=padding)[0])
        assert calls == expect  # a 2×2 / stride-2 unpadded pool keeps its one-pass kernel
    old = kernels.set_enabled(False)
    try:
        calls.clear()
        infer.PoolStep((6, 6), 3, 1, 1, False)(rng.standard_normal((4, 1, 6, 6)))
        assert calls == []
    finally:
        kernels.set_enabled(old)
    with accel.reference_mode():
        calls.clear()
        infer.PoolStep((6, 6), 3, 1, 1, False)(rng.standard_normal((4, 1, 6, 6)))
        assert calls == []
