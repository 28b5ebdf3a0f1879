"""Tests for ``glassnet.ops.conv``: forward and gradients vs PyTorch float64, the naive oracles,
numerical gradients, im2col/col2im properties, true convolution, worked examples and errors.

The op works in the CNHW compute layout with kernels [KH, KW, C_in/groups, C_out]; the helpers
below convert to PyTorch's NCHW / [C_out, C_in/groups, KH, KW] and to the oracles' NHWC.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from conftest import load_case, t64
from hypothesis import given, settings
from hypothesis import strategies as st
from oracles import (
    explicit_padding,
    naive_conv2d,
    naive_convolve2d,
    naive_correlate2d,
    naive_full_convolve2d,
    naive_full_correlate2d,
)

from glassnet.ops.conv import conv2d_backward, conv2d_forward, convolve2d
from glassnet.ops.im2col import col2im, im2col

TOL64 = 1e-10


# --------------------------------------------------------------------------- geometry and data


@dataclass(frozen=True)
class ConvCase:
    """One random conv problem: sizes, hyper-parameters and a seed for the values."""

    n: int
    h: int
    w: int
    c_in: int
    c_out: int
    kernel: tuple[int, int]
    strides: tuple[int, int]
    dilation: tuple[int, int]
    padding: Any  # any spec conv2d_forward accepts
    groups: int
    bias: bool
    seed: int

    @property
    def pads(self) -> tuple[tuple[int, int], tuple[int, int]]:
        return explicit_padding(
            self.padding, (self.h, self.w), self.kernel, self.strides, self.dilation
        )

    def arrays(self, dtype: type = np.float64) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Return x (C, N, H, W), w (KH, KW, C_in/G, C_out), b (C_out,) or None."""
        rng = np.random.default_rng(self.seed)
        x = rng.standard_normal((self.c_in, self.n, self.h, self.w)).astype(dtype)
        w = rng.standard_normal((*self.kernel, self.c_in // self.groups, self.c_out)).astype(dtype)
        b = rng.standard_normal(self.c_out).astype(dtype) if self.bias else None
        return x, w, b

    def kwargs(self) -> dict[str, Any]:
        return dict(
            strides=self.strides, padding=self.padding, dilation=self.dilation, groups=self.groups
        )


def _span(kernel: int, dilation: int) -> int:
    return dilation * (kernel - 1) + 1


@st.composite
def conv_cases(draw: st.DrawFn, max_extra: int = 4) -> ConvCase:
    """Small conv problems (odd and non-square sizes) whose dilated kernel fits the padded input."""
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    c_in = groups * draw(st.integers(1, 2))
    c_out = groups * draw(st.integers(1, 2))
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    strides = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    small = st.integers(0, 2)
    padding = draw(
        st.one_of(
            st.sampled_from(["valid", "same"]),
            small,
            st.tuples(small, small),
            st.tuples(small, small, small, small),
        )
    )
    if padding == "same":  # always fits: it pads the input up to the kernel span
        min_h = min_w = 1
    else:  # explicit amounts do not depend on the size: start the size where the kernel fits
        (top, bottom), (left, right) = explicit_padding(padding, (1, 1), kernel)
        min_h = max(1, _span(kernel[0], dilation[0]) - top - bottom)
        min_w = max(1, _span(kernel[1], dilation[1]) - left - right)
    h = draw(st.integers(min_h, min_h + max_extra))
    w = draw(st.integers(min_w, min_w + max_extra))
    return ConvCase(
        n=draw(st.integers(1, 2)),
        h=h,
        w=w,
        c_in=c_in,
        c_out=c_out,
        kernel=kernel,
        strides=strides,
        dilation=dilation,
        padding=padding,
        groups=groups,
        bias=draw(st.booleans()),
        seed=draw(st.integers(0, 2**32 - 1)),
    )


def torch_conv(
    torch: Any,
    case: ConvCase,
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None,
    dout: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """PyTorch float64 (out, dx, dw, db) in glassnet's layouts, backpropagating ``dout``."""
    F = torch.nn.functional
    xt = t64(torch, x.transpose(1, 0, 2, 3))  # CNHW -> NCHW
    wt = t64(torch, w.transpose(3, 2, 0, 1))  # [KH, KW, Cg, F] -> [F, Cg, KH, KW]
    bt = None if b is None else t64(torch, b)
    (top, bottom), (left, right) = case.pads
    out = F.conv2d(
        F.pad(xt, (left, right, top, bottom)),
        wt,
        bt,
        stride=case.strides,
        dilation=case.dilation,
        groups=case.groups,
    )
    (out * t64(torch, dout.transpose(1, 0, 2, 3), requires_grad=False)).sum().backward()
    dx = xt.grad.numpy().transpose(1, 0, 2, 3)
    dw = wt.grad.numpy().transpose(2, 3, 1, 0)
    db = None if bt is None else bt.grad.numpy()
    return out.detach().numpy().transpose(1, 0, 2, 3), dx, dw, db


def max_abs_diff(got: np.ndarray, want: np.ndarray) -> float:
    assert got.shape == want.shape, f"shape {got.shape} != {want.shape}"
    return float(np.max(np.abs(got.astype(np.float64) - want), initial=0.0))


def rel_error(got: np.ndarray, want: np.ndarray) -> float:
    """max |got − want| / max |want| (norm-wise, so near-zero entries do not blow it up)."""
    return max_abs_diff(got, want) / max(float(np.max(np.abs(want), initial=0.0)), 1e-30)


def cnhw_to_nhwc(a: np.ndarray) -> np.ndarray:
    return a.transpose(1, 2, 3, 0)  # CNHW -> NHWC


# --------------------------------------------------------------------------- against PyTorch


@settings(max_examples=60, deadline=None)
@given(case=conv_cases())
def test_forward_and_gradients_match_torch_float64(torch: Any, case: ConvCase) -> None:
    x, w, b = case.arrays()
    out, cache = conv2d_forward(x, w, b, **case.kwargs())
    dout = np.random.default_rng(case.seed + 1).standard_normal(out.shape)
    dx, dw, db = conv2d_backward(dout, cache)
    want_out, want_dx, want_dw, want_db = torch_conv(torch, case, x, w, b, dout)

    assert max_abs_diff(out, want_out) <= TOL64
    assert max_abs_diff(dx, want_dx) <= TOL64
    assert max_abs_diff(dw, want_dw) <= TOL64
    if b is None:
        assert db is None
    else:
        assert max_abs_diff(db, want_db) <= TOL64
    if case.padding == "same":  # TensorFlow's promise: OH = ceil(H / S)
        assert out.shape[2:] == (-(-case.h // case.strides[0]), -(-case.w // case.strides[1]))


@settings(max_examples=30, deadline=None)
@given(case=conv_cases())
def test_float32_stays_float32_and_matches_torch(torch: Any, case: ConvCase) -> None:
    x, w, b = case.arrays(np.float32)
    out, cache = conv2d_forward(x, w, b, **case.kwargs())
    dout = np.random.default_rng(case.seed + 1).standard_normal(out.shape).astype(np.float32)
    dx, dw, db = conv2d_backward(dout, cache)
    want_out, want_dx, want_dw, want_db = torch_conv(torch, case, x, w, b, dout)

    assert out.dtype == dx.dtype == dw.dtype == np.float32
    assert rel_error(out, want_out) <= 1e-4
    assert rel_error(dx, want_dx) <= 1e-4
    assert rel_error(dw, want_dw) <= 1e-4
    if b is not None:
        assert db.dtype == np.float32
        assert rel_error(db, want_db) <= 1e-4


# --------------------------------------------------------------------------- independent oracles


@settings(max_examples=30, deadline=None)
@given(case=conv_cases(max_extra=3))
def test_forward_matches_naive_loops(case: ConvCase) -> None:
    x, w, b = case.arrays()
    out, _ = conv2d_forward(x, w, b, **case.kwargs())
    want = naive_conv2d(cnhw_to_nhwc(x), w, b, **case.kwargs())
    assert max_abs_diff(cnhw_to_nhwc(out), want) <= TOL64


@pytest.mark.parametrize("name", ["trace_conv5x5_pad0.json", "trace_conv5x5_pad1.json"])
def test_worked_examples_reproduced_exactly(name: str) -> None:
    case = load_case(name)
    layer = case["spec"]["layers"][0]
    assert layer["type"] == "conv2d"
    x = np.array(case["spec"]["input"], dtype=np.float64)[None, None]  # HW -> (1, 1, H, W)
    w = np.array(layer["kernel"], dtype=np.float64)[:, :, None, None]  # [KH, KW] -> 4-D
    b = np.array(layer["bias"], dtype=np.float64)
    out, _ = conv2d_forward(x, w, b, strides=layer["stride"], padding=layer["padding"])
    want = np.array(case["expected"]["forward"][0]["output"])
    np.testing.assert_array_equal(out[0, 0], want)


def test_convolve2d_is_true_convolution_single_channel(rng: np.random.Generator) -> None:
    x = rng.standard_normal((7, 6))
    k = rng.standard_normal((3, 2))
    got = convolve2d(x[None, None], k[:, :, None, None])
    assert max_abs_diff(got[0, 0], naive_convolve2d(x, k)) <= TOL64
    # and it really is different from correlation for an asymmetric kernel
    assert max_abs_diff(got[0, 0], naive_correlate2d(x, k)) > 1e-3


def test_convolve2d_sums_true_convolutions_over_channels(rng: np.random.Generator) -> None:
    x = rng.standard_normal((3, 2, 6, 5))  # (C, N, H, W)
    w = rng.standard_normal((3, 2, 3, 4))  # [KH, KW, C, F]
    b = rng.standard_normal(4)
    got = convolve2d(x, w, b)
    for f in range(4):
        for n in range(2):
            want = b[f] + sum(naive_convolve2d(x[c, n], w[:, :, c, f]) for c in range(3))
            assert max_abs_diff(got[f, n], want) <= TOL64


# --------------------------------------------------------------------------- gradients


def numeric_grad(f: Any, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Centred differences (f(x + eps·e_i) − f(x − eps·e_i)) / 2eps of a scalar f, in float64."""
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        saved = x[i]
        x[i] = saved + eps
        up = f()
        x[i] = saved - eps
        down = f()
        x[i] = saved
        grad[i] = (up - down) / (2 * eps)
    return grad


def grad_rel_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    """||a − n|| / max(||a|| + ||n||, tiny)."""
    denom = max(float(np.linalg.norm(analytic) + np.linalg.norm(numeric)), 1e-30)
    return float(np.linalg.norm(analytic - numeric)) / denom


GRAD_CASES = [
    ConvCase(2, 5, 4, 2, 3, (3, 3), (1, 1), (1, 1), "valid", 1, True, 1),
    ConvCase(1, 7, 6, 2, 2, (3, 2), (2, 1), (1, 1), "same", 1, True, 2),
    ConvCase(2, 6, 7, 4, 2, (2, 3), (2, 3), (2, 1), (1, 0, 2, 1), 2, True, 3),
    ConvCase(1, 5, 5, 3, 3, (3, 3), (1, 2), (1, 2), (2, 1), 3, False, 4),
]


@pytest.mark.parametrize("case", GRAD_CASES, ids=[str(i) for i in range(len(GRAD_CASES))])
def test_numerical_gradients(case: ConvCase) -> None:
    x, w, b = case.arrays()
    out, cache = conv2d_forward(x, w, b, **case.kwargs())
    dout = np.random.default_rng(case.seed + 7).standard_normal(out.shape)
    dx, dw, db = conv2d_backward(dout, cache)

    def loss() -> float:
        return float(np.sum(conv2d_forward(x, w, b, **case.kwargs())[0] * dout))

    assert grad_rel_error(dx, numeric_grad(loss, x)) < 1e-6
    assert grad_rel_error(dw, numeric_grad(loss, w)) < 1e-6
    if b is not None:
        assert grad_rel_error(db, numeric_grad(loss, b)) < 1e-6


@pytest.mark.parametrize("h, w, kh, kw", [(5, 5, 3, 3), (6, 4, 2, 3), (4, 7, 4, 1), (3, 3, 3, 3)])
def test_stride1_gradients_are_full_convolution_and_correlation(h, w, kh, kw) -> None:
    rng = np.random.default_rng(h * 10 + w)
    x = rng.standard_normal((h, w))
    k = rng.standard_normal((kh, kw))
    out, cache = conv2d_forward(x[None, None], k[:, :, None, None])
    dout = rng.standard_normal(out.shape[2:])
    dx, dw, _ = conv2d_backward(dout[None, None], cache)
    # dL/dX = "full convolution of the 180°-rotated kernel with dL/dO" ...
    assert max_abs_diff(dx[0, 0], naive_full_correlate2d(dout, k[::-1, ::-1])) <= TOL64
    # ... which is the true full convolution of dL/dO with the kernel.
    assert max_abs_diff(dx[0, 0], naive_full_convolve2d(dout, k)) <= TOL64
    # dL/dW = X ⋆ dL/dO (the input correlated with dout).
    assert max_abs_diff(dw[:, :, 0, 0], naive_correlate2d(x, dout)) <= TOL64


# --------------------------------------------------------------------------- im2col / col2im


@settings(max_examples=40, deadline=None)
@given(case=conv_cases())
def test_im2col_col2im_adjoint(case: ConvCase) -> None:
    x, _, _ = case.arrays()
    cols = im2col(x, case.kernel, case.strides, case.pads, case.dilation)
    y = np.random.default_rng(case.seed + 3).standard_normal(cols.shape)
    back = col2im(y, x.shape, case.kernel, case.strides, case.pads, case.dilation)
    assert back.shape == x.shape
    lhs, rhs = float(np.sum(cols * y)), float(np.sum(x * back))
    assert abs(lhs - rhs) <= 1e-10 * max(1.0, abs(lhs))


def test_im2col_layout_rows_c_kh_kw_columns_n_oh_ow(rng: np.random.Generator) -> None:
    c, n, h, w, kh, kw = 2, 2, 5, 6, 2, 3
    strides, dilation, pads = (2, 1), (1, 2), ((1, 0), (0, 2))
    x = rng.standard_normal((c, n, h, w))
    cols = im2col(x, (kh, kw), strides, pads, dilation)
    xpad = np.pad(x, ((0, 0), (0, 0), pads[0], pads[1]))
    oh = (h + 1 - kh) // 2 + 1
    ow = (w + 2 - (dilation[1] * (kw - 1) + 1)) // 1 + 1
    assert cols.shape == (c * kh * kw, n * oh * ow)
    for ci, u, v in np.ndindex(c, kh, kw):
        for ni, i, j in np.ndindex(n, oh, ow):
            row, col = (ci * kh + u) * kw + v, (ni * oh + i) * ow + j
            pixel = xpad[ci, ni, i * strides[0] + u * dilation[0], j * strides[1] + v * dilation[1]]
            assert cols[row, col] == pixel


# --------------------------------------------------------------------------- errors


def test_error_channel_mismatch() -> None:
    x = np.zeros((3, 1, 5, 5))
    w = np.zeros((3, 3, 4, 8))
    with pytest.raises(ValueError, match=r"conv2d: x has 3 channels but w expects C_in=4"):
        conv2d_forward(x, w)


def test_error_kernel_larger_than_padded_input() -> None:
    x = np.zeros((1, 1, 3, 3))
    w = np.zeros((5, 5, 1, 1))
    with pytest.raises(ValueError, match=r"conv2d: kernel 5 does not fit the padded input .*3"):
        conv2d_forward(x, w)
    # padding 1 makes the input 5 wide: it fits
    assert conv2d_forward(x, w, padding=1)[0].shape == (1, 1, 1, 1)


def test_error_bad_padding_string() -> None:
    with pytest.raises(ValueError, match=r"conv2d: padding='full' is not one of"):
        conv2d_forward(np.zeros((1, 1, 5, 5)), np.zeros((3, 3, 1, 1)), padding="full")


@pytest.mark.parametrize(
    "x_shape, w_shape, match",
    [
        ((1, 5, 5), (3, 3, 1, 1), r"conv2d: x must be 4-D .* got 3-D shape \[1, 5, 5\]"),
        ((1, 1, 5, 5), (3, 3, 1), r"conv2d: w must be 4-D .* got 3-D shape \[3, 3, 1\]"),
    ],
)
def test_error_wrong_rank(x_shape, w_shape, match) -> None:
    with pytest.raises(ValueError, match=match):
        conv2d_forward(np.zeros(x_shape), np.zeros(w_shape))


def test_error_groups_not_dividing_channels() -> None:
    x = np.zeros((4, 1, 5, 5))
    w = np.zeros((3, 3, 1, 6))
    with pytest.raises(ValueError, match=r"conv2d: groups=3 must divide .*C_in=4"):
        conv2d_forward(x, w, groups=3)
