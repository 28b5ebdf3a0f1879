"""Validate the naive-loop oracles in ``tests/oracles.py`` against PyTorch float64.

An oracle is only worth trusting once it has been checked against an independent implementation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from oracles import (
    explicit_padding,
    naive_conv2d,
    naive_convolve2d,
    naive_correlate2d,
    naive_full_convolve2d,
    naive_full_correlate2d,
    naive_pool2d,
    pool_output_size,
)

TOL = 1e-12


def torch_conv2d_nhwc(torch: Any, x, w, b, *, strides, pads, dilation, groups) -> np.ndarray:
    """PyTorch float64 conv on NHWC ``x`` and [KH, KW, C_in/g, C_out] ``w``, explicit pads."""
    F = torch.nn.functional
    (top, bottom), (left, right) = pads
    xt = F.pad(torch.from_numpy(x).permute(0, 3, 1, 2), (left, right, top, bottom))
    wt = torch.from_numpy(w).permute(3, 2, 0, 1)
    bt = None if b is None else torch.from_numpy(b)
    out = F.conv2d(xt, wt, bt, stride=strides, dilation=dilation, groups=groups)
    return out.permute(0, 2, 3, 1).numpy()


CONV_CASES = [
    # (N, H, W, C_in, C_out, KH, KW, strides, padding, dilation, groups, bias)
    (2, 5, 7, 3, 4, 3, 3, (1, 1), "valid", (1, 1), 1, True),
    (1, 6, 5, 2, 2, 3, 2, (2, 1), ((1, 0), (2, 1)), (1, 1), 1, False),
    (2, 7, 6, 4, 6, 3, 3, (1, 2), "same", (2, 1), 2, True),
    (1, 9, 8, 6, 3, 2, 3, (3, 2), "same", (1, 2), 3, True),
    (1, 4, 4, 1, 1, 5, 5, (1, 1), 2, (1, 1), 1, False),
    (2, 5, 6, 4, 4, 3, 1, (2, 2), (1, 2, 0, 3), (1, 1), 4, True),
]


@pytest.mark.parametrize("case", CONV_CASES, ids=[str(i) for i in range(len(CONV_CASES))])
def test_naive_conv2d_matches_torch(torch: Any, case: tuple) -> None:
    n, h, w_size, c_in, c_out, kh, kw, strides, padding, dilation, groups, bias = case
    rng = np.random.default_rng(len(str(case)))
    x = rng.standard_normal((n, h, w_size, c_in))
    w = rng.standard_normal((kh, kw, c_in // groups, c_out))
    b = rng.standard_normal(c_out) if bias else None
    pads = explicit_padding(padding, (h, w_size), (kh, kw), strides, dilation)
    got = naive_conv2d(x, w, b, strides=strides, padding=padding, dilation=dilation, groups=groups)
    want = torch_conv2d_nhwc(
        torch, x, w, b, strides=strides, pads=pads, dilation=dilation, groups=groups
    )
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=TOL)


def test_explicit_padding_same_follows_tensorflow() -> None:
    # I=7, K=3, S=2: out 4, total (4−1)·2 + 3 − 7 = 2 -> (1, 1); I=6: total 1 -> (0, 1).
    assert explicit_padding("same", (7, 6), (3, 3), (2, 2)) == ((1, 1), (0, 1))
    # dilation 2 makes the span 5: I=5, S=1 -> total 4.
    assert explicit_padding("same", (5, 5), (3, 3), (1, 1), (2, 2)) == ((2, 2), (2, 2))
    # the total never goes negative (stride larger than the kernel).
    assert explicit_padding("same", (6, 6), (1, 1), (3, 3)) == ((0, 0), (0, 0))
    assert explicit_padding((1, 2, 3, 4), (5, 5), (3, 3)) == ((1, 2), (3, 4))
    assert explicit_padding((1, 2), (5, 5), (3, 3)) == ((1, 1), (2, 2))


def test_single_channel_oracles_match_torch(torch: Any, rng: np.random.Generator) -> None:
    F = torch.nn.functional
    x = rng.standard_normal((6, 7))
    k = rng.standard_normal((3, 2))
    xt, kt = torch.from_numpy(x)[None, None], torch.from_numpy(k)[None, None]

    correlation = F.conv2d(xt, kt)[0, 0].numpy()
    np.testing.assert_allclose(naive_correlate2d(x, k), correlation, rtol=0, atol=TOL)
    # True convolution = correlation with the kernel rotated 180°.
    convolution = F.conv2d(xt, torch.flip(kt, dims=(2, 3)))[0, 0].numpy()
    np.testing.assert_allclose(naive_convolve2d(x, k), convolution, rtol=0, atol=TOL)
    full_corr = F.conv2d(xt, kt, padding=(2, 1))[0, 0].numpy()
    np.testing.assert_allclose(naive_full_correlate2d(x, k), full_corr, rtol=0, atol=TOL)
    full_conv = F.conv2d(xt, torch.flip(kt, dims=(2, 3)), padding=(2, 1))[0, 0].numpy()
    np.testing.assert_allclose(naive_full_convolve2d(x, k), full_conv, rtol=0, atol=TOL)


def test_pool_output_size_ceil_mode_drops_a_window_in_the_padding() -> None:
    # I=5, K=2, S=2, pad 1+1: ceil((5 + 2 − 2)/2) + 1 = 4, but window 3 would start at 6 = I + 1.
    assert pool_output_size(5, 2, 2, (1, 1), ceil_mode=True) == 3
    assert pool_output_size(5, 2, 2, (1, 1), ceil_mode=False) == 3
    assert pool_output_size(6, 3, 2, (0, 0), ceil_mode=True) == 3
    assert pool_output_size(6, 3, 2, (0, 0), ceil_mode=False) == 2


def test_convolve2d_textbook_example() -> None:
    # 1-D sanity in 2-D clothing: [1, 2, 3] * [0, 1, 0.5] = [0, 1, 2.5, 4, 1.5].
    got = naive_full_convolve2d(np.array([[1.0, 2.0, 3.0]]), np.array([[0.0, 1.0, 0.5]]))
    np.testing.assert_array_equal(got, [[0.0, 1.0, 2.5, 4.0, 1.5]])


POOL_CASES = [
    # (H, W, pool, strides, symmetric padding (ph, pw), ceil_mode)
    (6, 6, (2, 2), (2, 2), (0, 0), False),
    (7, 5, (3, 3), (2, 2), (1, 1), False),
    (7, 8, (3, 2), (2, 2), (1, 0), True),
    (5, 5, (3, 3), (1, 1), (1, 1), True),
    (9, 6, (3, 3), (3, 2), (1, 1), True),
    (5, 6, (2, 2), (2, 2), (1, 1), True),  # ceil mode drops a window starting in the padding
    (4, 7, (2, 3), (3, 2), (0, 1), True),
]


@pytest.mark.parametrize("case", POOL_CASES, ids=[str(i) for i in range(len(POOL_CASES))])
@pytest.mark.parametrize("mode, count_include_pad", [("max", False), ("avg", True), ("avg", False)])
def test_naive_pool2d_matches_torch(
    torch: Any, case: tuple, mode: str, count_include_pad: bool
) -> None:
    F = torch.nn.functional
    h, w, pool, strides, (ph, pw), ceil_mode = case
    x = np.random.default_rng(h * w).standard_normal((2, h, w, 3))
    got = naive_pool2d(
        x,
        pool=pool,
        strides=strides,
        padding=((ph, ph), (pw, pw)),
        mode=mode,
        ceil_mode=ceil_mode,
        count_include_pad=count_include_pad,
    )
    xt = torch.from_numpy(x).permute(0, 3, 1, 2)
    if mode == "max":
        want = F.max_pool2d(xt, pool, strides, (ph, pw), ceil_mode=ceil_mode)
    else:
        want = F.avg_pool2d(
            xt, pool, strides, (ph, pw), ceil_mode=ceil_mode, count_include_pad=count_include_pad
        )
    want = want.permute(0, 2, 3, 1).numpy()
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=TOL)


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_naive_pool2d_asymmetric_padding_matches_padded_torch(torch: Any, mode: str) -> None:
    # PyTorch pools only symmetric padding; pre-pad instead (with −inf for max, zeros and
    # count_include_pad for avg, which are then the same thing as counting the padding).
    F = torch.nn.functional
    x = np.random.default_rng(3).standard_normal((2, 6, 7, 2))
    pads = ((0, 2), (1, 0))
    got = naive_pool2d(
        x, pool=(3, 2), strides=(2, 2), padding=pads, mode=mode, count_include_pad=True
    )
    fill = -np.inf if mode == "max" else 0.0
    xt = F.pad(torch.from_numpy(x).permute(0, 3, 1, 2), (1, 0, 0, 2), value=fill)
    pool_fn = F.max_pool2d if mode == "max" else F.avg_pool2d
    want = pool_fn(xt, (3, 2), (2, 2)).permute(0, 2, 3, 1).numpy()
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=TOL)
