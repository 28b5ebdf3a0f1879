"""``glassnet evaluate CHECKPOINT --data NAME [--json]``: test loss, accuracy and per-class table.

The work is in :func:`glassnet.training.session.evaluate_checkpoint`; this module parses, calls
and prints.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

DESCRIPTION = """\
Load a checkpoint written by `glassnet train` (or model.save) and evaluate it on the test split
of --data: loss, accuracy and a per-class accuracy table. The checkpoint's input shape and
number of classes must match the data.
"""

EPILOG = """\
examples:
  glassnet evaluate runs/keras_mnist_convnet-mnist-5k-20250101-120000/model.npz --data mnist-5k
  glassnet evaluate glassnet-demo/model.npz --data mnist-5k --json
"""


def print_result(result: dict[str, Any]) -> None:
    """Print the loss and accuracy, then a per-class accuracy table (stdout)."""
    from rich.console import Console
    from rich.table import Table

    print(f"{result['checkpoint']} on {result['data']} (test split): "
          f"loss {result['test_loss']:.4f}  accuracy {result['test_accuracy']:.4f}")
    table = Table(title="per-class accuracy")
    for col in ("class", "correct", "total", "accuracy"):
        table.add_column(col, justify="left" if col == "class" else "right")
    for name, correct, total in result["per_class"]:
        acc = f"{correct / total:.4f}" if total else "-"
        table.add_row(str(name), str(correct), str(total), acc)
    Console(highlight=False).print(table)


def run(args: argparse.Namespace) -> int:
    """Evaluate the checkpoint; print the result (or, with ``--json``, only the JSON object)."""
    from glassnet.training.session import evaluate_checkpoint

    result = evaluate_checkpoint(args.checkpoint, args.data, args.data_dir, args.download)
    if args.json:
        keys = ("checkpoint", "data", "test_loss", "test_accuracy")
        print(json.dumps({k: result[k] for k in keys}))
    else:
        print_result(result)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``evaluate`` subcommand."""
    p = subparsers.add_parser(
        "evaluate", help="test loss and accuracy of a saved checkpoint",
        description=DESCRIPTION,
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("checkpoint", metavar="CHECKPOINT", help="a .npz checkpoint (model.npz)")
    p.add_argument("--data", required=True, metavar="NAME",
                   help="dataset: mnist-5k, digits, mnist, fashion-mnist, cifar10")
    p.add_argument("--data-dir", metavar="DIR",
                   help="where full datasets live (default $GLASSNET_DATA or ~/.glassnet/data)")
    p.add_argument("--download", action="store_true",
                   help="download a missing full dataset (MD5-checked)")
    p.add_argument("--json", action="store_true",
                   help='print only {"checkpoint", "data", "test_loss", "test_accuracy"}')
    p.set_defaults(func=run)
