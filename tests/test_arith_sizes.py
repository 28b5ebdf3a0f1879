"""Output sizes of conv and pooling: properties, published numbers, torch shapes, errors."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from glassnet import arith
from glassnet.errors import GlassnetError, ShapeError

sizes = st.integers(1, 300)
kernels = st.integers(1, 12)
strides = st.integers(1, 6)
dilations = st.integers(1, 4)
pads = st.integers(0, 6)


def test_alexnet_conv1_explains_itself():
    out = arith.conv2d_output(227, kernel=11, stride=4, padding=0)
    assert out == 55 and out.value == 55 and isinstance(out, int)
    assert out.symbol == "O"
    assert out.formula == "O = floor((I + 2P − D·(K−1) − 1)/S) + 1"
    assert out.substituted == "floor((227 + 0 − 10 − 1)/4) + 1"
    assert out.explain() == (
        "O = floor((I + 2P − D·(K−1) − 1)/S) + 1 = floor((227 + 0 − 10 − 1)/4) + 1 = 55"
    )


def test_alexnet_feature_map_sizes():
    # 227 -conv1 11/4-> 55 -pool 3/2-> 27 -conv2 5 p2-> 27 -pool-> 13 -conv3..5 3 p1-> 13 -pool-> 6
    size = arith.conv2d_output(227, kernel=11, stride=4)
    seen = [size]
    size = arith.pool2d_output(size, pool=3, stride=2)
    seen.append(size)
    size = arith.conv2d_output(size, kernel=5, padding=2)
    seen.append(size)
    size = arith.pool2d_output(size, pool=3, stride=2)
    seen.append(size)
    for _ in range(3):
        size = arith.conv2d_output(size, kernel=3, padding=1)
        seen.append(size)
    size = arith.pool2d_output(size, pool=3, stride=2)
    seen.append(size)
    assert seen == [55, 27, 27, 13, 13, 13, 13, 6]
    assert seen[-1] * seen[-1] * 256 == 9216


@settings(max_examples=300)
@given(sizes, kernels, strides, dilations, pads, pads)
def test_floor_mode_is_the_largest_window_count_that_fits(size, kernel, stride, dil, pb, pa):
    span = dil * (kernel - 1) + 1
    assume(span <= size + pb + pa)
    out = arith.conv2d_output(size, kernel, stride, (pb, pa), dil)
    assert (out - 1) * stride + span <= size + pb + pa < out * stride + span
    if pb == pa:
        assert out == arith.conv2d_output(size, kernel, stride, pb, dil)


@settings(max_examples=300)
@given(sizes, kernels, strides, dilations)
def test_same_padding_gives_ceil_of_input_over_stride(size, kernel, stride, dil):
    out = arith.conv2d_output(size, kernel, stride, "same", dil)
    assert out == -(-size // stride)
    before, after = arith.same_padding_1d(size, kernel, stride, dil)
    assert after - before in (0, 1)
    assert "ceil(I/S)" in out.explain()
    assert f"{before} + {after}" in out.substituted


def test_same_padding_explains_both_sides():
    out = arith.conv2d_output(224, kernel=3, stride=2, padding="same")
    assert out == 112
    assert out.formula == "O = floor((I + P_b + P_a − D·(K−1) − 1)/S) + 1"
    assert out.substituted == "floor((224 + 0 + 1 − 2 − 1)/2) + 1"
    assert out.explain().endswith("(same padding gives O = ceil(I/S) = ceil(224/2) = 112)")
    (rule,) = out.notes
    assert "P_total = max((ceil(I/S) − 1)·S + D·(K−1) + 1 − I, 0)" in rule
    assert "P_b = floor(P_total/2) = 0, P_a = P_total − P_b = 1" in rule
    assert out.lines() == [out.explain(), rule]


def test_valid_padding_is_zero():
    out = arith.conv2d_output(28, kernel=3, padding="valid")
    assert out == 26 and out.notes == ("valid padding: P = 0",)


def test_dilation_enters_the_span():
    out = arith.conv2d_output(32, kernel=3, dilation=2)
    assert out == 28
    assert out.substituted == "floor((32 + 0 − 4 − 1)/1) + 1"


@pytest.mark.parametrize(
    ("size", "pool", "stride", "padding", "ceil_mode", "expected"),
    [
        (55, 3, 2, 0, False, 27),
        (13, 3, 2, 0, False, 6),
        (28, 2, None, 0, False, 14),
        (6, 3, 2, 0, True, 3),
        (5, 2, 2, 1, True, 3),  # ceil gives 4, the last window would start in the padding
        (7, 2, 2, 0, True, 4),
        (7, 2, 2, "same", False, 4),
        (3, 4, 2, 0, True, 1),  # the one window overhangs the input by 1 < S (PyTorch rule)
        (1, 3, 3, 0, True, 1),
    ],
)
def test_pool_sizes(size, pool, stride, padding, ceil_mode, expected):
    out = arith.pool2d_output(size, pool, stride, padding, ceil_mode)
    assert out == expected


def test_pool_explains_overhanging_ceil_window():
    out = arith.pool2d_output(3, pool=4, stride=2, ceil_mode=True)
    assert out == 1
    assert out.substituted == "ceil((3 + 0 − 4)/2) + 1"
    assert "dropped" not in out.explain()
    with pytest.raises(ShapeError, match=r"kernel 5 does not fit .* span <= 4 \(ceil_mode"):
        arith.pool2d_output(3, pool=5, stride=2, ceil_mode=True)


def test_pool_explains_dropped_ceil_window():
    out = arith.pool2d_output(5, pool=2, stride=2, padding=1, ceil_mode=True)
    assert out.formula == "O = ceil((I + 2P − K)/S) + 1"
    assert out.substituted == "ceil((5 + 2 − 2)/2) + 1 − 1"
    assert "dropped (PyTorch rule)" in out.explain()


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 40), st.integers(1, 6), st.integers(1, 5), st.integers(0, 3), st.booleans())
def test_pool_matches_torch_shape(torch, size, pool, stride, pad, ceil_mode):
    assume(pad <= pool // 2)
    x = torch.zeros(1, 1, size)
    try:
        y = torch.nn.functional.max_pool1d(x, pool, stride, pad, ceil_mode=ceil_mode)
    except RuntimeError:  # no window: glassnet refuses it too
        with pytest.raises(ShapeError, match="does not fit the padded input"):
            arith.pool2d_output(size, pool, stride, pad, ceil_mode)
        return
    assert arith.pool2d_output(size, pool, stride, pad, ceil_mode) == y.shape[-1]


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 40), kernels, strides, dilations, st.integers(0, 4))
def test_conv_matches_torch_shape(torch, size, kernel, stride, dil, pad):
    assume(dil * (kernel - 1) + 1 <= size + 2 * pad)
    x = torch.zeros(1, 1, size)
    w = torch.zeros(1, 1, kernel)
    y = torch.nn.functional.conv1d(x, w, stride=stride, padding=pad, dilation=dil)
    assert arith.conv2d_output(size, kernel, stride, pad, dil) == y.shape[-1]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"size": 0, "kernel": 3}, r"conv2d_output: size=0 is invalid; expected a positive int"),
        ({"size": 5, "kernel": -1}, r"conv2d_output: kernel=-1 is invalid"),
        ({"size": 5, "kernel": 3, "stride": 0}, r"conv2d_output: stride=0 is invalid"),
        ({"size": 5, "kernel": 3, "dilation": 1.5}, r"conv2d_output: dilation=1.5 is invalid"),
        ({"size": True, "kernel": 3}, r"conv2d_output: size=True is invalid"),
        (
            {"size": 5, "kernel": 3, "padding": "full"},
            r"conv2d_output: padding='full' is invalid; expected 'valid', 'same', a "
            r"non-negative int or a pair \(before, after\)",
        ),
        ({"size": 5, "kernel": 3, "padding": -1}, r"conv2d_output: padding=-1 is invalid"),
        ({"size": 5, "kernel": 3, "padding": (1, 2, 3)}, r"padding=\(1, 2, 3\) is invalid"),
        ({"size": 5, "kernel": 3, "padding": (1, -2)}, r"padding=\(1, -2\) is invalid"),
    ],
)
def test_conv_output_errors(kwargs, match):
    with pytest.raises(GlassnetError, match=match):
        arith.conv2d_output(**kwargs)


def test_kernel_larger_than_padded_input_is_a_shape_error():
    with pytest.raises(
        ShapeError,
        match=r"conv2d_output: kernel 11 does not fit the padded "
        r"input 5 \(input 5, padding 0\+0\)",
    ):
        arith.conv2d_output(5, kernel=11)
    with pytest.raises(ShapeError, match=r"conv2d_output: kernel 3, dilation 3 -> span 7"):
        arith.conv2d_output(5, kernel=3, dilation=3)
    with pytest.raises(ShapeError, match=r"pool2d_output: kernel 4 does not fit"):
        arith.pool2d_output(3, pool=4)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"size": 5, "pool": 0}, r"pool2d_output: pool=0 is invalid; expected a positive int"),
        ({"size": 5, "pool": 2, "stride": -2}, r"pool2d_output: stride=-2 is invalid"),
        ({"size": -5, "pool": 2}, r"pool2d_output: size=-5 is invalid"),
        (
            {"size": 5, "pool": 2, "ceil_mode": 1},
            r"pool2d_output: ceil_mode=1 is invalid; expected True or False",
        ),
        ({"size": 5, "pool": 2, "padding": "SAME"}, r"pool2d_output: padding='SAME' is invalid"),
    ],
)
def test_pool_output_errors(kwargs, match):
    with pytest.raises(GlassnetError, match=match):
        arith.pool2d_output(**kwargs)


@given(size=st.integers(1, 7), kernel=st.integers(1, 5), stride=st.integers(1, 3),
       dil=st.integers(1, 3), pb=st.integers(0, 5), pa=st.integers(0, 5))
@settings(max_examples=400, deadline=None)
def test_live_taps_are_the_taps_that_read_the_input(size, kernel, stride, dil, pb, pa):
    """Brute force: tap u is live when some window position i reads 0 <= i·S + u·D − P < I."""
    from glassnet.arith.geometry import live_taps, window_output_size

    try:
        out = window_output_size(size, kernel, stride, (pb, pa), dil)
    except ShapeError:
        assume(False)
    alive = [u for u in range(kernel)
             if any(0 <= i * stride + u * dil - pb < size for i in range(out))]
    want = (alive[0], alive[-1] + 1) if alive else (0, kernel)
    assert live_taps(size, kernel, stride, dil, pb, out) == want
