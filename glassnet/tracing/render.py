"""Human-readable trace: every value in the order a student computes it, formula beside it.

Forward layer by layer, then the loss, then backward from the last layer to the first (the order
backpropagation computes), then the updated parameters. Arrays are printed in the spec's own
layouts: vectors on one line, HW maps as matrices, HWC maps one channel slice ``[:, :, c]`` at a
time, 4-D kernels one ``[:, :, c, f]`` slice at a time.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from glassnet.tracing import formulas
from glassnet.tracing.layers import LayerSpec
from glassnet.tracing.spec import TraceSpec

LABEL_WIDTH = 44  # labels up to this wide get a one-line value beside them
LINE_WIDTH = 100  # ... when the whole line stays within this width


def fmt_number(v: float, precision: int) -> str:
    """``v`` with ``precision`` decimals (scientific from 1e7 up, where fixed point is unreadable).

    Fixed point keeps the columns of a matrix aligned; a value below the last printed decimal
    shows as 0 (ask for more with ``--precision``).
    """
    if abs(v) >= 1e7:
        return f"{v:.{precision}e}"
    text = f"{v:.{precision}f}"
    # A tiny negative value rounds to "-0.0000": the sign carries no information there.
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def fmt_array(values: Any, precision: int) -> list[str]:
    """Lines showing a number, vector, matrix, HWC map or 4-D kernel."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 0:
        return [fmt_number(float(arr), precision)]
    cells = [fmt_number(float(v), precision) for v in arr.reshape(-1)]
    width = max(len(c) for c in cells)
    text = np.array([c.rjust(width) for c in cells]).reshape(arr.shape)
    if arr.ndim == 1:
        return ["[" + "  ".join(text) + "]"]
    if arr.ndim == 2:
        return _matrix(text)
    lines: list[str] = []
    # Channel slices: [:, :, c] of an HWC map, [:, :, c, f] of a kernel.
    for index in np.ndindex(*arr.shape[:1:-1]):
        where = ", ".join(str(i) for i in index[::-1])
        lines.append(f"[:, :, {where}]")
        lines.extend(_matrix(text[(slice(None), slice(None), *index[::-1])]))
    return lines


def _matrix(text: np.ndarray) -> list[str]:
    """``[[a  b]`` / `` [c  d]]`` rows of a 2-D array of formatted cells."""
    rows = ["[" + "  ".join(row) + "]" for row in text]
    rows[0] = "[" + rows[0]
    rows[1:] = [" " + r for r in rows[1:]]
    rows[-1] += "]"
    return rows


def block(label: str, values: Any, precision: int, indent: str = "    ") -> list[str]:
    """A formula label with its values: beside it when one line fits, else below it."""
    lines = fmt_array(values, precision)
    if len(lines) == 1 and len(label) <= LABEL_WIDTH:
        line = f"{indent}{label:<{LABEL_WIDTH}}  {lines[0]}"
        if len(line) <= LINE_WIDTH:
            return [line]
    return [f"{indent}{label}"] + [f"{indent}    {line}" for line in lines]


def _value(layer: LayerSpec, key: str, label: str, values: Any, precision: int) -> list[str]:
    # A linear activation, or an activation layer's input, repeats the values just printed.
    if key in formulas.same_values(layer):
        return [f"    {label}  (same values)"]
    return block(label, values, precision)


def _header(spec: TraceSpec, precision: int) -> list[str]:
    shape = "×".join(str(s) for s in spec.input.shape)
    if spec.mode == "loss":
        target = " ".join(fmt_array(spec.target, precision))
        mode = f"loss {spec.loss}, target y = {target}, SGD step η = {spec.lr:g}"
    elif spec.mode == "grad_output":
        mode = "backpropagate the given grad_output" + (
            f", SGD step η = {spec.lr:g}" if spec.lr is not None else ", no update (no lr)")
    else:
        mode = "forward only (no loss, no grad_output)"
    head = [f"glassnet trace: {spec.name or 'spec'}  (float64, batch of 1)",
            f"input {shape} ({spec.input_layout}); {mode}", ""]
    return head + block("X = input" if spec.input_layout != "flat" else "x = input",
                        spec.input, precision, indent="  ")


def render(spec: TraceSpec, record: dict[str, Any], precision: int = 4) -> str:
    """Return the human-readable trace of ``record`` (from :func:`run_trace` of ``spec``).

    Args:
        spec: the validated spec the record was computed from.
        record: the §6 record.
        precision: decimals printed per number.
    """
    out = _header(spec, precision)
    out += ["", "── forward ──"]
    for layer, entry in zip(spec.layers, record["forward"], strict=True):
        out.append(f"  {formulas.title(layer)}")
        for key, label in formulas.forward_labels(layer).items():
            out += _value(layer, key, label, entry[key], precision)
    if "loss" in record:
        out += ["", "── loss ──"]
        out += block(formulas.LOSS_FORMULAS[str(spec.loss)], record["loss"], precision)
    if "gradients" in record:
        out += ["", "── backward (last layer first: the order backpropagation computes) ──"]
        last = len(spec.layers) - 1
        for layer, entry in reversed(list(zip(spec.layers, record["gradients"], strict=True))):
            out.append(f"  {formulas.title(layer)}")
            labels = formulas.backward_labels(layer, last=layer.index == last, loss=spec.loss,
                                              mode=spec.mode)
            for key, label in labels.items():
                if key in entry:
                    out += _value(layer, key, label, entry[key], precision)
    if "updated" in record and spec.lr is not None:
        out += ["", f"── updated parameters: one SGD step, η = {spec.lr:g} ──"]
        for entry in record["updated"]:
            layer = spec.layers[entry["layer"]]
            out.append(f"  {formulas.title(layer)}")
            for key, label in formulas.update_labels(layer, spec.lr).items():
                if key in entry:
                    out += block(label, entry[key], precision)
    return "\n".join(out) + "\n"
