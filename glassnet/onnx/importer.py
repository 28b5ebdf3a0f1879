"""Read an ONNX CNN into a glassnet graph :class:`~glassnet.models.Model`.

ONNX computes in NCHW; glassnet's public layout is NHWC. The imported model therefore takes
(N, H, W, C) batches and its ``input_shape`` is HWC; the tensors between layers need no
conversion (glassnet layers are layout-agnostic about that, see docs/architecture.md). What
the importer tracks for every ONNX tensor is its *layout tag*:

* ``NCHW`` — maps in ONNX's usual order (a Conv's output);
* ``NHWC`` — maps after a ``Transpose`` perm (0, 2, 3, 1): a network exported by glassnet
  flattens in that order, and a leading ``Transpose`` perm (0, 3, 1, 2) marks an NHWC input;
* ``NC11`` — a ``GlobalAveragePool`` result (N, C, 1, 1), held as glassnet's flat (C,);
* ``N11C`` — the same pooled result in channel-last order (a ``ReduceMean`` with keepdims);
* ``NF`` — flat features.

The input's layout is found by dataflow: an NHWC input reaches a ``Transpose`` perm
(0, 3, 1, 2) through any chain of ``Cast``/``Identity`` nodes (Keras writes such no-op casts).
Elementwise constant arithmetic (Keras' BatchNorm as Sub/Mul/Add, a rescaling Mul) and a
``Pad`` are held *pending* on a value and become a layer only where the value is used
(see :mod:`glassnet.onnx.import_affine`).

A ``Flatten`` keeps ONNX's order: of NCHW maps it becomes :class:`FlattenCHW` (C, H, W order),
of NHWC maps glassnet's own ``Flatten`` (H, W, C). Constants (initializers, ``Constant``
nodes and small shape arithmetic such as PyTorch's ``x.view(x.size(0), -1)``) are folded.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from glassnet.errors import GlassnetError
from glassnet.layers import Input
from glassnet.layers.base import Layer
from glassnet.layers.shapes import Shape
from glassnet.onnx._deps import require_onnx
from glassnet.onnx.model import ImportedModel
from glassnet.onnx.nodes import attributes, layer_name, node_label, tensor_array
from glassnet.onnx.values import BATCH, Imported, Value

__all__ = ["BATCH", "Converter", "Imported", "Value", "load_onnx_model"]

class Converter:
    """Walks an ONNX graph once, in its (topological) node order, building glassnet nodes.

    Args:
        proto: the loaded ``onnx.ModelProto``.
        input_shape: HWC (or (F,)) to use where the file's input dims are symbolic.
    """

    def __init__(self, proto: Any, input_shape: Shape | None = None) -> None:
        require_onnx()
        self.proto, self.graph = proto, proto.graph
        self.opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 1)
        self.consts: dict[str, np.ndarray] = {
            t.name: tensor_array(t) for t in self.graph.initializer
        }
        self.values: dict[str, Value] = {}
        self.imported: list[Imported] = []
        self.taken: set[str] = set()
        self.materialized: dict[int, Value] = {}  # id(pending affine) -> the layer it became
        self.consumers = Counter(i for n in self.graph.node for i in n.input if i)
        self.consumers.update(o.name for o in self.graph.output)
        self.index = 0
        self.node: Any = None
        self.input_layer = self._input(input_shape)

    # ----- helpers the op converters use ------------------------------------------------------
    def fail(self, message: str) -> GlassnetError:
        """An error naming the current node and its op."""
        return GlassnetError(
            f"onnx node {node_label(self.node, self.index)} ({self.node.op_type}): {message}"
        )

    def is_const(self, name: str) -> bool:
        """Whether the tensor ``name`` is a (folded) constant."""
        return name in self.consts

    def const(self, i: int, what: str) -> np.ndarray:
        """The current node's input ``i`` as a constant array.

        Raises:
            GlassnetError: if it is computed from the graph input.
        """
        name = self.node.input[i] if i < len(self.node.input) else ""
        if name not in self.consts:
            raise self.fail(f"{what} (input {i}, {name!r}) must be a constant initializer")
        return self.consts[name]

    def optional_const(self, i: int) -> np.ndarray | None:
        """Input ``i`` as a constant, or ``None`` when it is absent."""
        present = i < len(self.node.input) and self.node.input[i]
        return self.const(i, "optional input") if present else None

    def raw(self, i: int = 0) -> Value:
        """Input ``i`` as it is held, pending arithmetic or padding included."""
        name = self.node.input[i]
        if name not in self.values:
            what = "a constant" if name in self.consts else "unknown"
            raise self.fail(f"input {i} ({name!r}) is {what}; expected a computed tensor")
        return self.values[name]

    def value(self, i: int = 0, layouts: tuple[str, ...] = (), pad_ok: bool = False) -> Value:
        """The current node's input ``i`` as a graph tensor, optionally of given layouts.

        Pending arithmetic becomes its layer here (once per tensor); a pending ``Pad`` is
        accepted only where ``pad_ok`` (the Conv or pool that absorbs it).
        """
        from glassnet.onnx.import_affine import materialize

        v = self.raw(i)
        if v.pad is not None and not pad_ok:
            raise self.fail(f"input {i} is zero-padded by a Pad node; a Pad is supported only "
                            "right before a Conv, an AveragePool or a MaxPool after a ReLU")
        if v.affine is not None:
            v = materialize(self, v)
            self.values[self.node.input[i]] = v
        if layouts and v.layout not in layouts:
            raise self.fail(
                f"input {i} is {v.layout} {v.onnx_shape[1:]}; expected {'/'.join(layouts)}"
            )
        return v

    def set_output(self, v: Value | np.ndarray, i: int = 0) -> None:
        """Record the current node's output ``i``."""
        name = self.node.output[i]
        if isinstance(v, Value):
            self.values[name] = v
        else:
            self.consts[name] = np.asarray(v)

    def check_outputs(self, n: int = 1) -> None:
        """Raise if an output beyond the first ``n`` (masks, indices) is used."""
        for o in self.node.output[n:]:
            if o and self.consumers[o]:
                raise self.fail(f"output {o!r} is used; only the first {n} output(s) are supported")

    def call(self, layer: Layer, inputs: Value | list[Value], layout: str) -> Value:
        """Call ``layer`` on ``inputs``, naming it after the node; return the new value."""
        if layer.name is None:
            layer.name = layer_name(self.node.name, self.node.op_type, self.taken)
        args = [v.node for v in inputs] if isinstance(inputs, list) else inputs.node
        try:
            node = layer(args)
        except GlassnetError as exc:
            raise self.fail(str(exc)) from exc
        return Value(node, layout, exclusive=True)

    def keep(self, layer: Layer, **weights: np.ndarray) -> Imported:
        """Remember arrays to copy into ``layer`` after the model is built."""
        entry = Imported(layer, dict(weights))
        self.imported.append(entry)
        return entry

    def value_named(self, name: str) -> Value:
        """The computed tensor ``name`` with any pending arithmetic turned into its layer."""
        from glassnet.onnx.import_affine import materialize

        v = self.values[name]
        if v.pad is not None:
            raise self.fail("the graph output is zero-padded by a Pad node; a Pad is supported "
                            "only right before a Conv, an AveragePool or a MaxPool after a ReLU")
        if v.affine is not None:
            v = self.values[name] = materialize(self, v)
        return v

    # ----- the walk ---------------------------------------------------------------------------
    def _input(self, input_shape: Shape | None) -> Input:
        inits = set(self.consts)
        inputs = [i for i in self.graph.input if i.name not in inits]
        if len(inputs) != 1 or len(self.graph.output) != 1:
            raise GlassnetError(
                f"onnx: the graph has {len(inputs)} inputs and {len(self.graph.output)} "
                "outputs; glassnet models have exactly one of each"
            )
        inp = inputs[0]
        dims = [d.dim_value if d.HasField("dim_value") else None
                for d in inp.type.tensor_type.shape.dim]
        self.file_batch = dims[0] if dims else None
        nhwc = len(dims) == 4 and self._leads_to_nchw(inp.name)
        if len(dims) == 4:
            layout = "NHWC" if nhwc else "NCHW"
            hwc = dims[1:] if nhwc else [dims[2], dims[3], dims[1]]
        elif len(dims) == 2:
            layout, hwc = "NF", dims[1:]
        else:
            raise GlassnetError(f"onnx: input {inp.name!r} has rank {len(dims)}; expected 4 or 2")
        if input_shape is not None:
            if len(input_shape) != len(hwc) or any(
                d is not None and d != s for d, s in zip(hwc[-1:], input_shape[-1:], strict=True)
            ):
                raise GlassnetError(
                    f"onnx: input_shape {list(input_shape)} does not fit the file's input "
                    f"{inp.name!r} {layout} {dims}"
                )
            hwc = list(input_shape)
        if any(d is None or d < 1 for d in hwc):
            raise GlassnetError(
                f"onnx: input {inp.name!r} has symbolic dims {dims}; give input_shape "
                "(--input HxWxC)"
            )
        layer = Input(tuple(hwc), name=inp.name)
        self.taken.add(inp.name)
        self.input_layout = "NF" if layout == "NF" else ("NHWC" if nhwc else "NCHW")
        self.values[inp.name] = Value(layer.node, layout)
        return layer

    def _leads_to_nchw(self, name: str, depth: int = 0) -> bool:
        """Whether ``name`` is an NHWC input, found by dataflow.

        True when every path from it through Cast/Identity/Pad nodes (and arithmetic with a
        constant, a rescaling) ends in a Transpose perm (0, 3, 1, 2).
        """
        users = [n for n in self.graph.node if name in n.input]
        fixed = set(self.consts).union(
            *(n.output for n in self.graph.node if n.op_type == "Constant"))
        if not users or depth > 16:
            return False
        for n in users:
            if n.op_type in ("Cast", "Identity", "Pad") or (
                n.op_type in ("Mul", "Div", "Add", "Sub") and any(i in fixed for i in n.input)
            ):
                if not self._leads_to_nchw(n.output[0], depth + 1):
                    return False
            elif n.op_type != "Transpose" or list(attributes(n).get("perm", [])) != [0, 3, 1, 2]:
                return False
        return True

    def run(self, name: str | None = None) -> ImportedModel:
        """Convert every node and return the built model with the file's weights."""
        from glassnet.onnx.import_ops import CONVERTERS, supported_ops

        for index, node in enumerate(self.graph.node):
            self.index, self.node = index, node
            op = self.node.op_type
            fn = CONVERTERS.get(op) if self.node.domain in ("", "ai.onnx") else None
            if fn is None:
                raise GlassnetError(
                    f"onnx node {node_label(self.node, self.index)}: op "
                    f"{(self.node.domain + '.') if self.node.domain else ''}{op} is not "
                    f"supported; supported ops: {', '.join(supported_ops())}"
                )
            try:
                fn(self)
            except GlassnetError:
                raise
            except (ValueError, TypeError, IndexError, KeyError) as exc:
                # A malformed attribute or operand: name the node rather than crash.
                raise self.fail(f"cannot be read ({type(exc).__name__}: {exc})") from exc
        out_name = self.graph.output[0].name
        if out_name not in self.values:
            raise GlassnetError(f"onnx: the output {out_name!r} is a constant, not computed")
        self.node = next((n for n in self.graph.node if out_name in n.output), self.node)
        out = self.value_named(out_name)
        if out.node is self.input_layer.node:
            raise GlassnetError("onnx: the graph has no layers (its output is its input)")
        model = ImportedModel(self.input_layer, out.node, name=name or self.graph.name or None)
        model.onnx_input_layout, model.onnx_output_layout = self.input_layout, out.layout
        model.build()
        for entry in self.imported:
            for key, arr in entry.weights.items():
                target = entry.layer.weights[key].data
                target[...] = arr.reshape(target.shape)
            for key, arr in entry.buffers.items():
                entry.layer.buffers[key][...] = arr
        return model


def load_onnx_model(path: str | Path, input_shape: Shape | None = None) -> ImportedModel:
    """Read the ONNX file ``path`` into a built glassnet model with its weights.

    Args:
        path: an ``.onnx`` file.
        input_shape: HWC (or (F,)) where the file's spatial dims are symbolic.

    Returns:
        An :class:`ImportedModel`: NHWC input, summary, predict, checkpointable.

    Raises:
        GlassnetError: for an op glassnet does not support (naming the op, the node and the
            supported ops), a malformed or unsupported graph, or a file that is not ONNX.
        FileNotFoundError: if ``path`` does not exist.
    """
    onnx = require_onnx()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ONNX file {path} does not exist")
    try:
        proto = onnx.load(str(path))
    except Exception as exc:  # protobuf raises its own DecodeError
        raise GlassnetError(f"onnx: {path} is not a readable ONNX model ({exc})") from exc
    model = Converter(proto, input_shape).run(name=path.stem)
    model.onnx_source = str(path)
    return model
