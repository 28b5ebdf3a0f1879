"""Memory of activations and parameters in bytes, explained with KiB / MiB / GiB."""

from __future__ import annotations

from collections.abc import Sequence

from glassnet.arith.explain import Quantity, check_positive, num
from glassnet.errors import GlassnetError


def activation_memory(shape: Sequence[int], bytes_per_value: int = 4) -> Quantity:
    """Return the bytes an activation of ``shape`` takes: M = (∏ shape)·B.

    Args:
        shape: the activation's dimensions, e.g. ``(55, 55, 96)`` for one sample or
            ``(128, 55, 55, 96)`` with the batch.
        bytes_per_value: B, bytes per value (4 for float32, 8 for float64, 2 for float16).

    Returns:
        The byte count as a :class:`Quantity` (unit ``"B"``; ``explain()`` adds KiB/MiB).

    Raises:
        GlassnetError: if ``shape`` is empty or holds a non-positive dimension, or
            ``bytes_per_value`` is not a positive int.
    """
    fn = "activation_memory"
    if isinstance(shape, str) or not isinstance(shape, Sequence) or len(shape) == 0:
        raise GlassnetError(
            f"{fn}: shape={shape!r} is invalid; expected a non-empty sequence of positive ints"
        )
    for dim in shape:
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise GlassnetError(
                f"{fn}: shape={list(shape)!r} is invalid; expected a non-empty sequence of "
                "positive ints"
            )
    check_positive(fn, bytes_per_value=bytes_per_value)
    values = 1
    for dim in shape:
        values *= dim
    return Quantity(
        values * bytes_per_value,
        symbol="M",
        formula="M = (∏ shape)·B",
        substituted="·".join(num(d) for d in shape) + f"·{bytes_per_value}",
        unit="B",
        notes=(f"values = {num(values)}, B = {bytes_per_value} bytes per value",),
    )


def param_memory(params: int, bytes_per_value: int = 4) -> Quantity:
    """Return the bytes ``params`` parameters take: M = P·B.

    Only the values themselves: optimizer state (momentum, Adam's two moments) and gradients
    each add another P·B.

    Args:
        params: the parameter count P.
        bytes_per_value: B, bytes per value.

    Returns:
        The byte count as a :class:`Quantity` (unit ``"B"``).

    Raises:
        GlassnetError: if ``params`` is negative or ``bytes_per_value`` is not a positive int.
    """
    fn = "param_memory"
    if isinstance(params, bool) or not isinstance(params, int) or params < 0:
        raise GlassnetError(f"{fn}: params={params!r} is invalid; expected a non-negative int")
    check_positive(fn, bytes_per_value=bytes_per_value)
    return Quantity(
        params * bytes_per_value,
        symbol="M",
        formula="M = P·B",
        substituted=f"{num(params)}·{bytes_per_value}",
        unit="B",
    )
