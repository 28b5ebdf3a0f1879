"""Reading ONNX nodes: attributes as Python values, names for errors and for layers."""

from __future__ import annotations

from typing import Any

from glassnet.onnx._deps import require_onnx


def node_label(node: Any, index: int) -> str:
    """How errors name an ONNX node: its name, else its position."""
    return repr(node.name) if node.name else f"#{index}"


def attributes(node: Any) -> dict[str, Any]:
    """The node's attributes as Python values (strings decoded, tensors as arrays)."""
    onnx = require_onnx()
    out: dict[str, Any] = {}
    for a in node.attribute:
        v = onnx.helper.get_attribute_value(a)
        if isinstance(v, bytes):
            v = v.decode()
        elif isinstance(v, onnx.TensorProto):
            v = onnx.numpy_helper.to_array(v)
        out[a.name] = v
    return out


def layer_name(raw: str, op: str, taken: set[str]) -> str | None:
    """A readable, unique layer name from an ONNX node name.

    PyTorch names nodes by module scope, ``/layer1/layer1.0/conv1/Conv``; this gives the module
    path ``layer1.0.conv1``. A name already taken gets ``.op`` (then a number) appended;
    unnamed nodes get glassnet's automatic names.
    """
    parts = [p for p in raw.split("/") if p]
    if not parts:
        return None
    op_like = parts[-1] == op or parts[-1].startswith(op + "_")  # "Conv", "Relu_1"
    base = ""
    for p in parts[:-1] if op_like else parts:
        base = p if not base or p.startswith(base + ".") else f"{base}.{p}"
    base = base or parts[-1].lower()
    name, k = base, 1
    if name in taken:
        name = f"{base}.{op.lower()}"
    while name in taken:
        name, k = f"{base}.{op.lower()}_{k}", k + 1
    taken.add(name)
    return name
