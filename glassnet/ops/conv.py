"""2-D convolution (cross-correlation) as im2col + GEMM, with its explicit backward.

This is the REFERENCE: one readable forward/backward pair, NumPy only, the code ``trace``,
``gradcheck`` and :func:`glassnet.accel.reference_mode` run. The fast drop-in with the same
contract is :mod:`glassnet.accel.conv`.

Forward, for output cell (f, n, i, j):
    O[f, n, i, j] = Σ_{c, u, v} Xp[c, n, i·S_h + u·D_h, j·S_w + v·D_w] · K[u, v, c, f] + b[f]
which is one matrix product once the receptive windows are laid out as columns (im2col):
    O[F, N·OH·OW] = Wm[F, C·KH·KW] @ cols[C·KH·KW, N·OH·OW]
(per group of channels when groups > 1). Backward:
    dL/dK = dO @ colsᵀ         (the input correlated with dL/dO: "dL/dF = X ⋆ dL/dO")
    dL/db = Σ dO over (N, OH, OW)
    dL/dX = col2im(Wmᵀ @ dO)   (for stride 1 this equals the full convolution of the 180°-rotated
                                 kernel with dL/dO; col2im computes it for any stride/dilation)

NOTE: the compute layout is CNHW (docs/architecture.md): every im2col copy is a contiguous block
and the GEMM result is already [F, N, OH, OW], so no transpose follows the product.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from glassnet.arith.geometry import (
    PaddingSpec,
    Pair,
    memo_plain,
    pair,
    resolve_padding,
    window_output_size,
)
from glassnet.backend import get_xp
from glassnet.errors import GlassnetError, ShapeError
from glassnet.ops.im2col import col2im, im2col

Array = Any  # numpy or cupy ndarray
Pads = tuple[Pair, Pair]


class ConvGeometry(NamedTuple):
    """A convolution's resolved geometry (what :func:`conv_geometry` returns)."""

    out_hw: Pair  # (OH, OW)
    pads: Pads  # ((top, bottom), (left, right))
    strides: Pair  # (S_h, S_w)
    dilation: Pair  # (D_h, D_w)


class Conv2DCache(NamedTuple):
    """What :func:`conv2d_backward` needs from the forward pass."""

    cols: Array  # [C·KH·KW, N·OH·OW], rows ordered (c, kh, kw)
    w: Array  # [KH, KW, C/G, F]
    x_shape: tuple[int, int, int, int]  # (C, N, H, W)
    geometry: ConvGeometry
    groups: int
    has_bias: bool


def _shape_str(shape: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(s) for s in shape) + "]"


def check_conv_args(x: Array, w: Array, b: Array | None, groups: int, op: str) -> Pair:
    """Validate ranks, channel counts and groups; return ``(KH, KW)``.

    Raises:
        ShapeError: wrong ranks or a channel mismatch.
        GlassnetError: ``groups`` not a positive int dividing C_in and C_out.
    """
    if x.ndim != 4:
        raise ShapeError(
            f"{op}: x must be 4-D (C, N, H, W) in the compute layout, got {x.ndim}-D shape "
            f"{_shape_str(x.shape)}"
        )
    if w.ndim != 4:
        raise ShapeError(
            f"{op}: w must be 4-D [KH, KW, C_in/groups, C_out], got {w.ndim}-D shape "
            f"{_shape_str(w.shape)}"
        )
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise GlassnetError(f"{op}: groups={groups!r} must be a positive int")
    c, f = x.shape[0], w.shape[3]
    if c % groups or f % groups:
        raise GlassnetError(f"{op}: groups={groups} must divide both C_in={c} and C_out={f}")
    if w.shape[2] * groups != c:
        raise ShapeError(
            f"{op}: x has {c} channels but w expects C_in={w.shape[2] * groups} "
            f"(w shape {_shape_str(w.shape)}, groups={groups})"
        )
    if b is not None and tuple(b.shape) != (f,):
        raise ShapeError(f"{op}: b must have shape [{f}] (C_out), got {_shape_str(b.shape)}")
    return int(w.shape[0]), int(w.shape[1])


@memo_plain
def conv_geometry(
    in_hw: Pair,
    kernel_hw: Pair,
    strides: int | Pair,
    padding: PaddingSpec,
    dilation: int | Pair,
    *,
    op: str = "conv2d",
) -> ConvGeometry:
    """Resolve strides, padding and dilation into output size and explicit pads.

    Raises:
        GlassnetError: bad strides/dilation/padding values.
        ShapeError: the dilated kernel does not fit the padded input.
    """
    s = pair(strides, op=op, arg="strides")
    d = pair(dilation, op=op, arg="dilation")
    pads = resolve_padding(padding, in_hw, kernel_hw, s, d, op=op)
    oh = window_output_size(in_hw[0], kernel_hw[0], s[0], pads[0], d[0], op=op, axis="height")
    ow = window_output_size(in_hw[1], kernel_hw[1], s[1], pads[1], d[1], op=op, axis="width")
    return ConvGeometry((oh, ow), pads, s, d)


def weight_matrix(w: Array, groups: int) -> Array:
    """[KH, KW, C/G, F] -> [G, F/G, C/G·KH·KW], columns ordered (c, kh, kw) like im2col's rows."""
    kh, kw, cg, f = w.shape
    return w.transpose(3, 2, 0, 1).reshape(groups, f // groups, cg * kh * kw)


def conv2d_forward(
    x: Array,
    w: Array,
    b: Array | None = None,
    *,
    strides: int | Pair = 1,
    padding: PaddingSpec = "valid",
    dilation: int | Pair = 1,
    groups: int = 1,
) -> tuple[Array, Conv2DCache]:
    """Cross-correlate ``x`` with ``w`` (what every framework calls convolution), plus bias.

    Args:
        x: input maps, compute layout.
        w: kernel.
        b: bias, one per output channel, or None.
        strides: S or (S_h, S_w).
        padding: "valid", "same" (TensorFlow rule), int, (ph, pw) or (top, bottom, left, right).
        dilation: D or (D_h, D_w).
        groups: G; input and output channels split into G independent groups.

    Returns:
        (out, cache) for :func:`conv2d_backward`.

    Raises:
        ShapeError: wrong ranks, channel mismatch, kernel larger than the padded input.
        GlassnetError: bad padding, strides, dilation or groups.

    Shapes:
        x: (C, N, H, W); w: (KH, KW, C/G, F); b: (F,) -> out: (F, N, OH, OW)
    """
    xp = get_xp(x, w)
    kh, kw = check_conv_args(x, w, b, groups, "conv2d")
    geo = conv_geometry(tuple(x.shape[2:]), (kh, kw), strides, padding, dilation)
    n, f, (oh, ow) = x.shape[1], w.shape[3], geo.out_hw
    cols = im2col(x, (kh, kw), geo.strides, geo.pads, geo.dilation)  # [C·KH·KW, N·OH·OW]
    wm = weight_matrix(w, groups)  # [G, F/G, Cg·KH·KW]
    # One product per group: [G, F/G, Cg·KH·KW] @ [G, Cg·KH·KW, N·OH·OW].
    out = xp.matmul(wm, cols.reshape(groups, -1, cols.shape[1])).reshape(f, n, oh, ow)
    if b is not None:
        out += b[:, None, None, None]
    return out, Conv2DCache(cols, w, tuple(x.shape), geo, groups, b is not None)


def conv2d_backward(dout: Array, cache: Conv2DCache) -> tuple[Array, Array, Array | None]:
    """Gradients of :func:`conv2d_forward` with respect to x, w and b.

    Args:
        dout: dL/d(out).
        cache: from the forward pass.

    Returns:
        (dx, dw, db); db is None when the forward had no bias.

    Shapes:
        dout: (F, N, OH, OW) -> dx: (C, N, H, W), dw: (KH, KW, C/G, F), db: (F,)
    """
    xp = get_xp(dout)
    kh, kw, cg, f = cache.w.shape
    g, geo = cache.groups, cache.geometry
    dmat = dout.reshape(g, f // g, -1)  # [G, F/G, N·OH·OW]
    cols = cache.cols.reshape(g, cg * kh * kw, -1)  # [G, Cg·KH·KW, N·OH·OW]
    dwm = xp.matmul(dmat, cols.transpose(0, 2, 1))  # dL/dK = dO @ colsᵀ: [G, F/G, Cg·KH·KW]
    dw = dwm.reshape(f, cg, kh, kw).transpose(2, 3, 1, 0)
    dcols = xp.matmul(weight_matrix(cache.w, g).transpose(0, 2, 1), dmat)  # Wmᵀ @ dO
    dx = col2im(dcols.reshape(g * cg * kh * kw, -1), cache.x_shape, (kh, kw), geo.strides,
                geo.pads, geo.dilation)
    db = dout.sum(axis=(1, 2, 3)) if cache.has_bias else None
    return dx, xp.ascontiguousarray(dw), db


def convolve2d(
    x: Array,
    w: Array,
    b: Array | None = None,
    *,
    strides: int | Pair = 1,
    padding: PaddingSpec = "valid",
    dilation: int | Pair = 1,
    groups: int = 1,
) -> Array:
    """True convolution (the kernel flipped 180° in both spatial axes), for teaching.

    ``convolve2d(x, w) == conv2d_forward(x, rot180(w))``: the textbook definition
    O[i, j] = Σ_{u,v} X[i − u, j − v]·K[u, v]. Layers use cross-correlation.

    Shapes:
        x: (C, N, H, W); w: (KH, KW, C/G, F) -> out: (F, N, OH, OW)
    """
    out, _ = conv2d_forward(
        x, w[::-1, ::-1], b, strides=strides, padding=padding, dilation=dilation, groups=groups
    )
    return out
