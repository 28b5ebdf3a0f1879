"""Self-explaining integers and the small result types of ``glassnet.arith``.

A :class:`Quantity` is an ``int`` that also remembers how it was computed: the formula in
symbols, the same formula with the numbers substituted, and notes (a convention, a padding rule).
Results made of several numbers (a layer's weights, biases and parameters; MACs and FLOPs) are
frozen dataclasses of Quantities whose ``explain()`` returns one line per number.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from glassnet.errors import GlassnetError

# The convention every MAC count follows (../shared/DESIGN.md §2).
MAC_CONVENTION = (
    "convention: MACs count the multiply-adds of conv and dense layers only "
    "(torchvision / fvcore); FLOPs = 2·MACs"
)


def num(value: int) -> str:
    """Format an int with thousands separators: ``34848 -> '34,848'``."""
    return f"{value:,}"


def human_bytes(n_bytes: int) -> str:
    """Format a byte count in binary units: ``1161600 -> '1.11 MiB'``, ``512 -> '512 B'``."""
    size = float(n_bytes)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{int(size)} B" if unit == "B" else f"{size:.2f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def _rebuild(value: int, state: dict[str, Any]) -> Quantity:
    return Quantity(value, **state)


class Quantity(int):
    """An int that can explain itself.

    Behaves as the plain int ``value`` everywhere (comparisons, arithmetic, ``range``, JSON);
    arithmetic on it returns plain ints. Immutable.

    Attributes:
        symbol: the symbol of the result, e.g. ``"O"``.
        formula: the formula in symbols, e.g. ``"O = floor((I + 2P − D·(K−1) − 1)/S) + 1"``.
        substituted: its right-hand side with numbers, e.g. ``"floor((227 + 0 − 10 − 1)/4) + 1"``.
        unit: ``""`` for counts, ``"B"`` for bytes (then ``explain`` adds KiB/MiB).
        note: a short remark appended to the explain line (e.g. what ``same`` padding guarantees).
        notes: further lines (conventions, how a padding was derived), see :meth:`lines`.
    """

    symbol: str
    formula: str
    substituted: str
    unit: str
    note: str
    notes: tuple[str, ...]

    def __new__(
        cls,
        value: int,
        *,
        symbol: str,
        formula: str,
        substituted: str = "",
        unit: str = "",
        note: str = "",
        notes: Sequence[str] = (),
    ) -> Quantity:
        """Create the Quantity ``value`` computed by ``formula`` (see the class attributes)."""
        obj = super().__new__(cls, value)
        state = {
            "symbol": symbol,
            "formula": formula,
            "substituted": substituted,
            "unit": unit,
            "note": note,
            "notes": tuple(notes),
        }
        for key, item in state.items():
            object.__setattr__(obj, key, item)
        return obj

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Quantity is immutable (tried to set {name!r})")

    def __reduce__(self) -> tuple[Any, ...]:
        state = {
            "symbol": self.symbol,
            "formula": self.formula,
            "substituted": self.substituted,
            "unit": self.unit,
            "note": self.note,
            "notes": self.notes,
        }
        return (_rebuild, (int(self), state))

    @property
    def value(self) -> int:
        """The plain int value."""
        return int(self)

    def __str__(self) -> str:
        return int.__repr__(self)

    def __repr__(self) -> str:
        return f"Quantity({self.symbol}={int(self)})"

    def explain(self) -> str:
        """Return one line: formula = substituted = value (``O = ... = ... = 55``)."""
        shown = num(int(self))
        if self.unit:
            shown += f" {self.unit}"
            if self.unit == "B" and int(self) >= 1024:
                shown += f" = {human_bytes(int(self))}"
        parts = [self.formula]
        if self.substituted and self.substituted != num(int(self)):
            parts.append(self.substituted)
        if not self.formula.endswith(f" = {shown}"):  # a constant's formula is its value
            parts.append(shown)
        line = " = ".join(parts)
        return f"{line} ({self.note})" if self.note else line

    def lines(self) -> list[str]:
        """Return the explain line followed by the notes."""
        return [self.explain(), *self.notes]


def constant(value: int, symbol: str, reason: str = "") -> Quantity:
    """Return a Quantity that is a given number (``b = 0``), optionally saying why."""
    return Quantity(value, symbol=symbol, formula=f"{symbol} = {num(value)}", note=reason)


@dataclass(frozen=True)
class ParamCount:
    """The parameter count of one layer.

    Attributes:
        weights: the weight count (kernels, or γ for BatchNorm).
        biases: the bias count (β for BatchNorm).
        params: every parameter, trainable and not (what Keras' summary calls params).
        non_trainable: parameters not updated by the optimizer (BatchNorm moving mean/var).
        notes: conventions behind the count.
    """

    weights: Quantity
    biases: Quantity
    params: Quantity
    non_trainable: Quantity = field(default_factory=lambda: constant(0, "P_nt"))
    notes: tuple[str, ...] = ()

    @property
    def trainable(self) -> int:
        """The trainable parameter count (``params − non_trainable``)."""
        return int(self.params) - int(self.non_trainable)

    def explain(self) -> list[str]:
        """Return one line per count, then the notes."""
        lines = [self.weights.explain(), self.biases.explain()]
        if self.non_trainable:
            lines.append(self.non_trainable.explain())
        return [*lines, self.params.explain(), *self.notes]

    def as_dict(self) -> dict[str, int]:
        """Return the counts as plain ints (the keys of ``summary --json``)."""
        return {
            "weights": int(self.weights),
            "biases": int(self.biases),
            "params": int(self.params),
            "trainable_params": self.trainable,
            "non_trainable_params": int(self.non_trainable),
        }


@dataclass(frozen=True)
class MacCount:
    """Multiply-accumulate operations of one layer for one sample, and FLOPs = 2·MACs.

    Attributes:
        macs: multiply-adds.
        flops: ``2·macs``.
    """

    macs: Quantity
    flops: Quantity

    def explain(self) -> list[str]:
        """Return the MACs line, the FLOPs line and the convention."""
        return [self.macs.explain(), self.flops.explain(), MAC_CONVENTION]


def mac_count(macs: int, formula: str, substituted: str) -> MacCount:
    """Wrap a MAC count and its formula into a :class:`MacCount` with FLOPs = 2·MACs."""
    return MacCount(
        macs=Quantity(macs, symbol="MACs", formula=f"MACs = {formula}", substituted=substituted),
        flops=Quantity(
            2 * macs, symbol="FLOPs", formula="FLOPs = 2·MACs", substituted=f"2·{num(macs)}"
        ),
    )


def check_positive(fn: str, **values: object) -> None:
    """Raise unless every value is a positive int.

    Raises:
        GlassnetError: naming ``fn``, the argument and the value.
    """
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise GlassnetError(f"{fn}: {name}={value!r} is invalid; expected a positive int")


def check_bool(fn: str, **values: object) -> None:
    """Raise unless every value is a bool.

    Raises:
        GlassnetError: naming ``fn``, the argument and the value.
    """
    for name, value in values.items():
        if not isinstance(value, bool):
            raise GlassnetError(f"{fn}: {name}={value!r} is invalid; expected True or False")


def grouped_channels(fn: str, c_in: int, filters: int, groups: int) -> tuple[str, str]:
    """Check that ``groups`` divides both channel counts; return the C_in factor of a formula.

    The factor comes in symbols and in numbers: ``C_in``/``3``, or ``(C_in/groups)``/``(32/4)``.

    Raises:
        GlassnetError: if ``groups`` does not divide ``c_in`` or ``filters``.
    """
    for name, value in (("c_in", c_in), ("filters", filters)):
        if value % groups:
            raise GlassnetError(
                f"{fn}: groups={groups} does not divide {name}={value}; expected groups to "
                "divide both c_in and filters"
            )
    if groups == 1:
        return "C_in", num(c_in)
    return "(C_in/groups)", f"({num(c_in)}/{groups})"
