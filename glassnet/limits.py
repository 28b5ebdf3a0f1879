"""Limits checked before work: a memory budget for declared sizes, bounded text files, safe parses.

Every check here runs on what an input *declares* (shapes, header fields, file sizes) before the
arrays exist, so a hostile or mistaken input is refused with one line instead of exhausting
memory. Sizes are Python ints throughout: a product such as 2³¹·2³¹·4 cannot wrap around.

The budget is process-wide: :func:`set_memory_budget` (the CLI's ``--max-memory``) or, by
default, :data:`DEFAULT_FRACTION` of the memory available when first asked.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from glassnet.errors import GlassnetError

DEFAULT_FRACTION = 0.5
FALLBACK_BUDGET = 4 << 30  # when the platform does not say how much memory is available
MAX_TEXT_BYTES = 8 << 20  # model files and trace specs: far above any real one
MAX_DEPTH = 64  # nesting of a model file or trace spec (a real one nests < 10 deep)
MAX_ECHO = 160  # characters of user text echoed in an error line
_UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_budget: int | None = None


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (``MemAvailable``), or None if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def memory_budget() -> int:
    """The budget in bytes: the one set, else a fraction of the available memory."""
    global _budget
    if _budget is None:
        avail = available_memory()
        _budget = int(avail * DEFAULT_FRACTION) if avail else FALLBACK_BUDGET
    return _budget


def set_memory_budget(nbytes: int | None) -> None:
    """Set the budget (None: back to the default, measured on the next use)."""
    global _budget
    _budget = nbytes


def parse_size(text: str) -> int:
    """Parse a size like ``512M``, ``4G``, ``1.5G``, ``65536`` (bytes; K/M/G/T are powers of 1024).

    Raises:
        GlassnetError: for anything else or a size of 0.
    """
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?\s*", text.upper())
    if not m or float(m.group(1)) * _UNITS[m.group(2)] < 1:
        raise GlassnetError(f"size {clip(text)!r}: expected a size > 0 like 512M, 4G or 1.5G")
    return int(float(m.group(1)) * _UNITS[m.group(2)])


def format_size(nbytes: int) -> str:
    """``1536`` -> ``1.5 KiB``; exact-enough for error lines."""
    size = float(nbytes)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if size < 1024 or unit == "PiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def element_count(shape: Iterable[int]) -> int:
    """The number of elements of ``shape`` as an exact Python int (no int64 overflow)."""
    n = 1
    for d in shape:
        n *= int(d)
    return n


def check_memory(what: str, nbytes: int) -> None:
    """Refuse ``what`` if it would need more than the budget.

    Raises:
        GlassnetError: naming ``what``, the bytes it needs and the budget.
    """
    budget = memory_budget()
    if nbytes > budget:
        raise GlassnetError(
            f"{what} needs {format_size(nbytes)}, more than the memory budget "
            f"{format_size(budget)} (raise it with --max-memory SIZE if you mean it)")


def clip(text: Any, limit: int = MAX_ECHO) -> str:
    """``str(text)`` cut to ``limit`` characters (with ``…``), so echoed input stays short."""
    s = str(text)
    return s if len(s) <= limit else s[: limit - 1] + "…"


def read_text(path: str | os.PathLike[str], what: str, max_bytes: int = MAX_TEXT_BYTES) -> str:
    """Read a UTF-8 text file of at most ``max_bytes`` without ever holding more.

    Raises:
        GlassnetError: if the file is larger, not UTF-8 text (a binary file), or unreadable.
    """
    p = Path(path)
    try:
        with p.open("rb") as f:
            data = f.read(max_bytes + 1)
    except IsADirectoryError:
        raise GlassnetError(f"{what} {clip(p)}: is a directory, expected a file") from None
    except OSError as exc:
        raise GlassnetError(f"{what} {clip(p)}: cannot read it ({exc.strerror})") from exc
    if len(data) > max_bytes:
        raise GlassnetError(
            f"{what} {clip(p)}: larger than the {format_size(max_bytes)} such files may have")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise GlassnetError(
            f"{what} {clip(p)}: not UTF-8 text (byte {exc.start} is 0x{data[exc.start]:02x}); "
            "expected a YAML or JSON file, not a binary one") from None


def parse_json(text: str, label: str) -> Any:
    """``json.loads`` with a nesting cap.

    Raises:
        GlassnetError: for a syntax error, a number Python refuses, or nesting deeper than
            :data:`MAX_DEPTH`.
    """
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GlassnetError(f"{label}: not valid JSON ({clip(exc)})") from None
    except RecursionError:
        raise GlassnetError(f"{label}: nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise GlassnetError(f"{label}: not valid JSON ({clip(exc)})") from None
    _check_depth(value, label)
    return value


def parse_yaml(text: str, label: str) -> Any:
    """``yaml.safe_load`` that refuses aliases and caps nesting while it composes.

    Aliases are refused outright: a model file or spec has no use for them, and a few hundred
    bytes of nested aliases expand to billions of nodes (the "billion laughs").

    Raises:
        GlassnetError: for a syntax error, an alias, or nesting deeper than :data:`MAX_DEPTH`.
    """
    import yaml

    class _Loader(yaml.SafeLoader):
        depth = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                mark = self.peek_event().start_mark
                raise GlassnetError(
                    f"{label}: line {mark.line + 1}: YAML aliases (*name) are not allowed; "
                    "write the value out")
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise GlassnetError(f"{label}: nested deeper than {MAX_DEPTH} levels")
            try:
                return super().compose_node(parent, index)
            finally:
                self.depth -= 1

    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "syntax error"
        raise GlassnetError(f"{label}: not valid YAML ({clip(first)})") from None
    except RecursionError:
        raise GlassnetError(f"{label}: nested deeper than {MAX_DEPTH} levels") from None


def _check_depth(value: Any, label: str) -> None:
    """Refuse a parsed value nested deeper than :data:`MAX_DEPTH` (iteratively: no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                raise GlassnetError(f"{label}: nested deeper than {MAX_DEPTH} levels")
            children = item.values() if isinstance(item, dict) else item
            stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
