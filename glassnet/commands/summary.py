"""``glassnet summary MODEL [--input HxWxC] [--explain] [--json]``: the layer table of a model.

MODEL is a zoo name (``glassnet summary alexnet``) or a YAML/JSON model file. ``--json`` prints
only the summary object of DESIGN.md §4.
"""

from __future__ import annotations

import argparse
import json
import re
from typing import TYPE_CHECKING

from glassnet.errors import GlassnetError
from glassnet.limits import check_memory, clip, element_count

if TYPE_CHECKING:  # the model stack (and numba under it) loads only when a command runs
    from glassnet.models import Model


def parse_input_shape(text: str) -> tuple[int, ...]:
    """Parse ``227x227x3`` (or ``227×227×3``, ``227,227,3``, ``784``) into a shape.

    Raises:
        GlassnetError: for anything but 1 or 3 positive ints, or a sample over the memory budget.
    """
    parts = re.split(r"[x×,]", text.strip().lower())
    if len(parts) not in (1, 3) or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise GlassnetError(
            f"--input {clip(text)!r} is invalid; expected HxWxC like 227x227x3 (or F like 784)"
        )
    shape = tuple(int(p) for p in parts)
    # One float32 sample of this shape must fit before any model is built for it.
    check_memory(f"--input {clip(text)}: one sample", element_count(shape) * 4)
    return shape


def load_model_arg(spec: str, input_text: str | None = None) -> Model:
    """Return the model MODEL names (zoo name or model file), built for ``--input`` if given.

    Raises:
        GlassnetError: if it is neither (listing the zoo names), or the file is bad.
    """
    from glassnet.models.modelfile import check_model_memory
    from glassnet.training.resolve import resolve_model

    shape = parse_input_shape(input_text) if input_text else None
    model = resolve_model(spec, input_shape=shape)
    check_model_memory(model, f"MODEL {clip(spec)}")
    return model  # type: ignore[no-any-return]


def run(args: argparse.Namespace) -> int:
    """Print the table (or the JSON object) of one model."""
    model = load_model_arg(args.model, args.input)
    info = model.summary(explain=args.explain, print_fn=None)
    assert info is not None
    if args.json:
        print(json.dumps(info))
        return 0
    from glassnet.models.summary import render_summary

    print(render_summary(info, explain=args.explain))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``summary`` subcommand."""
    p = subparsers.add_parser(
        "summary", help="layer table of a model: output shapes, parameters, MACs",
        description="Print a model's layer table (name, type, output shape, parameters, MACs) "
        "and totals. MODEL is a zoo name or a YAML/JSON model file.",
    )
    p.add_argument("model", metavar="MODEL", help="zoo name (e.g. alexnet) or model file")
    p.add_argument("--input", metavar="HxWxC", help="input shape, e.g. 227x227x3")
    p.add_argument("--explain", action="store_true", help="show each layer's formulas")
    p.add_argument("--json", action="store_true", help="print only the JSON object")
    p.set_defaults(func=run)
