"""The human-readable trace, --check marking and the CLI's option errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import CASES_DIR

from glassnet.cli import main
from glassnet.errors import GlassnetError
from glassnet.tracing import trace
from glassnet.tracing.check import check_answers

CASE = str(CASES_DIR / "trace_cnn_3x3_softmax2.json")
SPECS = Path(__file__).resolve().parent / "trace_specs"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["trace", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_human_output_shows_formulas_and_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, CASE)
    assert code == 0
    for text in [
        "O = X ⋆ F + b", "a = softmax(z)", "L = −Σ y·log p", "1.2213",
        "dL/dz = p − y", "[-0.7052   0.7052]", "dL/dW = xᵀ·dL/dz", "dL/dx = dL/dz·Wᵀ",
        "dL/dz = dL/da ⊙ f'(z)", "dL/dF = X ⋆ dL/dO", "dL/dX = full_conv(rot180(F), dL/dO)",
        "dL/db = Σ dL/dO", "F⁺ = F − η·dL/dF", "W⁺ = W − η·dL/dW", "b⁺ = b − η·dL/db",
        "[0.0762  0.1100  0.0113]", "[[ 0.7731  -0.0269]",
    ]:
        assert text in out, text
    # Backward runs from the last layer to the first.
    back = out.split("── backward")[1].split("── updated")[0]
    assert back.index("layer 3") < back.index("layer 2") < back.index("layer 0")


def test_pool_and_exercise_formulas(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, str(SPECS / "leaky_maxpool_bce.json"))
    assert "gradient router" in out and "f'(O) = 1 if O > 0 else α" in out
    _, out, _ = run(capsys, str(SPECS / "avgpool_tanh_mse.json"))
    assert "mean of each 3×3 window" in out and "spread evenly" in out and "[:, :, 2]" in out
    _, out, _ = run(capsys, str(SPECS / "exercise_conv_grad_output.json"))
    assert "dL/dA = grad_output (given)" in out and "dL/dO = dL/dA  (same values)" in out


def test_precision_option(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, CASE, "--precision", "7")
    assert "1.2213282" in out


def _answers(tmp_path: Path, answers: dict[str, Any]) -> str:
    path = tmp_path / "answers.json"
    path.write_text(json.dumps(answers))
    return str(path)


def test_check_marks_a_wrong_value_and_exits_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    answers = {"loss": 1.2213281607, "gradients": [
        {"layer": 3, "d_pre_activation": [-0.7051616859, 0.7051616859]},
        {"layer": 0, "d_bias": [0.6]}]}
    code, out, _ = run(capsys, CASE, "--check", _answers(tmp_path, answers))
    assert code == 1
    assert "✓ right  loss" in out
    assert "✓ right  gradients[layer 3].d_pre_activation" in out
    assert "✗ WRONG  gradients[layer 0].d_bias: 1 of 1 wrong" in out
    assert "[0]: yours 0.60000000, true 0.50771641" in out
    assert "3 of 4 values right, 1 wrong" in out


def test_check_all_right_exits_0_and_tolerance(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    four_digits = _answers(tmp_path, {"forward": [{"layer": 3, "output": [0.2948, 0.7052]}]})
    assert run(capsys, CASE, "--check", four_digits)[0] == 1  # default tolerance 1e-6
    assert run(capsys, CASE, "--check", four_digits, "--tolerance", "1e-4")[0] == 0
    # The case file itself (its "expected" key) is a valid answers file.
    assert run(capsys, CASE, "--check", CASE)[0] == 0


def test_check_json_and_shape_mismatch(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = _answers(tmp_path, {"updated": [{"layer": 2, "bias": [0.1, 0.2, 0.3]}],
                               "forward": [{"layer": 2, "output": [1.3, 3.0]}]})
    code, out, _ = run(capsys, CASE, "--check", path, "--json")
    result = json.loads(out)
    assert code == 1 and result["wrong"] == 3 and result["checked"] == 4  # 2 + 2 values
    shape, value = result["results"]
    assert shape["shape_error"] == "your shape [3], the true shape [2]"
    assert value["wrong"] == [{"index": [1], "given": 3.0, "true": pytest.approx(3.06)}]


@pytest.mark.parametrize(("answers", "match"), [
    ({"grads": []}, r"^answers\.grads: unknown key"),
    ({"gradients": [{"layer": 7, "d_input": [0]}]}, r"^answers\.gradients\[0\]\.layer: 7 is not"),
    ({"updated": [{"layer": 1, "weights": [0]}]}, r"^answers\.updated\[0\]\.layer: 1 is not"),
    ({"gradients": [{"layer": 1, "d_weights": [0]}]},
     r"^answers\.gradients\[layer 1\]\.d_weights: not in this trace"),
    ({"loss": "small"}, r"^answers\.loss: expected numbers"),
    ({"forward": {"layer": 0}}, r"^answers\.forward: expected a list"),
])
def test_check_answers_errors(answers: dict[str, Any], match: str) -> None:
    with pytest.raises(GlassnetError, match=match):
        check_answers(answers, trace(CASE), 1e-6)


def test_check_answers_loss_absent_in_forward_only() -> None:
    with pytest.raises(GlassnetError, match=r"^answers\.loss: this trace has no loss"):
        check_answers({"loss": 1.0}, trace(CASES_DIR / "trace_conv5x5_pad0.json"), 1e-6)


@pytest.mark.parametrize(("argv", "match"), [
    (["--precision", "-1"], "--precision: expected 0 to 17 decimals"),
    (["--tolerance", "0"], "--tolerance: expected a number > 0"),
    (["--check", "missing.json"], "no such answers file"),
])
def test_bad_options_exit_2_with_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], match: str
) -> None:
    code, out, err = run(capsys, CASE, *argv)
    assert code == 2 and out == ""
    assert match in err and err.count("\n") == 1


def test_bad_spec_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "net.json"
    bad.write_text(json.dumps({"input": [1.0], "layers": [{"type": "pool"}]}))
    code, _, err = run(capsys, str(bad))
    assert code == 2
    assert err.startswith("glassnet trace: error: layers[0].type: 'pool' is not one of")
