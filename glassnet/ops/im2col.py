"""im2col and its adjoint col2im: every receptive window of a CNHW map as one column, and back.

    cols[(c, u, v), (n, i, j)] = Xp[c, n, i·S_h + u·D_h, j·S_w + v·D_w]

With the compute layout CNHW, each kernel offset (u, v) is one strided slice of the padded
input of shape (C, N, OH, OW), so the columns of one offset form a contiguous block.
``col2im`` adds the columns back (overlapping windows add up: the gradient of a shared input).
"""

from __future__ import annotations

from typing import Any

from glassnet.arith.geometry import Pair, window_output_size
from glassnet.backend import get_xp

Array = Any
Pads = tuple[Pair, Pair]


def pad_spatial(x: Array, pads: Pads, value: float = 0.0) -> Array:
    """Pad the last two axes by ``((top, bottom), (left, right))``; no copy when all are 0.

    Shapes:
        x: (..., H, W) -> (..., H + top + bottom, W + left + right)
    """
    if pads == ((0, 0), (0, 0)):
        return x
    widths = [(0, 0)] * (x.ndim - 2) + [tuple(pads[0]), tuple(pads[1])]
    return get_xp(x).pad(x, widths, mode="constant", constant_values=value)


def window_slice(u: int, v: int, strides: Pair, dilation: Pair, out_hw: Pair) -> tuple[slice, ...]:
    """The strided slice of a padded map holding offset (u, v) of every window: (OH, OW) cells."""
    (sh, sw), (oh, ow) = strides, out_hw
    r0, c0 = u * dilation[0], v * dilation[1]
    return (slice(r0, r0 + sh * (oh - 1) + 1, sh), slice(c0, c0 + sw * (ow - 1) + 1, sw))


def _out_hw(padded_hw: Pair, kernel_hw: Pair, strides: Pair, dilation: Pair) -> Pair:
    return (
        window_output_size(padded_hw[0], kernel_hw[0], strides[0], (0, 0), dilation[0]),
        window_output_size(padded_hw[1], kernel_hw[1], strides[1], (0, 0), dilation[1]),
    )


def im2col(x: Array, kernel_hw: Pair, strides: Pair, pads: Pads, dilation: Pair = (1, 1)) -> Array:
    """Lay every receptive window of ``x`` out as a column.

    Args:
        x: input maps in the compute layout.
        kernel_hw: (KH, KW).
        strides: (S_h, S_w).
        pads: explicit padding ((top, bottom), (left, right)).
        dilation: (D_h, D_w).

    Returns:
        cols with cols[(c, u, v), (n, i, j)] = Xp[c, n, i·S_h + u·D_h, j·S_w + v·D_w].

    Shapes:
        x: (C, N, H, W) -> cols: (C·KH·KW, N·OH·OW)
    """
    xp = get_xp(x)
    xpad = pad_spatial(x, pads)
    c, n = x.shape[:2]
    kh, kw = kernel_hw
    oh, ow = _out_hw(xpad.shape[2:], kernel_hw, strides, dilation)
    cols = xp.empty((c, kh, kw, n, oh, ow), dtype=x.dtype)
    for u in range(kh):
        for v in range(kw):
            # One strided slice per kernel offset: a contiguous (C, N, OH, OW) block copy.
            cols[:, u, v] = xpad[(..., *window_slice(u, v, strides, dilation, (oh, ow)))]
    return cols.reshape(c * kh * kw, n * oh * ow)


def col2im(
    cols: Array,
    x_shape: tuple[int, int, int, int],
    kernel_hw: Pair,
    strides: Pair,
    pads: Pads,
    dilation: Pair = (1, 1),
) -> Array:
    """Scatter-add columns back onto the input grid: the adjoint of :func:`im2col`.

    Overlapping windows add up, which is what the gradient of a shared input needs.

    Shapes:
        cols: (C·KH·KW, N·OH·OW) -> out: x_shape = (C, N, H, W)
    """
    xp = get_xp(cols)
    c, n, h, w = x_shape
    (pt, pb), (pl, pr) = pads
    kh, kw = kernel_hw
    dxp = xp.zeros((c, n, h + pt + pb, w + pl + pr), dtype=cols.dtype)
    oh, ow = _out_hw(dxp.shape[2:], kernel_hw, strides, dilation)
    cols6 = cols.reshape(c, kh, kw, n, oh, ow)
    for u in range(kh):
        for v in range(kw):
            # Strided slice-add instead of np.add.at: within one (u, v) the targets are distinct.
            dxp[(..., *window_slice(u, v, strides, dilation, (oh, ow)))] += cols6[:, u, v]
    return dxp[:, :, pt : pt + h, pl : pl + w]
