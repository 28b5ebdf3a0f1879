"""Atomic writes: a failed write leaves the previous good file as it was and no temporary file.

The failures are real: each write runs in a subprocess whose file-size limit
(``RLIMIT_FSIZE``, with ``SIGXFSZ`` ignored) makes ``write`` fail with ``OSError(EFBIG)`` part
way through, the same code path as a full disk. The limit is set after the imports, so only the
write under test can hit it.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import glassnet as gn
from glassnet import layers as L
from glassnet.fileio import atomic_write, write_bytes, write_text
from glassnet.training.checkpoint import load_model, save_checkpoint

resource = pytest.importorskip("resource")  # POSIX only

LIMIT = 4096  # bytes: every file written below is larger

LIMITED = """
import resource, signal
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
"""


def run_limited(setup: str, action: str, limit: int = LIMIT) -> subprocess.CompletedProcess[str]:
    """Run ``setup``, then cap the file size at ``limit`` bytes, then run ``action``."""
    code = textwrap.dedent(setup) + LIMITED.format(limit=limit) + textwrap.dedent(action)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=120)


def leftovers(folder: Path, keep: str) -> list[str]:
    """Files in ``folder`` other than ``keep`` (a temporary file left behind shows up here)."""
    return sorted(p.name for p in folder.iterdir() if p.name != keep)


def small_model(units: int = 64) -> gn.Sequential:
    model = gn.Sequential([L.Input((8, 8, 1)), L.Flatten(), L.Dense(units)])
    model.build(seed=0)
    return model


def test_checkpoint_failed_write_keeps_the_previous_checkpoint(tmp_path: Path) -> None:
    path = save_checkpoint(small_model(), tmp_path / "model.npz")
    before = path.read_bytes()
    assert len(before) > LIMIT
    proc = run_limited("""
        import errno, glassnet as gn
        from glassnet import layers as L
        from glassnet.training.checkpoint import save_checkpoint
        m = gn.Sequential([L.Input((8, 8, 1)), L.Flatten(), L.Dense(64)])
        m.build(seed=1)
        """, f"""
        try:
            save_checkpoint(m, {str(path)!r})
        except OSError as exc:
            raise SystemExit(f"errno {{exc.errno}}")
        """)
    assert proc.stderr.strip().endswith(f"errno {errno.EFBIG}"), proc.stderr
    assert path.read_bytes() == before
    assert leftovers(tmp_path, path.name) == []
    np.testing.assert_array_equal(load_model(path).layers[-1].weights["kernel"].data,
                                  small_model().layers[-1].weights["kernel"].data)


def test_onnx_export_failed_write_keeps_the_previous_file(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    from glassnet.onnx.export import export_onnx

    path = export_onnx(small_model(), tmp_path / "model.onnx")
    before = path.read_bytes()
    assert len(before) > LIMIT
    proc = run_limited("""
        import glassnet as gn
        from glassnet import layers as L
        from glassnet.onnx.export import export_onnx
        m = gn.Sequential([L.Input((8, 8, 1)), L.Flatten(), L.Dense(64)])
        m.build(seed=1)
        """, f"""
        try:
            export_onnx(m, {str(path)!r})
        except OSError as exc:
            raise SystemExit(f"errno {{exc.errno}}")
        """)
    assert proc.stderr.strip().endswith(f"errno {errno.EFBIG}"), proc.stderr
    assert path.read_bytes() == before
    assert leftovers(tmp_path, path.name) == []


CLI = """
import sys
from glassnet.cli import main
import glassnet.commands.bench, glassnet.commands.explain, glassnet.explain
"""


def test_explain_failed_write_keeps_the_previous_page(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_text("<!doctype html><p>the previous good page</p>", encoding="utf-8")
    before = path.read_bytes()
    proc = run_limited(CLI, f"""
        sys.exit(main(["explain", "lenet5", "--out", {str(path)!r}]))
        """)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: --out") or "--out" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert path.read_bytes() == before
    assert leftovers(tmp_path, path.name) == []


def test_bench_failed_write_keeps_the_previous_report(tmp_path: Path) -> None:
    path = tmp_path / "bench.json"
    path.write_text('{"previous": "good report"}\n' * 200)
    before = path.read_bytes()
    tiny = ["bench", "--models", "lenet5", "--batch", "2", "--rounds", "1", "--steps", "1",
            "--workloads", "infer", "--threads", "1", "--quiet", "--out", str(path)]
    # The workers inherit the file-size cap, and on a fresh install their first run writes
    # numba's kernel cache (EFBIG there, before any report exists): run the same bench once
    # uncapped first, without --out, so the capped run's only sizeable write is the report.
    subprocess.run([sys.executable, "-m", "glassnet.cli", *tiny[:-2]], check=True,
                   capture_output=True, timeout=300)
    # 1 KiB: under the report's size (about 1.8 KB), over what the bench workers write.
    proc = run_limited(CLI, f"""
        sys.exit(main({tiny!r}))
        """, limit=1024)
    assert proc.returncode == 2, proc.stderr
    assert "--out" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert path.read_bytes() == before
    assert leftovers(tmp_path, path.name) == []


def test_exception_inside_the_block_keeps_the_previous_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    write_text(path, "good\n")
    with pytest.raises(RuntimeError, match="half way"), atomic_write(path, "w") as fh:
        fh.write("partial")
        raise RuntimeError("half way")
    assert path.read_text() == "good\n"
    assert leftovers(tmp_path, path.name) == []


def test_write_replaces_and_keeps_umask_permissions(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    write_bytes(path, b"old")
    write_bytes(path, b"new")
    assert path.read_bytes() == b"new"
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    assert leftovers(tmp_path, path.name) == []


def test_missing_folder_is_an_oserror_and_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_text(tmp_path / "no" / "such" / "file.txt", "x")
    assert leftovers(tmp_path, "") == []


def test_write_mode_must_be_a_write_mode(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mode 'a' is not"), atomic_write(tmp_path / "f", "a"):
        pass
