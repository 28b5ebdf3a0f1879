"""``glassnet export CHECKPOINT_OR_MODEL --onnx OUT.onnx [--opset N] [--input HxWxC]``.

Writes an ONNX graph with the weights (see :mod:`glassnet.onnx.export` for the layout
choices): the input is NHWC (N, H, W, C) as glassnet shows it, the batch dimension is dynamic,
and the file is checked with ``onnx.checker`` before it is written (atomically).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from glassnet.commands import argtypes
from glassnet.errors import GlassnetError

EPILOG = """\
examples:
  glassnet export runs/keras_mnist_convnet-mnist-5k/model.npz --onnx mnist.onnx
  glassnet export resnet18 --input 64x64x3 --onnx resnet18.onnx   # random weights (seed 0)
  glassnet export model.yaml --onnx model.onnx --opset 13
"""


def _checkpoint_model(path: Path) -> Any:
    """A checkpoint's model: an imported ONNX graph or any other glassnet checkpoint."""
    from glassnet.onnx.graphconfig import FORMAT
    from glassnet.training.checkpoint import load_checkpoint
    from glassnet.training.ckptfile import read_headers, read_meta
    from glassnet.training.imported import load_imported

    # Validated like any checkpoint: a bad file is one GlassnetError line, never a traceback.
    headers = read_headers(path)  # before np.load: a non-zip file would be tried as a pickle
    with np.load(path, allow_pickle=False) as files:
        meta = read_meta(path, files, headers)
    config = meta["architecture"].get("config")
    if isinstance(config, dict) and config.get("format") == FORMAT:
        return load_imported(path)
    return load_checkpoint(path).model


def load_source(spec: str, input_text: str | None, seed: int) -> tuple[Any, str]:
    """Return the model to export and where its weights come from.

    Raises:
        GlassnetError: ``--input`` with a checkpoint, or a MODEL that is none of the kinds.
    """
    from glassnet.commands.summary import load_model_arg, parse_input_shape
    from glassnet.training.resolve import KERAS_SUFFIXES

    path = Path(spec)
    if path.suffix == ".npz" and path.is_file():
        if input_text:
            raise GlassnetError("--input applies to zoo names and model files; a checkpoint "
                                "keeps the input shape it was trained on")
        return _checkpoint_model(path), f"checkpoint {path}"
    if path.suffix == ".onnx" and path.is_file():
        from glassnet.onnx import load_onnx_model

        shape = parse_input_shape(input_text) if input_text else None
        return load_onnx_model(path, input_shape=shape), f"ONNX file {path}"
    if path.suffix.lower() in KERAS_SUFFIXES and path.is_file():
        return load_model_arg(spec, input_text), f"Keras file {path}"
    model = load_model_arg(spec, input_text)
    model.build(seed=seed)
    return model, f"random initialisation (seed {seed})"


def run(args: argparse.Namespace) -> int:
    """Export the model and print one line about the file."""
    from glassnet.onnx import export_onnx

    model, source = load_source(args.model, args.input, args.seed)
    path = export_onnx(model, args.onnx, opset=args.opset)
    shape = ", ".join(str(s) for s in model.input_shape)
    print(f"wrote {path}: {model.name}, opset {args.opset}, input (N, {shape}) "
          f"{'NHWC' if len(model.input_shape) == 3 else 'flat'} float32, "
          f"{model.count_params():,} parameters, {path.stat().st_size:,} bytes")
    print(f"weights: {source}", file=sys.stderr)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``export`` subcommand."""
    from glassnet.onnx.export import DEFAULT_OPSET

    p = subparsers.add_parser(
        "export", help="write a model as ONNX (weights included, NHWC input)",
        description="Write a checkpoint, zoo model or model file as an ONNX graph: NHWC input "
        "(a Transpose to NCHW first), weights included, dynamic batch dimension, checked "
        "with onnx.checker. A zoo name or model file gets its random initial weights.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", metavar="CHECKPOINT_OR_MODEL",
                   help="a .npz checkpoint, a zoo name, a YAML/JSON model file or an .onnx file")
    p.add_argument("--onnx", required=True, type=argtypes.out_file, metavar="OUT.onnx",
                   help="the file to write")
    p.add_argument("--opset", type=argtypes.POSITIVE, default=DEFAULT_OPSET,
                   help=f"ONNX opset (default {DEFAULT_OPSET}; 13 or newer)")
    p.add_argument("--input", metavar="HxWxC", help="input shape of a zoo model or model file")
    p.add_argument("--seed", type=argtypes.SEED, default=0,
                   help="initialisation seed (no checkpoint)")
    p.set_defaults(func=run)
