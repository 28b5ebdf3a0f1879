"""One benchmark worker process: ``python -m glassnet.bench.worker --side S --spec JSON``.

The worker sets its thread count (BLAS for glassnet, ``torch.set_num_threads`` for torch), times
a float32 GEMM with its side's library, then times each workload of the spec in order and prints
one JSON line on stdout::

    {"side": "glassnet", "threads": 2, "gemm_gflops": 171.3, "baseline_rss_mb": 61.2,
     "versions": {...}, "results": [{"model": "lenet5", "workload": "train", "batch": 128,
     "ms": 12.3, "step_ms": [...], "peak_rss_mb": 88.1, "macs": 416520}]}

``peak_rss_mb`` is ``ru_maxrss`` read right after that workload: the process's high-water mark so
far (the runner orders a worker's workloads from the lightest, so it is that workload's peak).

Spec keys: ``threads``, ``seed``, ``gemm_n``, ``items`` (a list of ``Workload`` dicts).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import sys
from collections.abc import Sequence
from typing import Any

from glassnet.bench import workloads as W

SIDES = ("glassnet", "torch")


def peak_rss_mb() -> float:
    """Return the peak resident set size so far, in MiB (``ru_maxrss`` is KiB on Linux)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10


def _setup(side: str, threads: int) -> dict[str, str]:
    """Limit the side's threads (for the rest of the process); return the library versions."""
    import numpy as np
    from threadpoolctl import threadpool_limits

    versions = {"python": sys.version.split()[0], "numpy": np.__version__}
    if side == "torch":
        import torch

        torch.set_num_threads(threads)
        versions["torch"] = torch.__version__
    else:
        threadpool_limits(limits=threads, user_api="blas")  # applies now, until the process ends
    return versions


def _compute_threads(side: str, threads: int) -> None:
    """Hand the threads to glassnet's own splitting (the BLAS then runs one thread per chunk)."""
    if side == "glassnet":
        from glassnet.accel import parallel

        parallel.set_num_threads(threads)


def _scope(side: str) -> contextlib.AbstractContextManager[Any]:
    """The glassnet compute scope (threads split, one-thread BLAS, warm heap), as fit opens it."""
    if side != "glassnet":
        return contextlib.nullcontext()
    from glassnet.accel import compute_scope

    return compute_scope()


def run(side: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Time every workload of ``spec`` on ``side``; return the worker's report.

    Raises:
        ValueError: for an unknown side.
    """
    if side not in SIDES:
        raise ValueError(f"worker: side {side!r} is not one of {SIDES}")
    threads, seed = int(spec["threads"]), int(spec.get("seed", 0))
    versions = _setup(side, threads)
    gemm_n = int(spec.get("gemm_n", 1024))
    gemm = W.torch_gemm_gflops(gemm_n) if side == "torch" else W.numpy_gemm_gflops(gemm_n)
    _compute_threads(side, threads)  # after the GEMM peak, which is the BLAS's own
    report: dict[str, Any] = {
        "side": side, "threads": threads, "gemm_n": gemm_n, "gemm_gflops": gemm,
        "versions": versions, "baseline_rss_mb": peak_rss_mb(), "results": [],
    }
    for item in spec["items"]:
        work = W.Workload(**item)
        model = W.build_model(work, seed)
        make = W.torch_step if side == "torch" else W.glassnet_step
        step = make(work, model, seed)
        # fit_epoch warms up inside make(); the step workloads warm up here.
        with _scope(side):
            W.time_steps(step, 0, 0 if work.workload == "fit_epoch" else work.warmup)
        _setup(side, threads)  # again: the first steps may load another BLAS (numba: SciPy's)
        with _scope(side):  # a new scope limits that BLAS too
            times = W.time_steps(step, work.steps, 0)
        report["results"].append({
            **work.to_dict(), "input_shape": list(model.input_shape),
            "classes": int(model.output_shape[-1]), "ms": W.median_ms(times),
            "step_ms": [t * 1e3 for t in times],
            "peak_rss_mb": peak_rss_mb(), "macs": W.forward_macs(model),
            "images": W.images_per_step(work),
        })
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``--side`` and ``--spec``, run, print one JSON line; return the exit code."""
    parser = argparse.ArgumentParser(prog="python -m glassnet.bench.worker")
    parser.add_argument("--side", choices=SIDES, required=True)
    parser.add_argument("--spec", required=True, help="JSON: threads, seed, gemm_n, items")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.side, json.loads(args.spec))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
