"""Output sizes of convolution and pooling along one axis, explained.

The values come from :mod:`glassnet.arith.geometry` (``window_output_size``, ``same_padding_1d``),
the single source every op and layer uses; this module adds the validation and the explanation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeGuard

from glassnet.arith.explain import Quantity, check_bool, check_positive, num
from glassnet.arith.geometry import Pair, same_padding_1d, window_output_size
from glassnet.errors import GlassnetError

PaddingArg = int | str | Sequence[int]

SAME_RULE = "P_total = max((ceil(I/S) − 1)·S + D·(K−1) + 1 − I, 0)"


def _non_negative(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _resolve(
    fn: str, padding: PaddingArg, size: int, kernel: int, stride: int, dilation: int
) -> tuple[Pair, list[str]]:
    """Return ``(before, after)`` padding along one axis and the lines that explain it.

    Raises:
        GlassnetError: for an unknown string, a negative amount or a wrong-length sequence.
    """
    valid = "'valid', 'same', a non-negative int or a pair (before, after) of them"
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0), ["valid padding: P = 0"]
        if padding == "same":
            before, after = same_padding_1d(size, kernel, stride, dilation)
            out = -(-size // stride)
            span = dilation * (kernel - 1) + 1
            total = before + after
            return (before, after), [
                f"same padding (TensorFlow rule): {SAME_RULE} = "
                f"max(({num(out)} − 1)·{stride} + {span} − {num(size)}, 0) = {total}; "
                f"P_b = floor(P_total/2) = {before}, P_a = P_total − P_b = {after} "
                "(an odd pixel goes after: bottom/right)"
            ]
        raise GlassnetError(f"{fn}: padding={padding!r} is invalid; expected {valid}")
    if isinstance(padding, int) and not isinstance(padding, bool):
        sides: list[object] = [padding, padding]
    elif isinstance(padding, Sequence) and len(padding) == 2:
        sides = [padding[0], padding[1]]
    else:
        raise GlassnetError(f"{fn}: padding={padding!r} is invalid; expected {valid}")
    first, second = sides
    if not (_non_negative(first) and _non_negative(second)):
        raise GlassnetError(f"{fn}: padding={padding!r} is invalid; expected {valid}")
    return (first, second), []


def _pad_terms(padding: PaddingArg, pad: Pair) -> tuple[str, str]:
    """Return the padding term in symbols and in numbers: ``2P`` or ``P_b + P_a``."""
    if pad[0] == pad[1] and padding != "same":
        return "2P", num(2 * pad[0])
    return "P_b + P_a", f"{pad[0]} + {pad[1]}"


def conv2d_output(
    size: int,
    kernel: int,
    stride: int = 1,
    padding: PaddingArg = 0,
    dilation: int = 1,
) -> Quantity:
    """Return the output size of a convolution along one axis, with its explanation.

    O = floor((I + 2P − D·(K−1) − 1)/S) + 1; with unequal sides
    O = floor((I + P_b + P_a − D·(K−1) − 1)/S) + 1. ``same`` padding gives O = ceil(I/S).

    Args:
        size: the input size I along the axis.
        kernel: the kernel size K.
        stride: the stride S.
        padding: ``"valid"`` (0), ``"same"`` (TensorFlow rule, the odd pixel after), an int P
            on both sides, or a pair ``(before, after)`` (note: one axis, unlike ``geometry``'s
            ``(ph, pw)`` pairs).
        dilation: the dilation D; the kernel spans D·(K−1) + 1 inputs.

    Returns:
        The output size O as a :class:`Quantity` (``.explain()`` gives the formula line,
        ``.lines()`` adds how ``same`` padding was derived).

    Raises:
        GlassnetError: if a size is not a positive int or the padding is malformed.
        ShapeError: if the dilated kernel does not fit the padded input (O < 1).
    """
    fn = "conv2d_output"
    check_positive(fn, size=size, kernel=kernel, stride=stride, dilation=dilation)
    pad, notes = _resolve(fn, padding, size, kernel, stride, dilation)
    value = window_output_size(size, kernel, stride, pad, dilation, op=fn)
    pad_sym, pad_num = _pad_terms(padding, pad)
    note = ""
    if padding == "same":
        note = f"same padding gives O = ceil(I/S) = ceil({num(size)}/{stride}) = {num(value)}"
    return Quantity(
        value,
        symbol="O",
        formula=f"O = floor((I + {pad_sym} − D·(K−1) − 1)/S) + 1",
        substituted=(
            f"floor(({num(size)} + {pad_num} − {num(dilation * (kernel - 1))} − 1)/{stride}) + 1"
        ),
        note=note,
        notes=notes,
    )


def pool2d_output(
    size: int,
    pool: int,
    stride: int | None = None,
    padding: PaddingArg = 0,
    ceil_mode: bool = False,
) -> Quantity:
    """Return the output size of a pooling window along one axis, with its explanation.

    O = floor((I + 2P − K)/S) + 1, or with ``ceil_mode`` O = ceil((I + 2P − K)/S) + 1 minus one
    when the last window would start inside the right padding (the PyTorch rule). Overlapping
    windows (K > S, as in AlexNet's 3×3 stride-2 pools) are allowed.

    Args:
        size: the input size I along the axis.
        pool: the window size K.
        stride: the stride S; ``None`` means S = K (non-overlapping windows).
        padding: ``"valid"``, ``"same"``, an int P on both sides or a pair ``(before, after)``.
        ceil_mode: round the window count up instead of down (PyTorch's ``ceil_mode``).

    Returns:
        The output size O as a :class:`Quantity`.

    Raises:
        GlassnetError: if a size is not a positive int, ``ceil_mode`` is not a bool or the
            padding is malformed.
        ShapeError: if the window does not fit the padded input (O < 1).
    """
    fn = "pool2d_output"
    stride = pool if stride is None else stride
    check_positive(fn, size=size, pool=pool, stride=stride)
    check_bool(fn, ceil_mode=ceil_mode)
    pad, notes = _resolve(fn, padding, size, pool, stride, 1)
    value = window_output_size(size, pool, stride, pad, ceil_mode=ceil_mode, op=fn)
    pad_sym, pad_num = _pad_terms(padding, pad)
    rounding = "ceil" if ceil_mode else "floor"
    substituted = f"{rounding}(({num(size)} + {pad_num} − {pool})/{stride}) + 1"
    note = ""
    if padding == "same":
        note = f"same padding gives O = ceil(I/S) = ceil({num(size)}/{stride}) = {num(value)}"
    room = size + pad[0] + pad[1] - pool
    if ceil_mode and value == -(-room // stride):
        # The ceil count would place the last window's start in the right padding.
        substituted += " − 1"
        note = (
            f"ceil gives {num(value + 1)} windows, but the last would start at "
            f"{num(value)}·S = {num(value * stride)} ≥ I + P_b = {num(size + pad[0])}, inside the "
            "right padding, so it is dropped (PyTorch rule)"
        )
    return Quantity(
        value,
        symbol="O",
        formula=f"O = {rounding}((I + {pad_sym} − K)/S) + 1",
        substituted=substituted,
        note=note,
        notes=notes,
    )
