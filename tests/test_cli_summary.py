"""``glassnet summary`` and ``glassnet compare`` through main(argv), plus one real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from glassnet import zoo
from glassnet.cli import main


def _json(capsys, argv):
    assert main(argv) == 0
    out = capsys.readouterr().out
    return json.loads(out)


def test_summary_json_is_only_json(capsys):
    info = _json(capsys, ["summary", "alexnet", "--json"])
    assert info == zoo.alexnet().summary(print_fn=None)
    assert info["layers"][0]["macs"] == 105415200


def test_summary_table_and_explain(capsys):
    assert main(["summary", "lenet5"]) == 0
    out = capsys.readouterr().out
    assert "conv1" in out and "Total params: 61,706" in out and "(None, 28, 28, 6)" in out
    assert main(["summary", "lenet5", "--explain"]) == 0
    out = capsys.readouterr().out
    assert "W = K_h·K_w·C_in·N = 5·5·1·6 = 150" in out


def test_summary_input_override_and_explain_json(capsys):
    info = _json(capsys, ["summary", "alexnet_torchvision", "--input", "224x224x3", "--json",
                          "--explain"])
    assert info["input_shape"] == [224, 224, 3]
    assert info["layers"][0]["explain"][0].startswith("OH = OW: O = floor(")
    info = _json(capsys, ["summary", "keras_mnist_mlp", "--input", "784", "--json"])
    assert info["total_params"] == 13002


def test_summary_model_file(tmp_path, capsys):
    path = tmp_path / "net.yaml"
    path.write_text("input: [8, 8, 1]\nlayers:\n  - {type: conv2d, filters: 2, kernel: 3}\n")
    info = _json(capsys, ["summary", str(path), "--json"])
    assert info["model"] == "net" and info["total_params"] == 20


@pytest.mark.parametrize(("argv", "match"), [
    (["summary", "nope"], "summary: error: MODEL 'nope' is neither a zoo name (lenet5"),
    (["summary", "lenet5", "--input", "32x32"], "error: --input '32x32' is invalid"),
    (["summary", "lenet5", "--input", "3x3x1"], "error: conv1: kernel 5 does not fit"),
    (["compare", "lenet5", "vgg99"], "compare: error: MODEL 'vgg99' is neither"),
])
def test_bad_input_is_one_line_exit_2(capsys, argv, match):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert match in err and err.count("\n") == 1


def test_bad_model_file_is_one_line(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("input: [8, 8, 1]\nlayers:\n  - {type: conv2d, filter: 2, kernel: 3}\n")
    assert main(["summary", str(path)]) == 2
    assert "layers[0]: unknown key 'filter'" in capsys.readouterr().err


def test_compare(capsys):
    data = _json(capsys, ["compare", "lenet5", "resnet18", "--json"])
    rows = {r["model"]: r for r in data["models"]}
    assert rows["lenet5"]["depth"] == 5 and rows["resnet18"]["depth"] == 21
    assert rows["resnet18"]["trainable_params"] == 11_689_512
    assert main(["compare", "alexnet", "vgg16"]) == 0
    out = capsys.readouterr().out
    assert "138,357,544" in out and "62,378,344" in out and "Depth" in out


def test_real_subprocess():
    proc = subprocess.run(
        [sys.executable, "-m", "glassnet.cli", "summary", "lenet5", "--json"],
        capture_output=True, text=True, check=True, timeout=120,
    )
    info = json.loads(proc.stdout)
    assert info["model"] == "lenet5" and info["total_params"] == 61706
