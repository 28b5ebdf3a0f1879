"""Reading ONNX nodes: attributes as Python values, names for errors and for layers."""

from __future__ import annotations

from typing import Any

import numpy as np

from glassnet.errors import GlassnetError
from glassnet.limits import check_memory, clip, element_count
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
            v = tensor_array(v)
        out[a.name] = v
    return out


def tensor_array(t: Any) -> np.ndarray:
    """An initializer or attribute tensor as an array, its declared shape checked first.

    Raises:
        GlassnetError: naming the tensor, if its declared shape needs more than the memory
            budget or its data does not hold that shape (e.g. an initializer cut short).
    """
    onnx = require_onnx()
    dims = [int(d) for d in t.dims]
    where = f"ONNX tensor {clip(t.name)!r} (declared shape {clip(dims)})"
    try:
        itemsize = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(t.data_type)).itemsize
    except (KeyError, TypeError, ValueError):
        itemsize = 8  # an unknown type is refused by to_array below; size it generously
    check_memory(where, element_count(dims) * itemsize)
    try:
        return onnx.numpy_helper.to_array(t)  # type: ignore[no-any-return]
    except (ValueError, TypeError) as exc:
        raise GlassnetError(f"{where}: its data does not fill that shape ({clip(exc)})") from None


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
