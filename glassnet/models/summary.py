"""The model summary: statistics (a JSON-able dict, DESIGN.md §4) and its rich table.

Every number comes from the layers' pure functions of the input shape (through ``arith``), so
the summary needs no arrays. The rows are one per layer call; a shared layer's second call shows
0 parameters so that the columns add up to the totals (its MACs count every call).
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from glassnet.arith import MAC_CONVENTION, activation_memory, param_memory
from glassnet.arith.explain import human_bytes
from glassnet.backend import default_dtype
from glassnet.layers.conv import Conv2D, DepthwiseConv2D
from glassnet.layers.core import Dense
from glassnet.layers.shapes import fmt_shape

if TYPE_CHECKING:
    from glassnet.models.graph import Model


def _si(value: int) -> str:
    """Short decimal form of a big count: ``1135256096 -> '1.14 G'``."""
    for unit, size in (("T", 10**12), ("G", 10**9), ("M", 10**6), ("K", 10**3)):
        if value >= size:
            return f"{value / size:.2f} {unit}"
    return str(value)


def summarize(model: Model, explain: bool = False) -> dict[str, Any]:
    """Return the summary dict of ``model``.

    Keys (DESIGN.md §4): ``model``, ``input_shape``, ``layers`` (each ``name``, ``type``,
    ``output_shape``, ``weights``, ``biases``, ``params``, ``macs``), ``total_params``,
    ``trainable_params``, ``non_trainable_params``, ``total_macs``. Extra keys: per layer
    ``trainable_params``, ``non_trainable_params``, ``flops``, ``inputs`` (the layers feeding
    it), ``shared`` (a repeated call), ``explain`` (with ``explain=True``); overall
    ``total_flops``, ``dtype``, ``bytes_per_value``, ``param_memory_bytes``,
    ``activation_memory_bytes`` (every layer output of one sample), ``input_memory_bytes``,
    ``depth`` (conv and dense layers), ``mac_convention``.
    """
    from glassnet.models.graph import node_input_shape

    dtype = model.dtype or default_dtype()
    nbytes = int(dtype.itemsize)
    seen: set[int] = set()
    rows: list[dict[str, Any]] = []
    act_bytes = 0
    for node in model.nodes[1:]:
        layer, in_shape = node.layer, node_input_shape(node)
        shared = id(layer) in seen
        seen.add(id(layer))
        counts = layer.count_params(in_shape).as_dict()
        if shared:  # its parameters were counted at its first call
            counts = dict.fromkeys(counts, 0)
        macs = layer.count_macs(in_shape)
        act_bytes += int(activation_memory(list(node.shape), nbytes))
        row: dict[str, Any] = {
            "name": layer.label, "type": type(layer).__name__, "output_shape": list(node.shape),
            "weights": counts["weights"], "biases": counts["biases"], "params": counts["params"],
            "macs": int(macs.macs), "trainable_params": counts["trainable_params"],
            "non_trainable_params": counts["non_trainable_params"], "flops": int(macs.flops),
            "inputs": [p.layer.label for p in node.inputs], "shared": shared,
        }
        if explain:
            row["explain"] = layer.explain(in_shape)
        rows.append(row)
    total = sum(r["params"] for r in rows)
    trainable = sum(r["trainable_params"] for r in rows)
    total_macs = sum(r["macs"] for r in rows)
    depth = sum(1 for layer in model.layers if isinstance(layer, DEPTH_TYPES))
    return {
        "model": model.name,
        "input_shape": list(model.input_shape),
        "layers": rows,
        "total_params": total,
        "trainable_params": trainable,
        "non_trainable_params": total - trainable,
        "total_macs": total_macs,
        "total_flops": 2 * total_macs,
        "depth": depth,
        "dtype": dtype.name,
        "bytes_per_value": nbytes,
        "param_memory_bytes": int(param_memory(total, nbytes)),
        "activation_memory_bytes": act_bytes,
        "input_memory_bytes": int(activation_memory(list(model.input_shape), nbytes)),
        "mac_convention": MAC_CONVENTION,
    }


# The layers a network's depth counts (as "AlexNet has 8 layers"), subclasses included.
DEPTH_TYPES = (Conv2D, DepthwiseConv2D, Dense)


def footer_lines(info: dict[str, Any]) -> list[str]:
    """The totals printed under the table."""
    dt = f"{info['dtype']}, {info['bytes_per_value']} B per value"
    macs = info["total_macs"]
    return [
        f"Total params: {info['total_params']:,} ({human_bytes(info['param_memory_bytes'])}, "
        f"{dt})",
        f"Trainable params: {info['trainable_params']:,}",
        f"Non-trainable params: {info['non_trainable_params']:,}",
        f"Total MACs: {macs:,} ({_si(macs)}); FLOPs = 2·MACs = {2 * macs:,} ({_si(2 * macs)})",
        f"Activation memory: {human_bytes(info['activation_memory_bytes'])} per sample "
        f"(every layer output; input {human_bytes(info['input_memory_bytes'])})",
        MAC_CONVENTION,
    ]


def render_summary(info: dict[str, Any], explain: bool = False, width: int | None = None) -> str:
    """Render the summary dict as a plain-text rich table (no colour) plus the totals.

    Args:
        info: from :func:`summarize` (with ``explain=True`` for the formulas).
        explain: append each layer's formulas.
        width: console width; ``None`` renders the table at its natural width.

    Returns:
        The text, lines without trailing spaces.
    """
    from rich import box
    from rich.console import Console
    from rich.table import Table

    graph = any(len(r["inputs"]) != 1 for r in info["layers"]) or any(
        r["inputs"] != [prev["name"]]
        for prev, r in zip(info["layers"], info["layers"][1:], strict=False)
    )
    title = f'Model: "{info["model"]}"  input {fmt_shape(tuple(info["input_shape"]))}'
    table = Table(title=title, box=box.SIMPLE_HEAD, show_footer=True, title_justify="left")
    table.add_column("Layer", footer="Total", no_wrap=True)
    table.add_column("Type", no_wrap=True)
    table.add_column("Output shape", no_wrap=True)
    table.add_column("Param #", justify="right", footer=f"{info['total_params']:,}", no_wrap=True)
    table.add_column("MACs", justify="right", footer=f"{info['total_macs']:,}", no_wrap=True)
    if graph:
        table.add_column("Connected to", no_wrap=True)
    for r in info["layers"]:
        cells = [
            r["name"] + (" (shared)" if r["shared"] else ""), r["type"],
            fmt_shape(tuple(r["output_shape"])), f"{r['params']:,}", f"{r['macs']:,}",
        ]
        table.add_row(*(cells + [", ".join(r["inputs"])] if graph else cells))
    buf = io.StringIO()
    console = Console(
        file=buf, width=width or 400, color_system=None, force_terminal=False,
        legacy_windows=False, highlight=False, emoji=False,
    )
    console.print(table, markup=False)
    lines = [line.rstrip() for line in buf.getvalue().splitlines()]
    lines += footer_lines(info)
    if explain:
        for r in info["layers"]:
            if r.get("explain"):
                lines += ["", f"{r['name']} ({r['type']}) -> {fmt_shape(tuple(r['output_shape']))}"]
                lines += [f"  {line}" for line in r["explain"]]
    return "\n".join(lines)
