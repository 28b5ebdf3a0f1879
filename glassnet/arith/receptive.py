"""Receptive field of a stack of sliding-window layers along one axis, explained.

For each layer with kernel k, stride s, padding p (before) and dilation d, k_eff = d·(k − 1) + 1,
and from the input's r = 1, j = 1, start = 0:

    j_out     = j_in·s
    r_out     = r_in + (k_eff − 1)·j_in
    start_out = start_in + ((k_eff − 1)/2 − p)·j_in

r is the receptive field size in input pixels, j the jump (the distance in input pixels between
neighbouring outputs), start the input coordinate of the centre of the first output's field.
Coordinates are pixel indices: input pixel i has its centre at i, so the input starts at 0 (add
0.5 for the other common convention, where pixel i covers [i, i + 1)). A start below 0 means the
field is centred in the padding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from glassnet.arith.explain import Quantity, num
from glassnet.errors import GlassnetError

LayerSpec = Sequence[int | str]


@dataclass(frozen=True)
class ReceptiveField:
    """The receptive field after one layer.

    Attributes:
        layer: the layer's 1-based position in the stack.
        size: r, the receptive field size in input pixels.
        jump: j, the distance in input pixels between neighbouring outputs.
        start: the input coordinate (pixel index) of the centre of the first output's field.
        start_line: how ``start`` was computed.
    """

    layer: int
    size: Quantity
    jump: Quantity
    start: float
    start_line: str

    def explain(self) -> list[str]:
        """Return the lines for r, j and start."""
        return [self.size.explain(), self.jump.explain(), self.start_line]


def _coord(value: float) -> str:
    return f"{value:g}"


def _layer(fn: str, index: int, spec: LayerSpec) -> tuple[int, int, int, int]:
    """Return ``(kernel, stride, padding, dilation)`` of one layer spec, defaults filled in.

    Raises:
        GlassnetError: for a malformed spec.
    """
    valid = "(kernel, stride=1, padding=0, dilation=1) with positive ints and padding >= 0"
    if isinstance(spec, str) or not isinstance(spec, Sequence) or not 1 <= len(spec) <= 4:
        raise GlassnetError(f"{fn}: layers[{index}]={spec!r} is invalid; expected {valid}")
    full: list[int | str] = [*spec, *[1, 0, 1][len(spec) - 1 :]]
    kernel, stride, padding, dilation = full
    numbers = (kernel, stride, dilation)
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in numbers):
        raise GlassnetError(f"{fn}: layers[{index}]={spec!r} is invalid; expected {valid}")
    k, s, d = int(kernel), int(stride), int(dilation)
    if padding == "valid":
        padding = 0
    elif padding == "same":
        if s != 1:
            raise GlassnetError(
                f"{fn}: layers[{index}]={spec!r}: padding 'same' with stride {s} depends on the "
                "input size; expected an int padding (the padding before the input)"
            )
        padding = d * (k - 1) // 2
    if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
        raise GlassnetError(f"{fn}: layers[{index}]={spec!r} is invalid; expected {valid}")
    p = int(padding)
    return k, s, p, d


def receptive_field(layers: Sequence[LayerSpec]) -> list[ReceptiveField]:
    """Return the receptive field size, jump and start after each layer of a stack.

    Pooling layers count like convolutions (kernel = pool size); layers without a window
    (activations, batch norm) are left out.

    Args:
        layers: one ``(kernel, stride, padding, dilation)`` per layer; trailing items may be left
            out (stride 1, padding 0, dilation 1). Padding is the padding before the input, an
            int, ``"valid"`` (0) or ``"same"`` (stride 1 only: (k_eff − 1)//2).

    Returns:
        One :class:`ReceptiveField` per layer, in order.

    Raises:
        GlassnetError: if ``layers`` is empty or a layer spec is malformed.
    """
    fn = "receptive_field"
    if isinstance(layers, str) or not isinstance(layers, Sequence) or len(layers) == 0:
        raise GlassnetError(
            f"{fn}: layers={layers!r} is invalid; expected a non-empty list of "
            "(kernel, stride, padding, dilation)"
        )
    r, j, start = 1, 1, 0.0
    out: list[ReceptiveField] = []
    for index, spec in enumerate(layers):
        k, s, p, d = _layer(fn, index, spec)
        k_eff = d * (k - 1) + 1
        keff = f"{k_eff}" if d == 1 else f"({d}·({k}−1) + 1)"
        new_r = r + (k_eff - 1) * j
        new_start = start + ((k_eff - 1) / 2 - p) * j
        size = Quantity(
            new_r,
            symbol="r",
            formula="r = r_in + (k_eff − 1)·j_in",
            substituted=f"{num(r)} + ({keff} − 1)·{num(j)}",
        )
        jump = Quantity(j * s, symbol="j", formula="j = j_in·s", substituted=f"{num(j)}·{s}")
        start_line = (
            f"start = start_in + ((k_eff − 1)/2 − p)·j_in = "
            f"{_coord(start)} + (({keff} − 1)/2 − {p})·{num(j)} = {_coord(new_start)}"
        )
        out.append(ReceptiveField(index + 1, size, jump, new_start, start_line))
        r, j, start = new_r, j * s, new_start
    return out
