"""``glassnet calc``: through ``main(argv)`` and one real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from glassnet.cli import main

REPO_ROOT = Path(__file__).resolve().parent.parent
ALEXNET_CONV1 = [
    "calc",
    "conv",
    "--input",
    "227",
    "--kernel",
    "11",
    "--stride",
    "4",
    "--padding",
    "0",
    "--channels",
    "3",
    "--filters",
    "96",
]


def run_json(capsys, argv):
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_conv_json_contract(capsys):
    out = run_json(capsys, ALEXNET_CONV1)
    assert {k: out[k] for k in ("output_size", "weights", "biases", "params")} == {
        "output_size": 55,
        "weights": 34848,
        "biases": 96,
        "params": 34944,
    }
    assert out["macs"] == 105_415_200 and out["flops"] == 210_830_400
    assert out["explain"][0].endswith("= floor((227 + 0 − 10 − 1)/4) + 1 = 55")
    assert "W = K_h·K_w·C_in·N = 11·11·3·96 = 34,848" in out["explain"]


def test_conv_text(capsys):
    assert main(ALEXNET_CONV1) == 0
    text = capsys.readouterr().out
    assert "output 55×55×96" in text
    assert "output size 55, weights 34,848, biases 96, params 34,944" in text
    assert "P = W + b = 34,848 + 96 = 34,944" in text
    assert "torchvision / fvcore" in text


def test_conv_same_padding(capsys):
    argv = [
        "calc",
        "conv",
        "--input",
        "224",
        "--kernel",
        "3",
        "--stride",
        "2",
        "--padding",
        "same",
        "--channels",
        "3",
        "--filters",
        "32",
    ]
    out = run_json(capsys, argv)
    assert out["output_size"] == 112 and out["params"] == 896
    assert any("P_a = P_total − P_b = 1" in line for line in out["explain"])
    out = run_json(capsys, [*argv[:9], "1,2", *argv[10:]])
    assert out["output_size"] == 113


def test_conv_groups_and_no_bias(capsys):
    argv = [
        "calc",
        "conv",
        "--input",
        "8",
        "--kernel",
        "3",
        "--padding",
        "valid",
        "--channels",
        "8",
        "--filters",
        "16",
        "--groups",
        "4",
        "--no-bias",
    ]
    out = run_json(capsys, argv)
    assert (out["output_size"], out["weights"], out["biases"]) == (6, 288, 0)


def test_pool(capsys):
    out = run_json(capsys, ["calc", "pool", "--input", "55", "--pool", "3", "--stride", "2"])
    assert out["output_size"] == 27 and out["params"] == 0
    out = run_json(
        capsys, ["calc", "pool", "--input", "6", "--pool", "3", "--stride", "2", "--ceil-mode"]
    )
    assert out["output_size"] == 3
    assert main(["calc", "pool", "--input", "28", "--pool", "2"]) == 0
    assert "output 14×14" in capsys.readouterr().out


def test_dense(capsys):
    out = run_json(capsys, ["calc", "dense", "--inputs", "9216", "--units", "4096"])
    assert (out["weights"], out["biases"], out["params"]) == (37748736, 4096, 37752832)
    assert out["macs"] == 37748736


@pytest.mark.parametrize(
    ("layer", "convention", "expected"),
    [
        ("rnn", "keras", 12),
        ("rnn", "pytorch", 14),
        ("lstm", "keras", 48),
        ("lstm", "pytorch", 56),
        ("gru", "keras", 36),
        ("gru", "pytorch", 42),
    ],
)
def test_recurrent(capsys, layer, convention, expected):
    argv = ["calc", layer, "--inputs", "3", "--units", "2", "--convention", convention]
    out = run_json(capsys, argv)
    assert out["params"] == expected
    assert any(f"convention {convention}" in line for line in out["explain"])
    out = run_json(capsys, [*argv, "--outputs", "4"])
    assert out["params"] == expected + 2 * 4 + 4


def test_recurrent_text(capsys):
    assert main(["calc", "lstm", "--inputs", "50", "--units", "100", "--outputs", "10"]) == 0
    text = capsys.readouterr().out
    assert "LSTM: n = 50 inputs, k = 100 units, 10 outputs" in text
    assert "P = 4·(k² + kn + k) + km + m" in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["calc", "conv", "--input", "5", "--kernel", "11", "--channels", "3", "--filters", "4"],
            "glassnet calc: error: conv2d_output: kernel 11 does not fit the padded input 5",
        ),
        (
            [
                "calc",
                "conv",
                "--input",
                "5",
                "--kernel",
                "3",
                "--channels",
                "3",
                "--filters",
                "4",
                "--padding",
                "full",
            ],
            "conv2d_output: padding='full' is invalid",
        ),
        (
            [
                "calc",
                "conv",
                "--input",
                "8",
                "--kernel",
                "3",
                "--channels",
                "3",
                "--filters",
                "4",
                "--groups",
                "2",
            ],
            "conv2d_params: groups=2 does not divide c_in=3",
        ),
        (["calc", "pool", "--input", "0", "--pool", "2"], "pool2d_output: size=0 is invalid"),
        (["calc", "dense", "--inputs", "0", "--units", "2"], "dense_params: n_in=0 is invalid"),
        (
            ["calc", "gru", "--inputs", "3", "--units", "2", "--convention", "tf"],
            "gru_params: convention='tf' is invalid; expected one of ['keras', 'pytorch']",
        ),
    ],
)
def test_bad_input_prints_one_line_and_exits_2(capsys, argv, message):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert message in captured.err and captured.err.count("\n") == 1


def test_missing_layer_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["calc"])
    assert exc.value.code == 2


def test_real_subprocess():
    proc = subprocess.run(
        [sys.executable, "-m", "glassnet.cli", *ALEXNET_CONV1, "--json"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert (out["output_size"], out["params"]) == (55, 34944)
