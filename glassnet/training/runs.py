"""Repeated runs: train N times with seeds 0..N−1 and report mean ± sample standard deviation.

The course's rule: one run's accuracy is a sample, so run 10–15 times and report the mean and the
standard deviation. The sample standard deviation (divisor N − 1) is used; it is 0 for one run.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from glassnet.fileio import write_text


@dataclass
class RunResult:
    """One training run's outcome."""

    seed: int
    test_accuracy: float
    test_loss: float
    epochs: int
    seconds: float


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (N − 1 divisor; 0 for a single value)."""
    n = len(values)
    if n == 0:
        return math.nan, math.nan
    mean = sum(values) / n
    if n == 1:
        return mean, 0.0
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))


def summarize_runs(model: str, data: str, results: list[RunResult]) -> dict[str, Any]:
    """The JSON contract of ``glassnet train --json`` (DESIGN.md §4)."""
    acc_mean, acc_std = mean_std([r.test_accuracy for r in results])
    loss_mean, loss_std = mean_std([r.test_loss for r in results])
    return {
        "model": model,
        "data": data,
        "runs": [asdict(r) for r in results],
        "mean_test_accuracy": acc_mean,
        "std_test_accuracy": acc_std,
        "mean_test_loss": loss_mean,
        "std_test_loss": loss_std,
    }


def write_json_atomic(path: Path, payload: Any) -> Path:
    """Write ``payload`` as indented JSON atomically (:func:`glassnet.fileio.write_text`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, json.dumps(payload, indent=2))
    return path
