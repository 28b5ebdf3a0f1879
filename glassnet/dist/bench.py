"""``glassnet bench --mpi``: images/s of data-parallel training on 1 vs N ranks, and efficiency.

Each measurement is a fresh ``mpiexec -n R python -m glassnet.dist.bench --worker ...`` job:
rank 0 prints one JSON line with the images/s of a timed ``fit`` epoch (after an untimed warm-up
epoch). Rank counts alternate within each round (timings here vary ±20–40 % run to run) and the
report takes medians. Scaling efficiency = (images/s on R ranks) / (R · images/s on 1 rank).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from glassnet.errors import GlassnetError


def find_mpiexec() -> str:
    """The ``mpiexec`` beside this Python (a venv's mpich), else the one on ``PATH``.

    Raises:
        GlassnetError: if there is none.
    """
    here = Path(sys.executable).with_name("mpiexec")
    found = str(here) if here.exists() else shutil.which("mpiexec")
    if found is None:
        raise GlassnetError(
            "bench --mpi: no mpiexec found; install one with `pip install 'glassnet[mpi]'`"
        )
    return found


def run_worker(
    ranks: int, model: str, batch: int, steps: int, threads: int, seed: int, timeout: float
) -> dict[str, Any]:
    """One ``mpiexec -n ranks`` job; return rank 0's JSON line.

    Raises:
        GlassnetError: if the job fails or prints no result (its stderr tail is included).
    """
    cmd = [find_mpiexec(), "-n", str(ranks), sys.executable, "-m", "glassnet.dist.bench",
           "--worker", "--model", model, "--batch", str(batch), "--steps", str(steps),
           "--seed", str(seed)]
    env = dict(os.environ, GLASSNET_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
               OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode or not lines:
        raise GlassnetError(f"bench --mpi: `{' '.join(cmd)}` exited {proc.returncode}: "
                            f"{proc.stderr.strip()[-800:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def bench_mpi(
    models: Sequence[str] = ("lenet5",),
    batch: int = 128,
    ranks: Sequence[int] = (1, 2),
    steps: int = 20,
    rounds: int = 3,
    threads: int = 1,
    seed: int = 0,
    timeout: float = 600.0,
    on_worker: Callable[[int, int, str], None] | None = None,
) -> dict[str, Any]:
    """Time data-parallel training of each model on each rank count; report the scaling.

    Args:
        models: zoo names.
        batch: the global batch (a multiple of every rank count).
        ranks: rank counts to compare; the first is the baseline (normally 1).
        steps: timed steps (global batches) per job.
        rounds: interleaved rounds; medians are reported.
        threads: BLAS threads per rank (1: the ranks never share a core on a small machine).
        seed: seed of weights and synthetic data.
        timeout: seconds allowed per job.
        on_worker: called as ``(done, total, label)`` before each job (progress).

    Returns:
        ``{"batch", "steps", "rounds", "threads", "results": [{"model", "ranks",
        "images_per_s", "samples", "speedup", "efficiency"}]}``.

    Raises:
        GlassnetError: for a batch not divisible by a rank count, or a failing job.
    """
    bad = [r for r in ranks if r < 1 or batch % r]
    if bad:
        raise GlassnetError(f"bench --mpi: batch {batch} must be a multiple of every rank "
                            f"count; not of {bad}")
    samples: dict[tuple[str, int], list[float]] = {(m, r): [] for m in models for r in ranks}
    total, done = rounds * len(samples), 0
    for _ in range(rounds):
        for key in samples:
            if on_worker is not None:
                on_worker(done, total, f"{key[0]} on {key[1]} rank(s)")
            out = run_worker(key[1], key[0], batch, steps, threads, seed, timeout)
            samples[key].append(float(out["images_per_s"]))
            done += 1
    results = []
    for (model, r), values in samples.items():
        base = statistics.median(samples[(model, ranks[0])]) / ranks[0]
        ips = statistics.median(values)
        results.append({"model": model, "ranks": r, "images_per_s": round(ips, 1),
                        "samples": [round(v, 1) for v in values],
                        "speedup": round(ips / (base * ranks[0]), 3),
                        "efficiency": round(ips / (base * r), 3)})
    return {"batch": batch, "steps": steps, "rounds": rounds, "threads": threads,
            "results": results}


def format_mpi(result: dict[str, Any]) -> str:
    """A plain-text table of :func:`bench_mpi`'s result."""
    lines = [f"data-parallel fit over MPI: global batch {result['batch']}, {result['steps']} "
             f"steps, {result['threads']} BLAS thread(s) per rank, median of {result['rounds']} "
             "rounds",
             f"{'model':<22}{'ranks':>6}{'images/s':>11}{'speed-up':>10}{'efficiency':>12}"]
    for row in result["results"]:
        lines.append(f"{row['model']:<22}{row['ranks']:>6}{row['images_per_s']:>11,.0f}"
                     f"{row['speedup']:>10.2f}{row['efficiency']:>11.0%} ")
    return "\n".join(lines)


def worker(model_name: str, batch: int, steps: int, seed: int) -> dict[str, Any] | None:
    """Train ``steps`` global batches with ``fit(distributed=True)``; rank 0 returns images/s."""
    import numpy as np

    from glassnet import optim, zoo
    from glassnet.dist import world

    model = zoo.get(model_name, seed=seed)
    model.compile(optim.SGD(model.parameters(), lr=0.01, momentum=0.9),
                  "sparse_categorical_crossentropy", ["accuracy"],
                  from_logits=not model.ends_in_softmax)  # ResNet & co. end in logits
    rng = np.random.default_rng(seed)
    n = batch * steps
    x = rng.standard_normal((n, *model.input_shape)).astype(np.float32)
    y = rng.integers(0, model.output_shape[-1], n)
    comm = world.mpi().COMM_WORLD
    warm = min(n, 2 * batch)
    model.fit(x[:warm], y[:warm], batch_size=batch, verbose=0, seed=seed, distributed=True)
    comm.Barrier()
    start = time.perf_counter()
    model.fit(x, y, batch_size=batch, verbose=0, seed=seed, distributed=True)
    comm.Barrier()
    seconds = time.perf_counter() - start
    if comm.Get_rank():
        return None
    return {"model": model_name, "ranks": comm.Get_size(), "batch": batch, "steps": steps,
            "seconds": seconds, "images_per_s": n / seconds}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the worker jobs (``python -m glassnet.dist.bench --worker ...``)."""
    p = argparse.ArgumentParser(prog="python -m glassnet.dist.bench")
    p.add_argument("--worker", action="store_true", help="run one timed job (under mpiexec)")
    p.add_argument("--model", default="lenet5")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if not args.worker:
        print(format_mpi(bench_mpi([args.model], args.batch, steps=args.steps,
                                   rounds=args.rounds, seed=args.seed)))
        return 0
    from glassnet.dist.world import abort_on_error

    with abort_on_error():
        out = worker(args.model, args.batch, args.steps, args.seed)
    if out is not None:
        print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
