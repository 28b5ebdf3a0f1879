"""Plain integer geometry of sliding windows: padding resolution and output sizes.

These are the single source of truth for every output size in glassnet: ``ops`` call them to
size their buffers, ``arith``'s explaining functions call them for their values, and layers and
the summary go through ``arith``. No arrays here.

The padding conventions (``../shared/DESIGN.md`` §2):
    * ``"valid"``: no padding.
    * ``"same"``: TensorFlow rule, total = max((ceil(I/S) − 1)·S + D·(K − 1) + 1 − I, 0), with the
      extra pixel (when total is odd) at the bottom/right.
    * an int ``p``: ``p`` on every side; a pair ``(ph, pw)``: ``ph`` top and bottom, ``pw`` left
      and right; a 4-tuple ``(top, bottom, left, right)``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from glassnet.errors import GlassnetError, ShapeError

Pair = tuple[int, int]
PaddingSpec = str | int | Sequence[int]
PADDING_STRINGS = ("valid", "same")
T = TypeVar("T")


def pair(value: int | Sequence[int], *, op: str, arg: str) -> Pair:
    """Return ``value`` as an ``(h, w)`` pair of positive ints.

    Raises:
        GlassnetError: if ``value`` is not a positive int or a pair of them.
    """
    if isinstance(value, bool):
        raise GlassnetError(f"{op}: {arg}={value!r} must be a positive int or a pair of them")
    if isinstance(value, int):
        out = (value, value)
    elif isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2:
        out = (value[0], value[1])
    else:
        raise GlassnetError(f"{op}: {arg}={value!r} must be a positive int or a pair of them")
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in out):
        raise GlassnetError(f"{op}: {arg}={value!r} must be a positive int or a pair of them")
    return (int(out[0]), int(out[1]))


def same_padding_1d(size: int, kernel: int, stride: int, dilation: int = 1) -> Pair:
    """Return ``(before, after)`` of TensorFlow's ``same`` padding along one axis.

    total = max((ceil(I/S) − 1)·S + D·(K − 1) + 1 − I, 0); the odd pixel goes after.
    """
    span = dilation * (kernel - 1) + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + span - size, 0)
    return (total // 2, total - total // 2)


def resolve_padding(
    padding: PaddingSpec,
    in_hw: Pair,
    kernel_hw: Pair,
    strides: Pair,
    dilation: Pair = (1, 1),
    *,
    op: str = "conv2d",
) -> tuple[Pair, Pair]:
    """Return the explicit padding ``((top, bottom), (left, right))`` for a padding spec.

    Raises:
        GlassnetError: for an unknown string, a negative amount or a wrong-length tuple.
    """
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0), (0, 0))
        if padding == "same":
            return (
                same_padding_1d(in_hw[0], kernel_hw[0], strides[0], dilation[0]),
                same_padding_1d(in_hw[1], kernel_hw[1], strides[1], dilation[1]),
            )
        raise GlassnetError(
            f"{op}: padding={padding!r} is not one of {list(PADDING_STRINGS)}, an int, "
            "a pair (ph, pw) or a 4-tuple (top, bottom, left, right)"
        )
    if isinstance(padding, bool):
        raise GlassnetError(f"{op}: padding={padding!r} must be a string, int or tuple of ints")
    if isinstance(padding, int):
        values: tuple[int, ...] = (padding,) * 4
    elif isinstance(padding, Sequence) and len(padding) == 2:
        values = (padding[0], padding[0], padding[1], padding[1])
    elif isinstance(padding, Sequence) and len(padding) == 4:
        values = tuple(padding)
    else:
        raise GlassnetError(
            f"{op}: padding={padding!r} must be 'valid', 'same', an int, a pair (ph, pw) "
            "or a 4-tuple (top, bottom, left, right)"
        )
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values):
        raise GlassnetError(f"{op}: padding={padding!r} must hold non-negative ints")
    return ((int(values[0]), int(values[1])), (int(values[2]), int(values[3])))


def window_output_size(
    size: int,
    kernel: int,
    stride: int = 1,
    pad: Pair = (0, 0),
    dilation: int = 1,
    *,
    ceil_mode: bool = False,
    op: str = "conv2d",
    axis: str = "",
) -> int:
    """Return the number of window positions along one axis.

    O = floor((I + P_before + P_after − D·(K − 1) − 1)/S) + 1. With ``ceil_mode`` (PyTorch's
    ``pooling_output_shape``) ``ceil`` replaces ``floor``, and a last window that would start in
    the right padding (at ``(O − 1)·S ≥ I + P_before``) is dropped. ``ceil`` lets the last window
    run past the padded input by up to S − 1 positions (it is clipped): with I = 3, K = 4, S = 2,
    no padding, O = ceil((3 − 4)/2) + 1 = 1, one window over the whole input.

    Raises:
        ShapeError: if O < 1: the (dilated) kernel does not fit the padded input (without
            ``ceil_mode``), or overhangs it by S or more (with it).
    """
    span = dilation * (kernel - 1) + 1
    padded = size + pad[0] + pad[1]
    room = padded - span
    if ceil_mode:
        out = -(-room // stride) + 1
        if (out - 1) * stride >= size + pad[0]:
            out -= 1
    else:
        out = room // stride + 1
    if out < 1:
        where = f" {axis}" if axis else ""
        dil = f", dilation {dilation} -> span {span}" if dilation != 1 else ""
        limit = f"{padded + stride - 1} (ceil_mode, stride {stride})" if ceil_mode else padded
        raise ShapeError(
            f"{op}: kernel {kernel}{dil} does not fit the padded input{where} {padded} "
            f"(input {size}, padding {pad[0]}+{pad[1]}); expected kernel span <= {limit}"
        )
    return out


def live_taps(size: int, kernel: int, stride: int, dilation: int, pad_before: int,
              out: int) -> Pair:
    """The kernel taps ``[lo, hi)`` along one axis that read the input at some window position.

    Tap u of window i reads input index i·S + u·D − P_before. A tap outside ``[lo, hi)`` reads
    only padding at every position: its products are all zero, so a convolution may drop it
    (a 3×3 kernel over a 1×1 map with padding 1 keeps only its centre tap).

    Args:
        size: input length I.
        kernel: taps K.
        stride: S.
        dilation: D.
        pad_before: padding before the input.
        out: number of window positions O.

    Returns:
        ``(lo, hi)``; ``(0, kernel)`` when every tap reads the input somewhere.
    """

    def reads(u: int) -> bool:
        first = max(0, -(-(pad_before - u * dilation) // stride))  # first i with index >= 0
        return first < out and first * stride + u * dilation - pad_before < size

    alive = [u for u in range(kernel) if reads(u)]
    return (alive[0], alive[-1] + 1) if alive else (0, kernel)


_PLAIN = frozenset((int, str, bool, type(None)))


def _typed_key(values: tuple[Any, ...]) -> object:
    """``(values, their types)`` as a hashable key, or None when a value is not plain.

    Plain: ints, bools, strings, None, and tuples (two levels deep) of them.

    NOTE: ``True == 1`` and ``1.0 == 1`` hash alike; keyed on the values alone, a cache would
    hand the result of ``strides=1`` to ``strides=True`` and skip the check that rejects it.
    """
    types: list[object] = []
    for v in values:
        t = type(v)
        if t is tuple:
            inner: list[object] = []
            for e in v:
                te = type(e)
                if te is tuple:
                    te = tuple(type(x) for x in e)  # type: ignore[assignment]
                    if not all(x in _PLAIN for x in te):  # type: ignore[attr-defined]
                        return None
                elif te not in _PLAIN:
                    return None
                inner.append(te)
            types.append(tuple(inner))
        elif t in _PLAIN:
            types.append(t)
        else:
            return None
    return (values, tuple(types))


def memo_plain(fn: Callable[..., T]) -> Callable[..., T]:
    """Cache ``fn`` (a pure geometry function) for calls whose arguments are plain values.

    Plain: ints, bools, strings, None and tuples of them. Layers call the same few geometries
    on every step; resolving them once takes the validation and padding arithmetic off the
    per-call path (batch-1 inference is mostly such overhead). Exceptions are not cached: a
    bad call raises every time.
    """
    cache: dict[Any, T] = {}

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        key = _typed_key((*args, *kwargs.values(), *kwargs))
        if key is None:
            return fn(*args, **kwargs)
        hit = cache.get(key)
        if hit is None:
            if len(cache) >= 4096:  # geometries of very many shapes: start over, stay small
                cache.clear()
            hit = cache[key] = fn(*args, **kwargs)
        return hit

    return wrapper
