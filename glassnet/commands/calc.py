"""``glassnet calc``: one layer's output size and parameter count, with the formulas.

Parses, calls :mod:`glassnet.arith` and prints; no arithmetic here. ``--json`` prints one object
(../shared/DESIGN.md §4), e.g. ``{"output_size": 55, "weights": 34848, "biases": 96,
"params": 34944, "macs": ..., "flops": ..., "explain": [...]}``.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from glassnet import arith


def _padding(text: str) -> int | str | tuple[int, int]:
    """Parse ``--padding``: an int, ``valid``, ``same`` or ``BEFORE,AFTER``.

    Anything else is passed on as given, so that ``arith`` rejects it with its own message.
    """
    parts = text.split(",")
    if all(p.strip().lstrip("-").isdigit() for p in parts):
        if len(parts) == 1:
            return int(parts[0])
        if len(parts) == 2:
            return (int(parts[0]), int(parts[1]))
    return text


_LABELS = {"output_size": "output size", "macs": "MACs", "flops": "FLOPs"}


def _emit(args: argparse.Namespace, title: str, values: dict[str, Any], lines: list[str]) -> int:
    """Print the result: JSON (values + explain lines) or a title and the explain lines."""
    if args.json:
        print(json.dumps({**values, "explain": lines}))
        return 0
    print(title)
    shown = ", ".join(f"{_LABELS.get(key, key)} {value:,}" for key, value in values.items())
    print(f"  {shown}")
    for line in lines:
        print(f"  {line}")
    return 0


def _conv(args: argparse.Namespace) -> int:
    out = arith.conv2d_output(
        args.input, args.kernel, args.stride, _padding(args.padding), args.dilation
    )
    params = arith.conv2d_params(
        args.kernel, args.kernel, args.channels, args.filters, args.groups, not args.no_bias
    )
    macs = arith.conv2d_macs(
        out, out, args.kernel, args.kernel, args.channels, args.filters, args.groups
    )
    values = {
        "output_size": int(out),
        "weights": int(params.weights),
        "biases": int(params.biases),
        "params": int(params.params),
        "macs": int(macs.macs),
        "flops": int(macs.flops),
    }
    title = (
        f"Conv2D: input {args.input}×{args.input}×{args.channels}, kernel "
        f"{args.kernel}×{args.kernel}, stride {args.stride}, padding {args.padding} -> output "
        f"{int(out)}×{int(out)}×{args.filters}"
    )
    return _emit(args, title, values, [*out.lines(), *params.explain(), *macs.explain()])


def _pool(args: argparse.Namespace) -> int:
    out = arith.pool2d_output(
        args.input, args.pool, args.stride, _padding(args.padding), args.ceil_mode
    )
    stride = args.pool if args.stride is None else args.stride
    title = (
        f"Pool2D: input {args.input}×{args.input}, pool {args.pool}×{args.pool}, stride {stride}, "
        f"padding {args.padding}{', ceil_mode' if args.ceil_mode else ''} -> output "
        f"{int(out)}×{int(out)}"
    )
    lines = [*out.lines(), "params = 0 (pooling has no parameters)"]
    return _emit(args, title, {"output_size": int(out), "params": 0}, lines)


def _dense(args: argparse.Namespace) -> int:
    params = arith.dense_params(args.inputs, args.units, not args.no_bias)
    macs = arith.dense_macs(args.inputs, args.units)
    values = {
        "weights": int(params.weights),
        "biases": int(params.biases),
        "params": int(params.params),
        "macs": int(macs.macs),
        "flops": int(macs.flops),
    }
    title = f"Dense: {args.inputs} inputs -> {args.units} units"
    return _emit(args, title, values, [*params.explain(), *macs.explain()])


_RECURRENT = {
    "rnn": ("SimpleRNN", arith.simple_rnn_params),
    "lstm": ("LSTM", arith.lstm_params),
    "gru": ("GRU", arith.gru_params),
}


def _recurrent(args: argparse.Namespace) -> int:
    name, count = _RECURRENT[args.layer]
    params = count(args.inputs, args.units, args.outputs, args.convention)
    values = {
        "weights": int(params.weights),
        "biases": int(params.biases),
        "params": int(params.params),
    }
    outputs = f", {args.outputs} outputs" if args.outputs is not None else ""
    title = f"{name}: n = {args.inputs} inputs, k = {args.units} units{outputs}"
    return _emit(args, title, values, params.explain())


def register(subparsers: Any) -> None:
    """Add the ``calc`` command and its ``conv|pool|dense|rnn|lstm|gru`` subcommands."""
    calc = subparsers.add_parser(
        "calc",
        help="one layer's output size and parameter count, with the formulas",
        description="Compute one layer's output size, weights, biases, parameters and MACs, "
        "each shown with its formula and the numbers substituted.",
    )
    layers = calc.add_subparsers(dest="layer", metavar="LAYER", required=True)

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = layers.add_parser(name, help=help_text)
        parser.add_argument("--json", action="store_true", help="print one JSON object")
        return parser

    pad_help = "an int, valid, same (TensorFlow rule) or BEFORE,AFTER (default 0)"
    conv = add("conv", "a 2-D convolution on a square input")
    conv.add_argument("--input", type=int, required=True, help="input height = width I")
    conv.add_argument("--kernel", type=int, required=True, help="kernel height = width K")
    conv.add_argument("--stride", type=int, default=1, help="stride S (default 1)")
    conv.add_argument("--padding", default="0", help=pad_help)
    conv.add_argument("--dilation", type=int, default=1, help="dilation D (default 1)")
    conv.add_argument("--channels", type=int, required=True, help="input channels C_in")
    conv.add_argument("--filters", type=int, required=True, help="filters N")
    conv.add_argument("--groups", type=int, default=1, help="channel groups (default 1)")
    conv.add_argument("--no-bias", action="store_true", help="the filters have no bias")
    conv.set_defaults(func=_conv)

    pool = add("pool", "a pooling window on a square input")
    pool.add_argument("--input", type=int, required=True, help="input height = width I")
    pool.add_argument("--pool", type=int, required=True, help="window size K")
    pool.add_argument("--stride", type=int, default=None, help="stride S (default: the pool)")
    pool.add_argument("--padding", default="0", help=pad_help)
    pool.add_argument("--ceil-mode", action="store_true", help="round the window count up")
    pool.set_defaults(func=_pool)

    dense = add("dense", "a dense (fully connected) layer")
    dense.add_argument("--inputs", type=int, required=True, help="input units n_in")
    dense.add_argument("--units", type=int, required=True, help="output units n_out")
    dense.add_argument("--no-bias", action="store_true", help="the units have no bias")
    dense.set_defaults(func=_dense)

    for key, (name, _) in _RECURRENT.items():
        rec = add(key, f"{name} parameters (n inputs, k units, m outputs)")
        rec.add_argument("--inputs", type=int, required=True, help="inputs per step n")
        rec.add_argument("--units", type=int, required=True, help="units k")
        rec.add_argument("--outputs", type=int, default=None, help="dense output units m")
        rec.add_argument(
            "--convention",
            default="keras",
            help="keras (one bias per gate set, default) or pytorch (b_ih and b_hh)",
        )
        rec.set_defaults(func=_recurrent)
