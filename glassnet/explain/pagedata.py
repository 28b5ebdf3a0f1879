"""The JSON an explainer page embeds: a model the page can run, and one forward pass of it.

:func:`build_page_data` runs ``model.feature_maps`` on one input and records, per layer call,
the summary numbers (output shape, parameters, MACs), the output map (rounded to 6 significant
digits, see :mod:`glassnet.explain.numbers`), the layer's kind and geometry
(:mod:`glassnet.explain.layerinfo`), the graph edges (``inputs``: the keys of the calls it
reads) and, on a layer's first call, all its weights exactly (``weights``: float32 base64).
With these the page's engine (``assets/engine.js``) reruns the whole model on any input; the
embedded maps are the Python reference the page's arithmetic is checked against. ``input``
carries the exact input pixels and ``inputs`` a few example inputs (one per class of a dataset)
the page offers.

Size budget: the weights and inputs are always embedded in full: the engine needs every one,
and a page that cannot compute is no explainer (a model whose weights alone exceed the budget
gets a warning saying so, never a truncated page). The maps are embedded in full when they
fit what is left; otherwise in layer order within :data:`FULL_SHARE` of it, and the other layers
get thumbnails (every ``step``-th pixel of their first channels, 3 significant digits) for the
first drawing, while the engine computes their full maps when the page opens, so every cell can
still be opened. Each reduction is reported in ``warnings``.
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
from glassnet.layers import Layer
from glassnet.models.graph import Model, node_input_shape

DEFAULT_MAX_BYTES = 5_000_000
FORMAT_VERSION = 2  # 2: exact weights and inputs (base64) for the in-page engine, graph edges
PAGE_OVERHEAD = 120_000  # the page's own HTML, styles and scripts (~90 kB) plus the summary
FULL_SHARE = 0.75  # share of the map budget for full maps when not all of them fit
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


def layer_arrays(layer: Layer) -> dict[str, Any]:
    """The arrays the engine runs ``layer`` with: its weights and buffers, by glassnet's names.

    Shapes:
        as the layer stores them (e.g. kernel [KH, KW, C_in/groups, F], bias [F],
        BatchNorm gamma/beta/moving_mean/moving_variance [C]).
    """
    arrays = {name: p.data for name, p in layer.weights.items()}
    arrays.update(layer.buffers)
    return {name: np.asarray(a) for name, a in arrays.items()}


def plan_budget(model: Model, keys: dict[int, str], values: dict[str, np.ndarray],
                budget: int) -> tuple[set[str], int]:
    """Decide which maps are embedded in full within ``budget`` bytes (weights not counted).

    Everything is embedded when it fits. Otherwise maps are taken in layer order while they fit
    in ``FULL_SHARE`` of the budget; the input is always embedded.

    Returns:
        ``(keys of full maps, bytes left for the thumbnails)``.
    """
    nodes = model.nodes
    total = sum(num.estimate_bytes(values[keys[n.uid]].size) for n in nodes)
    if total <= budget:
        return set(values), 0
    limit = int(budget * FULL_SHARE)
    full: set[str] = set()
    used = 0
    for node in nodes:
        key = keys[node.uid]
        size = num.estimate_bytes(values[key].size)
        if node.inputs and used + size > limit:
            continue
        full.add(key)
        used += size
    return full, max(0, budget - used)


def ordinal(n: int) -> str:
    """``2nd``, ``3rd``, ``11th``, ``21st``."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _reduction(key: str, full: np.ndarray, step: int, channels: int) -> str:
    parts = [f"every {ordinal(step)} row and column"] if step > 1 else []
    if full.ndim == 3 and channels < full.shape[2]:
        parts.append(f"{channels} of {full.shape[2]} channels")
    return f"{key} ({', '.join(parts)})" if parts else key


def _weights_warning(model: Model, exact: int, budget: int) -> str:
    n = sum(int(a.size) for layer in model.layers for a in layer_arrays(layer).values())
    return (f"{model.name}'s {n:,} weights take {exact / 1e6:.1f} MB in the page, over the "
            f"{budget / 1e6:.1f} MB budget: all are embedded anyway, since the page's engine "
            "computes every layer from them (raise --max-mb to silence this)")


def build_page_data(
    model: Model,
    choice: InputChoice,
    *,
    model_note: str,
    max_bytes: int = DEFAULT_MAX_BYTES,
    trace: dict[str, Any] | None = None,
    examples: list[InputChoice] | None = None,
) -> PageData:
    """Run the model on the chosen input and collect everything the page shows and runs.

    Args:
        model: the model (built on the first forward pass if needed).
        choice: the input and its description.
        model_note: one sentence on where the weights come from (checkpoint or random init).
        max_bytes: the page budget; beyond it maps become thumbnails (with a warning).
        trace: the trace section (see :mod:`glassnet.explain.tracedata`), or None.
        examples: inputs the page offers to run instead (``DATA.inputs``), or None.

    Returns:
        The payload and any warnings about reduced layers or an oversized model.

    Shapes:
        choice.x and every example's x: the model's input shape (HWC or (F,)).
    """
    summary = model.summary(explain=True, print_fn=None)  # with each layer's formula lines
    assert summary is not None
    with reference_mode():  # the page's cell arithmetic re-checks these numbers: the readable core
        maps = model.feature_maps(choice.x[None].astype(model.dtype or np.float32))
    keys = node_keys(model)
    values: dict[str, np.ndarray] = {keys[model.input_node.uid]: np.asarray(choice.x)}
    values.update({k: np.asarray(t.data[0]) for k, t in maps.items()})

    # Exact arrays first: they are embedded whatever the budget (see the module docstring).
    arrays: dict[str, dict[str, Any]] = {}
    seen: set[int] = set()
    for node in model.nodes[1:]:
        if id(node.layer) not in seen:
            seen.add(id(node.layer))
            arrays[keys[node.uid]] = {k: num.pack_exact(a)
                                      for k, a in layer_arrays(node.layer).items()}
    examples = list(examples or [])
    exact = sum(len(w["b64"]) for ws in arrays.values() for w in ws.values())
    exact += num.exact_bytes(choice.x.size) * (1 + len(examples))

    warnings = []
    budget = max(0, max_bytes - PAGE_OVERHEAD)
    if exact > budget:
        warnings.append(_weights_warning(model, exact, max_bytes))
    full, room = plan_budget(model, keys, values, max(0, budget - exact))
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
        if key in arrays and arrays[key]:
            entry["weights"] = arrays[key]
        if "explain" in row:  # the lines `glassnet summary --explain` prints for this layer
            entry["explain"] = [str(line) for line in row["explain"]]
        if key in full:
            entry["map"] = num.pack(out)
        else:
            small, step, channels = thumbnail(out, room // n_thumbs // THUMB_BYTES)
            entry["map"], entry["step"] = num.pack(small, THUMB_DIGITS), step
            reduced.append(_reduction(key, out, step, channels))
        # The engine (assets/engine.js) fills in the maps left out and opens those cells too.
        entry["explorable"] = bool(key in full and node.inputs
                                   and all(k in full for k in entry["inputs"]))
        layers.append(entry)

    unknown = [f"{e['key']} ({e['type']})" for e in layers if e["info"]["kind"] == "other"]
    if unknown:
        warnings.append(
            "the page cannot run these layers in the browser, so it cannot rerun the model on "
            f"another input: {', '.join(unknown)}"
        )
    if reduced:
        named = ", ".join(reduced[:6]) + (f" and {len(reduced) - 6} more" if len(reduced) > 6
                                         else "")
        warnings.append(
            f"the page would exceed ~{max_bytes / 1e6:.1f} MB, so the maps of {len(reduced)} "
            f"layers are embedded as thumbnails only: {named}; the page computes them in full "
            "from the embedded input and weights when it opens (checked against its own forward "
            "pass, not Python's); raise --max-mb to embed everything"
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
        "input": {"note": choice.note, "label": choice.label,
                  "pixels": num.pack_exact(np.asarray(choice.x, dtype=np.float32))},
        "inputs": [example_entry(e) for e in examples],
        "layers": layers,
        "softmax": softmax_section(model, values, keys, final, choice),
        "trace": trace,
        "significant_digits": num.SIGNIFICANT,
    }
    return PageData(data, warnings)


def example_entry(choice: InputChoice) -> dict[str, Any]:
    """One example input of ``DATA.inputs``: exact pixels, label (or None), class, source note."""
    label = choice.label
    names = choice.class_names
    return {
        "note": choice.note, "label": label,
        "class_name": names[label] if names is not None and label is not None else None,
        "pixels": num.pack_exact(np.asarray(choice.x, dtype=np.float32)),
    }
