"""`glassnet train`, `evaluate` and `demo` through main(argv), plus one real subprocess."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from glassnet.cli import main
from glassnet.errors import GlassnetError, ShapeError
from glassnet.training import session

REPO = Path(__file__).resolve().parent.parent
PLOTS = ("curves.png", "confusion_matrix.png", "filters.png", "feature_maps.png")
TINY = {  # a conv net for the bundled 8x8x1 digits: trains in well under a second
    "name": "tiny-digits",
    "input": [8, 8, 1],
    "layers": [
        {"type": "conv2d", "filters": 4, "kernel": 3, "activation": "relu"},
        {"type": "maxpool2d", "pool": 2},
        {"type": "flatten"},
        {"type": "dense", "units": 10, "activation": "softmax"},
    ],
}
FAST = ["--data", "digits", "--epochs", "1", "--limit", "300", "--batch-size", "64"]


def write_model(folder: Path, config: dict, name: str = "tiny.json") -> str:
    path = folder / name
    path.write_text(json.dumps(config))
    return str(path)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, str]:
    """One `train --json` run: (run folder, the parsed stdout, the model file)."""
    folder = tmp_path_factory.mktemp("train")
    model = write_model(folder, TINY)
    out = folder / "run"
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = main(["train", model, *FAST, "--json", "--out", str(out)])
    assert code == 0
    return out, json.loads(stdout.getvalue()), model


def test_train_json_matches_the_contract(trained: tuple[Path, dict, str]) -> None:
    out, summary, model = trained
    assert set(summary) >= {"model", "data", "runs", "mean_test_accuracy", "std_test_accuracy"}
    assert summary["model"] == model and summary["data"] == "digits"
    (run,) = summary["runs"]
    assert set(run) == {"seed", "test_accuracy", "test_loss", "epochs", "seconds"}
    assert run["seed"] == 0 and run["epochs"] == 1 and run["seconds"] > 0
    assert 0.0 <= run["test_accuracy"] <= 1.0 and run["test_loss"] > 0
    assert summary["mean_test_accuracy"] == run["test_accuracy"]
    assert summary["std_test_accuracy"] == 0.0
    assert json.loads((out / "summary.json").read_text()) == summary


def test_train_writes_checkpoint_plots_and_history(trained: tuple[Path, dict, str]) -> None:
    out, _, _ = trained
    for name in ("model.npz", "summary.json", "history.json", *PLOTS):
        assert (out / name).stat().st_size > 0, name
    history = json.loads((out / "history.json").read_text())
    assert len(history["loss"]) == 1 and len(history["accuracy"]) == 1


def test_evaluate_reproduces_the_trained_accuracy(
    trained: tuple[Path, dict, str], capsys: pytest.CaptureFixture[str]
) -> None:
    out, summary, _ = trained
    ckpt = str(out / "model.npz")
    assert main(["evaluate", ckpt, "--data", "digits", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result == {
        "checkpoint": ckpt, "data": "digits",
        "test_loss": pytest.approx(summary["runs"][0]["test_loss"], rel=1e-6),
        "test_accuracy": summary["runs"][0]["test_accuracy"],
    }
    assert main(["evaluate", ckpt, "--data", "digits"]) == 0
    text = capsys.readouterr().out
    assert f"accuracy {result['test_accuracy']:.4f}" in text and "per-class accuracy" in text


def test_two_runs_report_both_seeds_and_the_sample_std(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = write_model(tmp_path, TINY)
    out = tmp_path / "two"
    argv = ["train", model, *FAST, "--runs", "2", "--seed", "3", "--no-plots",
            "--validation-split", "0.2", "--out", str(out)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "run 1/2  seed 3" in text and "run 2/2  seed 4" in text and "± std" in text
    summary = json.loads((out / "summary.json").read_text())
    accs = [r["test_accuracy"] for r in summary["runs"]]
    assert [r["seed"] for r in summary["runs"]] == [3, 4]
    assert summary["mean_test_accuracy"] == pytest.approx(statistics.mean(accs))
    assert summary["std_test_accuracy"] == pytest.approx(statistics.stdev(accs))
    assert not any((out / name).exists() for name in PLOTS)
    assert "val_loss" in json.loads((out / "history.json").read_text())
    assert str(out / "model.npz") in text  # every file is listed


def test_same_seed_same_result(tmp_path: Path) -> None:
    opts = session.TrainOptions(write_model(tmp_path, TINY), "digits", epochs=1, limit=200,
                                verbose=0)
    ds = session.load_data("digits", limit=200)
    a, b = (session.train_once(opts, ds, seed=5) for _ in range(2))
    assert a.result.test_accuracy == b.result.test_accuracy
    assert a.result.test_loss == b.result.test_loss


def test_zoo_models_are_built_for_the_data() -> None:
    ds = session.load_data("digits")
    model = session.build_model("keras-mnist-mlp", ds, seed=1)
    assert model.input_shape == (8, 8, 1) and model.output_shape == (10,)
    with pytest.raises(ShapeError, match=r"lenet5 cannot take digits images of 8x8x1"):
        session.build_model("lenet5", ds, seed=0)


def test_logits_models_train_with_from_logits(tmp_path: Path) -> None:
    logits = {**TINY, "layers": [*TINY["layers"][:-1], {"type": "dense", "units": 10}]}
    ds = session.load_data("digits", limit=100)
    for config, softmax in ((TINY, True), (logits, False)):
        opts = session.TrainOptions(write_model(tmp_path, config), "digits", epochs=1, verbose=0)
        run = session.train_once(opts, ds, seed=0)
        assert run.model.ends_in_softmax is softmax
        assert run.model._train_cfg.from_logits is not softmax
        assert np.isfinite(run.result.test_loss)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--data", "nope"], r"unknown dataset 'nope'; expected one of mnist-5k, digits"),
        (["--epochs", "0"], r"--epochs 0 is invalid; expected an integer >= 1"),
        (["--runs", "0"], r"--runs 0 is invalid"),
        (["--limit", "0"], r"--limit 0 is invalid"),
        (["--lr", "0"], r"--lr 0.0 is invalid; expected a learning rate > 0"),
        (["--lr", "-0.1"], r"--lr -0.1 is invalid"),
        (["--optimizer", "lbfgs"], r"--optimizer 'lbfgs' is unknown; expected one of sgd, adam"),
        (["--momentum", "0.9"], r"--momentum does not apply to --optimizer adam"),
        (["--validation-split", "1"], r"--validation-split 1.0 is invalid"),
    ],
)
def test_bad_options_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    model = write_model(tmp_path, TINY)
    assert main(["train", model, *FAST, *extra, "--out", str(tmp_path / "o")]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1
    assert re.search(message, captured.err), captured.err


def test_model_and_checkpoint_that_do_not_fit_the_data(
    tmp_path: Path, trained: tuple[Path, dict, str], capsys: pytest.CaptureFixture[str]
) -> None:
    wide = write_model(tmp_path, {**TINY, "input": [28, 28, 1]}, "wide.json")
    with pytest.raises(GlassnetError, match=r"model file .*wide.json takes input 28x28x1 but "
                       r"digits images are 8x8x1"):
        session.build_model(wide, session.load_data("digits"), seed=0)
    five = write_model(tmp_path, {**TINY, "layers": [*TINY["layers"][:-1],
                                                     {"type": "dense", "units": 5}]}, "five.json")
    with pytest.raises(GlassnetError, match=r"outputs shape 5 but digits has 10 classes"):
        session.build_model(five, session.load_data("digits"), seed=0)
    with pytest.raises(GlassnetError, match=r"neither a zoo name .* nor a model file"):
        session.build_model("no-such-model", session.load_data("digits"), seed=0)
    ckpt = str(trained[0] / "model.npz")
    assert main(["evaluate", ckpt, "--data", "mnist-5k"]) == 2
    err = capsys.readouterr().err
    assert re.fullmatch(r"glassnet evaluate: error: checkpoint .* takes input 8x8x1 but mnist-5k "
                        r"images are 28x28x1\n", err), err
    assert main(["evaluate", str(tmp_path / "missing.npz"), "--data", "digits"]) == 2


def test_default_run_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["train", "keras_mnist_mlp", *FAST, "--no-plots", "--json"]) == 0
    (folder,) = (tmp_path / "runs").iterdir()
    assert re.fullmatch(r"keras_mnist_mlp-digits-\d{8}-\d{6}", folder.name)
    assert (folder / "model.npz").exists() and (folder / "summary.json").exists()


def test_demo_quick(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "keras_mnist_convnet" in text and "34,826" in text  # the summary table
    assert re.search(r"test accuracy 0\.\d{4}", text)
    for name in ("model.npz", "summary.json", *PLOTS):
        assert (out / name).exists() and str(out / name) in text


@pytest.mark.parametrize("command", ["train", "evaluate", "demo"])
def test_help_gives_an_example(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert f"glassnet {command}" in text and "examples:" in text


def test_subprocess_train_json(tmp_path: Path) -> None:
    model = write_model(tmp_path, TINY)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "glassnet.cli", "train", model, *FAST, "--limit", "150",
         "--no-plots", "--json", "--out", str(tmp_path / "sub")],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)  # stdout holds only the JSON object
    assert summary["runs"][0]["seed"] == 0 and summary["data"] == "digits"
    assert "epoch 1/1" in proc.stderr
