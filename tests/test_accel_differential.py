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
from glassnet.accel import infer, kernels
from glassnet.accel import pool as fast_pool
from glassnet.accel.crop import live_geometry
from glassnet.accel.epilogue import Epilogue
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
    fast = fast_conv.conv2d_backward(dout, cache, need_dx=case["need_dx"])
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
    for got, want in zip(fast_conv.conv2d_backward(dout, cache),
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


@pytest.mark.skipif(not kernels.AVAILABLE, reason="the fast batch norm needs numba")
@given(shape=st.tuples(st.integers(1, 6), st.integers(1, 4), st.integers(1, 6),
                       st.integers(1, 6)),
       training=st.booleans(), dtype=DTYPES, seed=st.integers(0, 2**31))
@SETTINGS
def test_fast_batch_norm_equals_reference(threads, shape, training, dtype, seed):
    from glassnet.accel import norm as fast_norm
    from glassnet.ops import norm as ref_norm

    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
    c = shape[0]
    gamma, beta = rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype)
    stats = [rng.random(c).astype(dtype) + 0.5 for _ in range(2)]
    fast_stats = [s.copy() for s in stats]
    kw = dict(axis=0, training=training, momentum=0.1, eps=1e-5)
    try:
        ref, rcache = ref_norm.batch_norm_forward(x, gamma, beta, *stats, **kw)
    except GlassnetError as exc:  # one value per channel in training: refused alike
        with pytest.raises(type(exc), match="more than 1 value"):
            fast_norm.batch_norm_forward(x, gamma, beta, *fast_stats, **kw)
        return
    out, fcache = fast_norm.batch_norm_forward(x, gamma, beta, *fast_stats, **kw)
    assert out.dtype == ref.dtype == dtype
    assert_close(out, ref, dtype)
    for got, want in zip(fast_stats, stats, strict=True):  # running statistics updated alike
        assert_close(got, want, dtype)
    dout = rng.standard_normal(shape).astype(dtype)
    for got, want in zip(fast_norm.batch_norm_backward(dout, fcache),
                         ref_norm.batch_norm_backward(dout, rcache), strict=True):
        assert got.dtype == want.dtype
        assert_close(got, want, dtype)


@pytest.mark.skipif(not kernels.AVAILABLE, reason="the fast batch norm needs numba")
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_batch_norm_one_region_equals_its_two_steps_bit_for_bit(threads, training, dtype):
    """Statistics and normalisation (sums and dL/dx) in one region per channel range give the
    same bits as the two whole-array steps they replaced (float64 sums, NumPy's casts and
    1 / sqrt(var + eps) between them)."""
    from glassnet.accel import norm as fast_norm

    rng = np.random.default_rng(3)
    shape = (37, 16, 9, 9)  # enough work to split over the threads
    x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
    x[5] = 2.5  # a constant channel: variance 0
    c, m = shape[0], x[0].size
    gamma, beta = rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype)
    stats = [rng.random(c).astype(dtype) + 0.5 for _ in range(2)]
    eps = dtype(1e-5)
    x2 = x.reshape(c, -1)
    if training:
        mean64, var64 = np.empty(c), np.empty(c)
        fast_norm._stats(x2, 0, c, mean64, var64)
        mean, var = mean64.astype(dtype), var64.astype(dtype)
    else:
        mean, var = stats
    inv_std = 1 / np.sqrt(var + eps)
    xhat, want = np.empty_like(x2), np.empty_like(x2)
    fast_norm._normalise(x2, mean, inv_std, gamma, beta, 0, c, xhat, want)
    out, cache = fast_norm.batch_norm_forward(x, gamma, beta, *stats, axis=0, training=training,
                                              eps=1e-5)
    np.testing.assert_array_equal(out.reshape(c, -1), want)
    np.testing.assert_array_equal(cache.inv_std, inv_std)

    d2 = rng.standard_normal(x2.shape).astype(dtype)
    db64, dg64 = np.empty(c), np.empty(c)
    fast_norm._grad_sums(d2, xhat, 0, c, db64, dg64)
    dbeta, dgamma = db64.astype(dtype), dg64.astype(dtype)
    k = (gamma * inv_std).astype(dtype) / (m if training else 1)
    want_dx = np.empty_like(d2)
    fast_norm._grad_x(d2, xhat, k, dtype(m if training else 0), dbeta, dgamma, 0, c, want_dx)
    dx, dg, db = fast_norm.batch_norm_backward(d2.reshape(shape), cache)
    np.testing.assert_array_equal(dx.reshape(c, -1), want_dx)
    np.testing.assert_array_equal(dg, dgamma)
    np.testing.assert_array_equal(db, dbeta)


@pytest.mark.skipif(not kernels.AVAILABLE, reason="the fast batch norm needs numba")
@given(shape=st.tuples(st.integers(1, 6), st.integers(1, 4), st.integers(1, 6),
                       st.integers(1, 6)),
       training=st.booleans(), dtype=DTYPES, cap=st.sampled_from([np.inf, 6.0, 0.5]),
       seed=st.integers(0, 2**31))
@SETTINGS
def test_fast_batch_norm_relu_equals_reference(threads, shape, training, dtype, cap, seed):
    """The one-pass BatchNorm + ReLU (cap inf) / clipped ReLU against the reference pairs one
    after the other (ops.fused.batch_norm_relu)."""
    from glassnet.accel import dispatch
    from glassnet.ops import fused as ref_fused

    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
    c = shape[0]
    gamma, beta = rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype)
    stats = [rng.random(c).astype(dtype) + 0.5 for _ in range(2)]
    fast_stats = [s.copy() for s in stats]
    kw = dict(axis=0, training=training, momentum=0.1, eps=1e-5, relu_cap=cap)
    try:
        ref, rcache = ref_fused.batch_norm_relu_forward(x, gamma, beta, *stats, **kw)
    except GlassnetError:
        return  # one value per channel in training (test_fast_batch_norm_equals_reference)
    out, fcache = dispatch.batch_norm_relu_forward(x, gamma, beta, *fast_stats, **kw)
    assert type(fcache).__name__ == "FastBatchNormCache"
    assert out.dtype == ref.dtype == dtype
    assert_close(out, ref, dtype)
    for got, want in zip(fast_stats, stats, strict=True):
        assert_close(got, want, dtype)
    dout = rng.standard_normal(shape).astype(dtype)
    for got, want in zip(dispatch.batch_norm_relu_backward(dout, fcache),
                         ref_fused.batch_norm_relu_backward(dout, rcache), strict=True):
        assert got.dtype == want.dtype
        assert_close(got, want, dtype)


@pytest.mark.skipif(not kernels.AVAILABLE, reason="the fast batch norm needs numba")
@pytest.mark.parametrize("cap", [np.inf, 6.0])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_batch_norm_relu_equals_the_two_fast_ops(threads, cap, dtype):
    """Fused, the forward is the fast BatchNorm then the fast ReLU bit for bit (infinite and
    NaN outputs included); the backward's sums run over the masked gradient in another
    vectorised order: equal to rounding."""
    from glassnet.accel import activation as fast_act
    from glassnet.accel import norm as fast_norm

    rng = np.random.default_rng(4)
    shape = (19, 16, 7, 7)
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    c = shape[0]
    gamma, beta = rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype)
    beta[3] = np.inf  # a channel of infinite outputs: a plain ReLU passes their gradient
    gamma[4] = np.nan
    kw = dict(axis=0, training=True, eps=1e-5)
    y, ncache = fast_norm.batch_norm_forward(x, gamma, beta, None, None, **kw)
    want, rcache = fast_act.clipped_relu_forward(y, max_value=None if cap == np.inf else cap)
    out, fcache = fast_norm.batch_norm_forward(x, gamma, beta, None, None, relu_cap=cap, **kw)
    np.testing.assert_array_equal(out, want)
    dout = rng.standard_normal(shape).astype(dtype)
    wants = fast_norm.batch_norm_backward(fast_act.relu_backward(dout, rcache), ncache)
    for got, w in zip(fast_norm.batch_norm_backward(dout, fcache), wants, strict=True):
        np.testing.assert_allclose(got, w, rtol=1e-5 if dtype == np.float32 else 1e-12,
                                   atol=1e-6 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("shape,w_shape,hyper", [
    ((8, 1, 1, 1), (3, 3, 8, 16), dict(padding=1)),
    ((8, 1, 2, 2), (3, 3, 8, 32), dict(padding=1, strides=2)),
    ((4, 1, 3, 2), (5, 5, 4, 16), dict(padding=(2, 1, 2, 2))),
])
@pytest.mark.parametrize("dt", [np.float64, np.float32])
def test_small_batch_step_drops_dead_taps_too(threads, shape, w_shape, hyper, dt):
    """Batch 1 with >= 16 filters takes the small-batch kernels: the crop applies there too."""
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


@st.composite
def winograd_cases(draw):
    return dict(
        shape=(draw(st.integers(16, 20)), draw(st.integers(1, 3)), draw(st.integers(1, 9)),
               draw(st.integers(1, 9))),
        filters=draw(st.integers(16, 19)),
        padding=draw(st.one_of(st.sampled_from(["valid", "same"]), st.integers(0, 2),
                               st.tuples(*[st.integers(0, 2)] * 4))),
        epilogue=draw(st.sampled_from(["bias", "none", "bn", "bn-relu", "bn-relu6"])),
        dtype=draw(DTYPES), seed=draw(st.integers(0, 2**31)),
    )


@pytest.mark.skipif(not kernels.AVAILABLE, reason="Winograd's transforms need numba")
@pytest.mark.parametrize("order", ["rows", "images"])
@given(case=winograd_cases())
@SETTINGS
def test_winograd_equals_reference(threads, monkeypatch, order, case):
    """3×3 stride-1 inference by Winograd F(2×2, 3×3) (accel.winograd) against the reference
    convolution, with a bias or a folded BatchNorm (+ ReLU / ReLU6) epilogue; every map size
    from 1×1 (a crop, not Winograd) up, odd sizes (a half-used last tile: the module itself,
    which the rule does not pick for them) included. (Any tile count: the rule's tile minimum
    is lowered so small maps exercise the path.) Both tile orders of the transforms: tiles of a
    row innermost, images innermost (accel.winograd.images_inner picks one per part)."""
    from glassnet.accel import winograd

    monkeypatch.setattr(winograd, "KERNEL_VALUES_PER_TILE", 1 << 30)
    monkeypatch.setattr(winograd, "images_inner", lambda images, row: order == "images")
    rng = np.random.default_rng(case["seed"])
    dt = case["dtype"]
    c, f = case["shape"][0], case["filters"]
    x = rng.standard_normal(case["shape"]).astype(dt)
    w = rng.standard_normal((3, 3, c, f)).astype(dt)
    try:
        geo = ref_conv.conv_geometry(case["shape"][2:], (3, 3), 1, case["padding"], 1)
    except GlassnetError:
        return
    kind = case["epilogue"]
    b = rng.standard_normal(f).astype(dt) if kind == "bias" else None
    want = ref_conv.conv2d_forward(x, w, b, padding=case["padding"])[0]
    epilogue = None
    if kind.startswith("bn"):
        scale, shift = rng.uniform(0.5, 2, f).astype(dt), rng.standard_normal(f).astype(dt)
        cap = {"bn": np.inf, "bn-relu": np.inf, "bn-relu6": 6.0}[kind]
        epilogue = Epilogue(scale, shift, kind != "bn", cap)
        want = want * scale[:, None, None, None] + shift[:, None, None, None]
        if kind != "bn":
            want = np.clip(want, 0, cap)
    crop = live_geometry(case["shape"][2:], (3, 3), geo)
    got = fast_conv.conv2d_values(x, w, b, geo, 1, epilogue)  # whichever path the rule picks
    assert got.dtype == dt
    assert_close(got, want, dt)
    if crop is None:  # the module itself on every uncropped geometry, odd sizes included
        ep = epilogue or Epilogue(None, b)
        direct = winograd.conv2d_values(x, w, geo, ep.scale, ep.shift, ep.clip, ep.cap)
        assert_close(direct, want, dt)


@pytest.mark.skipif(not kernels.AVAILABLE, reason="Winograd's transforms need numba")
@pytest.mark.parametrize("shape,pad", [((16, 5, 8, 8), 1), ((24, 3, 4, 6), 1), ((16, 2, 7, 5), 0),
                                       ((16, 1, 12, 10), 1), ((16, 1, 9, 7), 0)])
def test_winograd_one_call_parts_equal_the_closure_parts(threads, monkeypatch, shape, pad):
    """Each part as one nogil call (transforms and the 16 GEMMs through the BLAS by address)
    gives what the Python closure (np.matmul) gives, both tile orders, with an epilogue; any
    split (the work threshold lowered): one image is split by rows of tiles."""
    from glassnet.accel import blas, parallel, winograd

    monkeypatch.setattr(parallel, "MIN_WORK_PER_CHUNK", 1)

    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape).astype(np.float32)
    w = rng.standard_normal((3, 3, shape[0], 20)).astype(np.float32)
    geo = ref_conv.conv_geometry(shape[2:], (3, 3), 1, pad, 1)
    scale, shift = rng.uniform(0.5, 2, 20).astype(np.float32), rng.standard_normal(20)
    shift = shift.astype(np.float32)
    for order in (False, True):
        monkeypatch.setattr(winograd, "images_inner", lambda images, row, o=order: o)
        one_call = winograd.conv2d_values(x, w, geo, scale, shift, True, 6.0)
        with monkeypatch.context() as m:
            m.setattr(blas, "gemm_address", lambda dtype: 0)  # the closure path
            closure = winograd.conv2d_values(x, w, geo, scale, shift, True, 6.0)
        assert_close(one_call, closure, np.float32)
        want = np.clip(ref_conv.conv2d_forward(x, w, None, padding=pad)[0]
                       * scale[:, None, None, None] + shift[:, None, None, None], 0, 6)
        assert_close(one_call, want, np.float32)


@pytest.mark.skipif(not kernels.AVAILABLE, reason="Winograd's transforms need numba")
def test_winograd_rule_reads_only_shapes():
    """accel.winograd.applies: 3×3 stride-1 ungrouped, >= 8 channels each way, even output
    sizes, and tiles · 8192 >= C·F (the kernel transform repaid)."""
    from glassnet.accel import winograd

    def case(c, f, n, hw, strides=1, dt=np.float32):
        x, w = np.zeros((c, n, hw, hw), dt), np.zeros((3, 3, c, f), dt)
        geo = ref_conv.conv_geometry((hw, hw), (3, 3), strides, 1, 1)
        return winograd.applies(x, w, geo, 1)

    assert case(16, 16, 1, 2)  # one tile repays a 16×16 kernel
    assert case(512, 512, 8, 4)  # 8 images × 4 tiles = 32 = 512·512 / 8192
    assert not case(512, 512, 7, 4)  # 28 tiles: the kernel transform would not pay
    assert not case(7, 64, 64, 8)  # too few input channels
    assert not case(64, 64, 64, 8, strides=2)
    assert not case(32, 64, 32, 13)  # 13×13 outputs: a half-used last tile row and column


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
    for got, want in zip(fast_conv.conv2d_backward(dout, cache),
                         ref_conv.conv2d_backward(dout, rcache), strict=True):
        assert (got is None) == (want is None)
        if want is not None:
            assert_close(got, want, dt)
    dx, _, _ = fast_conv.conv2d_backward(dout, cache, need_dx=False)
    assert dx is None



@pytest.mark.parametrize("n,k,m", [(1, 4096, 64), (3, 300, 2000), (32, 512, 512), (2, 5, 7)])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("dt", [np.float64, np.float32])
def test_dense_split_equals_reference(threads, monkeypatch, n, k, m, bias, dt):
    """accel.dense: forward split by output columns, backward by input rows, against the
    reference pair (every value the same dot product, summed as the BLAS blocks it: equal to
    rounding); the small layer (2×5×7) runs the reference itself. The split is forced for
    every size with a low work threshold."""
    from glassnet.accel import dense as fast_dense
    from glassnet.accel import parallel
    from glassnet.ops import basic as ref_basic

    monkeypatch.setattr(parallel, "MIN_WORK_PER_CHUNK", 1 if (n, k, m) != (2, 5, 7) else 1 << 40)
    rng = np.random.default_rng(n + k + m)
    x, w = rng.standard_normal((n, k)).astype(dt), rng.standard_normal((k, m)).astype(dt)
    b = rng.standard_normal(m).astype(dt) if bias else None
    dout = rng.standard_normal((n, m)).astype(dt)
    out, cache = fast_dense.dense_forward(x, w, b)
    ref, rcache = ref_basic.dense_forward(x, w, b)
    assert out.dtype == ref.dtype
    assert_close(out, ref, dt)
    for got, want in zip(fast_dense.dense_backward(dout, cache),
                         ref_basic.dense_backward(dout, rcache), strict=True):
        assert (got is None) == (want is None)
        if got is not None:
            assert got.shape == want.shape and got.dtype == want.dtype
            assert_close(got, want, dt)
    if n >= 2:  # the inference step runs the same drop-in as the training forward: bit for bit
        np.testing.assert_array_equal(infer.dense_values(x, w, b), out)


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
    for got, want in zip(fast_conv.conv2d_backward(dout, cache),
                         ref_conv.conv2d_backward(dout, ref_cache), strict=True):
        assert got.dtype == want.dtype
        assert_close(got, want, dt)


def test_conv_backward_reuses_its_work_array_safely(threads):
    """The backward's dcols come from a per-thread pool kept across calls (no fresh pages per
    step): a larger call, a smaller one, then the first again give the fresh-array results."""
    from glassnet.accel import conv as fast_conv_mod

    rng = np.random.default_rng(11)
    cases = []
    for c, f, hw, n in [(8, 16, 10, 6), (3, 5, 4, 2)]:
        x = rng.standard_normal((c, n, hw, hw)).astype(np.float32)
        w = rng.standard_normal((3, 3, c, f)).astype(np.float32)
        out, cache = fast_conv.conv2d_forward(x, w, None, padding="same")
        cases.append((rng.standard_normal(out.shape).astype(np.float32), cache))
    got = [fast_conv.conv2d_backward(d, cache) for d, cache in cases + cases[:1]]
    fresh = lambda slot, shape, dtype: np.empty(shape, dtype=dtype)  # noqa: E731
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fast_conv_mod, "_scratch", fresh)
        want = [fast_conv.conv2d_backward(d, cache) for d, cache in cases + cases[:1]]
    for g, wnt in zip(got, want, strict=True):
        np.testing.assert_array_equal(g[0], wnt[0])
        np.testing.assert_array_equal(g[1], wnt[1])
