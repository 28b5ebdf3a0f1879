"""The JSON an explainer page embeds: one forward pass of a model, every value of it.

:func:`build_page_data` runs ``model.feature_maps`` on one input and records, per layer call,
the summary numbers (output shape, parameters, MACs), the output map (rounded to 6 significant
digits, see :mod:`glassnet.explain.numbers`), the geometry needed to recompute a cell
(:mod:`glassnet.explain.layerinfo`) and the weights of the layers whose cells can be opened.
The page recomputes a clicked cell from these numbers in JavaScript; the embedded output maps
are the reference it is checked against.

Size budget: everything is embedded when the estimate fits ``max_bytes``. Otherwise maps and
weights are embedded in full, in layer order, within :data:`FULL_SHARE` of the budget, and the
other layers share the rest as thumbnails (every ``step``-th pixel of their first channels, 3
significant digits) whose cells cannot be opened. Each reduction is reported in ``warnings``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from glassnet.accel import reference_mode
from glassnet.explain import numbers as num
from glassnet.explain.inputs import InputChoice
from glassnet.explain.layerinfo import describe
from glassnet.explain.softmax import softmax_section
from glassnet.models.graph import Model, node_input_shape

DEFAULT_MAX_BYTES = 5_000_000
FORMAT_VERSION = 1
PAGE_OVERHEAD = 80_000  # the page's own HTML, styles and script (~60 kB) plus the summary
FULL_SHARE = 0.75  # share of the budget for full maps and weights when not all of them fit
THUMB_CHANNELS = 16  # a reduced layer shows at most this many channels ...
THUMB_DIGITS = 3  # ... with 3 significant digits (thumbnails are only drawn as colours)
THUMB_BYTES = 7  # JSON bytes per 3-digit value ("-0.123," ), generously


@dataclass
class PageData:
    """The page's JSON payload and the warnings produced while building it."""

    data: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def node_keys(model: Model) -> dict[int, str]:
    """Return the ``feature_maps`` key of every node (``name``, ``name:2`` for shared layers)."""
    keys: dict[int, str] = {}
    used: set[str] = set()
    for node in model.nodes:
        key, k = node.layer.label, 2
        while key in used:
            key, k = f"{node.layer.label}:{k}", k + 1
        used.add(key)
        keys[node.uid] = key
    return keys


def thumbnail(values: np.ndarray, allowance: int) -> tuple[np.ndarray, int, int]:
    """Return ``(reduced, step, channels)``: every step-th pixel of the first channels.

    Args:
        values: the full map or vector.
        allowance: how many values the thumbnail may hold (at least 64 are kept).

    Shapes:
        values (H, W, C) -> (ceil(H/step), ceil(W/step), channels);
        values (F,) -> (ceil(F/step),).
    """
    allowed = max(64, allowance)
    if values.ndim == 3:
        channels = min(values.shape[2], THUMB_CHANNELS)
        while channels > 1 and allowed // channels < 144:  # keep thumbnails >= 12×12
            channels //= 2
        side = max(4, math.isqrt(allowed // channels))
        step = max(1, math.ceil(max(values.shape[:2]) / side))
        return values[::step, ::step, :channels], step, channels
    step = max(1, math.ceil(values.size / allowed))
    return values[::step], step, 1


def _kernel_size(node: Any) -> int:
    kernel = node.layer.weights.get("kernel")
    return 0 if kernel is None else int(kernel.data.size)


def plan_budget(model: Model, keys: dict[int, str], values: dict[str, np.ndarray],
                budget: int) -> tuple[set[str], set[str], int]:
    """Decide which maps and weights are embedded in full.

    Everything is embedded when it fits. Otherwise maps (and the weights of layers whose
    input is embedded too) are taken in layer order while they fit in ``FULL_SHARE`` of the
    budget; the input is always embedded.

    Returns:
        ``(keys of full maps, keys of layers with weights, bytes left for the thumbnails)``.
    """
    def weighs(node: Any) -> bool:
        return describe(node.layer, node_input_shape(node))["kind"] in ("conv", "dense")

    nodes = model.nodes
    total = sum(num.estimate_bytes(values[keys[n.uid]].size) for n in nodes)
    total += sum(num.estimate_bytes(_kernel_size(n)) for n in nodes[1:] if weighs(n))
    if total <= budget:
        return set(values), {keys[n.uid] for n in nodes[1:] if weighs(n)}, 0
    limit = int(budget * FULL_SHARE)
    full: set[str] = set()
    weights: set[str] = set()
    used = 0
    for node in nodes:
        key = keys[node.uid]
        size = num.estimate_bytes(values[key].size)
        if node.inputs and used + size > limit:
            continue
        full.add(key)
        used += size
        sources = all(keys[p.uid] in full for p in node.inputs)
        if node.inputs and sources and weighs(node):
            cost = num.estimate_bytes(_kernel_size(node))
            if used + cost <= limit:
                weights.add(key)
                used += cost
    return full, weights, max(0, budget - used)


def _reduction(key: str, full: np.ndarray, step: int, channels: int) -> str:
    parts = [f"every {step}th row and column"] if step > 1 else []
    if full.ndim == 3 and channels < full.shape[2]:
        parts.append(f"{channels} of {full.shape[2]} channels")
    return f"{key} ({', '.join(parts)})" if parts else key


def _weights(layer: Any) -> dict[str, Any]:
    kernel = layer.weights.get("kernel")
    bias = layer.weights.get("bias")
    return {
        "kernel": num.pack(kernel.data),
        "bias": None if bias is None else num.round_list(bias.data),
    }


def build_page_data(
    model: Model,
    choice: InputChoice,
    *,
    model_note: str,
    max_bytes: int = DEFAULT_MAX_BYTES,
    trace: dict[str, Any] | None = None,
) -> PageData:
    """Run the model on the chosen input and collect everything the page shows.

    Args:
        model: the model (built on the first forward pass if needed).
        choice: the input and its description.
        model_note: one sentence on where the weights come from (checkpoint or random init).
        max_bytes: the page budget; beyond it thumbnails are reduced (with a warning).
        trace: the trace section (see :mod:`glassnet.explain.tracedata`), or None.

    Returns:
        The payload and any warnings about reduced layers.

    Shapes:
        choice.x: the model's input shape (HWC or (F,)).
    """
    summary = model.summary(print_fn=None)
    assert summary is not None
    with reference_mode():  # the page's cell arithmetic re-checks these numbers: the readable core
        maps = model.feature_maps(choice.x[None].astype(model.dtype or np.float32))
    keys = node_keys(model)
    values: dict[str, np.ndarray] = {keys[model.input_node.uid]: np.asarray(choice.x)}
    values.update({k: np.asarray(t.data[0]) for k, t in maps.items()})

    budget = max(0, max_bytes - PAGE_OVERHEAD)
    full, weights, room = plan_budget(model, keys, values, budget)
    n_thumbs = max(1, len(values) - len(full))
    layers: list[dict[str, Any]] = []
    reduced: list[str] = []
    rows = {id(node): row for node, row in zip(model.nodes[1:], summary["layers"], strict=True)}
    for node in model.nodes:
        key = keys[node.uid]
        out = values[key]
        row = rows.get(id(node), {"type": "Input", "params": 0, "macs": 0})
        entry: dict[str, Any] = {
            "key": key, "name": node.layer.label, "type": row["type"],
            "shape": list(node.shape), "params": int(row["params"]), "macs": int(row["macs"]),
            "inputs": [keys[p.uid] for p in node.inputs],
            "range": num.value_range(out),
            "info": describe(node.layer, node_input_shape(node)) if node.inputs else
            {"kind": "input"},
            "full": key in full, "step": 1,
        }
        if key in full:
            entry["map"] = num.pack(out)
        else:
            small, step, channels = thumbnail(out, room // n_thumbs // THUMB_BYTES)
            entry["map"], entry["step"] = num.pack(small, THUMB_DIGITS), step
            reduced.append(_reduction(key, out, step, channels))
        sources = all(k in full for k in entry["inputs"])
        entry["explorable"] = bool(key in full and node.inputs and sources)
        if entry["info"]["kind"] in ("conv", "dense") and entry["explorable"]:
            if key in weights:
                entry["info"].update(_weights(node.layer))
            else:
                entry["explorable"] = False
                reduced.append(f"{key} weights")
        layers.append(entry)

    warnings = []
    if reduced:
        named = ", ".join(reduced[:6]) + (f" and {len(reduced) - 6} more" if len(reduced) > 6
                                         else "")
        warnings.append(
            f"the page would exceed ~{max_bytes / 1e6:.1f} MB, so {len(reduced)} layers were "
            f"reduced to thumbnails whose cells cannot be opened: {named}; raise --max-mb to "
            "embed everything"
        )
    final = values[keys[model.output_node.uid]]
    data = {
        "format": "glassnet-explain", "version": FORMAT_VERSION,
        "model": {
            "name": model.name, "note": model_note,
            "input_shape": list(model.input_shape), "output_shape": list(model.output_shape),
            "total_params": int(summary["total_params"]),
            "total_macs": int(summary["total_macs"]),
            "mac_convention": str(summary.get("mac_convention", "")),
        },
        "input": {"note": choice.note, "label": choice.label},
        "layers": layers,
        "softmax": softmax_section(model, values, keys, final, choice),
        "trace": trace,
        "significant_digits": num.SIGNIFICANT,
    }
    return PageData(data, warnings)
