"""The pairs convolution (glassnet.accel.conv_pairs) against the reference core.

Over random geometries (hypothesis: strides, padding incl. asymmetric and "same", dilation,
bias, float32 and float64, 1 and 2 threads) forward and every gradient equal
glassnet.ops.conv's; its table of runs equals a brute-force count of the (output, input)
pairs; and its rule picks it where the cost model says and only there.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rounding import assert_close

from glassnet.accel import conv as fast_conv
from glassnet.accel import conv_backward, conv_pairs
from glassnet.errors import GlassnetError
from glassnet.ops import conv as ref_conv
from glassnet.ops.conv import conv_geometry

pytestmark = pytest.mark.skipif(not conv_pairs.AVAILABLE, reason="needs numba and NumPy's BLAS")

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@st.composite
def cases(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    padding = draw(st.one_of(
        st.sampled_from(["valid", "same"]), st.integers(0, 3),
        st.tuples(*[st.integers(0, 3)] * 4),
    ))
    return dict(
        shape=(draw(st.integers(1, 6)), draw(st.integers(1, 5)), draw(st.integers(1, 7)),
               draw(st.integers(1, 7))),
        kernel=(kh, kw), filters=draw(st.integers(1, 6)),
        strides=(draw(st.integers(1, 3)), draw(st.integers(1, 3))),
        dilation=(draw(st.integers(1, 2)), draw(st.integers(1, 2))), padding=padding,
        bias=draw(st.booleans()), need_dx=draw(st.booleans()),
        dtype=draw(st.sampled_from([np.float64, np.float32])), seed=draw(st.integers(0, 2**31)),
    )


def _arrays(case):
    rng = np.random.default_rng(case["seed"])
    dt = case["dtype"]
    c = case["shape"][0]
    x = rng.standard_normal(case["shape"]).astype(dt)
    w = rng.standard_normal((*case["kernel"], c, case["filters"])).astype(dt)
    b = rng.standard_normal(case["filters"]).astype(dt) if case["bias"] else None
    return rng, x, w, b


def _check_gradients(rng, ref, rcache, cache, case):
    dt = case["dtype"]
    dout = rng.standard_normal(ref.shape).astype(dt)
    fast = conv_backward.conv2d_backward(dout, cache, need_dx=case["need_dx"])
    slow = ref_conv.conv2d_backward(dout, rcache)
    assert_close(fast[1], slow[1], dt)
    assert (fast[2] is None) == (slow[2] is None)
    if slow[2] is not None:
        assert_close(fast[2], slow[2], dt)
    if case["need_dx"]:
        assert fast[0].shape == slow[0].shape and fast[0].flags.c_contiguous
        assert_close(fast[0], slow[0], dt)
    else:
        assert fast[0] is None


@given(case=cases())
@SETTINGS
def test_pairs_forward_and_gradients_equal_reference(threads, case):
    """The kernels themselves, on every geometry (the rule bypassed)."""
    rng, x, w, b = _arrays(case)
    hyper = dict(strides=case["strides"], padding=case["padding"], dilation=case["dilation"])
    try:
        ref, rcache = ref_conv.conv2d_forward(x, w, b, **hyper)
    except GlassnetError:
        return  # a geometry the reference refuses (the fast path's refusal: accel tests)
    geometry = conv_geometry(x.shape[2:], case["kernel"], case["strides"], case["padding"],
                             case["dilation"])
    out, cache = conv_pairs.forward(x, w, b, geometry)
    assert out.dtype == case["dtype"] and out.flags.c_contiguous
    assert_close(out, ref, case["dtype"])
    _check_gradients(rng, ref, rcache, cache, case)


@given(case=cases())
@SETTINGS
def test_the_rule_routes_the_fast_conv_through_pairs(threads, case, monkeypatch):
    """With the rule made to always pick the pairs (MIN_CHANNELS 1, N0 0 where they save
    products), accel's conv — live crop included — still equals the reference."""
    monkeypatch.setattr(conv_pairs, "MIN_CHANNELS", 1)
    monkeypatch.setattr(conv_pairs, "GEMM_N0", 0)
    rng, x, w, b = _arrays(case)
    hyper = dict(strides=case["strides"], padding=case["padding"], dilation=case["dilation"])
    try:
        ref, rcache = ref_conv.conv2d_forward(x, w, b, **hyper)
    except GlassnetError as exc:
        with pytest.raises(type(exc)):
            fast_conv.conv2d_forward(x, w, b, **hyper)
        return
    out, cache = fast_conv.conv2d_forward(x, w, b, **hyper)
    assert_close(out, ref, case["dtype"])
    _check_gradients(rng, ref, rcache, cache, case)


def _brute_pairs(in_hw, kernel, geometry):
    (h, w), (kh, kw) = in_hw, kernel
    (oh, ow), ((pt, _), (pl, _)), (sh, sw), (dh, dw) = geometry
    pairs = set()
    for i in range(oh):
        for j in range(ow):
            for u in range(kh):
                for v in range(kw):
                    r, c = i * sh + u * dh - pt, j * sw + v * dw - pl
                    if 0 <= r < h and 0 <= c < w:
                        pairs.add((i * ow + j, u, v, r * w + c))
    return pairs


@given(h=st.integers(1, 9), w=st.integers(1, 9), kh=st.integers(1, 5), kw=st.integers(1, 5),
       s=st.integers(1, 3), d=st.integers(1, 2), padding=st.sampled_from(["valid", "same", 1, 3]))
@settings(max_examples=80, deadline=None)
def test_runs_are_exactly_the_joined_pairs(h, w, kh, kw, s, d, padding):
    try:
        geometry = conv_geometry((h, w), (kh, kw), s, padding, d)
    except GlassnetError:
        return
    table = conv_pairs.runs((h, w), (kh, kw), geometry)
    got = set()
    for o, u, v0, length, p0 in table.tolist():
        assert length >= 1 and (length == 1 or d == 1)  # runs only over consecutive columns
        for k in range(length):
            pair = (o, u, v0 + k, p0 + k)
            assert pair not in got
            got.add(pair)
    assert got == _brute_pairs((h, w), (kh, kw), geometry)
    assert list(table[:, 0]) == sorted(table[:, 0])  # ordered by output position


def test_an_output_that_reads_only_padding_is_its_bias(threads):
    """A 1×1 kernel with padding 2: the border outputs multiply nothing."""
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((3, 2, 2, 2)), rng.standard_normal((1, 1, 3, 4))
    b = rng.standard_normal(4)
    geometry = conv_geometry((2, 2), (1, 1), 1, 2, 1)
    out, _ = conv_pairs.forward(x, w, b, geometry)
    ref, _ = ref_conv.conv2d_forward(x, w, b, padding=2)
    assert_close(out, ref, np.float64)
    np.testing.assert_array_equal(out[:, :, 0, :], np.broadcast_to(b[:, None, None], (4, 2, 6)))


@pytest.mark.parametrize(("c", "n", "hw", "want"), [
    (64, 32, 2, True),  # ResNet's third stage at CIFAR size: 16 of 36 products read the map
    (256, 2, 2, True),  # ... at any batch
    (64, 128, 8, True),  # an 8×8 map: 84 % of the products, and long GEMMs at batch 128
    (64, 2, 8, False),  # ... but GEMMs two columns wide at batch 2
    (64, 32, 32, False),  # a 32×32 map: 96 % of the products, 32-column GEMMs do not pay
    (3, 128, 2, False),  # an RGB input: GEMMs K = 3·run deep
    (64, 0, 2, False),  # an empty batch: nothing to weigh
])
def test_the_rule_follows_the_cost_model(c, n, hw, want):
    x = np.zeros((c, n, hw, hw), dtype=np.float32)
    w = np.zeros((3, 3, c, 64), dtype=np.float32)
    geometry = conv_geometry((hw, hw), (3, 3), 1, "same", 1)
    assert conv_pairs.applies(x, w, geometry, 1) is want
    assert not conv_pairs.applies(x, w[:, :, :1], geometry, c)  # grouped: never


def test_the_fast_conv_takes_the_pairs_where_the_rule_says(threads):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((32, 4, 2, 2)).astype(np.float32)
    w = rng.standard_normal((3, 3, 32, 8)).astype(np.float32)
    _, cache = fast_conv.conv2d_forward(x, w, padding="same")
    assert isinstance(cache, conv_pairs.PairsCache)
    _, cache = fast_conv.conv2d_forward(x[:3], w[:, :, :3], padding="same")
    assert isinstance(cache, fast_conv.FastConv2DCache)  # 3 channels: im2col
