"""``glassnet train MODEL --data NAME [...]``: train N runs, report mean ± std, write a run folder.

The work is in :mod:`glassnet.training.session`; this module parses, calls and prints.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from glassnet import optim
from glassnet.commands import argtypes
from glassnet.errors import GlassnetError
from glassnet.training.guards import ON_DIVERGENCE  # a leaf module: the choices of a flag

if TYPE_CHECKING:  # the training stack loads only when a command runs, not to parse arguments
    from glassnet.training.runs import RunResult
    from glassnet.training.session import TrainOptions, TrainReport

DESCRIPTION = """\
Train MODEL on the training split of --data with sparse categorical cross-entropy, evaluate
each run on the test split, and print mean ± sample std of test accuracy and loss.

MODEL is a zoo name (built for the data's input shape and number of classes) or a YAML/JSON
model file (its input must match the data). Progress bars go to stderr.
"""

EPILOG = """\
examples:
  glassnet train keras_mnist_convnet --data mnist-5k --epochs 10
  glassnet train lenet5 --data cifar10 --optimizer sgd --lr 0.01 --momentum 0.9 --runs 5
  glassnet train my-net.yaml --data digits --epochs 3 --limit 500 --json
  glassnet train --resume runs/lenet5-cifar10-20260101-120000   # after Ctrl-C

The run folder gets model.npz (weights + optimizer), history.json, summary.json and the plots
curves.png, confusion_matrix.png, filters.png, feature_maps.png (from the last run). After
every epoch it also gets checkpoints/run-<i>/last.npz and resume.json: Ctrl-C (or SIGTERM)
keeps the last finished epoch, and --resume DIR continues the same command to the same
weights as an uninterrupted run (docs/resume.md).
"""


def add_training_options(p: argparse.ArgumentParser) -> None:
    """Add the options ``train`` shares with scripts that drive a session."""
    p.add_argument("--data", metavar="NAME",
                   help="dataset: mnist-5k, digits (bundled, offline), mnist, fashion-mnist, "
                   "cifar10")
    p.add_argument("--epochs", type=int, default=10, help="passes over the training data "
                   "(default 10)")
    p.add_argument("--batch-size", type=int, default=128, help="samples per step (default 128)")
    p.add_argument("--optimizer", default="adam", metavar="NAME",
                   help=f"one of {', '.join(optim.NAMES)} (default adam)")
    p.add_argument("--lr", type=argtypes.finite,
                   help="learning rate (default: the optimizer's own, "
                   "adam/adamw 1e-3, sgd/rmsprop 0.01)")
    p.add_argument("--momentum", type=argtypes.float_range(0, 1, high_open=True),
                   help="momentum (sgd, rmsprop)")
    p.add_argument("--weight-decay", type=argtypes.float_range(0),
                   help="L2 weight decay (decoupled for adamw)")
    p.add_argument("--nesterov", action="store_true", help="Nesterov momentum (sgd)")
    p.add_argument("--seed", type=argtypes.SEED, default=0,
                   help="first seed; run i uses seed+i for its weights and batch order (default 0)")
    p.add_argument("--runs", type=int, default=1,
                   help="train this many times and report mean ± sample std (default 1)")
    p.add_argument("--validation-split", type=argtypes.finite, default=0.0, metavar="F",
                   help="hold out this last fraction of the training data for validation "
                   "(default 0)")
    p.add_argument("--limit", type=int, metavar="N",
                   help="use only the first N training samples (quick tries)")
    p.add_argument("--data-dir", metavar="DIR",
                   help="where full datasets live (default $GLASSNET_DATA or ~/.glassnet/data)")
    p.add_argument("--download", action="store_true",
                   help="download a missing full dataset (MD5-checked)")
    p.add_argument("--on-divergence", choices=ON_DIVERGENCE, default="stop",
                   help="when the running loss exceeds 10x its start: stop with an error "
                   "(default) or warn and continue")


def options_from_args(args: argparse.Namespace) -> TrainOptions:
    """The session options the parsed arguments describe.

    Raises:
        GlassnetError: MODEL or --data missing.
    """
    if args.model is None or args.data is None:
        raise GlassnetError("train: MODEL and --data NAME are required (or --resume DIR alone)")
    from glassnet.training.session import TrainOptions

    return TrainOptions(
        model=args.model, data=args.data, epochs=args.epochs, batch_size=args.batch_size,
        optimizer=args.optimizer.lower(), lr=args.lr, momentum=args.momentum,
        weight_decay=args.weight_decay, nesterov=args.nesterov, seed=args.seed, runs=args.runs,
        out=None if args.out is None else Path(args.out), data_dir=args.data_dir,
        download=args.download, validation_split=args.validation_split,
        plots=not args.no_plots, limit=args.limit, on_divergence=args.on_divergence,
    )


def run_line(i: int, runs: int, result: RunResult) -> str:
    """One finished run, e.g. ``run 1/3  seed 0  test accuracy 0.9650  loss 0.1172  ...``."""
    return (f"run {i + 1}/{runs}  seed {result.seed}  test accuracy {result.test_accuracy:.4f}  "
            f"loss {result.test_loss:.4f}  ({result.epochs} epochs, {result.seconds:.1f}s)")


def print_report(report: TrainReport, console: Any = None) -> None:
    """Print the mean ± std table over the runs and every file written (stdout)."""
    from rich.console import Console
    from rich.table import Table

    from glassnet.training.runs import mean_std

    console = console or Console(highlight=False)
    runs = report.summary["runs"]
    table = Table(title=f"{report.summary['model']} on {report.summary['data']}: "
                  f"{len(runs)} run{'s' if len(runs) > 1 else ''}")
    for col in ("metric", "mean", "± std", "min", "max"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    for key in ("test_accuracy", "test_loss"):
        values = [r[key] for r in runs]
        mean, std = mean_std(values)
        table.add_row(key.replace("_", " "), f"{mean:.4f}", f"{std:.4f}", f"{min(values):.4f}",
                      f"{max(values):.4f}")
    console.print(table)
    # Plain print: rich would wrap long paths and read "[...]" in them as markup.
    print(f"files written to {report.out_dir}:")
    for path in report.files:
        print(f"  {path}")


def run(args: argparse.Namespace) -> int:
    """Train, then print the table and the files (or, with ``--json``, only the summary).

    Under ``mpiexec -n N`` every rank trains its shard of each batch (docs/distributed.md);
    rank 0 alone prints, and a rank that fails ends the whole job with its message.
    """
    from glassnet import dist
    from glassnet.training.session import default_out_dir, resume_options, train

    finished: list[RunResult] | None = None
    if args.resume is not None:
        if args.model is not None or args.data is not None:
            raise GlassnetError(
                f"--resume {args.resume} takes no MODEL or --data: the run's options are "
                f"stored in {args.resume}"
            )
        opts, finished = resume_options(args.resume)
    else:
        opts = options_from_args(args)
        if opts.out is None:  # fixed now: the interrupt message names it
            opts.out = default_out_dir(opts.model, opts.data)
    root = dist.is_root()
    # With --json, stdout carries only the JSON object; the per-run lines go to stderr.
    stream = sys.stderr if args.json else sys.stdout

    def on_run(i: int, result: RunResult) -> None:
        if root:
            print(run_line(i, opts.runs, result), file=stream, flush=True)

    try:
        with dist.abort_on_error(show_traceback=getattr(args, "debug", False)):
            report = train(opts, on_run=on_run, root=root, finished=finished)
    except KeyboardInterrupt:
        # The last finished epoch is on disk (training.durable); say where and how to go on.
        if root:
            where = opts.out if opts.out is not None else "the run folder"
            print(f"interrupted: finished epochs are saved; continue with: glassnet train "
                  f"--resume {where}", file=sys.stderr, flush=True)
        return 130
    if not root:
        return 0
    if args.json:
        print(json.dumps(report.summary))
    else:
        print_report(report)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``train`` subcommand."""
    p = subparsers.add_parser(
        "train", help="train a model on a dataset (N runs -> mean ± std), save plots and model",
        description=DESCRIPTION,
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", metavar="MODEL", nargs="?",
                   help="zoo name (e.g. keras_mnist_convnet) or model file")
    add_training_options(p)
    p.add_argument("--out", type=argtypes.out_dir, metavar="DIR",
                   help="run folder (default ./runs/<model>-<data>-<timestamp>)")
    p.add_argument("--resume", metavar="DIR",
                   help="continue the interrupted run in DIR (its --out folder) from its last "
                   "finished epoch; takes no other argument")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument("--json", action="store_true",
                   help="print only the summary JSON object (DESIGN.md §4) to stdout")
    p.set_defaults(func=run)
