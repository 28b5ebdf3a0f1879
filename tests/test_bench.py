"""glassnet bench: the worker, the torch twin, the aggregation and the CLI (no timing asserts)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

import glassnet as gn
from glassnet import layers as L
from glassnet import zoo
from glassnet.bench import report, runner, worker
from glassnet.bench.torch_models import torch_twin
from glassnet.bench.workloads import Workload
from glassnet.cli import main
from glassnet.errors import GlassnetError
from glassnet.training.loop import batch_loss

TINY = ["bench", "--models", "lenet5", "--batch", "2", "--rounds", "1", "--steps", "1",
        "--workloads", "train,infer", "--threads", "1", "--quiet"]


def _odd_model() -> gn.Sequential:
    """Same padding with a stride, padded max pool, explicit padding, tanh, avg pool."""
    return gn.Sequential([
        L.Input((9, 9, 2)),
        L.Conv2D(4, 3, strides=2, padding="same", activation="relu"),
        L.MaxPool2D(2, padding="same"),
        L.Conv2D(3, 2, padding=1), L.Activation("tanh"), L.AvgPool2D(2),
        L.Flatten(), L.Dense(5, activation="softmax"),
    ], seed=3)


# ----- the twin computes what glassnet computes --------------------------------------------------
@pytest.mark.parametrize("make", [zoo.lenet5, zoo.keras_mnist_convnet, _odd_model])
def test_twin_gives_the_same_outputs(torch: Any, float64: Any, make: Any) -> None:
    model = make()
    x = np.random.default_rng(1).random((3, *model.input_shape))
    with gn.no_grad():
        probs = model.forward(x).data
    net = torch_twin(model).eval()
    logits = net(torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))))
    assert logits.dtype == torch.float64
    np.testing.assert_allclose(torch.softmax(logits, 1).detach().numpy(), probs, rtol=1e-10,
                               atol=1e-12)


def test_twin_gives_the_same_loss_and_gradients(torch: Any, float64: Any) -> None:
    model = zoo.lenet5(seed=2)
    rng = np.random.default_rng(4)
    x, y = rng.random((4, 32, 32, 1)), rng.integers(0, 10, 4)
    loss = batch_loss(model, model.forward(x, training=True), y,
                      "sparse_categorical_crossentropy", from_logits=False)
    loss.backward()
    net = torch_twin(model).train()
    t_loss = torch.nn.functional.cross_entropy(
        net(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())), torch.from_numpy(y))
    t_loss.backward()
    assert loss.item() == pytest.approx(t_loss.item(), rel=1e-12)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    denses = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    conv1 = model.get_layer("conv1").weights["kernel"].grad
    np.testing.assert_allclose(convs[0].weight.grad.numpy(), conv1.transpose(3, 2, 0, 1),
                               rtol=1e-9)
    fc3 = model.get_layer("fc3").weights["kernel"].grad
    np.testing.assert_allclose(denses[-1].weight.grad.numpy(), fc3.T, rtol=1e-9, atol=1e-14)


def test_twin_rejects_layers_without_a_twin(torch: Any) -> None:
    class Halve(L.Layer):  # a user's own layer: glassnet knows no torch twin of it
        base_name = "halve"

        def compute_output_shape(self, input_shape: Any) -> Any:
            return tuple(input_shape)

        def forward(self, x: Any, training: bool = False) -> Any:
            return x * 0.5

    model = gn.Sequential([L.Input((4, 4, 3)), Halve(), L.Flatten(), L.Dense(2)])
    with pytest.raises(GlassnetError, match="halve.*Halve.*no torch twin; supported: Conv2D"):
        torch_twin(model)


# ----- the worker --------------------------------------------------------------------------------
def _spec(*items: Workload) -> dict[str, Any]:
    return {"threads": 1, "seed": 0, "gemm_n": 64, "items": [w.to_dict() for w in items]}


def test_worker_process_prints_one_json_line() -> None:
    spec = _spec(Workload("lenet5", "infer", 2, 2, 1), Workload("lenet5", "train", 2, 1, 0))
    proc = subprocess.run(
        [sys.executable, "-m", "glassnet.bench.worker", "--side", "glassnet", "--spec",
         json.dumps(spec)], capture_output=True, text=True, timeout=120, check=True)
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1
    out = json.loads(lines[0])
    assert out["side"] == "glassnet" and out["threads"] == 1 and out["gemm_gflops"] > 0
    assert out["versions"]["numpy"] == np.__version__
    infer, train = out["results"]
    assert (infer["workload"], train["workload"]) == ("infer", "train")
    assert len(infer["step_ms"]) == 2 and infer["ms"] > 0 and train["ms"] > 0
    assert infer["macs"] == 416_520 and train["images"] == 2
    assert 0 < out["baseline_rss_mb"] <= infer["peak_rss_mb"] <= train["peak_rss_mb"]


def test_torch_worker_times_the_same_workloads(torch: Any) -> None:
    out = worker.run("torch", _spec(Workload("keras_mnist_convnet", "train", 2, 1, 1)))
    (res,) = out["results"]
    assert out["versions"]["torch"] == torch.__version__
    assert res["ms"] > 0 and res["macs"] == 2_440_960 and res["peak_rss_mb"] > 0


def test_worker_rejects_an_unknown_side() -> None:
    with pytest.raises(ValueError, match="side 'jax'"):
        worker.run("jax", _spec())


# ----- planning and aggregation ------------------------------------------------------------------
def test_plan_puts_infer_before_train_and_fit_epochs_apart() -> None:
    cfg = runner.BenchConfig(models=["lenet5"], batches=[1, 8], steps=5, fit_epochs=2)
    groups = runner.plan(cfg)
    assert [[(w.workload, w.batch) for w in g] for g in groups] == [
        [("infer", 1), ("train", 1)], [("infer", 8), ("train", 8)], [("fit_epoch", 128)]]
    assert groups[-1][0].steps == 2


def test_ratio_is_the_median_of_per_round_ratios() -> None:
    # Ratio of medians would be 4 / 1 = 4; the per-round ratios are 1, 4, 1.
    assert runner.median_ratio([1.0, 4.0, 9.0], [1.0, 1.0, 9.0]) == 1.0
    with pytest.raises(ValueError, match="same number"):
        runner.median_ratio([1.0], [1.0, 2.0])


def _report(side: str, ms: float, gemm: float, rss: float) -> dict[str, Any]:
    res = {"model": "m", "workload": "train", "batch": 4, "ms": ms, "peak_rss_mb": rss,
           "macs": 1000, "images": 4}
    return {"side": side, "gemm_gflops": gemm, "results": [res], "versions": {}}


def test_aggregate_pairs_rounds_and_reports_each_side() -> None:
    g_ms, t_ms = [1.0, 4.0, 9.0], [1.0, 1.0, 9.0]
    reports = [_report(s, ms, gemm, rss)
               for gm, tm, gemm in zip(g_ms, t_ms, [10.0, 20.0, 30.0], strict=True)
               for s, ms, rss in (("glassnet", gm, 50.0 + gm), ("torch", tm, 300.0))]
    out = runner.aggregate(reports)
    (row,) = out["results"]
    assert row["glassnet_ms"] == 4.0 and row["torch_ms"] == 1.0 and row["ratio"] == 1.0
    assert row["round_ratios"] == [1.0, 4.0, 1.0]
    assert row["glassnet_peak_rss_mb"] == 59.0 and row["torch_peak_rss_mb"] == 300.0
    assert out["gemm_peak_gflops"] == 20.0
    # 3 passes · 2 FLOPs · 1000 MACs · 4 images in 4 ms -> 6 MFLOP/s... in GFLOP/s:
    assert row["glassnet_gflops"] == pytest.approx(24_000 / 4e-3 / 1e9)
    assert row["glassnet_pct_peak"] == pytest.approx(100 * row["glassnet_gflops"] / 20.0)


def test_reports_render_without_torch_numbers() -> None:
    result = runner.aggregate([_report("glassnet", 2.0, 10.0, 60.0)])
    result["machine"] = {"cpu": "cpu", "blas": {}, "versions": {"numpy": "2"}}
    assert result["results"][0]["ratio"] is None
    md = report.markdown(result, "glassnet bench --against none")
    assert "| m | train | 4 | 2.00 | — | — |" in md
    from rich.console import Console

    console = Console(record=True, width=200)
    console.print(report.table(result, "glassnet bench"))
    assert "train" in console.export_text()


# ----- the command -------------------------------------------------------------------------------
def test_json_of_a_tiny_run_has_the_contract_keys(torch: Any, capsys: Any, tmp_path: Any) -> None:
    assert main([*TINY, "--json", "--out", str(tmp_path / "b.json")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert json.loads((tmp_path / "b.json").read_text()) == out
    assert out["gemm_peak_gflops"] > 0
    assert [(r["model"], r["workload"], r["batch"]) for r in out["results"]] == [
        ("lenet5", "infer", 2), ("lenet5", "train", 2)]
    for row in out["results"]:
        assert list(row)[: len(report.CONTRACT_KEYS)] == list(report.CONTRACT_KEYS)
        assert row["glassnet_ms"] > 0 and row["torch_ms"] > 0 and row["ratio"] > 0
        assert row["glassnet_peak_rss_mb"] > 0 and row["torch_peak_rss_mb"] > 0
    assert out["machine"]["versions"]["torch"] == torch.__version__


def test_against_torch_without_torch_exits_2(monkeypatch: Any, capsys: Any) -> None:
    monkeypatch.setenv(runner.NO_TORCH_ENV, "1")
    assert main([*TINY, "--against", "torch"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--against torch needs PyTorch" in err[0]


def test_against_none_times_glassnet_alone(monkeypatch: Any, capsys: Any) -> None:
    monkeypatch.setenv(runner.NO_TORCH_ENV, "1")
    assert main([*TINY, "--against", "none", "--workloads", "infer", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["results"]
    assert row["glassnet_ms"] > 0 and row["torch_ms"] is None and row["ratio"] is None


@pytest.mark.parametrize("args, match", [
    (["--models", "lenet6"], "unknown \\['lenet6'\\]"),
    (["--batch", "0,4"], "positive integers"),
    (["--workloads", "train,backprop"], "unknown \\['backprop'\\]"),
    (["--rounds", "0"], "--rounds 0"),
    (["--input", "32x32"], "expected HxWxC"),
    (["--input", "32x0x3"], "expected HxWxC"),
    (["--classes", "1"], "--classes 1: must be at least 2"),
])
def test_bad_arguments_exit_2(args: list[str], match: str, capsys: Any) -> None:
    assert main(["bench", *args]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    with pytest.raises(GlassnetError, match=match):
        main(["--debug", "bench", *args])


def test_default_threads_are_the_machines_even_inside_the_cli_scope(monkeypatch: Any) -> None:
    """`glassnet bench` runs inside the CLI's compute scope, where NumPy's BLAS is held to one
    thread: the default must still be the count glassnet splits over, not that one thread."""
    from threadpoolctl import threadpool_info

    from glassnet.accel import compute_scope

    monkeypatch.delenv("GLASSNET_THREADS", raising=False)
    blas = max(p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas")
    outside = runner.default_threads()
    with compute_scope():
        inside = runner.default_threads()
        held = max(p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas")
    assert outside == inside == blas
    if blas > 1:  # the scope really holds the BLAS to one thread: the case this test is about
        assert held == 1


def _bench_json(capsys: Any, models: str, workloads: str, shape: str, classes: str) -> Any:
    args = ["bench", "--models", models, "--batch", "2", "--rounds", "1", "--steps", "1",
            "--warmup", "0", "--fit-epochs", "1", "--threads", "1", "--workloads", workloads,
            "--input", shape, "--classes", classes, "--quiet", "--json"]
    assert main(args) == 0
    return json.loads(capsys.readouterr().out)


def test_input_and_classes_reach_every_workload_and_the_json(capsys: Any) -> None:
    """CIFAR-size graph models: BatchNorm, Add, GlobalAvgPool2D and depthwise convs all have
    twins; each result says the input shape it ran at."""
    out = _bench_json(capsys, "resnet18,mobilenet_v2", "train,infer", "32x32x3", "10")
    assert "--input 32x32x3 --classes 10" in out["command"]
    rows = out["results"]
    assert {(r["model"], r["workload"]) for r in rows} == {
        (m, w) for m in ("resnet18", "mobilenet_v2") for w in ("train", "infer")}
    for row in rows:
        assert row["input_shape"] == [32, 32, 3] and row["classes"] == 10
        assert row["glassnet_ms"] > 0 and row["torch_ms"] > 0


def test_fit_epoch_at_another_shape_runs_on_random_images(capsys: Any) -> None:
    """Not mnist-5k's 28×28×1 with 10 classes: 4,000 seeded random images of the model's shape."""
    out = _bench_json(capsys, "lenet5", "fit_epoch", "20x20x3", "5")
    (row,) = out["results"]
    assert row["input_shape"] == [20, 20, 3] and row["classes"] == 5
    assert row["images_per_step"] == 4000 and row["glassnet_ms"] > 0 and row["torch_ms"] > 0


def test_train_step_of_a_logits_model_is_torchs_cross_entropy(torch: Any, float64: Any) -> None:
    """ResNet ends in logits, not a softmax: its loss must be taken from logits, as torch's
    F.cross_entropy does (else it is the loss of logits read as probabilities: NaN soon)."""
    from glassnet.bench import workloads

    work = Workload("resnet18", "train", 2, 1, 0, (32, 32, 3), 10)
    model = workloads.build_model(work, seed=0)
    assert not model.ends_in_softmax
    net = torch_twin(model).train()  # before the step changes the weights
    x, y = workloads.random_batch(model, 2, 0)
    ours = workloads.glassnet_step(work, model, 0)().item()
    theirs = torch.nn.functional.cross_entropy(
        net(torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2), dtype=np.float64))),
        torch.from_numpy(y)).item()
    assert ours == pytest.approx(theirs, rel=1e-10)
