"""``glassnet demo [--out DIR] [--epochs N] [--quick]``: the README's first command, offline.

Prints the summary of ``keras_mnist_convnet``, trains it on the bundled ``mnist-5k`` (4,000
train / 1,000 test real MNIST images) with Adam (lr 1e-3, batch 128), prints the test accuracy
and writes the plots and the checkpoint into the output folder.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from glassnet.commands import argtypes

MODEL, DATA = "keras_mnist_convnet", "mnist-5k"
QUICK_SAMPLES = 500

DESCRIPTION = """\
Train Keras' "Simple MNIST convnet" on 4,000 real MNIST images (bundled, no network) with Adam
(lr 1e-3, batch 128), print its test accuracy on 1,000 held-out images, and write the training
curves, confusion matrix, first-layer filters, feature maps and the checkpoint into --out.
Takes about 10–15 s on 2 cores; reaches about 97% test accuracy.
"""

EPILOG = """\
examples:
  glassnet demo
  glassnet demo --out /tmp/demo --epochs 5
  glassnet evaluate glassnet-demo/model.npz --data mnist-5k   # afterwards
"""


def run(args: argparse.Namespace) -> int:
    """Print the model, train it, print the accuracy and the files written."""
    from glassnet import zoo
    from glassnet.training.session import TrainOptions, train

    start = time.perf_counter()
    zoo.get(MODEL).summary()
    epochs = 1 if args.quick else args.epochs
    limit = QUICK_SAMPLES if args.quick else None
    opts = TrainOptions(model=MODEL, data=DATA, epochs=epochs, batch_size=128,
                        optimizer="adam", lr=1e-3, out=Path(args.out), limit=limit)
    report = train(opts)
    result = report.summary["runs"][0]
    print(f"\n{MODEL} on {DATA}: test accuracy {result['test_accuracy']:.4f}, test loss "
          f"{result['test_loss']:.4f} after {result['epochs']} epoch(s); "
          f"{time.perf_counter() - start:.1f}s in all")
    print(f"files written to {report.out_dir}:")
    for path in report.files:
        print(f"  {path}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``demo`` subcommand."""
    p = subparsers.add_parser(
        "demo", help="offline first run: train a small convnet on real MNIST (< 2 min)",
        description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", default="glassnet-demo", type=argtypes.out_dir, metavar="DIR",
                   help="folder for the plots and model.npz (default ./glassnet-demo)")
    p.add_argument("--epochs", type=argtypes.POSITIVE, default=10,
                   help="passes over the 4,000 images "
                   "(default 10)")
    p.add_argument("--quick", action="store_true",
                   help=f"1 epoch on {QUICK_SAMPLES} images (a smoke test, not a result)")
    p.set_defaults(func=run)
