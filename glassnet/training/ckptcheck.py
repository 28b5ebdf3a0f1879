"""Does a checkpoint's content fit its model? Checked from the array headers, before any data.

Two checks, each a one-line :class:`~glassnet.errors.GlassnetError`:

* :func:`check_declared_sizes`, *before* the model is built: each layer's parameter count, from
  the ``glassnet.arith`` formulas its ``count_params`` uses, must equal the number of values the
  file holds for that layer. Metadata that declares a model far larger than the file's arrays
  (asking for gigabytes of weights from a small file) fails here, before anything is allocated.
* :func:`check_arrays`, after building: every parameter and buffer of the model is in the file
  with its exact shape and dtype; nothing in the file is left over.

:func:`check_finite` then refuses NaN or Inf values, naming the arrays.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from glassnet.errors import GlassnetError
from glassnet.models.graph import Model, node_input_shape
from glassnet.training.ckptfile import ArrayInfo, listing, shape_text

# w/<layer index>/<name> weights, b/... buffers, o/<parameter index>/<name> optimizer state.
KEY = re.compile(r"(?P<kind>[wbo])/(?P<index>\d{1,9})/(?P<name>.+)")


def model_arrays(model: Model) -> dict[str, tuple[str, Any]]:
    """Return ``{file key: (description, array)}`` for every weight and buffer of ``model``."""
    out: dict[str, tuple[str, Any]] = {}
    for i, layer in enumerate(model.layers):
        for key, p in layer.weights.items():
            out[f"w/{i}/{key}"] = (f"layer {layer.label!r} {key}", p.data)
        for key, buf in getattr(layer, "buffers", {}).items():
            out[f"b/{i}/{key}"] = (f"layer {layer.label!r} {key}", buf)
    return out


def check_declared_sizes(path: Path, model: Model, headers: dict[str, ArrayInfo]) -> None:
    """Refuse an unbuilt ``model`` whose layers need other sizes than the file's arrays.

    Raises:
        GlassnetError: naming the layers whose declared parameter count differs from the number
            of values the file holds for them, with both numbers.
    """
    held: dict[int, int] = {}
    for key, info in headers.items():
        m = KEY.fullmatch(key)
        if m and m["kind"] in "wb":
            held[int(m["index"])] = held.get(int(m["index"]), 0) + info.size
    first_use = {}
    for node in model.nodes[1:]:
        first_use.setdefault(id(node.layer), node)
    wrong: list[str] = []
    declared_total = 0
    for i, layer in enumerate(model.layers):
        node = first_use.get(id(layer))
        if node is None:
            continue
        declared = int(layer.count_params(node_input_shape(node)).params)
        declared_total += declared
        # A layer type without a count_params formula declares 0: the exact check after
        # building covers it (its arrays are as small as the file's).
        if declared and declared != held.get(i, 0):
            wrong.append(f"{layer.label!r} declares {declared:,} values, the file holds "
                         f"{held.get(i, 0):,}")
    if wrong:
        nbytes = declared_total * np.dtype(model.dtype or "float32").itemsize
        raise GlassnetError(
            f"checkpoint {path}: its architecture does not match its arrays ({listing(wrong)}; "
            f"{declared_total:,} parameters, {nbytes / 2**30:.3g} GiB declared in all); "
            "the model was not built")


def check_arrays(path: Path, model: Model, headers: dict[str, ArrayInfo]) -> None:
    """Every weight and buffer of the built ``model`` in the file, same shape and dtype.

    Raises:
        GlassnetError: one line naming what is missing, what is extra (no matching weight) and
            what has the wrong shape or dtype (lists truncated with a count).
    """
    expected = model_arrays(model)
    n_params = len(model.parameters())
    wrong: list[str] = []
    extra: list[str] = []
    for key, info in headers.items():
        if key == "meta":
            continue
        m = KEY.fullmatch(key)
        if m and m["kind"] == "o":
            if int(m["index"]) >= n_params or info.dtype.kind != "f":
                extra.append(repr(key))
            continue
        if key not in expected:
            extra.append(repr(key))
            continue
        what, data = expected[key]
        if info.shape != data.shape:
            wrong.append(f"{what} has shape {shape_text(info.shape)} in the file but the model "
                         f"expects {shape_text(data.shape)}")
        elif info.dtype != data.dtype:
            wrong.append(f"{what} is {info.dtype} in the file but the model expects "
                         f"{data.dtype}")
    missing = [f"{what} {shape_text(data.shape)}" for key, (what, data) in expected.items()
               if key not in headers]
    parts = []
    if wrong:
        parts.append("; ".join(wrong[:2]) + (f" (and {len(wrong) - 2} more arrays of the "
                                              "wrong shape or dtype)" if len(wrong) > 2 else ""))
    if extra:
        parts.append(f"{'entry' if len(extra) == 1 else 'entries'} {listing(extra)} "
                     f"{'has' if len(extra) == 1 else 'have'} no matching weight in the model")
    if missing:
        parts.append(f"missing from the file: {listing(missing)}")
    if parts:
        raise GlassnetError(f"checkpoint {path}: " + "; ".join(parts))


def check_finite(path: Path, arrays: dict[str, Any], names: dict[str, str]) -> None:
    """Refuse NaN or Inf in any of ``arrays`` (file key -> array), naming them.

    Raises:
        GlassnetError: listing the arrays with non-finite values and how many each has.
    """
    bad = []
    for key, arr in arrays.items():
        count = int(arr.size - np.count_nonzero(np.isfinite(arr)))
        if count:
            bad.append(f"{names.get(key, repr(key))} ({count:,} of {arr.size:,})")
    if bad:
        raise GlassnetError(f"checkpoint {path}: non-finite weights (NaN or Inf) in "
                            f"{listing(bad)}; refusing to load them")
