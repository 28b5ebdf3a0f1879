"""Compute the trace record: every forward value, the loss, every gradient and the SGD update.

The network is built from :mod:`glassnet.functional` ops on Tensors (NHWC, batch of 1, float64).
Each layer's pre-activation and output call ``retain_grad()``, so one ``backward`` leaves every
intermediate gradient on its tensor; nothing here differentiates by hand. The values are then
reshaped into the spec's own layouts (``../shared/DESIGN.md`` §6).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from glassnet import functional as F
from glassnet.accel import reference_mode
from glassnet.backend import dtype_scope
from glassnet.tensor import Parameter, Tensor
from glassnet.tracing.layers import LayerSpec
from glassnet.tracing.spec import TraceSpec

Record = dict[str, Any]


@dataclass
class _Step:
    """The tensors of one layer after the forward pass."""

    layer: LayerSpec
    x: Tensor  # the layer's input (the previous layer's output, or the network input)
    z: Tensor | None  # pre-activation; None for layers without an activation step
    out: Tensor
    w: Parameter | None = None
    b: Parameter | None = None


def to_internal(a: np.ndarray, layout: str) -> np.ndarray:
    """Return ``a`` as a batch of one in NHWC ((1, D), (1, H, W, 1) or (1, H, W, C))."""
    return a[None, :, :, None] if layout == "HW" else a[None]


def _values(t: Tensor | np.ndarray | None, shape: tuple[int, ...]) -> Any:
    """Nested lists of ``t`` in the spec's layout; a missing gradient is all zeros."""
    arr = t.data if isinstance(t, Tensor) else t
    return (np.zeros(shape) if arr is None else np.asarray(arr)).reshape(shape).tolist()


def _activate(z: Tensor, layer: LayerSpec) -> Tensor:
    act = layer.activation
    if act == "linear":
        return z
    if act == "leaky_relu":
        return F.leaky_relu(z, layer.alpha)
    fn = {"relu": F.relu, "sigmoid": F.sigmoid, "tanh": F.tanh, "softmax": F.softmax}[str(act)]
    return fn(z)


def _params(layer: LayerSpec) -> tuple[Parameter | None, Parameter | None]:
    if layer.weights is None:
        return None, None
    w = layer.weights
    # A [KH, KW] kernel is the one-channel case of [KH, KW, C_in=1, C_out=1].
    w = w[:, :, None, None] if layer.kind == "conv2d" and w.ndim == 2 else w
    b = None if layer.bias is None else Parameter(layer.bias.reshape(-1).copy(), name="b")
    return Parameter(w.copy(), name="w"), b


def _forward(layer: LayerSpec, x: Tensor) -> _Step:
    w, b = _params(layer)
    if layer.kind == "conv2d":
        z: Tensor | None = F.conv2d(x, w, b, strides=layer.stride, padding=layer.padding)
    elif layer.kind == "dense":
        assert w is not None  # validated: a dense layer always has weights
        z = F.dense(x, w, b)
    elif layer.kind == "activation":
        z = x
    else:
        z = None
    if z is not None:
        out = _activate(z.retain_grad(), layer)
    elif layer.kind == "flatten":
        out = F.flatten(x)
    elif layer.kind == "maxpool2d":
        out = F.max_pool2d(x, layer.pool, layer.stride, layer.padding, ceil_mode=layer.ceil_mode)
    else:
        out = F.avg_pool2d(x, layer.pool, layer.stride, layer.padding, ceil_mode=layer.ceil_mode,
                           count_include_pad=layer.count_include_pad)
    return _Step(layer, x, z, out.retain_grad(), w, b)


def run_trace(spec: TraceSpec) -> Record:
    """Trace ``spec`` and return the §6 record (plain lists and floats, JSON-ready).

    Args:
        spec: a validated spec (see :func:`glassnet.tracing.spec.parse_spec`).

    Returns:
        ``{"forward": [...]}``, plus ``"loss"`` in loss mode, ``"gradients"`` when there is
        something to backpropagate, and ``"updated"`` when an ``lr`` applies.
    """
    with dtype_scope("float64"), reference_mode():
        h = Tensor(to_internal(spec.input, spec.input_layout), requires_grad=True)
        steps: list[_Step] = []
        for layer in spec.layers:
            steps.append(_forward(layer, h))
            h = steps[-1].out
        record: Record = {"forward": [_forward_entry(s) for s in steps]}
        last = spec.layers[-1]
        if spec.loss is not None and spec.target is not None:
            loss = F.loss(spec.loss, h, to_internal(spec.target, last.out_layout))
            record["loss"] = loss.item()
            loss.backward()
        elif spec.grad_output is not None:
            h.backward(to_internal(spec.grad_output, last.out_layout))
        else:
            return record
    record["gradients"] = [_gradient_entry(s) for s in steps]
    if spec.lr is not None:
        record["updated"] = [_update_entry(s, spec.lr) for s in steps if s.layer.has_params]
    return record


def _forward_entry(s: _Step) -> Record:
    shape = s.layer.out_shape
    entry: Record = {"layer": s.layer.index}
    if s.z is not None:
        entry["pre_activation"] = _values(s.z, shape)
    entry["output"] = _values(s.out, shape)
    return entry


def _gradient_entry(s: _Step) -> Record:
    layer, shape = s.layer, s.layer.out_shape
    entry: Record = {"layer": layer.index, "d_output": _values(s.out.grad, shape)}
    if s.z is not None:
        entry["d_pre_activation"] = _values(s.z.grad, shape)
    if s.w is not None and layer.weights is not None:
        entry["d_weights"] = _values(s.w.grad, layer.weights.shape)
    if s.b is not None and layer.bias is not None:
        entry["d_bias"] = _values(s.b.grad, layer.bias.shape)
    entry["d_input"] = _values(s.x.grad, layer.in_shape)
    return entry


def _update_entry(s: _Step, lr: float) -> Record:
    """w⁺ = w − lr·dL/dw, from the spec's own arrays (float64), in their given shapes."""
    layer = s.layer
    entry: Record = {"layer": layer.index}
    for key, given, param in (("weights", layer.weights, s.w), ("bias", layer.bias, s.b)):
        if given is None or param is None:
            continue
        grad = np.zeros(given.shape) if param.grad is None else param.grad.reshape(given.shape)
        entry[key] = (given - lr * grad).tolist()
    return entry
