"""Shape helpers shared by the layers: checks, axis mapping, sliding-window geometry.

Window sizes come from :func:`glassnet.arith.geometry.window_output_size`, the function the ops
size their buffers with, so the summary and the forward pass cannot disagree.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from glassnet.arith.geometry import PaddingSpec, resolve_padding, window_output_size
from glassnet.errors import GlassnetError, ShapeError

if TYPE_CHECKING:
    from glassnet.layers.base import Layer

Shape = tuple[int, ...]
"""A shape without the batch axis: ``(H, W, C)`` for maps, ``(F,)`` for flat data."""


def fmt_shape(shape: Shape) -> str:
    """Format a shape the way Keras prints it, with the batch axis: ``(None, 55, 55, 96)``."""
    return "(None, " + ", ".join(str(s) for s in shape) + ")"


def check_shape(shape: Any, *, where: str) -> Shape:
    """Return ``shape`` as a tuple of positive ints (HWC or ``(F,)``).

    Raises:
        ShapeError: if it is not 1 or 3 positive ints.
    """
    try:
        out = tuple(int(s) for s in shape)
        ok = all(int(s) == s and not isinstance(s, bool) for s in shape)
    except (TypeError, ValueError):
        out, ok = (), False
    if not ok or len(out) not in (1, 3) or min(out) < 1:
        raise ShapeError(
            f"{where}: shape={shape!r} is invalid; expected (H, W, C) or (F,) of positive ints "
            "(no batch axis)"
        )
    return out


def map_axis(axis: int, ndim: int, *, where: str) -> int:
    """Translate a public axis (NHWC or ``(N, F)``) to the compute layout (CNHW or ``(N, F)``).

    Raises:
        GlassnetError: if the axis is out of range.
    """
    if isinstance(axis, bool) or not isinstance(axis, int) or not -ndim <= axis < ndim:
        raise GlassnetError(f"{where}: axis={axis!r} is out of range for {ndim}-d inputs")
    axis %= ndim
    return (1, 2, 3, 0)[axis] if ndim == 4 else axis


def require_map(shape: Shape, where: str) -> None:
    """Raise unless ``shape`` is an (H, W, C) map.

    Raises:
        ShapeError: naming the layer and the received shape.
    """
    if len(shape) != 3:
        raise ShapeError(
            f"{where}: expects (H, W, C) feature maps; received the flat shape {list(shape)}"
        )


def require_flat(shape: Shape, where: str) -> None:
    """Raise unless ``shape`` is flat ``(F,)``.

    Raises:
        ShapeError: naming the layer and suggesting Flatten.
    """
    if len(shape) != 1:
        raise ShapeError(
            f"{where}: expects flat inputs (F,); received the map shape {list(shape)} "
            "(add a Flatten or GlobalAvgPool2D layer before it)"
        )


def check_padding(padding: Any, where: str) -> PaddingSpec:
    """Validate a padding spec early (at construction) and return it unchanged.

    Raises:
        GlassnetError: for an unknown string or a malformed amount.
    """
    resolve_padding(padding, (1, 1), (1, 1), (1, 1), op=where)
    return tuple(padding) if isinstance(padding, list) else padding


def axis_padding(padding: PaddingSpec, pads: tuple[tuple[int, int], ...], d: int) -> Any:
    """Padding of axis ``d`` in the form ``arith``'s explainers take (string, int or pair)."""
    if isinstance(padding, str):
        return padding
    before, after = pads[d]
    return before if before == after else (before, after)


def axis_lines(qs: list[Any]) -> list[str]:
    """Explain lines of the (OH, OW) Quantities; once for both axes when they read the same."""
    if qs[0].lines() == qs[1].lines():
        return [f"OH = OW: {qs[0].explain()}", *qs[0].notes]
    return [line for axis, q in zip("HW", qs, strict=True)
            for line in (f"O{axis}: {q.explain()}", *q.notes)]


def window_shape(
    layer: Layer,
    input_shape: Shape,
    kernel: tuple[int, int],
    strides: tuple[int, int],
    padding: PaddingSpec,
    dilation: tuple[int, int] = (1, 1),
    ceil_mode: bool = False,
) -> tuple[tuple[int, int], tuple[tuple[int, int], ...]]:
    """Return ``((OH, OW), pads)`` of a sliding window over an (H, W, C) input.

    The sizes come from :func:`glassnet.arith.geometry.window_output_size`, the function the
    ops size their buffers with, so the summary and the forward pass cannot disagree.

    Raises:
        ShapeError: naming the layer when the window does not fit.
    """
    require_map(input_shape, layer.label)
    hw = (input_shape[0], input_shape[1])
    pads = resolve_padding(padding, hw, kernel, strides, dilation, op=layer.label)
    out = tuple(
        window_output_size(
            hw[d], kernel[d], strides[d], pads[d], dilation[d],
            ceil_mode=ceil_mode, op=layer.label, axis="HW"[d],
        )
        for d in range(2)
    )
    return (out[0], out[1]), pads
