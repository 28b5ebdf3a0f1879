"""Mark a student's answers against a trace record (``glassnet trace SPEC --check FILE``).

The answers file has the shape of the ``--json`` record (any subset of its keys and layers; a
file whose top level has an ``"expected"`` key, like ``tests/cases/*.json``, is read from that
key). A value is right when ``|given − true| <= tolerance·max(1, |true|)``: an absolute tolerance
for values up to 1 in size, a relative one above.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from glassnet.errors import GlassnetError
from glassnet.limits import clip, read_text
from glassnet.tracing.render import fmt_number
from glassnet.tracing.spec import parse_text

DEFAULT_TOLERANCE = 1e-6
SECTIONS = ("forward", "loss", "gradients", "updated")


@dataclass(frozen=True)
class Mark:
    """The verdict on one answered key.

    Attributes:
        path: where the value sits, e.g. ``gradients[layer 3].d_weights``.
        count: how many numbers were compared.
        wrong: ``(index, given, true)`` of each wrong number (index into the array).
        shape_error: set when the answer's shape differs from the true value's (all wrong).
    """

    path: str
    count: int
    wrong: list[tuple[tuple[int, ...], float, float]] = field(default_factory=list)
    shape_error: str = ""

    @property
    def ok(self) -> bool:
        """True when every number is right."""
        return not self.wrong and not self.shape_error


def load_answers(path: str | Path) -> dict[str, Any]:
    """Read an answers file (JSON or YAML) and return its record-shaped dict.

    Raises:
        GlassnetError: if the file is missing or is not a JSON/YAML object.
    """
    p = Path(path)
    if not p.exists():
        raise GlassnetError(f"{clip(p)}: no such answers file")
    raw = parse_text(read_text(p, "answers file"), p.suffix.lower(), clip(p))
    if isinstance(raw, dict) and "expected" in raw:
        raw = raw["expected"]
    if not isinstance(raw, dict):
        raise GlassnetError(f"{p}: expected an object with keys among {list(SECTIONS)}")
    return raw


def check_answers(answers: dict[str, Any], record: dict[str, Any], tolerance: float) -> list[Mark]:
    """Compare every value in ``answers`` with the same value in ``record``.

    Raises:
        GlassnetError: for an answer the trace has no value for (unknown section, layer or key),
            or a value that is not numbers.
    """
    marks: list[Mark] = []
    for section, given in answers.items():
        if section not in SECTIONS:
            raise GlassnetError(f"answers.{section}: unknown key; valid keys are {list(SECTIONS)}")
        if section not in record:
            raise GlassnetError(f"answers.{section}: this trace has no {section} "
                                "(check the spec's loss / grad_output / lr)")
        if section == "loss":
            marks.append(_mark("loss", given, record["loss"], tolerance))
            continue
        if not isinstance(given, list):
            raise GlassnetError(f"answers.{section}: expected a list of {{\"layer\": i, ...}}")
        by_layer = {e["layer"]: e for e in record[section]}
        for j, entry in enumerate(given):
            layer = entry.get("layer") if isinstance(entry, dict) else None
            if layer not in by_layer:
                raise GlassnetError(f"answers.{section}[{j}].layer: {layer!r} is not a layer with "
                                    f"{section} in this trace (those are {list(by_layer)})")
            true = by_layer[layer]
            for key, value in entry.items():
                if key == "layer":
                    continue
                path = f"{section}[layer {layer}].{key}"
                if key not in true:
                    keys = [k for k in true if k != "layer"]
                    raise GlassnetError(f"answers.{path}: not in this trace; layer {layer} has "
                                        f"{keys}")
                marks.append(_mark(path, value, true[key], tolerance))
    return marks


def _mark(path: str, given: Any, true: Any, tolerance: float) -> Mark:
    try:
        a = np.array(given, dtype=np.float64)
    except (ValueError, TypeError) as exc:
        raise GlassnetError(f"answers.{path}: expected numbers ({exc})") from exc
    t = np.array(true, dtype=np.float64)
    if a.shape != t.shape:
        return Mark(path, t.size, shape_error=f"your shape {list(a.shape)}, "
                                              f"the true shape {list(t.shape)}")
    bad = np.abs(a - t) > tolerance * np.maximum(1.0, np.abs(t))
    bad |= ~np.isfinite(a)
    wrong = [(tuple(int(i) for i in idx), float(a[tuple(idx)]), float(t[tuple(idx)]))
             for idx in np.argwhere(bad)]
    return Mark(path, int(t.size), wrong)


def render_check(marks: list[Mark], tolerance: float, precision: int) -> str:
    """One line per answered key (✓ right / ✗ wrong), the true value beside each wrong number."""
    # Show enough digits to see a difference the tolerance cares about.
    digits = max(precision, math.ceil(-math.log10(tolerance)) + 2)
    lines: list[str] = []
    for m in marks:
        if m.ok:
            lines.append(f"✓ right  {m.path}  ({m.count} value{'s' if m.count > 1 else ''})")
        elif m.shape_error:
            lines.append(f"✗ WRONG  {m.path}: {m.shape_error}")
        else:
            lines.append(f"✗ WRONG  {m.path}: {len(m.wrong)} of {m.count} wrong")
            for idx, given, true in m.wrong:
                where = f"[{', '.join(map(str, idx))}]" if idx else "value"
                lines.append(f"      {where}: yours {fmt_number(given, digits)}, "
                             f"true {fmt_number(true, digits)}")
    total = sum(m.count for m in marks)
    n_wrong = sum(m.count if m.shape_error else len(m.wrong) for m in marks)
    lines.append(f"{total - n_wrong} of {total} values right, {n_wrong} wrong "
                 f"(tolerance {tolerance:g}, absolute up to 1, relative above)")
    return "\n".join(lines) + "\n"


def check_json(marks: list[Mark], tolerance: float) -> dict[str, Any]:
    """The check result as a JSON-ready dict (``--check FILE --json``)."""
    results = [{"path": m.path, "ok": m.ok, "values": m.count,
                "wrong": [{"index": list(i), "given": g, "true": t} for i, g, t in m.wrong],
                **({"shape_error": m.shape_error} if m.shape_error else {})} for m in marks]
    n_wrong = sum(m.count if m.shape_error else len(m.wrong) for m in marks)
    return {"tolerance": tolerance, "checked": sum(m.count for m in marks), "wrong": n_wrong,
            "results": results}
