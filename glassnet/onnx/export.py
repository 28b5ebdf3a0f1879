"""Write a glassnet model as an ONNX graph (weights included, dynamic batch, NHWC input).

The graph takes the batch as glassnet shows it, (N, H, W, C), and starts with a ``Transpose``
to ONNX's NCHW; conv kernels go from ``[KH, KW, C_in/groups, F]`` to ``[F, C_in/groups, KH,
KW]``, dense kernels stay ``[in, out]`` (``Gemm`` without transB). Keras' ``Flatten`` orders
values H, W, C, so it is written as a ``Transpose`` back to NHWC followed by ``Flatten``: the
first Dense keeps its rows and the graph reads like the glassnet model (choice recorded here;
the alternative, permuting that Dense's rows, would hide the layout in the weights). Map
outputs are transposed back to NHWC too, so the ONNX output equals ``model.predict``.
Activations fused into Conv2D/Dense become their own nodes; Dropout is omitted (inference).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from glassnet import layers as L
from glassnet.arith.geometry import resolve_padding
from glassnet.errors import GlassnetError
from glassnet.fileio import write_bytes
from glassnet.layers.base import Layer, Node
from glassnet.models.graph import Model, node_input_shape
from glassnet.onnx._deps import require_onnx
from glassnet.onnx.layers import FlattenCHW, LeakyReLU

MIN_OPSET = 13  # Softmax over one axis and Clip's min/max inputs
DEFAULT_OPSET = 17
NCHW_AXIS = {1: 2, 2: 3, 3: 1}  # public NHWC axis -> ONNX NCHW axis (maps)


class _Graph:
    """Collects nodes and initializers (written straight into the graph) with unique names."""

    def __init__(self, proto: Any) -> None:
        self.onnx = require_onnx()
        self.proto = proto  # the ModelProto being filled: no copies of the weights later
        self.nodes: list[Any] = []
        self.inits: set[str] = set()
        self.used: set[str] = set()

    def unique(self, name: str) -> str:
        out, k = name, 1
        while out in self.used:
            out, k = f"{name}_{k}", k + 1
        self.used.add(out)
        return out

    def init(self, name: str, array: Any) -> str:
        """Add a float32 initializer once (a shared layer's weights are written once)."""
        if name not in self.inits:
            self.inits.add(name)
            arr = np.asarray(array, dtype="<f4")
            t = self.proto.graph.initializer.add()
            t.name, t.data_type = name, self.onnx.TensorProto.FLOAT
            t.dims.extend(arr.shape)
            t.raw_data = arr.tobytes()
        return name

    def op(self, op: str, inputs: list[str], name: str, **attrs: Any) -> str:
        """Add one node; return its output's name."""
        node_name = self.unique(name)
        self.nodes.append(self.onnx.helper.make_node(op, inputs, [node_name], node_name, **attrs))
        return node_name


def _activation(g: _Graph, act: str | None, x: str, maps: bool, name: str) -> str:
    """Append the nodes of a glassnet activation by name."""
    if act is None or act == "linear":
        return x
    if act == "relu6":
        return _clip(g, x, 6.0, name)
    simple = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh"}
    if act in simple:
        return g.op(simple[act], [x], f"{name}/{act}")
    if act == "leaky_relu":
        return g.op("LeakyRelu", [x], f"{name}/{act}", alpha=0.2)  # glassnet's slope
    if act == "softmax":
        return g.op("Softmax", [x], f"{name}/softmax", axis=1 if maps else -1)
    raise GlassnetError(f"export: activation {act!r} of {name} has no ONNX conversion")


def _clip(g: _Graph, x: str, top: float | None, name: str) -> str:
    if top is None:
        return g.op("Relu", [x], f"{name}/relu")
    lo, hi = g.init(f"{name}.min", np.float32(0)), g.init(f"{name}.max", np.float32(top))
    return g.op("Clip", [x, lo, hi], f"{name}/clip")


def _pads(
    layer: Any, shape: tuple[int, ...], kernel: Any, strides: Any, dilation: Any
) -> list[int]:
    """ONNX pads [top, left, bottom, right] of a glassnet padding spec at input ``shape``."""
    (t, b), (left, r) = resolve_padding(layer.padding, shape[:2], kernel, strides, dilation,
                                        op=layer.label)
    return [t, left, b, r]


def _axis(axis: int, rank: int, maps: bool) -> int:
    """A public (NHWC, batch included) axis as the ONNX axis."""
    axis %= rank
    return NCHW_AXIS.get(axis, axis) if maps else axis


def _layer(g: _Graph, node: Node, xs: list[str], maps: bool) -> tuple[str, bool]:
    """Append the nodes of one layer call; return its output name and whether it is maps."""
    layer: Layer = node.layer
    name, shape, x = layer.label, node_input_shape(node), xs[0]
    w = {k: p.data for k, p in layer.weights.items()}
    if isinstance(layer, L.Conv2D | L.DepthwiseConv2D):
        kernel = np.asarray(w["kernel"]).transpose(3, 2, 0, 1)
        groups = layer.groups if isinstance(layer, L.Conv2D) else shape[2]
        inputs = [x, g.init(f"{name}.kernel", kernel)]
        if "bias" in w:
            inputs.append(g.init(f"{name}.bias", w["bias"]))
        y = g.op("Conv", inputs, name, kernel_shape=list(layer.kernel_size),
                 strides=list(layer.strides), dilations=list(layer.dilation_rate), group=groups,
                 pads=_pads(layer, shape, layer.kernel_size, layer.strides, layer.dilation_rate))
        return _activation(g, layer.activation, y, True, name), True
    if isinstance(layer, L.Dense):
        inputs = [x, g.init(f"{name}.kernel", w["kernel"])]
        if "bias" in w:
            inputs.append(g.init(f"{name}.bias", w["bias"]))
        return _activation(g, layer.activation, g.op("Gemm", inputs, name), False, name), False
    if isinstance(layer, L.MaxPool2D | L.AvgPool2D):
        k, s = layer.pool_size, layer.window_strides
        attrs: dict[str, Any] = {"kernel_shape": list(k), "strides": list(s),
                                 "pads": _pads(layer, shape, k, s, (1, 1)),
                                 "ceil_mode": int(layer.ceil_mode)}
        if isinstance(layer, L.AvgPool2D):
            attrs["count_include_pad"] = int(layer.count_include_pad)
        op = "MaxPool" if isinstance(layer, L.MaxPool2D) else "AveragePool"
        return g.op(op, [x], name, **attrs), True
    if isinstance(layer, L.GlobalAvgPool2D):
        pooled = g.op("GlobalAveragePool", [x], name)
        return g.op("Flatten", [pooled], f"{name}/flatten", axis=1), False
    if isinstance(layer, L.Flatten):
        if maps and not isinstance(layer, FlattenCHW):  # Keras order: H, W, C
            x = g.op("Transpose", [x], f"{name}/to_nhwc", perm=[0, 2, 3, 1])
        return (g.op("Flatten", [x], name, axis=1) if maps else x), False
    if isinstance(layer, L.Dropout):
        return x, maps
    if isinstance(layer, L.BatchNormalization):
        b = layer.buffers
        inputs = [x] + [g.init(f"{name}.{k}", v) for k, v in (
            ("gamma", w["gamma"]), ("beta", w["beta"]), ("moving_mean", b["moving_mean"]),
            ("moving_variance", b["moving_variance"]))]
        return g.op("BatchNormalization", inputs, name, epsilon=layer.epsilon,
                    momentum=layer.momentum), maps
    if isinstance(layer, L.ReLU):
        return _clip(g, x, layer.max_value, name), maps
    if isinstance(layer, LeakyReLU):
        return g.op("LeakyRelu", [x], name, alpha=layer.alpha), maps
    if isinstance(layer, L.Activation):
        return _activation(g, layer.activation, x, maps, name), maps
    if isinstance(layer, L.Softmax):
        return g.op("Softmax", [x], name, axis=_axis(layer.axis, 4 if maps else 2, maps)), maps
    if isinstance(layer, L.Add):
        y = x
        for i, other in enumerate(xs[1:]):
            y = g.op("Add", [y, other], name if i == len(xs) - 2 else f"{name}/{i}")
        return y, maps
    if isinstance(layer, L.Concatenate):
        return g.op("Concat", xs, name, axis=_axis(layer.axis, 4 if maps else 2, maps)), maps
    if isinstance(layer, L.SeparableConv2D | L.ZeroPadding2D | L.GlobalMaxPool2D | L.Reshape
                  | L.Rescaling):
        return _keras_layer(g, layer, shape, x, maps)
    raise GlassnetError(
        f"export: layer {name!r} of type {type(layer).__name__} has no ONNX conversion"
    )


def _keras_layer(g: _Graph, layer: Any, shape: Any, x: str, maps: bool) -> tuple[str, bool]:
    """The layers Keras files bring (glassnet/keras/): each as the ONNX ops it computes."""
    name, w = layer.label, {k: p.data for k, p in layer.weights.items()}
    if isinstance(layer, L.SeparableConv2D):
        dw = g.op("Conv", [x, g.init(f"{name}.depthwise_kernel",
                                     w["depthwise_kernel"].transpose(3, 2, 0, 1))],
                  f"{name}/depthwise", kernel_shape=list(layer.kernel_size),
                  strides=list(layer.strides), dilations=list(layer.dilation_rate),
                  group=shape[2], pads=_pads(layer, shape, layer.kernel_size, layer.strides,
                                             layer.dilation_rate))
        inputs = [dw, g.init(f"{name}.pointwise_kernel",
                             w["pointwise_kernel"].transpose(3, 2, 0, 1))]
        if "bias" in w:
            inputs.append(g.init(f"{name}.bias", w["bias"]))
        return _activation(g, layer.activation, g.op("Conv", inputs, name), True, name), True
    if isinstance(layer, L.ZeroPadding2D):
        (t, b), (left, r) = layer.padding
        pads = np.array([0, 0, t, left, 0, 0, b, r], dtype=np.int64)
        return g.op("Pad", [x, _int64(g, f"{name}.pads", pads)], name), True
    if isinstance(layer, L.GlobalMaxPool2D):
        return g.op("Flatten", [g.op("GlobalMaxPool", [x], name)], f"{name}/flatten"), False
    if isinstance(layer, L.Rescaling):
        y = g.op("Mul", [x, g.init(f"{name}.scale", np.float32(layer.scale))], f"{name}/scale")
        return g.op("Add", [y, g.init(f"{name}.offset", np.float32(layer.offset))], name), maps
    # Reshape: in Keras' (row-major H, W, C) order, so through NHWC.
    if maps:
        x = g.op("Transpose", [x], f"{name}/to_nhwc", perm=[0, 2, 3, 1])
    target = layer.compute_output_shape(shape)
    y = g.op("Reshape", [x, _int64(g, f"{name}.shape", np.array([0, *target], np.int64))], name)
    if len(target) == 3:
        return g.op("Transpose", [y], f"{name}/to_nchw", perm=[0, 3, 1, 2]), True
    return y, False


def _int64(g: _Graph, name: str, array: np.ndarray) -> str:
    """Add an int64 initializer (pads, shapes); ``_Graph.init`` writes float32 only."""
    g.proto.graph.initializer.append(g.onnx.numpy_helper.from_array(array, name))
    return name


def _check_opset(opset: Any) -> None:
    """Raise unless ``opset`` is one the installed ``onnx`` knows, 13 or newer."""
    newest = require_onnx().defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, int) or not MIN_OPSET <= opset <= newest:
        raise GlassnetError(
            f"export: opset={opset!r} is out of range; expected {MIN_OPSET}..{newest}"
        )


def _build(model: Model, opset: int) -> Any:
    """The unchecked ``onnx.ModelProto`` of ``model``."""
    onnx = require_onnx()
    _check_opset(opset)
    model.build()
    h = onnx.helper
    proto = onnx.ModelProto()
    g = _Graph(proto)
    maps = len(model.input_shape) == 3
    x, out = g.unique("input"), g.unique("output")  # reserved: layers may use these names
    names: dict[int, tuple[str, bool]] = {
        model.input_node.uid: (g.op("Transpose", [x], "input/to_nchw", perm=[0, 3, 1, 2])
                               if maps else x, maps)}
    for node in model.nodes[1:]:
        xs = [names[p.uid][0] for p in node.inputs]
        names[node.uid] = _layer(g, node, xs, names[node.inputs[0].uid][1])
    y, maps = names[model.output_node.uid]
    if maps:
        y = g.op("Transpose", [y], "output/to_nhwc", perm=[0, 2, 3, 1])
    if y == x:
        raise GlassnetError(f"export: model {model.name!r} has no layers")
    for n in g.nodes:  # name the output tensor "output"
        n.output[:] = [out if o == y else o for o in n.output]
        n.input[:] = [out if i == y else i for i in n.input]
    graph = proto.graph
    graph.name = model.name
    graph.node.extend(g.nodes)
    graph.input.append(h.make_tensor_value_info(x, onnx.TensorProto.FLOAT,
                                                ["N", *model.input_shape]))
    graph.output.append(h.make_tensor_value_info(out, onnx.TensorProto.FLOAT,
                                                 ["N", *model.output_shape]))
    proto.opset_import.append(h.make_opsetid("", opset))
    proto.ir_version = h.find_min_ir_version_for(list(proto.opset_import))
    proto.producer_name = "glassnet"
    proto.doc_string = (f"glassnet {model.name}: input NHWC (N, "
                        f"{', '.join(map(str, model.input_shape))}), float32")
    return proto


def to_onnx(model: Model, opset: int = DEFAULT_OPSET) -> Any:
    """Return ``model`` as a checked ``onnx.ModelProto`` (built first if needed).

    Args:
        model: a glassnet model (Sequential or graph).
        opset: the ONNX opset, from 13 to the installed ``onnx``'s newest.

    Raises:
        GlassnetError: for an opset out of range or a layer without an ONNX conversion.
    """
    proto = _build(model, opset)
    require_onnx().checker.check_model(proto, full_check=True)
    return proto


def export_onnx(model: Model, path: str | os.PathLike[str], opset: int = DEFAULT_OPSET) -> Path:
    """Write ``model`` to ``path`` as ONNX, checked, written atomically (see ``glassnet.fileio``).

    Returns:
        The path written.

    Raises:
        GlassnetError: see :func:`to_onnx`.
    """
    data = _build(model, opset).SerializeToString()  # serialized once, checked as bytes
    require_onnx().checker.check_model(data, full_check=True)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes(path, data)
    return path
