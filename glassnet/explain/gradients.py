"""One input's backward pass through a model, in float64 on the reference core, layer by layer.

The page's engine (``assets/engine.js``) computes the same numbers in JavaScript: the loss of
softmax cross-entropy at one label, dL/dlogits = p − y, dL/d(output) of every layer call and
dL/dW of every weight. This module is the Python side it is checked against: glassnet's own
tape (:mod:`glassnet.autodiff`) under :func:`glassnet.reference_mode`, with the model's weights
switched to float64 for the call and restored after.

The loss is L = −log p[label] with p = softmax(logits): the model's output when it ends in a
softmax (then dL/dp = −y/p is fed to the output), else the softmax of its output, the logits
(then dL/dlogits = p − y is fed to it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from glassnet import autodiff as A
from glassnet.accel import reference_mode
from glassnet.backend import dtype_scope
from glassnet.explain.pagedata import node_keys
from glassnet.models.graph import Model
from glassnet.tensor import Tensor


@dataclass
class Gradients:
    """The backward pass of one input.

    Attributes:
        loss: −log p[label].
        probabilities: p = softmax(logits).
        dlogits: p − y.
        outputs: dL/d(output) of every layer call by page key (the input's key: dL/dx), NHWC.
        weights: dL/dW by layer name (kernel), ``name/bias``, ``name/<weight>``.

    Shapes:
        probabilities, dlogits: (K,); outputs[key]: the call's output shape (no batch axis);
        weights[...]: the weight's shape.
    """

    loss: float
    probabilities: np.ndarray
    dlogits: np.ndarray
    outputs: dict[str, np.ndarray]
    weights: dict[str, np.ndarray]


def _public(grad: Any, ndim: int) -> np.ndarray:
    """A compute-layout gradient of one sample in NHWC without the batch axis."""
    g = np.asarray(grad, dtype=np.float64)
    return g.transpose(1, 2, 3, 0)[0] if ndim == 4 else g[0]


def backward_pass(model: Model, x: np.ndarray, label: int) -> Gradients:
    """Return the float64 gradients of softmax cross-entropy at ``label`` for input ``x``.

    Runs the layer calls in order (inference mode: dropout off, batch norm on its moving
    statistics), keeps every call's output on the tape and reads its gradient after one
    ``backward``.

    Raises:
        GlassnetError: for an input the model cannot take (from the layers).

    Shapes:
        x: the model's input shape (HWC or (F,)).
    """
    model.build()
    keys = node_keys(model)
    params = [p for layer in model.layers for p in layer.weights.values()]
    buffers = [(layer, k) for layer in model.layers for k in layer.buffers]
    saved = [p.data for p in params]
    saved_buffers = [layer.buffers[k] for layer, k in buffers]
    try:
        for param in params:
            param.data, param.grad = param.data.astype(np.float64), None
        for layer, k in buffers:
            layer.buffers[k] = np.asarray(layer.buffers[k], dtype=np.float64)
        with dtype_scope("float64"), reference_mode():
            inp = Tensor(np.asarray(x, dtype=np.float64)[None], requires_grad=True)
            values: dict[int, Tensor] = {
                model.input_node.uid: A.to_compute(inp) if inp.ndim == 4 else inp
            }
            for node in model.nodes[1:]:
                args = [values[p.uid] for p in node.inputs]
                arg: Any = args if node.layer.n_inputs == -1 else args[0]
                out = node.layer.forward(arg, training=False)
                if any(out is a for a in args):
                    # NOTE: an identity layer (Dropout at inference) returns its input tensor
                    # itself; a ×1 node gives its output a gradient of its own (exact).
                    out = A.scale(out, 1.0)
                values[node.uid] = out.retain_grad()
            out = values[model.output_node.uid]
            final = np.asarray(out.data[0], dtype=np.float64)
            if model.ends_in_softmax:
                p = final
                seed = np.zeros_like(p)
                seed[label] = -1.0 / p[label]
            else:
                e = np.exp(final - final.max())
                p = e / e.sum()
                seed = p.copy()
                seed[label] -= 1.0
            out.backward(seed[None])
            grads = {keys[model.input_node.uid]: np.asarray(inp.grad[0], dtype=np.float64)}
            for node in model.nodes[1:]:
                t = values[node.uid]
                g = np.zeros(t.shape) if t.grad is None else t.grad
                grads[keys[node.uid]] = _public(g, t.ndim)
            weights: dict[str, np.ndarray] = {}
            for layer in model.layers:
                for name, weight in layer.weights.items():
                    key = layer.label if name == "kernel" else f"{layer.label}/{name}"
                    weights[key] = np.asarray(weight.grad, dtype=np.float64)
    finally:
        for param, data in zip(params, saved, strict=True):
            param.data, param.grad = data, None
        for (layer, k), data in zip(buffers, saved_buffers, strict=True):
            layer.buffers[k] = data
    onehot = np.zeros_like(p)
    onehot[label] = 1.0
    loss = float(-np.log(p[label]))
    return Gradients(loss, p, p - onehot, grads, weights)


