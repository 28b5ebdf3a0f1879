"""The page's trace section: a §6 trace (``glassnet trace``) as steps a student pages through.

Each step is one layer of one phase (forward, loss, backward — last layer first — and the SGD
update) with its values and the formula beside each, the same labels ``glassnet trace`` prints
(:mod:`glassnet.tracing.formulas`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from glassnet.explain import numbers as num
from glassnet.tracing import formulas
from glassnet.tracing.layers import LayerSpec
from glassnet.tracing.run import run_trace
from glassnet.tracing.spec import TraceSpec, load_spec


def _item(label: str, values: Any, same: bool = False) -> dict[str, Any]:
    """One labelled value; ``same`` marks values equal to the ones just shown."""
    return {"label": label, "value": None if same else num.pack(values)}


def _forward_step(layer: LayerSpec, entry: dict[str, Any]) -> dict[str, Any]:
    items = []
    if layer.weights is not None:
        w = "F" if layer.kind == "conv2d" else "W"
        items.append(_item(f"{w} = the layer's weights", layer.weights))
        if layer.bias is not None:
            items.append(_item("b = the layer's bias", layer.bias))
    same = formulas.same_values(layer)
    for key, label in formulas.forward_labels(layer).items():
        items.append(_item(label, entry[key], key in same))
    return {"phase": "forward", "title": formulas.title(layer), "items": items}


def _backward_step(spec: TraceSpec, layer: LayerSpec, entry: dict[str, Any]) -> dict[str, Any]:
    labels = formulas.backward_labels(
        layer, last=layer.index == len(spec.layers) - 1, loss=spec.loss, mode=spec.mode
    )
    same = formulas.same_values(layer)
    items = [_item(label, entry[key], key in same) for key, label in labels.items()
             if key in entry]
    return {"phase": "backward", "title": formulas.title(layer), "items": items}


def trace_steps(spec: TraceSpec, record: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the steps of a trace in the order a student computes them."""
    x_label = "x = input" if spec.input_layout == "flat" else "X = input"
    steps = [{"phase": "input", "title": f"input ({spec.input_layout})",
              "items": [_item(x_label, spec.input)]}]
    steps += [_forward_step(layer, entry)
              for layer, entry in zip(spec.layers, record["forward"], strict=True)]
    if "loss" in record and spec.loss is not None:
        items = [_item(formulas.LOSS_FORMULAS[spec.loss], record["loss"])]
        if spec.target is not None:
            items.insert(0, _item("y = target", spec.target))
        steps.append({"phase": "loss", "title": f"loss: {spec.loss}", "items": items})
    if "gradients" in record:
        pairs = list(zip(spec.layers, record["gradients"], strict=True))
        steps += [_backward_step(spec, layer, entry) for layer, entry in reversed(pairs)]
    if "updated" in record and spec.lr is not None:
        for entry in record["updated"]:
            layer = spec.layers[entry["layer"]]
            labels = formulas.update_labels(layer, spec.lr)
            items = [_item(label, entry[key]) for key, label in labels.items() if key in entry]
            steps.append({"phase": "update", "title": f"{formulas.title(layer)}",
                          "items": items})
    return steps


def trace_section(path: str | Path) -> dict[str, Any]:
    """Load and trace the spec at ``path``; return the page's trace section.

    Raises:
        GlassnetError: if the spec is missing or invalid (from :func:`load_spec`).
    """
    spec = load_spec(path)
    record = run_trace(spec)
    mode = {
        "loss": f"loss {spec.loss}, one SGD step η = {spec.lr:g}" if spec.lr is not None
        else f"loss {spec.loss}",
        "grad_output": "backpropagate the given grad_output",
        "forward": "forward pass only (the spec has no loss and no grad_output)",
    }[spec.mode]
    return {
        "name": spec.name or Path(path).name, "mode": mode,
        "lr": spec.lr, "steps": trace_steps(spec, record),
    }
