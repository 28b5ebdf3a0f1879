"""Zero padding, global max pooling and rescaling as forward/backward pairs.

The ops Keras files bring beside the conv/pool core (``ZeroPadding2D``,
``GlobalMaxPooling2D``, ``Rescaling``). Spatial ops work on the last two axes of any
``(..., H, W)`` array, so they serve the CNHW compute layout and NCHW alike.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from glassnet.backend import get_xp
from glassnet.errors import GlassnetError, ShapeError

Pads2D = tuple[tuple[int, int], tuple[int, int]]  # ((top, bottom), (left, right))


def _need_map(op: str, x: Any) -> None:
    if x.ndim < 2:
        raise ShapeError(f"{op}: x must have shape (..., H, W); received shape {list(x.shape)}")


class ZeroPad2DCache(NamedTuple):
    """What ``zero_pad2d_backward`` needs."""

    pads: Pads2D  # ((top, bottom), (left, right))


def zero_pad2d_forward(x: Any, *, pads: Pads2D) -> tuple[Any, ZeroPad2DCache]:
    """Surround each map with zeros: ``top``/``bottom`` rows and ``left``/``right`` columns.

    Raises:
        ShapeError: if ``x`` has fewer than 2 axes.
        GlassnetError: if a pad is not a non-negative int.

    Shapes:
        x: (..., H, W) -> out: (..., H + top + bottom, W + left + right).
    """
    _need_map("zero_pad2d", x)
    flat = [p for axis in pads for p in axis]
    if len(flat) != 4 or any(isinstance(p, bool) or not isinstance(p, int) or p < 0 for p in flat):
        raise GlassnetError(
            f"zero_pad2d: pads={pads!r} must be ((top, bottom), (left, right)) of ints >= 0"
        )
    widths = [(0, 0)] * (x.ndim - 2) + [tuple(pads[0]), tuple(pads[1])]
    return get_xp(x).pad(x, widths), ZeroPad2DCache(pads)


def zero_pad2d_backward(dout: Any, cache: ZeroPad2DCache) -> Any:
    """Keep the gradient of the original positions (the zeros have none to pass on).

    Shapes:
        dout: (..., HP, WP) -> dx: (..., HP − top − bottom, WP − left − right).
    """
    (top, bottom), (left, right) = cache.pads
    hp, wp = dout.shape[-2:]
    return dout[..., top : hp - bottom, left : wp - right].copy()


class GlobalMaxPool2DCache(NamedTuple):
    """What ``global_max_pool2d_backward`` needs."""

    argmax: Any  # (...) int, the flat H·W index of each map's maximum
    x_shape: tuple[int, ...]  # (..., H, W)


def global_max_pool2d_forward(x: Any) -> tuple[Any, GlobalMaxPool2DCache]:
    """Take the maximum over the last two axes.

    Raises:
        ShapeError: if ``x`` has fewer than 2 axes.

    Shapes:
        x: (..., H, W) -> out: (...).
    """
    _need_map("global_max_pool2d", x)
    flat = x.reshape(*x.shape[:-2], -1)
    argmax = flat.argmax(axis=-1)
    out = get_xp(x).take_along_axis(flat, argmax[..., None], axis=-1)[..., 0]
    return out, GlobalMaxPool2DCache(argmax, tuple(x.shape))


def global_max_pool2d_backward(dout: Any, cache: GlobalMaxPool2DCache) -> Any:
    """Route each gradient to its map's maximum.

    NOTE: on ties the first maximum (row-major) takes the whole gradient, as max pooling does
    in PyTorch; ties have probability zero for real-valued inputs.

    Shapes:
        dout: (...) -> dx: (..., H, W).
    """
    xp = get_xp(dout)
    h, w = cache.x_shape[-2:]
    dflat = xp.zeros((*cache.x_shape[:-2], h * w), dtype=dout.dtype)
    xp.put_along_axis(dflat, cache.argmax[..., None], dout[..., None], axis=-1)
    return dflat.reshape(cache.x_shape)


class RescaleCache(NamedTuple):
    """What ``rescale_backward`` needs."""

    scale: float


def rescale_forward(x: Any, *, scale: float, offset: float = 0.0) -> tuple[Any, RescaleCache]:
    """Return ``x·scale + offset`` (Keras' ``Rescaling``, e.g. pixels 0–255 to 0–1).

    Shapes:
        x: any -> out: same.
    """
    kind = x.dtype.type
    return x * kind(scale) + kind(offset), RescaleCache(float(scale))


def rescale_backward(dout: Any, cache: RescaleCache) -> Any:
    """Scale the gradient (the offset is a constant).

    Shapes:
        dout: any -> dx: same.
    """
    return dout * dout.dtype.type(cache.scale)
