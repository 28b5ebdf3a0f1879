"""Slow, obviously-correct reference implementations (naive loops) for the sliding-window ops.

Each oracle is written straight from the definition, one output position at a time, and shares
no code with ``glassnet.ops`` (no im2col, no GEMM): an op must never be its own oracle. Public
layout here is NHWC, kernels are ``[KH, KW, C_in/groups, C_out]``. Every oracle is itself
checked against PyTorch float64 in ``tests/test_oracles.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Pair = tuple[int, int]
Pads = tuple[Pair, Pair]


def as_pair(value: int | Sequence[int]) -> Pair:
    """Return an int or a 2-sequence as an ``(h, w)`` pair."""
    if isinstance(value, int):
        return (value, value)
    return (int(value[0]), int(value[1]))


def explicit_padding(
    padding: str | int | Sequence[int] | Sequence[Sequence[int]],
    in_hw: Pair,
    kernel_hw: Pair,
    strides: Pair = (1, 1),
    dilation: Pair = (1, 1),
) -> Pads:
    """Return ``((top, bottom), (left, right))`` for any padding spec.

    Re-derived here on purpose (not taken from ``glassnet.arith``), so the tests check glassnet's
    own resolution. ``"same"`` is TensorFlow's rule: total = max((ceil(I/S) − 1)·S + D·(K − 1) + 1
    − I, 0), the odd pixel at the bottom/right.
    """
    if padding == "valid":
        return ((0, 0), (0, 0))
    if padding == "same":
        sides = []
        for size, k, s, d in zip(in_hw, kernel_hw, strides, dilation, strict=True):
            out = -(-size // s)
            total = max((out - 1) * s + d * (k - 1) + 1 - size, 0)
            sides.append((total // 2, total - total // 2))
        return (sides[0], sides[1])
    if isinstance(padding, int):
        return ((padding, padding), (padding, padding))
    flat = list(padding)
    if len(flat) == 2 and all(isinstance(v, Sequence) for v in flat):
        return (as_pair(flat[0]), as_pair(flat[1]))  # already ((t, b), (l, r))
    if len(flat) == 2:
        return ((flat[0], flat[0]), (flat[1], flat[1]))
    if len(flat) == 4:
        return ((flat[0], flat[1]), (flat[2], flat[3]))
    raise ValueError(f"explicit_padding: cannot read padding={padding!r}")


def naive_conv2d(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None = None,
    *,
    strides: int | Pair = (1, 1),
    padding: str | int | Sequence[int] | Pads = ((0, 0), (0, 0)),
    dilation: int | Pair = (1, 1),
    groups: int = 1,
) -> np.ndarray:
    """Cross-correlate NHWC ``x`` with ``w`` by looping over every output position.

    out[n, i, j, f] = b[f] + Σ_{kh, kw, c} xpad[n, i·SH + kh·DH, j·SW + kw·DW, g·Cg + c]
                                            · w[kh, kw, c, f],  g = f // (C_out/groups)

    Shapes:
        x: (N, H, W, C_in); w: (KH, KW, C_in/groups, C_out); b: (C_out,); out: (N, OH, OW, C_out)
    """
    n_batch, height, width, c_in = x.shape
    kh_size, kw_size, c_per_group, c_out = w.shape
    if c_in != c_per_group * groups or c_out % groups:
        raise ValueError(f"naive_conv2d: x {x.shape} and w {w.shape} do not fit groups={groups}")
    sh, sw = as_pair(strides)
    dh, dw = as_pair(dilation)
    (top, bottom), (left, right) = explicit_padding(
        padding, (height, width), (kh_size, kw_size), (sh, sw), (dh, dw)
    )
    xpad = np.zeros((n_batch, height + top + bottom, width + left + right, c_in), dtype=x.dtype)
    xpad[:, top : top + height, left : left + width, :] = x
    out_h = (xpad.shape[1] - dh * (kh_size - 1) - 1) // sh + 1
    out_w = (xpad.shape[2] - dw * (kw_size - 1) - 1) // sw + 1
    f_per_group = c_out // groups
    out = np.zeros((n_batch, out_h, out_w, c_out), dtype=np.result_type(x, w))
    for n in range(n_batch):
        for i in range(out_h):
            for j in range(out_w):
                for f in range(c_out):
                    first = (f // f_per_group) * c_per_group
                    total = 0.0
                    for kh in range(kh_size):
                        for kw in range(kw_size):
                            pixel = xpad[n, i * sh + kh * dh, j * sw + kw * dw]
                            total += pixel[first : first + c_per_group] @ w[kh, kw, :, f]
                    out[n, i, j, f] = total + (0.0 if b is None else b[f])
    return out


def naive_correlate2d(x2d: np.ndarray, k2d: np.ndarray) -> np.ndarray:
    """Return the 'valid' cross-correlation out[i, j] = Σ_{a,b} x[i + a, j + b] · k[a, b]."""
    out_h, out_w = x2d.shape[0] - k2d.shape[0] + 1, x2d.shape[1] - k2d.shape[1] + 1
    out = np.zeros((out_h, out_w), dtype=np.result_type(x2d, k2d))
    for i in range(out_h):
        for j in range(out_w):
            for a in range(k2d.shape[0]):
                for b in range(k2d.shape[1]):
                    out[i, j] += x2d[i + a, j + b] * k2d[a, b]
    return out


def naive_full_convolve2d(x2d: np.ndarray, k2d: np.ndarray) -> np.ndarray:
    """Return the 'full' true convolution out[i, j] = Σ_{m,n} x[m, n] · k[i − m, j − n].

    Written from the textbook definition (every product x[m, n]·k[p, q] lands at (m + p, n + q)),
    independent of :func:`naive_correlate2d`. Output shape (H + KH − 1, W + KW − 1).
    """
    (height, width), (kh_size, kw_size) = x2d.shape, k2d.shape
    out = np.zeros((height + kh_size - 1, width + kw_size - 1), dtype=np.result_type(x2d, k2d))
    for m in range(height):
        for n in range(width):
            for p in range(kh_size):
                for q in range(kw_size):
                    out[m + p, n + q] += x2d[m, n] * k2d[p, q]
    return out


def naive_convolve2d(x2d: np.ndarray, k2d: np.ndarray) -> np.ndarray:
    """Return the 'valid' true convolution (kernel flipped 180°) of one channel.

    The valid part of the full convolution: the positions where the kernel lies wholly inside x.
    """
    kh_size, kw_size = k2d.shape
    full = naive_full_convolve2d(x2d, k2d)
    return full[kh_size - 1 : x2d.shape[0], kw_size - 1 : x2d.shape[1]]


def naive_full_correlate2d(x2d: np.ndarray, k2d: np.ndarray) -> np.ndarray:
    """Return the 'full' cross-correlation: x zero-padded by (KH − 1, KW − 1) on every side.

    For a stride-1, single-channel conv out = x ⋆ k, dL/dx = naive_full_correlate2d(dout,
    rot180(k)) — the "full convolution of the rotated kernel with dL/dO" of the course.
    """
    kh_size, kw_size = k2d.shape
    padded = np.pad(x2d, ((kh_size - 1, kh_size - 1), (kw_size - 1, kw_size - 1)))
    return naive_correlate2d(padded, k2d)


def pool_output_size(size: int, pool: int, stride: int, pad: Pair, ceil_mode: bool) -> int:
    """Return PyTorch's pooling output size along one axis.

    floor((I + P − K)/S) + 1, or ceil(...) + 1 with ``ceil_mode``, where a last window that
    would start at or beyond I + pad_before (wholly in the right padding) is dropped.
    """
    room = size + pad[0] + pad[1] - pool
    if not ceil_mode:
        return room // stride + 1
    out = -(-room // stride) + 1
    if (out - 1) * stride >= size + pad[0]:
        out -= 1
    return out


def naive_pool2d(
    x: np.ndarray,
    *,
    pool: int | Pair,
    strides: int | Pair,
    padding: Pads = ((0, 0), (0, 0)),
    mode: str = "max",
    ceil_mode: bool = False,
    count_include_pad: bool = False,
) -> np.ndarray:
    """Max- or average-pool NHWC ``x`` window by window, with PyTorch's clipping rules.

    A window starts at i·S − pad_before (input coordinates). Max looks only at the real input
    (padding never wins). Average sums the real input and divides by the number of positions
    inside the padded input [−pad_before, I + pad_after) when ``count_include_pad``, otherwise
    inside the real input [0, I).

    Shapes:
        x: (N, H, W, C); out: (N, OH, OW, C)
    """
    if mode not in ("max", "avg"):
        raise ValueError(f"naive_pool2d: mode={mode!r} is not 'max' or 'avg'")
    n_batch, height, width, channels = x.shape
    (ph, pw), (sh, sw) = as_pair(pool), as_pair(strides)
    (top, bottom), (left, right) = padding
    out_h = pool_output_size(height, ph, sh, (top, bottom), ceil_mode)
    out_w = pool_output_size(width, pw, sw, (left, right), ceil_mode)
    out = np.zeros((n_batch, out_h, out_w, channels), dtype=x.dtype)
    for i in range(out_h):
        h0 = i * sh - top
        h1 = min(h0 + ph, height + bottom)  # the window clipped to the padded input
        for j in range(out_w):
            w0 = j * sw - left
            w1 = min(w0 + pw, width + right)
            window = x[:, max(h0, 0) : min(h1, height), max(w0, 0) : min(w1, width), :]
            if mode == "max":
                out[:, i, j, :] = window.max(axis=(1, 2)) if window.size else -np.inf
                continue
            if count_include_pad:
                divisor = (h1 - h0) * (w1 - w0)
            else:
                divisor = window.shape[1] * window.shape[2]
            out[:, i, j, :] = window.sum(axis=(1, 2)) / divisor
    return out
