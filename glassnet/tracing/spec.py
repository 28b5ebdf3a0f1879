"""Load and validate a trace spec (``../shared/DESIGN.md`` §6) into a :class:`TraceSpec`.

Every problem is one :class:`GlassnetError` line that starts with the path of the offending value
in the spec (``layers[2].weights: expected [4, 2] (in, out), got [2, 4]``), so a student can find
it in their file.

Choices recorded here (and in ``glassnet trace --help``):
    * A file whose top level has a ``"spec"`` key (the worked examples in ``tests/cases/``) is
      traced from that key; its other keys (``expected``, ``description`` …) are ignored.
    * ``input_layout`` may be left out: a 1-D input is ``flat``, 2-D ``HW``, 3-D ``HWC``.
    * Modes: ``loss`` + ``target`` (``lr`` defaults to :data:`DEFAULT_LR`), or ``grad_output``
      (the parameters are updated only when ``lr`` is given), or neither (forward only; an ``lr``
      is then an error, since nothing would be updated).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from glassnet.arith.geometry import resolve_padding
from glassnet.errors import GlassnetError
from glassnet.limits import check_memory, clip, element_count, parse_json, parse_yaml, read_text
from glassnet.tracing.layers import LayerSpec, parse_layer, to_array

DEFAULT_LR = 0.1
LOSSES = ("mse", "binary_crossentropy", "categorical_crossentropy")
LAYOUTS = ("HW", "HWC", "flat")
TOP_KEYS = (
    "input", "input_layout", "layers", "loss", "target", "grad_output", "lr", "name", "description",
)
_LAYOUT_NDIM = {"flat": 1, "HW": 2, "HWC": 3}
# A trace is read by a person; a million numbers is already far beyond what anyone checks.
MAX_TRACE_VALUES = 1_000_000
# Per traced number: the float64 array entry, the Python float in the record and its printed
# text — a generous estimate so the budget check errs on the side of refusing.
BYTES_PER_TRACED_VALUE = 128


@dataclass(frozen=True)
class TraceSpec:
    """A validated spec: arrays in the spec's own layouts, every layer's shapes known.

    Attributes:
        input: the input, shaped as ``input_layout`` says ((D,), (H, W) or (H, W, C)).
        input_layout: ``"flat"``, ``"HW"`` or ``"HWC"``.
        layers: the layers in order, each with its input and output shape.
        loss: the loss name, or None.
        target: the loss target, shaped like the last layer's output, or None.
        grad_output: the given dL/d(last output), or None.
        lr: the SGD step size, or None when no update is traced.
        name: a label for headings (the spec's ``name`` or the file name).
    """

    input: np.ndarray
    input_layout: str
    layers: tuple[LayerSpec, ...]
    loss: str | None = None
    target: np.ndarray | None = None
    grad_output: np.ndarray | None = None
    lr: float | None = None
    name: str = ""

    @property
    def mode(self) -> str:
        """``"loss"``, ``"grad_output"`` or ``"forward"``."""
        if self.loss is not None:
            return "loss"
        return "grad_output" if self.grad_output is not None else "forward"


def load_spec(path: str | Path) -> TraceSpec:
    """Read a JSON or YAML (``.yaml``/``.yml``) spec file and validate it.

    Raises:
        GlassnetError: if the file is missing, unreadable, over the size or nesting caps, not
            JSON/YAML, the spec is invalid, or its trace would be too large.
    """
    p = Path(path)
    if not p.exists():
        raise GlassnetError(f"{clip(p)}: no such spec file")
    text = read_text(p, "spec")  # size-capped; a binary file is refused, not decoded
    raw = parse_text(text, p.suffix.lower(), clip(p))
    spec = parse_spec(raw)
    return spec if spec.name else _with_name(spec, p.name)


def parse_text(text: str, suffix: str, label: str) -> Any:
    """Parse JSON (``.json``) or YAML (``.yaml``/``.yml``) text.

    Raises:
        GlassnetError: for another suffix or a syntax error (with the parser's own message).
    """
    if suffix == ".json":
        return parse_json(text, label)
    if suffix in (".yaml", ".yml"):
        return parse_yaml(text, label)  # aliases refused, nesting capped
    raise GlassnetError(
        f"{label}: expected a .json, .yaml or .yml file, got {clip(suffix) or 'none'}")


def parse_spec(raw: Any) -> TraceSpec:
    """Validate a spec given as a dict (already parsed from JSON or YAML).

    Args:
        raw: the spec, or a document whose ``"spec"`` key holds it.

    Returns:
        The validated :class:`TraceSpec`.

    Raises:
        GlassnetError: naming the path in the spec of the first problem found.
    """
    if isinstance(raw, dict) and "spec" in raw:
        raw = raw["spec"]
    if not isinstance(raw, dict):
        raise GlassnetError(f"spec: expected an object with keys {list(TOP_KEYS)}, "
                            f"got {type(raw).__name__}")
    unknown = [k for k in raw if k not in TOP_KEYS]
    if unknown:
        raise GlassnetError(f"{unknown[0]}: unknown key; valid keys are {list(TOP_KEYS)}")
    if "input" not in raw:
        raise GlassnetError("input: missing (the input image or vector)")
    x = to_array(raw["input"], "input")
    layout = _input_layout(raw.get("input_layout"), x)
    layers = _parse_layers(raw.get("layers"), layout, x.shape)
    check_trace_size(x, layers)
    last = layers[-1]
    loss, target, grad_output = _parse_mode(raw, last.out_shape)
    lr = _parse_lr(raw, loss is not None, grad_output is not None)
    name = raw.get("name", "")
    return TraceSpec(x, layout, layers, loss, target, grad_output, lr, str(name))


def traced_values(x: np.ndarray, layers: tuple[LayerSpec, ...]) -> int:
    """How many numbers a trace of these layers computes, from the declared shapes alone.

    Counted per layer: its (padded) input, its output before and after the activation, and
    its parameters before and after the update; everything twice (values and gradients).
    """
    n = x.size
    for layer in layers:
        n_in = element_count(layer.in_shape)
        if layer.kind == "conv2d" and layer.weights is not None:
            h, w = layer.in_shape[0], layer.in_shape[1]
            k = (int(layer.weights.shape[0]), int(layer.weights.shape[1]))
            pads = resolve_padding(layer.padding, (h, w), k, layer.stride, op="conv2d")
            n_in = n_in // (h * w) * (h + sum(pads[0])) * (w + sum(pads[1]))
        params = 0 if layer.weights is None else layer.weights.size * 2
        n += n_in + 2 * element_count(layer.out_shape) + params
    return 2 * n


def check_trace_size(x: np.ndarray, layers: tuple[LayerSpec, ...]) -> None:
    """Refuse a spec whose declared shapes make a trace too large, before computing any of it.

    Raises:
        GlassnetError: over :data:`MAX_TRACE_VALUES` numbers, or over the memory budget at
            :data:`BYTES_PER_TRACED_VALUE` each.
    """
    n = traced_values(x, layers)
    if n > MAX_TRACE_VALUES:
        raise GlassnetError(
            f"spec: its shapes make a trace of {n:,} numbers; a trace is for hand-checking a "
            f"small network, at most {MAX_TRACE_VALUES:,} (shrink the input, padding or layers)")
    check_memory(f"spec: a trace of {n:,} numbers", n * BYTES_PER_TRACED_VALUE)


def _with_name(spec: TraceSpec, name: str) -> TraceSpec:
    return TraceSpec(spec.input, spec.input_layout, spec.layers, spec.loss, spec.target,
                     spec.grad_output, spec.lr, name)


def _input_layout(value: Any, x: np.ndarray) -> str:
    if x.size == 0:
        raise GlassnetError(f"input: empty array of shape {list(x.shape)}")
    if value is None:
        # Left out: read the layout off the nesting depth (1-D flat, 2-D HW, 3-D HWC).
        for layout, ndim in _LAYOUT_NDIM.items():
            if x.ndim == ndim:
                return layout
        raise GlassnetError(f"input: expected a vector, an H×W or an H×W×C array, "
                            f"got shape {list(x.shape)}")
    if value not in LAYOUTS:
        raise GlassnetError(f"input_layout: {value!r} is not one of {list(LAYOUTS)}")
    if x.ndim != _LAYOUT_NDIM[value]:
        raise GlassnetError(f"input: input_layout {value} needs a {_LAYOUT_NDIM[value]}-D array, "
                            f"got shape {list(x.shape)}")
    return str(value)


def _parse_layers(value: Any, layout: str, shape: tuple[int, ...]) -> tuple[LayerSpec, ...]:
    if value is None:
        raise GlassnetError("layers: missing (a list of layers, e.g. [{\"type\": \"flatten\"}])")
    if not isinstance(value, list) or not value:
        raise GlassnetError("layers: expected a non-empty list of layers")
    layers: list[LayerSpec] = []
    for i, raw_layer in enumerate(value):
        layer = parse_layer(i, raw_layer, layout, tuple(shape))
        layers.append(layer)
        layout, shape = layer.out_layout, layer.out_shape
    return tuple(layers)


def _parse_mode(
    raw: dict[str, Any], out_shape: tuple[int, ...]
) -> tuple[str | None, np.ndarray | None, np.ndarray | None]:
    """Return ``(loss, target, grad_output)`` after checking they form one of the three modes."""
    has_loss, has_target = "loss" in raw, "target" in raw
    if "grad_output" in raw and (has_loss or has_target):
        raise GlassnetError("grad_output: give either loss + target or grad_output, not both")
    if "grad_output" in raw:
        return None, None, _shaped(raw["grad_output"], "grad_output", out_shape)
    if has_loss != has_target:
        given, missing = ("loss", "target") if has_loss else ("target", "loss")
        raise GlassnetError(f"{missing}: missing ({given} is given; a loss needs both)")
    if not has_loss:
        return None, None, None
    loss = raw["loss"]
    if loss not in LOSSES:
        raise GlassnetError(f"loss: {loss!r} is not one of {list(LOSSES)}")
    return str(loss), _shaped(raw["target"], "target", out_shape), None


def _shaped(value: Any, path: str, out_shape: tuple[int, ...]) -> np.ndarray:
    arr = to_array(value, path)
    if arr.shape != out_shape:
        raise GlassnetError(f"{path}: expected shape {list(out_shape)} (the last layer's output), "
                            f"got {list(arr.shape)}")
    return arr


def _parse_lr(raw: dict[str, Any], has_loss: bool, has_grad: bool) -> float | None:
    if "lr" not in raw:
        return DEFAULT_LR if has_loss else None
    if not (has_loss or has_grad):
        raise GlassnetError("lr: given, but the spec has neither loss + target nor grad_output, "
                            "so nothing is backpropagated or updated")
    lr = raw["lr"]
    if isinstance(lr, bool) or not isinstance(lr, int | float) or not np.isfinite(lr) or lr < 0:
        raise GlassnetError(f"lr: expected a number >= 0, got {lr!r}")
    return float(lr)
