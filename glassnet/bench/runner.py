"""Orchestrate the benchmark: fresh worker processes, interleaved in rounds, then medians.

Timings on a shared machine drift by tens of percent between minutes, so the two sides are never
timed far apart: in round r, for each group of workloads (one model at one batch size, or one
model's ``fit_epoch``), a fresh glassnet worker and a fresh torch worker time the same workloads
one after the other, and which side goes first alternates from round to round (and from group to
group). Per workload the report gives each side's median over rounds and the ratio
glassnet/torch as the **median of the per-round ratios**, which cancels the drift common to both
sides of a round.
"""

from __future__ import annotations

import datetime
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glassnet.bench.workloads import FIT_BATCH, Workload
from glassnet.errors import GlassnetError

# Set to 1 to make the parent act as if PyTorch were not installed (tests of the error path).
NO_TORCH_ENV = "GLASSNET_BENCH_NO_TORCH"
STEP_WORKLOADS = ("infer", "train")  # the order inside a worker: lightest first (see worker.py)


class WorkerError(GlassnetError):
    """A worker process failed or printed no JSON."""


@dataclass
class BenchConfig:
    """What to run; the defaults are the issue's."""

    models: list[str] = field(default_factory=lambda: ["lenet5", "keras_mnist_convnet"])
    batches: list[int] = field(default_factory=lambda: [1, 32, 128, 256])
    workloads: list[str] = field(default_factory=lambda: ["train", "infer", "fit_epoch"])
    against: str = "torch"
    rounds: int = 5
    steps: int = 20
    warmup: int = 3
    fit_epochs: int = 2
    threads: int = 0  # 0: NumPy's BLAS thread count (threadpoolctl)
    seed: int = 0
    gemm_n: int = 1024
    input_shape: tuple[int, ...] | None = None  # every model's input (None: the zoo's)
    classes: int | None = None  # every model's class count (None: the zoo's)

    @property
    def sides(self) -> list[str]:
        """The sides timed: glassnet, and torch unless ``against == "none"``."""
        return ["glassnet", "torch"] if self.against == "torch" else ["glassnet"]


def torch_available() -> bool:
    """Whether PyTorch can be imported (``$GLASSNET_BENCH_NO_TORCH=1`` pretends it cannot)."""
    if os.environ.get(NO_TORCH_ENV, "") not in ("", "0"):
        return False
    return importlib.util.find_spec("torch") is not None


def blas_info() -> dict[str, Any]:
    """NumPy's BLAS as threadpoolctl sees it: library, version, kernel, threads."""
    import numpy as np  # noqa: F401  (loads the BLAS threadpoolctl inspects)
    from threadpoolctl import threadpool_info

    for pool in threadpool_info():
        if pool.get("user_api") == "blas":
            return {k: pool.get(k) for k in ("internal_api", "version", "architecture",
                                              "num_threads", "threading_layer")}
    return {"internal_api": None, "num_threads": os.cpu_count() or 1}


def default_threads() -> int:
    """Threads of both sides when ``--threads`` is 0: the count glassnet computes with.

    That is ``GLASSNET_THREADS`` or NumPy's BLAS thread count as it was before any compute
    scope (:func:`glassnet.accel.parallel.configured_threads`), not the one-thread BLAS a scope
    holds while it is open.
    """
    from glassnet.accel.parallel import configured_threads

    return configured_threads()


def cpu_model() -> str:
    """The CPU's marketing name from ``/proc/cpuinfo`` (else ``platform.processor()``)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def plan(cfg: BenchConfig) -> list[list[Workload]]:
    """Group the workloads: one worker runs one group (a model at one batch, or a fit epoch)."""
    groups = []
    for model in cfg.models:
        for batch in cfg.batches:
            items = [Workload(model, w, batch, cfg.steps, cfg.warmup, cfg.input_shape,
                              cfg.classes)
                     for w in STEP_WORKLOADS if w in cfg.workloads]
            if items:
                groups.append(items)
        if "fit_epoch" in cfg.workloads:
            epochs = min(cfg.steps, cfg.fit_epochs)
            groups.append([Workload(model, "fit_epoch", FIT_BATCH, epochs, cfg.warmup,
                                    cfg.input_shape, cfg.classes)])
    return groups


def run_worker(side: str, spec: dict[str, Any], timeout: float = 1800.0) -> dict[str, Any]:
    """Run one worker process and return its JSON report.

    Raises:
        WorkerError: if it exits non-zero, times out or prints no JSON (naming its last
            stderr line).
    """
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (root, os.environ.get("PYTHONPATH", "")) if p)}
    if side == "torch":
        # The worker imports glassnet, whose import tunes glibc malloc; a PyTorch user's process
        # would not have that, so the torch side runs with the allocator as it comes.
        env["GLASSNET_MALLOC_TUNE"] = "0"
    cmd = [sys.executable, "-m", "glassnet.bench.worker", "--side", side,
           "--spec", json.dumps(spec)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise WorkerError(f"bench: the {side} worker ran over {timeout:.0f} s") from exc
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        err = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise WorkerError(f"bench: the {side} worker failed (exit {proc.returncode}): {err}")
    try:
        return json.loads(lines[-1])  # type: ignore[no-any-return]
    except json.JSONDecodeError as exc:
        raise WorkerError(f"bench: the {side} worker printed no JSON: {lines[-1][:200]}") from exc


def median_ratio(glassnet_ms: list[float], torch_ms: list[float]) -> float:
    """The median over rounds of glassnet/torch (round r's times paired), not a ratio of medians.

    Raises:
        ValueError: if the lists are empty or of different lengths.
    """
    if not glassnet_ms or len(glassnet_ms) != len(torch_ms):
        raise ValueError(f"median_ratio: {len(glassnet_ms)} glassnet vs {len(torch_ms)} torch "
                         "rounds; need the same number, at least one")
    return statistics.median(g / t for g, t in zip(glassnet_ms, torch_ms, strict=True))


Key = tuple[str, str, int]


def _row(key: Key, samples: dict[str, list[dict[str, Any]]], peak: float) -> dict[str, Any]:
    """One result row from each side's per-round worker results for one workload."""
    model, workload, batch = key
    row: dict[str, Any] = {"model": model, "workload": workload, "batch": batch}
    first = next(iter(samples.values()))[0]
    row.update(input_shape=first.get("input_shape"), classes=first.get("classes"))
    # Training ≈ 3 forward passes (forward, dL/dx, dL/dw), each 2 FLOPs per MAC.
    passes = 1 if workload == "infer" else 3
    flops = passes * 2 * first["macs"] * first["images"]
    row.update(flops_per_step=flops, images_per_step=first["images"])
    for side in ("glassnet", "torch"):
        runs = samples.get(side)
        ms = [s["ms"] for s in runs] if runs else None
        med = statistics.median(ms) if ms else None
        row[f"{side}_ms"] = med
        row[f"{side}_round_ms"] = ms
        row[f"{side}_peak_rss_mb"] = max(s["peak_rss_mb"] for s in runs) if runs else None
        gflops = flops / med / 1e6 if med else None
        row[f"{side}_gflops"] = gflops
        row[f"{side}_pct_peak"] = 100 * gflops / peak if gflops and peak else None
        row[f"{side}_images_per_s"] = first["images"] / med * 1e3 if med else None
    both = row["glassnet_round_ms"] and row["torch_round_ms"]
    row["round_ratios"] = ([g / t for g, t in zip(row["glassnet_round_ms"], row["torch_round_ms"],
                                                   strict=True)] if both else None)
    row["ratio"] = median_ratio(row["glassnet_round_ms"], row["torch_round_ms"]) if both else None
    return row


def aggregate(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """Fold worker reports (every side, round and group) into the ``--json`` contract's shape.

    ``gemm_peak_gflops`` is the faster side's median GEMM (so both sides' % of peak share one
    denominator); each side's own median is kept under ``gemm_gflops``.
    """
    gemm: dict[str, list[float]] = {}
    samples: dict[Key, dict[str, list[dict[str, Any]]]] = {}
    for rep in reports:
        gemm.setdefault(rep["side"], []).append(rep["gemm_gflops"])
        for res in rep["results"]:
            key = (res["model"], res["workload"], int(res["batch"]))
            samples.setdefault(key, {}).setdefault(rep["side"], []).append(res)
    gemm_med = {side: statistics.median(v) for side, v in gemm.items()}
    peak = max(gemm_med.values(), default=0.0)
    rows = [_row(key, per_side, peak) for key, per_side in samples.items()]
    return {"gemm_peak_gflops": peak, "gemm_gflops": gemm_med, "results": rows}


def run_bench(
    cfg: BenchConfig, on_worker: Callable[[int, int, str], None] | None = None
) -> dict[str, Any]:
    """Run every round and return the ``--json`` object (with machine information).

    Args:
        cfg: what to run.
        on_worker: called before each worker with (workers done, workers in all, label).

    Raises:
        GlassnetError: ``against="torch"`` without PyTorch installed.
        WorkerError: if a worker fails.
    """
    if cfg.against == "torch" and not torch_available():
        raise GlassnetError("--against torch needs PyTorch, which is not installed; "
                            "pip install torch==2.13.0, or pass --against none")
    blas = blas_info()
    # NOTE: not blas["num_threads"]: the CLI runs commands in accel.compute_scope, where the BLAS
    # is held to one thread; the machine's count is the one glassnet's scope splits over.
    threads = cfg.threads or default_threads()
    groups = plan(cfg)
    total, done = cfg.rounds * len(groups) * len(cfg.sides), 0
    load_start = os.getloadavg()
    started = datetime.datetime.now().astimezone()
    reports: list[dict[str, Any]] = []
    for r in range(cfg.rounds):
        for g, group in enumerate(groups):
            spec = {"threads": threads, "seed": cfg.seed, "gemm_n": cfg.gemm_n,
                    "items": [w.to_dict() for w in group]}
            order = cfg.sides if (r + g) % 2 == 0 else cfg.sides[::-1]
            for side in order:
                if on_worker is not None:
                    label = f"round {r + 1}/{cfg.rounds} · {group[0].model} · "
                    label += "fit epoch" if group[0].workload == "fit_epoch" else (
                        f"batch {group[0].batch}")
                    on_worker(done, total, f"{label} · {side}")
                reports.append(run_worker(side, spec))
                done += 1
    out = aggregate(reports)
    versions = {k: v for rep in reports for k, v in rep["versions"].items()}
    out["machine"] = {
        "cpu": cpu_model(), "logical_cpus": os.cpu_count(), "threads": threads, "blas": blas,
        "platform": platform.platform(), "versions": versions,
        "load_average_start": list(load_start), "load_average_end": list(os.getloadavg()),
    }
    out["config"] = {k: v for k, v in vars(cfg).items()}
    out["date"] = started.isoformat(timespec="seconds")
    out["seconds"] = (datetime.datetime.now().astimezone() - started).total_seconds()
    return out
