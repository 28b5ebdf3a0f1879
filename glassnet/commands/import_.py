"""``glassnet import MODEL --out MODEL.npz [--input HxWxC]``: ONNX or Keras to a checkpoint.

MODEL is an ``.onnx`` file or a Keras model file (``.keras``, ``.h5``). The checkpoint holds
the weights and a graph description of the network (see :mod:`glassnet.training.imported`), so
it does not need the original file afterwards. The module is ``import_`` because ``import`` is
a Python keyword; the command is ``glassnet import``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from glassnet.commands import argtypes

EPILOG = """\
examples:
  glassnet import resnet_block.onnx --out resnet_block.npz
  glassnet import fcn.onnx --input 64x64x3 --out fcn.npz      # symbolic H, W in the file
  glassnet import mnist_convnet.keras --out mnist_convnet.npz # Keras 3 (.keras) or legacy .h5
  glassnet summary resnet_block.onnx --explain                # the table without importing
"""


def run(args: argparse.Namespace) -> int:
    """Import the file, write the checkpoint, print one line."""
    from glassnet.commands.summary import parse_input_shape
    from glassnet.training.imported import save_imported
    from glassnet.training.resolve import KERAS_SUFFIXES

    shape = parse_input_shape(args.input) if args.input else None
    if Path(args.model).suffix.lower() in KERAS_SUFFIXES:
        from glassnet.keras import load_keras_model

        model = load_keras_model(args.model, input_shape=shape)
        origin = "the Keras file's input is NHWC too"
    else:
        from glassnet.onnx import load_onnx_model

        model = load_onnx_model(args.model, input_shape=shape)
        origin = f"the ONNX file's input is {model.onnx_input_layout}"
    path = save_imported(model, args.out)
    dims = ", ".join(str(s) for s in model.input_shape)
    print(f"wrote {path}: {model.name}, {len(model.layers)} layers, "
          f"{model.count_params():,} parameters, input (N, {dims}) NHWC ({origin})")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``import`` subcommand."""
    from glassnet.keras import SUPPORTED
    from glassnet.onnx.import_ops import supported_ops

    p = subparsers.add_parser(
        "import", help="read an ONNX CNN or a Keras model file into a glassnet checkpoint (.npz)",
        description="Read an ONNX CNN (NCHW, or NHWC behind a leading Transpose) or a Keras "
        "model file (.keras, .h5; Sequential or functional) into a glassnet graph model with "
        "NHWC input and write it as a checkpoint. Supported ONNX ops: "
        f"{', '.join(supported_ops())}. Keras layers: {', '.join(SUPPORTED)}.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", metavar="MODEL", help="the .onnx, .keras or .h5 file")
    p.add_argument("--out", required=True, type=argtypes.out_file, metavar="MODEL.npz",
                   help="the checkpoint to write")
    p.add_argument("--input", metavar="HxWxC", help="input shape where the file's is symbolic")
    p.set_defaults(func=run)
