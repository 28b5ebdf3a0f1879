"""Bad input through the real CLI, in subprocesses: exit 2, one line, no traceback, no file touched.

Every case runs ``python -m glassnet.cli ...`` in its own folder, which holds a pre-existing good
output file for each command that writes one (``good.npz``, ``good.html``, ``good.json``,
``good.onnx``); the folder and the shared inputs are snapshotted (names, sizes, mtimes,
SHA-256) before and after, so a case that writes, replaces or leaves a partial file fails.
The cases run four at a time in one module fixture; the parametrized tests read the results.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from badinputs import build, names

ROOT = Path(__file__).resolve().parents[1]
PRECIOUS = {"good.npz": b"PK good checkpoint", "good.html": b"<p>good page</p>",
            "good.json": b'{"good": 1}', "good.onnx": b"good onnx"}
# A one-line error: `glassnet CMD: error: ...` (the argparse convention the CLI keeps).
ERROR_LINE = re.compile(r"glassnet( [a-z_]+)*: error: \S.*")
MAX_LINE = 500


def _cases(names: dict[str, list[str]]) -> list[tuple[str, list[str]]]:
    """(id, argv) for every case; ``{in}`` is the inputs folder, ``{case}`` the case folder."""
    cases: list[tuple[str, list[str]]] = []

    def add(cid: str, *argv: str) -> None:
        cases.append((cid, list(argv)))

    m8, m28 = "{in}/tiny8.json", "{in}/tiny28.json"
    # -- flags out of range or malformed, for every command (refused while parsing) --
    for value in ("-1", "4294967296", "abc", "1.5"):
        add(f"train-seed-{value}", "train", m8, "--data", "digits", "--seed", value)
    for cmd in (["gradcheck", "lenet5"], ["bench", "--against", "none"],
                ["export", "lenet5", "--onnx", "{case}/good.onnx"], ["explain", "lenet5"]):
        add(f"{cmd[0]}-seed-neg", *cmd, "--seed", "-1")
    for flag, value in (("--momentum", "1"), ("--momentum", "-0.5"), ("--weight-decay", "-1"),
                        ("--lr", "nan"), ("--lr", "inf"), ("--lr", "0"), ("--lr", "-1"),
                        ("--validation-split", "nan"), ("--validation-split", "1"),
                        ("--epochs", "0"), ("--epochs", "x"), ("--batch-size", "0"),
                        ("--runs", "0"), ("--limit", "0"), ("--optimizer", "lbfgs"),
                        ("--data", "nope")):
        add(f"train{flag}={value}", "train", m8, "--data", "digits", flag, value)
    add("train-no-data", "train", m8)
    add("train-unknown-flag", "train", m8, "--data", "digits", "--bogus")
    add("train-out-is-file", "train", m8, "--data", "digits", "--out", "{in}/a_file")
    add("train-out-under-file", "train", m8, "--data", "digits", "--out", "{in}/a_file/run")
    add("demo-epochs-0", "demo", "--epochs", "0")
    add("demo-out-is-file", "demo", "--out", "{in}/a_file")
    for value in ("0x0x0", "abc", "32x32", "1x2x3x4", "100000x100000x3", "-5"):
        add(f"summary-input-{value}", "summary", "lenet5", "--input", value)
    add("summary-unknown-model", "summary", "vgg99")
    add("summary-unknown-flag", "summary", "lenet5", "--bogus")
    add("compare-unknown-model", "compare", "lenet5", "vgg99")
    for cid, argv in (("kernel-x", ["--kernel", "x"]), ("stride-0", ["--stride", "0"]),
                      ("kernel-too-big", ["--kernel", "99"]),
                      ("channels-neg", ["--channels", "-1"])):
        base = {"--input": "5", "--kernel": "3", "--channels": "1", "--filters": "2"}
        base.update(dict(zip(argv[::2], argv[1::2], strict=True)))
        add(f"calc-conv-{cid}", "calc", "conv", *[t for kv in base.items() for t in kv])
    add("calc-unknown-kind", "calc", "conv9d")
    add("calc-missing-input", "calc", "dense", "--units", "3")
    for value in ("-1", "99"):
        add(f"trace-precision-{value}", "trace", "{in}/good.json", "--precision", value)
    for value in ("0", "nan"):
        add(f"trace-tolerance-{value}", "trace", "{in}/good.json", "--tolerance", value)
    for flag in ("--batch", "--samples"):
        add(f"gradcheck{flag}-0", "gradcheck", "lenet5", flag, "0")
    for flag, value in (("--fit-epochs", "0"), ("--rounds", "0"), ("--models", "vgg99"),
                        ("--batch", "0"), ("--workloads", "nope")):
        add(f"bench{flag}={value}", "bench", "--against", "none", flag, value)
    add("export-opset-0", "export", "lenet5", "--onnx", "{case}/good.onnx", "--opset", "0")
    add("export-no-onnx", "export", "lenet5")
    add("explain-index-neg", "explain", "lenet5", "--index", "-1")
    add("explain-max-mb-0", "explain", "lenet5", "--max-mb", "0", "--out", "{case}/good.html")
    add("import-no-out", "import", "{in}/short.onnx")
    for value in ("0", "abc", "-5G", "1.5X"):
        add(f"max-memory-{value}", "--max-memory", value, "summary", "lenet5")
    add("unknown-command", "frobnicate")
    # -- output paths that cannot be written: refused before any work --
    for cmd, flag in ((["bench", "--against", "none"], "--out"), (["explain", "lenet5"], "--out"),
                      (["export", "lenet5"], "--onnx"), (["import", "{in}/short.onnx"], "--out")):
        add(f"{cmd[0]}-out-is-dir", *cmd, flag, "{case}")
        add(f"{cmd[0]}-out-under-file", *cmd, flag, "{in}/a_file/out")
    # -- hostile MODEL files --
    for name in names["model"]:
        add(f"summary-{name}", "summary", f"{{in}}/{name}")
    for name in ("png.yaml", "deep.json", "bomb.yaml", "huge_units.json", "huge_input.json",
                 "model.npz", "long_key.json", "nan_units.json"):
        add(f"gradcheck-{name}", "gradcheck", f"{{in}}/{name}")
        add(f"export-{name}", "export", f"{{in}}/{name}", "--onnx", "{case}/good.onnx")
        add(f"explain-{name}", "explain", f"{{in}}/{name}", "--out", "{case}/good.html")
    add("train-bomb.yaml", "train", "{in}/bomb.yaml", "--data", "digits")
    add("train-huge_units", "train", "{in}/huge_units.json", "--data", "digits")
    add("budget-vgg16", "--max-memory", "1M", "summary", "vgg16")
    add("budget-model-file", "--max-memory", "1K", "gradcheck", m8)
    # -- trace specs --
    for name in ("pad_huge.json", "nan.json", "nolayers.json", "badlayer.json", "ragged.json",
                 "spec.txt", "missing.json"):
        add(f"trace-{name}", "trace", f"{{in}}/{name}")
    for name in ("deep.json", "deep.yaml", "bomb.yaml", "png.yaml", "binary.json", "empty.json",
                 "trunc.json", "bigint.json", "big.yaml", "adir.yaml", "list.yaml"):
        add(f"trace-{name}", "trace", f"{{in}}/{name}")
    add("trace-budget", "--max-memory", "64K", "trace", "{in}/mid.json")
    add("trace-check-bomb", "trace", "{in}/good.json", "--check", "{in}/bomb.yaml")
    add("trace-check-binary", "trace", "{in}/good.json", "--check", "{in}/binary.json")
    add("explain-trace-deep", "explain", "lenet5", "--trace", "{in}/deep.json",
        "--out", "{case}/good.html")
    # -- checkpoints that are not checkpoints --
    for name in names["checkpoint"]:
        add(f"evaluate-{name}", "evaluate", f"{{in}}/{name}", "--data", "digits")
    for name in ("empty.npz", "png.npz", "trunc.npz", "objects.npz"):
        add(f"explain-ckpt-{name}", "explain", f"{{in}}/{name}", "--out", "{case}/good.html")
        add(f"export-ckpt-{name}", "export", f"{{in}}/{name}", "--onnx", "{case}/good.onnx")
    # -- a --data-dir with gzip garbage, gzip bombs, overflowing IDX headers --
    for name in names["data"]:
        add(f"data-{name}", "train", m28, "--data", "mnist", "--data-dir", f"{{in}}/data_{name}",
            "--epochs", "1", "--out", "{case}/run")
    add("data-cifar-garbage", "train", "{in}/tiny8.json", "--data", "cifar10",
        "--data-dir", "{in}/data_cifar", "--out", "{case}/run")
    add("data-missing-dir", "train", m28, "--data", "mnist", "--data-dir", "{in}/nowhere")
    add("data-dir-is-file", "train", m28, "--data", "mnist", "--data-dir", "{in}/a_file")
    # -- ONNX files --
    for name in names["onnx"]:
        add(f"import-{name}", "import", f"{{in}}/{name}", "--out", "{case}/good.npz")
    for name in ("short.onnx", "huge_init.onnx", "garbage.onnx"):
        add(f"summary-{name}", "summary", f"{{in}}/{name}")
    return cases


def _snapshot(folder: Path) -> dict[str, tuple[int, int, str]]:
    """Every file under ``folder``: (size, mtime_ns, sha256); folders as (-1, 0, '')."""
    out: dict[str, tuple[int, int, str]] = {}
    for p in sorted(folder.rglob("*")):
        rel = str(p.relative_to(folder))
        if p.is_dir():
            out[rel] = (-1, 0, "")
        else:
            st = p.stat()
            out[rel] = (st.st_size, st.st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
    return out


def _env(inputs: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(GLASSNET_DATA=str(inputs / "nodata"), MPLBACKEND="Agg", OMP_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    return env


def _run(argv: list[str], case: Path, env: dict[str, str]) -> tuple[int, str, str, bool]:
    """Run one case; return (exit code, stdout, stderr, whether its folder is unchanged)."""
    case.mkdir()
    for name, body in PRECIOUS.items():
        (case / name).write_bytes(body)
    before = _snapshot(case)
    proc = subprocess.run([sys.executable, "-m", "glassnet.cli", *argv], cwd=case, env=env,
                          capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout, proc.stderr, _snapshot(case) == before


@pytest.fixture(scope="module")
def results(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> dict[str, tuple[int, str, str, bool]]:
    """Build the inputs, run the selected cases four at a time, check the inputs are untouched."""
    selected = {item.callspec.params["cid"] for item in request.session.items
                if hasattr(item, "callspec") and "cid" in item.callspec.params}
    base = tmp_path_factory.mktemp("bad_inputs")
    inputs = base / "in"
    built = build(inputs)
    before = _snapshot(inputs)
    env = _env(inputs)
    cases = [(cid, argv) for cid, argv in _cases(built) if cid in selected]
    with ThreadPoolExecutor(4) as pool:
        futures = {
            cid: pool.submit(_run, [a.format(**{"in": inputs, "case": base / f"c{i}"})
                                    for a in argv], base / f"c{i}", env)
            for i, (cid, argv) in enumerate(cases)
        }
        out = {cid: f.result() for cid, f in futures.items()}
    assert _snapshot(inputs) == before, "a case changed the shared input files"
    return out


def _case_ids() -> list[str]:
    return [cid for cid, _ in _cases(names())]


@pytest.mark.parametrize("cid", _case_ids())
def test_bad_input_is_one_line_exit_2_and_touches_nothing(
    results: dict[str, tuple[int, str, str, bool]], cid: str
) -> None:
    code, out, err, unchanged = results[cid]
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err + out, err
    assert code == 2, f"exit {code}: {err}"
    assert len(lines) == 1 and ERROR_LINE.fullmatch(lines[0]), err
    assert len(lines[0]) <= MAX_LINE, f"{len(lines[0])} characters"
    assert unchanged, "the command wrote, replaced or left a file"


def _running_gradcheck(tmp_path: Path) -> subprocess.Popen[str]:
    """A long ``glassnet gradcheck`` that is past start-up (numba loaded inside the command)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "glassnet.cli", "gradcheck", "lenet5", "--samples", "100000"],
        cwd=tmp_path, env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    maps = Path(f"/proc/{proc.pid}/maps")
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if "numba" in maps.read_text():
            break
        time.sleep(0.05)
    time.sleep(0.2)
    return proc


def test_ctrl_c_is_one_line_exit_130(tmp_path: Path) -> None:
    """SIGINT once the command runs (numba is loaded inside the command): one line, exit 130."""
    proc = _running_gradcheck(tmp_path)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert "Traceback" not in err, err
    assert proc.returncode == 130, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and re.fullmatch(r"glassnet( gradcheck)?: interrupted", lines[0]), err
    assert list(tmp_path.iterdir()) == []


def test_a_second_ctrl_c_after_the_line_still_exits_130(tmp_path: Path) -> None:
    """The Ctrl-C is reported, then another SIGINT arrives while the process ends: still one
    line and exit 130, not death by SIGINT (status -2)."""
    proc = _running_gradcheck(tmp_path)
    proc.send_signal(signal.SIGINT)
    assert proc.stderr is not None
    first = proc.stderr.readline()  # the line is flushed before main returns
    proc.send_signal(signal.SIGINT)
    rest = proc.stderr.read()
    proc.wait(timeout=60)
    assert re.fullmatch(r"glassnet( gradcheck)?: interrupted\n", first), first + rest
    assert proc.returncode == 130, first + rest
    assert rest.strip() == "", rest


def test_an_interrupt_caught_after_it_left_exec_still_exits_130(tmp_path: Path) -> None:
    """A Ctrl-C raised inside code run by ``exec`` of a string (dataclasses and namedtuple build
    methods so during imports) and caught by the CLI: exit 130, not death by SIGINT (-2)."""
    script = tmp_path / "interrupted_in_exec.py"
    script.write_text(
        "import glassnet.cli as cli\n"
        "def main():\n"
        "    try:\n"
        "        exec('raise KeyboardInterrupt')\n"
        "    except KeyboardInterrupt:\n"
        "        return cli.INTERRUPTED\n"
        "cli.main = main\n"
        "cli.run()\n")
    # Run as a module, as the Ctrl-C tests run ``python -m glassnet.cli``: a script run as a
    # file ends through another CPython path that never looks at the mark.
    proc = subprocess.run([sys.executable, "-m", script.stem], cwd=tmp_path, env=_env(tmp_path),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 130, proc.stderr

