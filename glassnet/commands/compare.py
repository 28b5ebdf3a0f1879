"""``glassnet compare MODEL... [--input HxWxC] [--json]``: one row per model.

Columns: depth (conv and dense layers), parameters, MACs and activation memory per sample.
``--json`` prints ``{"models": [{"model", "input_shape", "depth", "total_params",
"trainable_params", "total_macs", "activation_memory_bytes"}, ...]}``.
"""

from __future__ import annotations

import argparse
import io
import json
from typing import Any

from glassnet.arith.explain import human_bytes
from glassnet.commands.summary import load_model_arg

_KEYS = ("model", "input_shape", "depth", "total_params", "trainable_params", "total_macs",
         "activation_memory_bytes")


def compare(specs: list[str], input_text: str | None = None) -> list[dict[str, Any]]:
    """Return one row per MODEL (the keys of ``--json``)."""
    rows = []
    for spec in specs:
        info = load_model_arg(spec, input_text).summary(print_fn=None)
        assert info is not None
        rows.append({key: info[key] for key in _KEYS})
    return rows


def render(rows: list[dict[str, Any]]) -> str:
    """The rows as a plain-text table."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD)
    table.add_column("Model", no_wrap=True)
    table.add_column("Input", no_wrap=True)
    for col in ("Depth", "Params", "Trainable", "MACs", "Activations"):
        table.add_column(col, justify="right", no_wrap=True)
    for r in rows:
        table.add_row(
            r["model"], "×".join(str(s) for s in r["input_shape"]), str(r["depth"]),
            f"{r['total_params']:,}", f"{r['trainable_params']:,}", f"{r['total_macs']:,}",
            human_bytes(r["activation_memory_bytes"]),
        )
    buf = io.StringIO()
    Console(file=buf, width=400, color_system=None, highlight=False).print(table)
    lines = [line.rstrip() for line in buf.getvalue().splitlines()]
    lines.append("Depth: conv and dense layers. Activations: every layer output of one sample.")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Print the comparison."""
    rows = compare(args.models, args.input)
    print(json.dumps({"models": rows}) if args.json else render(rows))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``compare`` subcommand."""
    p = subparsers.add_parser(
        "compare", help="compare models: depth, parameters, MACs, activation memory",
        description="One row per model (zoo names or model files).",
    )
    p.add_argument("models", metavar="MODEL", nargs="+", help="zoo names or model files")
    p.add_argument("--input", metavar="HxWxC", help="input shape for every model")
    p.add_argument("--json", action="store_true", help="print only the JSON object")
    p.set_defaults(func=run)
