"""The page's softmax section: logits, exponentials, their sum, probabilities, loss, gradient.

The logits are the last layer's pre-activation when it ends in softmax (a ``Dense(...,
activation="softmax")`` or a ``Softmax``/``Activation("softmax")`` layer); a model whose flat
output has no softmax is taken to output logits, and the page says so.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from glassnet.explain import numbers as num
from glassnet.explain.inputs import InputChoice
from glassnet.layers import Activation, Dense, Softmax
from glassnet.models.graph import Model


def logits_of(model: Model, values: dict[str, np.ndarray], keys: dict[int, str]) -> tuple[
        np.ndarray, str, bool]:
    """Return ``(logits, where they come from, whether the model applies softmax)``.

    Shapes:
        values[...] flat (F,) for the output -> logits (F,), float64.
    """
    node = model.output_node
    layer = node.layer
    before = np.asarray(values[keys[node.inputs[0].uid]], dtype=np.float64)
    if isinstance(layer, Dense) and layer.activation == "softmax":
        w = np.asarray(layer.weights["kernel"].data, dtype=np.float64)
        b = layer.weights.get("bias")
        z = before @ w + (0.0 if b is None else np.asarray(b.data, dtype=np.float64))
        return z, f"z = x·W + b of {layer.label}, before its softmax", True
    if isinstance(layer, Softmax) or (
        isinstance(layer, Activation) and layer.activation == "softmax"
    ):
        return before, f"the input of {layer.label}", True
    out = np.asarray(values[keys[node.uid]], dtype=np.float64)
    return out, f"the output of {layer.label} (no softmax in the model; the page applies it)", False


def softmax_section(
    model: Model, values: dict[str, np.ndarray], keys: dict[int, str], final: np.ndarray,
    choice: InputChoice,
) -> dict[str, Any] | None:
    """Return the softmax section's numbers, or None when the output is not a flat vector.

    NOTE: computed the stable way, e^(z − max z), as the model does; the page shows the shift.
    """
    if final.ndim != 1 or not model.output_node.inputs:
        return None
    z, source, in_model = logits_of(model, values, keys)
    shift = float(z.max())
    exps = np.exp(z - shift)
    total = float(exps.sum())
    probs = exps / total
    n = z.size
    names = choice.class_names if choice.class_names and len(choice.class_names) == n else None
    section: dict[str, Any] = {
        "source": source, "in_model": in_model,
        "class_names": list(names) if names else [str(i) for i in range(n)],
        "logits": num.round_list(z), "shift": num.round_value(shift),
        "exps": num.round_list(exps), "sum": num.round_value(total),
        "probs": num.round_list(probs),
        "model_probs": num.round_list(final) if in_model else None,
        "predicted": int(np.argmax(probs)), "label": None,
    }
    if choice.label is not None and 0 <= choice.label < n:
        y = choice.label
        onehot = np.zeros(n)
        onehot[y] = 1.0
        section.update({
            "label": y,
            "loss": num.round_value(float(-np.log(max(probs[y], 1e-300)))),
            "grad": num.round_list(probs - onehot),
        })
    return section
