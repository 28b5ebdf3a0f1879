"""``glassnet bench``: glassnet against PyTorch on the CPU, in interleaved rounds of processes.

Parses, calls :func:`glassnet.bench.runner.run_bench` and prints: ``--json`` prints the object of
../shared/DESIGN.md §4 (``{"gemm_peak_gflops": ..., "results": [...]}``, extra keys after the
contract's), ``--markdown`` a table for ``docs/performance.md``, otherwise a rich table. Progress
goes to stderr. Methodology: ``docs/performance.md``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from typing import Any

from glassnet.commands import argtypes
from glassnet.errors import GlassnetError
from glassnet.fileio import write_text


def _names(text: str, valid: list[str], what: str) -> list[str]:
    """Split a comma list and check each name against ``valid``."""
    items = [t.strip() for t in text.split(",") if t.strip()]
    bad = [t for t in items if t not in valid]
    if bad or not items:
        raise GlassnetError(f"--{what} {text!r}: unknown {bad or 'empty list'}; valid: "
                            f"{', '.join(valid)}")
    return items


def _ints(text: str, what: str) -> list[int]:
    """Parse a comma list of positive ints."""
    try:
        values = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise GlassnetError(f"--{what} {text!r}: expected positive integers, e.g. 1,32,128")
    return values


def _config(args: argparse.Namespace) -> Any:
    """A ``BenchConfig`` from the parsed arguments.

    Raises:
        GlassnetError: for a bad list, model, workload or count.
    """
    from glassnet import zoo
    from glassnet.bench.runner import BenchConfig
    from glassnet.bench.workloads import WORKLOADS

    for name in ("rounds", "steps"):
        if getattr(args, name) < 1:
            raise GlassnetError(f"--{name} {getattr(args, name)}: must be at least 1")
    if args.warmup < 0 or args.threads < 0:
        raise GlassnetError("--warmup and --threads must be >= 0")
    classes = args.classes
    if classes is not None and classes < 2:
        raise GlassnetError(f"--classes {classes}: must be at least 2")
    return BenchConfig(
        input_shape=_shape(args.input), classes=classes,
        models=_names(args.models, zoo.names(), "models"),
        batches=_ints(args.batch, "batch"),
        workloads=_names(args.workloads, list(WORKLOADS), "workloads"),
        against=args.against, rounds=args.rounds, steps=args.steps, warmup=args.warmup,
        fit_epochs=args.fit_epochs, threads=args.threads, seed=args.seed,
    )


def _shape(text: str | None) -> tuple[int, ...] | None:
    """``"32x32x3"`` -> (32, 32, 3): one image's H×W×C.

    Raises:
        GlassnetError: unless three positive integers joined by ``x``.
    """
    if text is None:
        return None
    parts = text.lower().replace("×", "x").split("x")
    if len(parts) != 3 or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise GlassnetError(f"--input {text!r}: expected HxWxC, three positive integers such "
                            "as 32x32x3")
    return tuple(int(p) for p in parts)


def _command(cfg: Any) -> str:
    """The full command line equivalent to ``cfg`` (every default spelled out)."""
    parts = ["glassnet", "bench", "--models", ",".join(cfg.models),
             "--batch", ",".join(map(str, cfg.batches)), "--against", cfg.against,
             "--rounds", str(cfg.rounds), "--steps", str(cfg.steps), "--warmup", str(cfg.warmup),
             "--workloads", ",".join(cfg.workloads)]
    if "fit_epoch" in cfg.workloads:
        parts += ["--fit-epochs", str(cfg.fit_epochs)]
    if cfg.input_shape:
        parts += ["--input", "x".join(map(str, cfg.input_shape))]
    if cfg.classes:
        parts += ["--classes", str(cfg.classes)]
    if cfg.threads:
        parts += ["--threads", str(cfg.threads)]
    return shlex.join(parts)


def _run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from glassnet.bench import report, runner

    if args.mpi:  # data-parallel scaling (glassnet.dist.bench), not the torch comparison
        from glassnet import zoo
        from glassnet.dist.bench import bench_mpi, format_mpi

        res = bench_mpi(_names(args.models, zoo.names(), "models"),
                        max(_ints(args.batch, "batch")), steps=args.steps, rounds=args.rounds,
                        on_worker=None if args.quiet else lambda d, t, label: print(
                            f"[{d + 1}/{t}] {label}", file=sys.stderr, flush=True))
        print(json.dumps(res) if args.json else format_mpi(res))
        return 0
    cfg = _config(args)
    command = _command(cfg)
    err = Console(stderr=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err, transient=True,
                  disable=args.quiet) as progress:
        task = progress.add_task("bench", total=None)

        def on_worker(done: int, total: int, label: str) -> None:
            progress.update(task, completed=done, total=total, description=label)

        try:
            result = runner.run_bench(cfg, on_worker)
        except runner.WorkerError as exc:
            print(f"glassnet bench: error: {exc}", file=sys.stderr)
            return 1
    result["command"] = command
    if args.out:
        try:
            write_text(args.out, json.dumps(report.contract(result), indent=1) + "\n")
        except OSError as exc:
            raise GlassnetError(f"--out {args.out!r}: cannot write ({exc.strerror})") from exc
    if args.json:
        print(json.dumps(report.contract(result)))
    elif args.markdown:
        print(report.markdown(result, command))
    else:
        Console().print(report.table(result, command))
    return 0


def register(subparsers: Any) -> None:
    """Add the ``bench`` subcommand."""
    p = subparsers.add_parser(
        "bench",
        help="time glassnet against PyTorch (train step, inference, fit epoch) on the CPU",
        description="Time glassnet and the equivalent PyTorch model in interleaved rounds of "
        "fresh worker processes; report per workload the medians, the ratio glassnet/torch "
        "(median of per-round ratios), GFLOP/s, % of a measured GEMM peak and peak RSS.",
    )
    p.add_argument("--models", default="lenet5,keras_mnist_convnet",
                   help="comma list of zoo models (default: %(default)s)")
    p.add_argument("--batch", default="1,32,128,256", help="comma list (default: %(default)s)")
    p.add_argument("--against", choices=("torch", "none"), default="torch",
                   help="compare with PyTorch, or time glassnet alone (default: %(default)s)")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default: 5)")
    p.add_argument("--steps", type=int, default=20,
                   help="timed steps per workload and worker (default: 20; fit_epoch times "
                   "min(steps, --fit-epochs) epochs)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first (default: 3)")
    p.add_argument("--fit-epochs", type=argtypes.POSITIVE, default=2,
                   help="timed fit epochs (default: 2)")
    p.add_argument("--workloads", default="train,infer,fit_epoch",
                   help="comma list of train, infer, fit_epoch (default: %(default)s)")
    p.add_argument("--input", metavar="HxWxC",
                   help="every model's input shape, e.g. 32x32x3 for CIFAR size (default: each "
                   "zoo model's own; fit_epoch: 28x28x1, mnist-5k)")
    p.add_argument("--classes", type=int, metavar="N",
                   help="every model's number of classes (default: each zoo model's own)")
    p.add_argument("--threads", type=int, default=0,
                   help="threads of both sides (default 0: GLASSNET_THREADS, else NumPy's BLAS "
                   "thread count)")
    p.add_argument("--seed", type=argtypes.SEED, default=0,
                   help="seed of weights and inputs (default 0)")
    p.add_argument("--mpi", action="store_true",
                   help="instead: images/s of data-parallel fit on 1 vs 2 MPI ranks (one BLAS "
                   "thread each) and the scaling efficiency; uses the largest --batch")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print the JSON object (DESIGN.md §4)")
    out.add_argument("--markdown", action="store_true", help="print a Markdown table")
    p.add_argument("--out", type=argtypes.out_file, metavar="FILE",
                   help="also write the JSON object to FILE")
    p.add_argument("--quiet", action="store_true", help="no progress bar on stderr")
    p.set_defaults(func=_run)
