"""Durable runs: a checkpoint after every epoch, SIGINT/SIGTERM, resume bit for bit (issue 16).

The interrupts are real signals: a callback (in process) or the ``GLASSNET_INTERRUPT_AFTER_EPOCHS``
hook (in a ``glassnet train`` subprocess) sends SIGINT/SIGTERM to its own process after an
epoch, exactly as a Ctrl-C or ``kill`` at that moment would. The reference is the same command
run without interruption; weights are compared with ``np.array_equal``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import glassnet as gn
from glassnet import data
from glassnet import layers as L
from glassnet.cli import main
from glassnet.errors import GlassnetError
from glassnet.training.callbacks import Callback
from glassnet.training.durable import INTERRUPT_AFTER, checkpoint_path

REPO = Path(__file__).resolve().parent.parent
SCE = "sparse_categorical_crossentropy"
NET = {"name": "tiny-bn-dropout", "input": [8, 8, 1], "layers": [
    {"type": "conv2d", "filters": 4, "kernel": 3, "activation": "relu"},
    {"type": "batchnorm"}, {"type": "maxpool2d", "pool": 2}, {"type": "flatten"},
    {"type": "dropout", "rate": 0.3}, {"type": "dense", "units": 10, "activation": "softmax"}]}
ARGS = ["--data", "digits", "--limit", "300", "--batch-size", "32", "--no-plots", "--json"]


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    ds = data.load("digits")
    return ds.x_train[:200], ds.y_train[:200]


def net(seed: int = 0) -> gn.Model:
    """Conv -> BatchNorm -> pool -> Dropout -> dense, compiled with SGD + momentum."""
    model = gn.Sequential([L.Input((8, 8, 1)), L.Conv2D(4, 3, activation="relu"),
                           L.BatchNorm(), L.MaxPool2D(2), L.Flatten(), L.Dropout(0.3),
                           L.Dense(10, activation="softmax")], seed=seed)
    model.compile(gn.optim.SGD(model.parameters(), lr=0.05, momentum=0.9), SCE, ["accuracy"])
    return model


def state(model: gn.Model) -> list[np.ndarray]:
    """Every parameter, buffer and optimizer array of ``model``."""
    arrays = [np.array(p.data) for p in model.parameters()]
    arrays += [np.array(b) for layer in model.layers for b in layer.buffers.values()]
    for entries in model.optimizer.state_dict()["state"].values():
        arrays += [np.asarray(v) for v in entries.values()]
    return arrays


class SignalAfter(Callback):
    """Sends ``signum`` to this process at the end of epoch ``epoch``."""

    def __init__(self, epoch: int, signum: int) -> None:
        super().__init__()
        self.epoch, self.signum = epoch, signum

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        if epoch == self.epoch:
            os.kill(os.getpid(), self.signum)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_fit_resumes_bit_identical_after_a_signal(digits, tmp_path, signum):
    x, y = digits
    kw: dict[str, Any] = {"epochs": 4, "batch_size": 32, "seed": 7, "verbose": 0,
                          "validation_split": 0.2}
    straight = net()
    h_straight = straight.fit(x, y, **kw)
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        net().fit(x, y, checkpoint_dir=tmp_path, callbacks=[SignalAfter(2, signum)], **kw)
    assert signal.getsignal(signal.SIGTERM) is before  # fit's SIGTERM handler is gone
    assert checkpoint_path(tmp_path).exists()
    resumed = net()  # a fresh process would build the model the same way
    h_resumed = resumed.fit(x, y, checkpoint_dir=tmp_path, resume=True, **kw)
    assert h_resumed.history == h_straight.history and h_resumed.epochs == 4
    diffs = [float(np.max(np.abs(a - b))) for a, b in zip(state(resumed), state(straight),
                                                          strict=True)]
    assert max(diffs) == 0.0
    assert all(np.array_equal(a, b) for a, b in zip(state(resumed), state(straight),
                                                    strict=True))


def test_resume_with_an_empty_folder_starts_fresh(digits, tmp_path):
    x, y = digits
    a, b = net(), net()
    a.fit(x, y, epochs=1, batch_size=32, verbose=0)
    b.fit(x, y, epochs=1, batch_size=32, verbose=0, checkpoint_dir=tmp_path, resume=True)
    assert all(np.array_equal(p, q) for p, q in zip(state(a), state(b), strict=True))


def test_resume_with_another_optimizer_is_an_error(digits, tmp_path):
    x, y = digits
    net().fit(x, y, epochs=1, batch_size=32, verbose=0, checkpoint_dir=tmp_path)
    other = net()
    other.compile(gn.optim.Adam(other.parameters()), SCE)
    with pytest.raises(GlassnetError, match="holds a SGD optimizer but fit uses Adam"):
        other.fit(x, y, epochs=2, batch_size=32, verbose=0, checkpoint_dir=tmp_path,
                  resume=True)


# ----- the CLI -----------------------------------------------------------------------------------
def cli(*args: str, cwd: Path, interrupt_after: int | None = None
        ) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop(INTERRUPT_AFTER, None)
    if interrupt_after is not None:
        env[INTERRUPT_AFTER] = str(interrupt_after)
    return subprocess.run([sys.executable, "-m", "glassnet.cli", "train", *args],
                          capture_output=True, text=True, env=env, cwd=cwd, timeout=120)


def weights_file(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files if k != "meta"}


def assert_interrupted(proc: subprocess.CompletedProcess[str], out: Path) -> None:
    assert proc.returncode == 130, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("interrupted")]
    assert lines == [f"interrupted: finished epochs are saved; continue with: glassnet train "
                     f"--resume {out}"]
    assert not (out / "model.npz").exists()  # nothing half-done passes for a final model


def assert_same_weights(a: Path, b: Path) -> float:
    wa, wb = weights_file(a), weights_file(b)
    assert sorted(wa) == sorted(wb)
    diff = max(float(np.max(np.abs(wa[k] - wb[k]))) for k in wa)
    assert diff == 0.0 and all(np.array_equal(wa[k], wb[k]) for k in wa)
    return diff


@pytest.mark.parametrize(("runs", "epochs", "stop_after", "finished_runs"), [
    (1, 3, 2, 0),  # interrupted after epoch 2 of 3
    (2, 2, 3, 1),  # --runs 2: interrupted after epoch 1 of run 2
])
def test_cli_sigint_then_resume_equals_an_uninterrupted_run(
    tmp_path, runs, epochs, stop_after, finished_runs
):
    (tmp_path / "net.json").write_text(json.dumps(NET))
    common = ["net.json", *ARGS, "--epochs", str(epochs), "--runs", str(runs)]
    straight = cli(*common, "--out", "straight", cwd=tmp_path)
    assert straight.returncode == 0, straight.stderr
    out = Path("cut")
    stopped = cli(*common, "--out", str(out), cwd=tmp_path, interrupt_after=stop_after)
    assert_interrupted(stopped, out)
    saved = json.loads((tmp_path / out / "resume.json").read_text())
    assert len(saved["results"]) == finished_runs
    resumed = cli("--resume", str(out), "--json", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    want, got = json.loads(straight.stdout), json.loads(resumed.stdout)
    for key in ("test_accuracy", "test_loss", "epochs", "seed"):
        assert [r[key] for r in got["runs"]] == [r[key] for r in want["runs"]]
    assert_same_weights(tmp_path / "straight" / "model.npz", tmp_path / out / "model.npz")
    assert json.loads((tmp_path / out / "history.json").read_text()) == json.loads(
        (tmp_path / "straight" / "history.json").read_text())


@pytest.mark.parametrize(("args", "message"), [
    (["--resume", "nowhere"], "--resume nowhere: no resume.json there"),
    (["net.json", "--resume", "x"], "--resume x takes no MODEL or --data"),
    (["net.json"], "MODEL and --data NAME are required (or --resume DIR alone)"),
])
def test_cli_resume_errors_are_one_line(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    assert main(["train", *args]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and message in err
