"""Window geometry shared by the pooling ops: sizes, padding, strided window views.

Every window is one strided slice of the (padded) input per window offset ``(i, j)``:
``xp[..., i : i + SH·(OH − 1) + 1 : SH, j : j + SW·(OW − 1) + 1 : SW]`` has shape
``(..., OH, OW)`` and holds, for every output cell, the input value at offset ``(i, j)`` of its
window. Sizes and padding come from :mod:`glassnet.arith.geometry` (``"same"`` is the
TensorFlow rule); a geometry is resolved once per distinct call (``memo_plain``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from glassnet.arith.geometry import (
    PaddingSpec,
    memo_plain,
    pair,
    resolve_padding,
    window_output_size,
)
from glassnet.backend import get_xp
from glassnet.errors import GlassnetError, ShapeError

Pads = tuple[tuple[int, int], tuple[int, int]]


class Geometry(NamedTuple):
    """A pooling window's resolved geometry."""

    kernel: tuple[int, int]  # (KH, KW)
    strides: tuple[int, int]  # (SH, SW)
    pads: Pads  # ((top, bottom), (left, right)) as resolved from the padding spec
    out_hw: tuple[int, int]  # (OH, OW)
    applied: Pads  # padding actually added: bottom/right cut or extended to what windows reach


def checked_geometry(
    op: str, x: Any, pool_size: Any, strides: Any, padding: PaddingSpec, ceil_mode: bool
) -> Geometry:
    """The geometry of pooling ``x`` (a floating (..., H, W) array) with these arguments.

    Raises:
        ShapeError: ``x`` is not a floating array with 2+ axes, or no window fits.
        GlassnetError: a bad pool size, stride or padding.
    """
    if x.ndim < 2 or x.dtype.kind != "f":
        raise ShapeError(
            f"{op}: x must be a floating array of shape (..., H, W); "
            f"received shape {list(x.shape)} dtype {x.dtype}"
        )
    in_hw = (int(x.shape[-2]), int(x.shape[-1]))
    return _window_geometry(op, in_hw, pool_size, strides, padding, ceil_mode)


@memo_plain
def _window_geometry(
    op: str, in_hw: tuple[int, int], pool_size: Any, strides: Any, padding: PaddingSpec,
    ceil_mode: bool,
) -> Geometry:
    kernel = pair(pool_size, op=op, arg="pool_size")
    stride = kernel if strides is None else pair(strides, op=op, arg="strides")
    pads = resolve_padding(padding, in_hw, kernel, stride, op=op)
    for axis, k, (before, after) in zip("HW", kernel, pads, strict=True):
        # A pad >= K would allow windows made only of padding (-inf max, empty average).
        if max(before, after) >= k:
            raise GlassnetError(
                f"{op}: padding {before}+{after} on {axis} must be smaller than the pool size "
                f"{k} (a window would see only padding)"
            )
    oh, ow = (
        window_output_size(
            in_hw[d], kernel[d], stride[d], pads[d], ceil_mode=ceil_mode, op=op, axis="HW"[d]
        )
        for d in range(2)
    )
    # The last window ends at (O − 1)·S + K in padded coordinates; it may stop short of the
    # bottom/right padding (not added then) or, under ceil_mode, run past it by up to S − 1,
    # even past a padded input smaller than the window (PyTorch clips it: the extension is
    # -inf for max and counts in no divisor).
    bottom = max((oh - 1) * stride[0] + kernel[0] - in_hw[0] - pads[0][0], 0)
    right = max((ow - 1) * stride[1] + kernel[1] - in_hw[1] - pads[1][0], 0)
    applied = ((pads[0][0], bottom), (pads[1][0], right))
    return Geometry(kernel, stride, pads, (oh, ow), applied)


def padded_shape(x_shape: tuple[int, ...], applied: Pads) -> tuple[int, ...]:
    """The shape ``pad_spatial(x, applied)`` gives an input of ``x_shape``."""
    (top, bottom), (left, right) = applied
    return x_shape[:-2] + (x_shape[-2] + top + bottom, x_shape[-1] + left + right)


def window_view(a: Any, i: int, j: int, geo: Geometry) -> Any:
    """The ``(..., OH, OW)`` strided view of offset ``(i, j)`` of every window."""
    (sh, sw), (oh, ow) = geo.strides, geo.out_hw
    return a[..., i : i + sh * (oh - 1) + 1 : sh, j : j + sw * (ow - 1) + 1 : sw]


def crop_padding(dxp: Any, x_shape: tuple[int, ...], applied: Pads) -> Any:
    """Cut the padding off a gradient of the padded input (cells no window reached stay 0)."""
    (top, _), (left, _) = applied
    if dxp.shape == x_shape:
        return dxp
    h, w = x_shape[-2:]
    return get_xp(dxp).ascontiguousarray(dxp[..., top : top + h, left : left + w])


def pool_geometry(
    in_hw: tuple[int, int], pool_size: Any, strides: Any = None, padding: PaddingSpec = "valid",
    ceil_mode: bool = False, *, op: str = "max_pool2d",
) -> Geometry:
    """The resolved window geometry of a pooling of an (..., H, W) input (for reuse).

    Raises:
        GlassnetError, ShapeError: as the pooling ops do.
    """
    return _window_geometry(op, in_hw, pool_size, strides, padding, ceil_mode)
