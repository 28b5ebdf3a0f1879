"""Data-parallel training under a real ``mpiexec``: equivalence, faults, resume, the CLI.

Each test runs ``mpiexec -n N python tests/mpi/<script>.py`` as a subprocess (120 s limit) with
one BLAS thread per rank. Skipped when mpi4py or mpiexec is missing, except in CI (CI=true),
where that is a failure.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = REPO / "tests" / "mpi"
TIMEOUT = 120
TINY = {"name": "tiny-digits", "input": [8, 8, 1], "layers": [
    {"type": "conv2d", "filters": 4, "kernel": 3, "activation": "relu"},
    {"type": "maxpool2d", "pool": 2}, {"type": "flatten"},
    {"type": "dense", "units": 10, "activation": "softmax"}]}


def _find_mpiexec() -> str | None:
    here = Path(sys.executable).with_name("mpiexec")
    return str(here) if here.exists() else shutil.which("mpiexec")


@pytest.fixture(scope="module")
def mpiexec() -> str:
    found = _find_mpiexec()
    if importlib.util.find_spec("mpi4py") is None or found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI needs mpi4py and mpiexec (pip install 'glassnet[mpi]')")
        pytest.skip("mpi4py or mpiexec is not installed (pip install mpi4py mpich)")
    return found


def run(args: list[str], timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO), GLASSNET_THREADS="1", OPENBLAS_NUM_THREADS="1")
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=timeout,
                          cwd=REPO)


def mpirun(mpiexec: str, n: int, script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run([mpiexec, "-n", str(n), sys.executable, str(SCRIPTS / script), *args])


def last_json(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert len(lines) == 1, proc.stdout  # rank 0 alone prints
    result: dict[str, Any] = json.loads(lines[0])
    return result


@pytest.fixture(scope="module", params=[1, 2])
def equivalence(request: pytest.FixtureRequest, mpiexec: str) -> dict[str, Any]:
    return last_json(mpirun(mpiexec, request.param, "equivalence.py"))


def test_n_ranks_train_the_same_weights_as_one_process(equivalence: dict[str, Any]) -> None:
    """float64, >= 10 steps: N ranks with global batch 16 == one process with batch 16."""
    for case in ("sgd", "adam_tiny_last"):  # uneven last shard (3+2); an empty shard (1+0)
        res = equivalence[case]
        assert res["steps"] >= 5 and res["across_ranks"] == 0.0
        assert res["vs_single"] <= 1e-10 and res["history"] <= 1e-10
        if equivalence["ranks"] == 1:  # one rank is plain fit, bit for bit
            assert res["vs_single"] == 0.0 and res["history"] == 0.0


def test_batchnorm_normalises_each_shard_on_its_own(equivalence: dict[str, Any]) -> None:
    res = equivalence["batchnorm"]
    assert res["across_ranks"] == 0.0 and res["vs_shard_reference"] <= 1e-10
    if equivalence["ranks"] == 1:
        assert res["vs_single"] == 0.0
    else:  # per-shard batch statistics are not the full batch's (no SyncBatchNorm)
        assert res["vs_single"] > 1e-6


def test_dropout_masks_are_the_global_batch_s_on_any_number_of_ranks(
    equivalence: dict[str, Any],
) -> None:
    """float64: N ranks with dropout == one process (masks drawn for the global batch)."""
    res = equivalence["dropout"]
    assert res["across_ranks"] == 0.0 and res["distinct_mask_streams"] == 1
    assert res["vs_single"] <= 1e-10
    if equivalence["ranks"] == 1:
        assert res["vs_single"] == 0.0


def test_batch_not_divisible_by_ranks_is_an_error_naming_both(
    equivalence: dict[str, Any],
) -> None:
    if equivalence["ranks"] == 1:
        assert equivalence["bad_batch"] == ""
    else:
        assert "batch_size=15 is not divisible by the 2 MPI ranks" in equivalence["bad_batch"]
        assert "e.g. 14 or 16" in equivalence["bad_batch"]


@pytest.mark.parametrize(("mode", "code", "message"), [
    ("runtime", 1, "rank 1: RuntimeError: injected failure after epoch 1"),
    ("badinput", 2, ": GlassnetError: fit: batch_size=15 is not divisible by the 2 MPI ranks"),
])
def test_a_failing_rank_ends_the_job_with_its_message(
    mpiexec: str, mode: str, code: int, message: str
) -> None:
    start = time.perf_counter()
    proc = mpirun(mpiexec, 2, "fault.py", mode)
    assert time.perf_counter() - start < 60  # no hang: the other rank was aborted
    assert proc.returncode == code, proc.stderr
    assert message in proc.stderr
    assert "finished" not in proc.stdout


def test_checkpoint_from_two_ranks_resumes_on_one(mpiexec: str, tmp_path: Path) -> None:
    saved = last_json(mpirun(mpiexec, 2, "resume.py", "save", str(tmp_path)))
    assert saved["ranks"] == 2 and Path(saved["saved"]).exists()
    resumed = last_json(run([sys.executable, str(SCRIPTS / "resume.py"), "resume",
                             str(tmp_path)]))
    assert resumed["vs_uninterrupted"] <= 1e-10


def test_cli_train_on_two_ranks_prints_and_writes_once(mpiexec: str, tmp_path: Path) -> None:
    model = tmp_path / "tiny.json"
    model.write_text(json.dumps(TINY))
    base = [mpiexec, "-n", "2", sys.executable, "-m", "glassnet.cli", "train", str(model),
            "--data", "digits", "--epochs", "1", "--limit", "300", "--no-plots"]
    out = tmp_path / "run"
    summary = last_json(run([*base, "--batch-size", "64", "--json", "--out", str(out)]))
    assert summary["data"] == "digits" and len(summary["runs"]) == 1
    assert (out / "model.npz").exists() and (out / "summary.json").exists()
    bad = run([*base, "--batch-size", "63", "--out", str(tmp_path / "bad")])
    assert bad.returncode == 2
    assert "batch_size=63 is not divisible by the 2 MPI ranks" in bad.stderr


def weights_of(path: Path) -> np.ndarray:
    """Every weight and buffer in a checkpoint, flattened, as float64."""
    with np.load(path, allow_pickle=False) as f:
        keys = sorted(k for k in f.files if k.startswith(("w/", "b/")))
        return np.concatenate([f[k].ravel().astype(np.float64) for k in keys])


def test_dropout_model_ends_with_the_same_weights_on_1_2_and_4_ranks(
    mpiexec: str, tmp_path: Path
) -> None:
    """keras_mnist_convnet (Dropout 0.5, float32), 256 mnist-5k images, batch 64, one epoch.

    Each rank draws the dropout masks of the whole global batch and keeps its rows, so the
    ranks only change the order of additions: float32 rounding (before: 0.75 relative).
    """
    flat = {}
    for n in (1, 2, 4):  # 4 ranks oversubscribe a 2-core machine: the model and data are tiny
        out = tmp_path / f"ranks{n}"
        last_json(run([mpiexec, "-n", str(n), sys.executable, "-m", "glassnet.cli", "train",
                       "keras_mnist_convnet", "--data", "mnist-5k", "--epochs", "1",
                       "--limit", "256", "--batch-size", "64", "--no-plots", "--json",
                       "--out", str(out)]))
        flat[n] = weights_of(out / "model.npz")
    scale = float(np.max(np.abs(flat[1])))
    for n in (2, 4):
        assert float(np.max(np.abs(flat[n] - flat[1]))) / scale <= 1e-5, n


def test_bench_mpi_times_one_and_two_ranks(mpiexec: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from glassnet.dist import bench_mpi

    monkeypatch.setenv("PYTHONPATH", str(REPO))
    res = bench_mpi(["keras_mnist_mlp"], batch=32, steps=2, rounds=1, timeout=TIMEOUT)
    assert [r["ranks"] for r in res["results"]] == [1, 2]
    assert all(r["images_per_s"] > 0 for r in res["results"])
    assert res["results"][0]["efficiency"] == 1.0
