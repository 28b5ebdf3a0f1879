"""glassnet trace on worked examples with known values: the course cases (through the CLI's
--json), the published 2-2-2 sigmoid MLP, and the X / F / dL/dO exercise by the textbook formulas.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import CASES_DIR, REPO

from glassnet.cli import main
from glassnet.tracing import trace

SPECS = Path(__file__).resolve().parent / "trace_specs"
CASES = sorted(p.name for p in CASES_DIR.glob("trace_*.json"))


def cli_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert main(["trace", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("name", CASES)
def test_case_reproduced_through_cli_json(capsys: pytest.CaptureFixture[str], name: str) -> None:
    case = json.loads((CASES_DIR / name).read_text())
    got, expected = cli_json(capsys, str(CASES_DIR / name)), case["expected"]
    tol = case.get("tolerance", 1e-9)
    if "loss" in expected:
        assert got["loss"] == pytest.approx(expected["loss"], abs=tol)
    compared = 0
    for section in ("forward", "gradients", "updated"):
        mine = {e["layer"]: e for e in got.get(section, [])}
        for entry in expected.get(section, []):
            for key, want in entry.items():
                if key != "layer":
                    have = mine[entry["layer"]][key]
                    assert np.shape(have) == np.shape(want), (section, entry["layer"], key)
                    np.testing.assert_allclose(have, want, rtol=0, atol=tol)
                    compared += 1
    assert compared >= len(expected.get("forward", []))


def test_json_record_keys_follow_the_contract(capsys: pytest.CaptureFixture[str]) -> None:
    got = cli_json(capsys, str(CASES_DIR / "trace_cnn_3x3_softmax2.json"))
    assert list(got) == ["forward", "loss", "gradients", "updated"]
    assert [e["layer"] for e in got["gradients"]] == [0, 1, 2, 3]
    assert [e["layer"] for e in got["updated"]] == [0, 2, 3]  # layers with parameters
    flatten = got["gradients"][1]
    assert list(flatten) == ["layer", "d_output", "d_input"]  # no weight keys, no activation
    assert np.shape(flatten["d_input"]) == (2, 2)  # HW layout of the conv's output
    conv = got["gradients"][0]
    assert np.shape(conv["d_weights"]) == (2, 2) and np.shape(conv["d_input"]) == (3, 3)
    assert list(got["forward"][1]) == ["layer", "output"]


def test_forward_only_mode_has_only_forward(capsys: pytest.CaptureFixture[str]) -> None:
    got = cli_json(capsys, str(CASES_DIR / "trace_conv5x5_pad0.json"))
    assert list(got) == ["forward"]
    assert list(got["forward"][0]) == ["layer", "pre_activation", "output"]


def test_mlp_2_2_2_matches_published_values() -> None:
    # Matt Mazur, "A Step by Step Backpropagation Example": E_total = 0.298371109 and the weights
    # after one step with η = 0.5 (his w1..w8; W[in, out] so w5 = W2[0][0], w6 = W2[1][0] …).
    rec = trace(SPECS / "mlp_2_2_2_sigmoid_mse.yaml")
    assert rec["loss"] == pytest.approx(0.298371109, abs=1e-9)
    np.testing.assert_allclose(rec["forward"][0]["output"], [0.593269992, 0.596884378], atol=1e-9)
    np.testing.assert_allclose(rec["forward"][1]["output"], [0.75136507, 0.772928465], atol=1e-8)
    w1, w2 = rec["updated"][0]["weights"], rec["updated"][1]["weights"]
    np.testing.assert_allclose(w2, [[0.35891648, 0.511301270], [0.408666186, 0.561370121]],
                               atol=1e-8)
    np.testing.assert_allclose(w1, [[0.149780716, 0.24975114], [0.19956143, 0.29950229]],
                               atol=1e-8)


def test_exercise_mode_gives_textbook_dF_and_dX() -> None:
    spec = json.loads((SPECS / "exercise_conv_grad_output.json").read_text())
    x = np.asarray(spec["input"], dtype=float)
    f = np.asarray(spec["layers"][0]["kernel"], dtype=float)
    d_o = np.asarray(spec["grad_output"], dtype=float)
    # dL/dF[i, j] = Σ_mn X[i + m, j + n]·dL/dO[m, n]          (X ⋆ dL/dO)
    d_f = np.array([[np.sum(x[i:i + 3, j:j + 3] * d_o) for j in range(3)] for i in range(3)])
    # dL/dX = full convolution of rot180(F) with dL/dO: every dL/dO[m, n] scatters F at (m, n).
    d_x = np.zeros_like(x)
    for m in range(3):
        for n in range(3):
            d_x[m:m + 3, n:n + 3] += d_o[m, n] * f
    rec = trace(spec)
    assert "loss" not in rec
    g = rec["gradients"][0]
    np.testing.assert_allclose(g["d_weights"], d_f, atol=1e-12)
    np.testing.assert_allclose(g["d_input"], d_x, atol=1e-12)
    np.testing.assert_allclose(g["d_output"], d_o, atol=0)
    assert "d_bias" not in g  # the spec gives no bias
    np.testing.assert_allclose(rec["updated"][0]["weights"], f - 0.1 * d_f, atol=1e-12)


def test_grad_output_without_lr_gives_no_update() -> None:
    spec = json.loads((SPECS / "exercise_conv_grad_output.json").read_text())
    del spec["lr"]
    assert list(trace(spec)) == ["forward", "gradients"]


def test_loss_mode_default_lr_is_documented_value() -> None:
    spec = json.loads((CASES_DIR / "trace_cnn_3x3_softmax2.json").read_text())["spec"]
    del spec["lr"]
    rec = trace(spec)
    w, dw = spec["layers"][3]["weights"], rec["gradients"][3]["d_weights"]
    np.testing.assert_allclose(rec["updated"][2]["weights"], np.subtract(w, 0.1 * np.array(dw)))


def test_yaml_and_json_specs_trace_the_same(tmp_path: Path) -> None:
    import yaml

    spec = json.loads((CASES_DIR / "trace_cnn_3x3_softmax2.json").read_text())["spec"]
    path = tmp_path / "net.yml"
    path.write_text(yaml.safe_dump(spec))
    assert trace(path) == trace(spec)


def test_real_subprocess_run() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "glassnet.cli", "trace", "tests/cases/trace_cnn_3x3_softmax2.json"],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "dL/dz = p − y" in proc.stdout and "1.2213" in proc.stdout
