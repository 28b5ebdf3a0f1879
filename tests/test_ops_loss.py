"""Losses vs PyTorch float64, numeric gradients, stability, the worked example and errors."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
from conftest import load_case, t64
from hypothesis import given, settings
from hypothesis import strategies as st
from numgrad import numeric_grad, rel_error

from glassnet.errors import GlassnetError, ShapeError
from glassnet.ops import loss as L
from glassnet.ops.activation import softmax_backward, softmax_forward

F64_TOL = 1e-10
CASES = [("mse", False), ("binary_crossentropy", False), ("binary_crossentropy", True),
         ("categorical_crossentropy", False), ("categorical_crossentropy", True),
         ("sparse_categorical_crossentropy", False), ("sparse_categorical_crossentropy", True),
         ("kl_divergence", False), ("kl_divergence", True), ("softmax_cross_entropy", True),
         ("softmax_cross_entropy_sparse", True)]


def _data(name: str, logits: bool, n: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, k)) * 2
    if name == "mse":
        return z, rng.standard_normal((n, k))
    if name == "binary_crossentropy":
        t = rng.uniform(0, 1, (n, k)) * (rng.uniform(size=(n, k)) < 0.5)  # hard and soft labels
        return (z if logits else rng.uniform(0.05, 0.95, (n, k))), t
    p = z if logits else np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    if "sparse" in name:
        return p, rng.integers(0, k, n)
    t = rng.dirichlet(np.ones(k), n)
    t[rng.uniform(size=(n, k)) < 0.3] = 0  # zeros exercise 0·log 0 = 0 in kl_divergence
    return p, t


def _ours(name: str, logits: bool, y: np.ndarray, t: np.ndarray, reduction: str) -> tuple[Any, Any]:
    if name.startswith("softmax_cross_entropy"):
        loss, cache = L.softmax_cross_entropy_forward(y, t, reduction=reduction)
        return loss, lambda d: L.softmax_cross_entropy_backward(d, cache)
    fwd = getattr(L, f"{name}_forward")
    bwd = getattr(L, f"{name}_backward")
    kwargs = {} if name == "mse" else {"from_logits": logits}
    loss, cache = fwd(y, t, reduction=reduction, **kwargs)
    return loss, lambda d: bwd(d, cache)


def _torch_per_example(torch: Any, name: str, logits: bool, yt: Any, t: np.ndarray) -> Any:
    fn = torch.nn.functional
    if "sparse" in name:
        labels = torch.tensor(t)
        return (fn.cross_entropy(yt, labels, reduction="none") if logits
                else fn.nll_loss(torch.log(yt), labels, reduction="none"))
    tt = t64(torch, t, requires_grad=False)
    if name == "mse":
        return ((yt - tt) ** 2).mean(dim=1)
    if name == "binary_crossentropy":
        f = fn.binary_cross_entropy_with_logits if logits else fn.binary_cross_entropy
        return f(yt, tt, reduction="none").mean(dim=1)
    logp = fn.log_softmax(yt, dim=1) if logits else torch.log(yt)
    if name == "kl_divergence":
        return fn.kl_div(logp, tt, reduction="none").sum(dim=1)
    if name == "softmax_cross_entropy":
        return fn.cross_entropy(yt, tt, reduction="none")
    return -(tt * logp).sum(dim=1)


@pytest.mark.parametrize("name,logits", CASES)
@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 6), k=st.integers(1, 6), seed=st.integers(0, 999),
       reduction=st.sampled_from(L.REDUCTIONS))
def test_loss_vs_torch(torch: Any, name: str, logits: bool, n: int, k: int, seed: int,
                       reduction: str) -> None:
    y, t = _data(name.removesuffix("_sparse") if "softmax" in name else name, logits, n, k, seed)
    if name == "softmax_cross_entropy_sparse":
        t = np.random.default_rng(seed).integers(0, k, n)
    rng = np.random.default_rng(seed + 7)
    dloss = rng.standard_normal(n) if reduction == "none" else float(rng.standard_normal())
    loss, backward = _ours(name, logits, y, t, reduction)
    dy = backward(dloss)
    yt = t64(torch, y)
    per = _torch_per_example(torch, name, logits, yt, t)
    ref = {"mean": per.mean(), "sum": per.sum(), "none": per}[reduction]
    ref.backward(t64(torch, dloss, requires_grad=False))
    assert np.shape(loss) == tuple(ref.shape) and dy.shape == y.shape
    assert np.max(np.abs(loss - ref.detach().numpy())) <= F64_TOL
    assert np.max(np.abs(dy - yt.grad.numpy())) <= F64_TOL
    loss32, backward32 = _ours(name, logits, y.astype(np.float32), t, reduction)
    dy32 = backward32(np.float64(dloss) if reduction != "none" else dloss)  # float64 dloss
    assert loss32.dtype == dy32.dtype == np.float32  # never upcast, even by a float64 dloss
    assert _close32(loss32, ref.detach().numpy()) and _close32(dy32, yt.grad.numpy())


def _close32(a: Any, ref: Any) -> bool:
    """Within 1e-4 relative, or 1e-6 absolute for values that are ~0 (a loss of k=1 classes)."""
    return rel_error(a, ref) <= 1e-4 or float(np.max(np.abs(a - ref), initial=0)) <= 1e-6


@pytest.mark.parametrize("name,logits", CASES)
@pytest.mark.parametrize("reduction", L.REDUCTIONS)
def test_loss_numeric_gradient(name: str, logits: bool, reduction: str) -> None:
    base = name.removesuffix("_sparse") if "softmax" in name else name
    y, t = _data(base, logits, 4, 3, 5)
    if name == "softmax_cross_entropy_sparse":
        t = np.array([0, 2, 1, 2])
    w = np.array([0.3, -1.2, 0.7, 2.0])
    dloss = w if reduction == "none" else 0.7

    def f(a: np.ndarray) -> float:
        value = _ours(name, logits, a, t, reduction)[0]
        return float(np.sum(value * w)) if reduction == "none" else 0.7 * float(value)

    assert rel_error(_ours(name, logits, y, t, reduction)[1](dloss), numeric_grad(f, y)) < 1e-6


def test_worked_example_softmax_cross_entropy() -> None:
    case = load_case("trace_cnn_3x3_softmax2.json")["expected"]
    logits = np.array([case["forward"][3]["pre_activation"]])
    target = np.array([load_case("trace_cnn_3x3_softmax2.json")["spec"]["target"]], dtype=float)
    loss, cache = L.softmax_cross_entropy_forward(logits, target)
    assert abs(loss - case["loss"]) <= 1e-12
    dz = L.softmax_cross_entropy_backward(1.0, cache)
    np.testing.assert_allclose(dz[0], case["gradients"][2]["d_pre_activation"], rtol=0, atol=1e-12)
    # The unfused path, softmax then categorical cross-entropy, gives the same numbers.
    p, scache = softmax_forward(logits)
    np.testing.assert_allclose(p[0], case["forward"][3]["output"], rtol=0, atol=1e-12)
    loss2, lcache = L.categorical_crossentropy_forward(p, target)
    assert abs(loss2 - case["loss"]) <= 1e-12
    dz2 = softmax_backward(L.categorical_crossentropy_backward(1.0, lcache), scache)
    np.testing.assert_allclose(dz2, dz, rtol=0, atol=1e-12)


def test_from_logits_is_stable_for_huge_logits() -> None:
    z = np.array([[1.0, 3.5, 757.0, -5.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for dtype in (np.float64, np.float32):
            for labels in (np.array([3]), np.array([[0.0, 0.0, 0.0, 1.0]])):
                loss, cache = L.softmax_cross_entropy_forward(z.astype(dtype), labels)
                assert np.isfinite(loss) and abs(loss - 762.0) < 1e-3
                np.testing.assert_allclose(L.softmax_cross_entropy_backward(1.0, cache),
                                           [[0, 0, 1, -1]], atol=1e-6)
            b = np.array([[-1000.0, 1000.0]], dtype=dtype)
            loss, cache = L.binary_crossentropy_forward(b, np.array([[1.0, 0.0]]), from_logits=True)
            assert abs(loss - 1000.0) < 1e-3
            np.testing.assert_allclose(L.binary_crossentropy_backward(1.0, cache), [[-0.5, 0.5]])


def test_probability_zero_gives_finite_loss() -> None:
    # The log's argument is floored at finfo.tiny (documented): p = 0 for the true class.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss, cache = L.categorical_crossentropy_forward(np.array([[0.0, 1.0]]), np.array([[1, 0]]))
        assert np.isfinite(loss) and loss == -np.log(np.finfo(np.float64).tiny)
        assert np.all(np.isfinite(L.categorical_crossentropy_backward(1.0, cache)))
        loss, _ = L.binary_crossentropy_forward(np.array([[1.0, 0.0]]), np.array([[1.0, 0.0]]))
        assert loss == 0.0


def test_mse_is_mean_over_all_elements() -> None:
    y, t = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]), np.zeros((2, 3))
    assert L.mse_forward(y, t)[0] == pytest.approx(14 / 6)
    np.testing.assert_allclose(L.mse_forward(y, t, reduction="none")[0], [14 / 3, 0])
    assert L.mse_forward(np.array([1.0, 3.0]), np.zeros(2))[0] == 5.0  # 1-D: one output each


def test_loss_errors() -> None:
    p = np.full((2, 3), 1 / 3)
    with pytest.raises(ShapeError, match=r"mse: y_true shape \[3\] does not match y_pred shape"):
        L.mse_forward(p, np.zeros(3))
    with pytest.raises(GlassnetError, match=r"reduction='avg' is not one of \['mean'"):
        L.binary_crossentropy_forward(p, p, reduction="avg")
    with pytest.raises(GlassnetError, match=r"labels must lie in \[0, 2\] .* values in \[0, 3\]"):
        L.sparse_categorical_crossentropy_forward(p, np.array([0, 3]))
    with pytest.raises(ShapeError, match=r"integer labels y_true \(N,\); .* float64"):
        L.sparse_categorical_crossentropy_forward(p, np.array([0.0, 1.0]))
    with pytest.raises(ShapeError, match=r"categorical_crossentropy: y_pred must have shape"):
        L.categorical_crossentropy_forward(np.full(3, 0.5), np.full(3, 0.5))
    with pytest.raises(ShapeError, match=r"kl_divergence: y_pred must be a floating array"):
        L.kl_divergence_forward(np.ones((2, 3), dtype=int), p)
    with pytest.raises(GlassnetError, match=r"softmax_cross_entropy|sparse_categorical"):
        L.softmax_cross_entropy_forward(p, np.array([-1, 0]))
