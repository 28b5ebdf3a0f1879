"""Batch normalisation and dropout vs PyTorch float64, numeric gradients and errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from conftest import t64
from hypothesis import given, settings
from hypothesis import strategies as st
from numgrad import numeric_grad, rel_error

from glassnet.errors import GlassnetError, ShapeError
from glassnet.ops.norm import (
    batch_norm_backward,
    batch_norm_forward,
    dropout_backward,
    dropout_forward,
)

F64_TOL = 1e-10


@st.composite
def bn_cases(draw: Any) -> dict[str, Any]:
    ndim = draw(st.sampled_from([2, 3, 4]))
    shape = tuple(draw(st.integers(1, 4)) for _ in range(ndim))
    axis = draw(st.integers(-ndim, ndim - 1))
    if np.prod(shape) // shape[axis] < 2:  # training needs two values per channel
        shape = tuple(s + 1 if d != axis % ndim else s for d, s in enumerate(shape))
    return dict(shape=shape, axis=axis, training=draw(st.booleans()),
                momentum=draw(st.sampled_from([0.1, 0.01, 0.5])), seed=draw(st.integers(0, 999)))


def _params(shape: tuple[int, ...], axis: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    c = shape[axis]
    return [rng.standard_normal(shape) * 3 + 1, rng.standard_normal(c), rng.standard_normal(c),
            rng.standard_normal(c), rng.uniform(0.5, 2, c)]


@settings(max_examples=50, deadline=None)
@given(case=bn_cases())
def test_batch_norm_vs_torch(torch: Any, case: dict[str, Any]) -> None:
    shape, axis, training = case["shape"], case["axis"], case["training"]
    x, gamma, beta, rm, rv = _params(shape, axis, case["seed"])
    dout = np.random.default_rng(case["seed"] + 1).standard_normal(shape)
    rm_ours, rv_ours = rm.copy(), rv.copy()
    out, cache = batch_norm_forward(x, gamma, beta, rm_ours, rv_ours, axis=axis,
                                    training=training, momentum=case["momentum"])
    dx, dgamma, dbeta = batch_norm_backward(dout, cache)
    # torch wants channels on axis 1 and at least 2 axes: move ours there.
    xt, gt, bt = t64(torch, np.moveaxis(x, axis, 1)), t64(torch, gamma), t64(torch, beta)
    rmt, rvt = t64(torch, rm, False), t64(torch, rv, False)
    ref = torch.nn.functional.batch_norm(xt, rmt, rvt, gt, bt, training=training,
                                         momentum=case["momentum"], eps=1e-5)
    ref.backward(t64(torch, np.moveaxis(dout, axis, 1), requires_grad=False))
    pairs = [(out, np.moveaxis(ref.detach().numpy(), 1, axis)),
             (dx, np.moveaxis(xt.grad.numpy(), 1, axis)), (dgamma, gt.grad.numpy()),
             (dbeta, bt.grad.numpy()), (rm_ours, rmt.numpy()), (rv_ours, rvt.numpy())]
    for ours, theirs in pairs:
        assert ours.shape == theirs.shape
        assert np.max(np.abs(ours - theirs)) <= F64_TOL
    # float32 path, dtype kept, within 1e-4 relative of the float64 truth. For dx the scale is
    # that of the terms it is built from, |gamma·inv_std·dout| (with few values per channel the
    # training dx is a near-total cancellation of such terms, PyTorch's float32 included).
    f32 = [a.astype(np.float32) for a in (x, gamma, beta, rm, rv)]
    out32, cache32 = batch_norm_forward(*f32, axis=axis, training=training,
                                        momentum=case["momentum"])
    grads32 = batch_norm_backward(dout.astype(np.float32), cache32)
    bshape = [1] * x.ndim
    bshape[axis] = -1
    term = np.max(np.abs(dout * (gamma * cache.inv_std).reshape(bshape)))
    for i, (ours, (_, truth)) in enumerate(zip((out32, *grads32), pairs[:4], strict=True)):
        assert ours.dtype == np.float32
        scale = max(np.max(np.abs(truth)), term if i == 1 else 0.0)
        assert np.max(np.abs(ours - truth)) <= 1e-4 * scale


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_numeric_gradient(training: bool) -> None:
    shape, axis = (3, 2, 4, 3), 0  # CNHW
    x, gamma, beta, rm, rv = _params(shape, axis, 7)
    r = np.random.default_rng(8).standard_normal(shape)

    def run(a: np.ndarray, g: np.ndarray, b: np.ndarray) -> Any:
        return batch_norm_forward(a, g, b, rm.copy(), rv.copy(), axis=axis, training=training)

    out, cache = run(x, gamma, beta)
    dx, dgamma, dbeta = batch_norm_backward(r, cache)
    assert rel_error(dx, numeric_grad(lambda a: float(np.sum(run(a, gamma, beta)[0] * r)),
                                      x)) < 1e-6
    assert rel_error(dgamma, numeric_grad(lambda g: float(np.sum(run(x, g, beta)[0] * r)),
                                          gamma)) < 1e-6
    assert rel_error(dbeta, numeric_grad(lambda b: float(np.sum(run(x, gamma, b)[0] * r)),
                                         beta)) < 1e-6


def test_batch_norm_running_update_convention() -> None:
    x = np.array([[1.0], [2.0], [3.0], [6.0]])  # (N=4, F=1): mean 3, biased var 3.5, unbiased 14/3
    rm, rv = np.zeros(1), np.ones(1)
    out, _ = batch_norm_forward(x, np.ones(1), np.zeros(1), rm, rv, axis=1, training=True,
                                momentum=0.1)
    np.testing.assert_allclose(rm, [0.3])
    np.testing.assert_allclose(rv, [0.9 + 0.1 * 14 / 3])
    np.testing.assert_allclose(out[:, 0], (x[:, 0] - 3) / np.sqrt(3.5 + 1e-5))
    out, _ = batch_norm_forward(x, np.ones(1), np.zeros(1), rm, rv, axis=1, training=False)
    np.testing.assert_allclose(out[:, 0], (x[:, 0] - 0.3) / np.sqrt(rv[0] + 1e-5))
    np.testing.assert_allclose(rm, [0.3])  # inference leaves the running stats alone


def test_batch_norm_errors() -> None:
    x, c = np.zeros((4, 3)), np.zeros(3)
    with pytest.raises(ShapeError, match=r"batch_norm: gamma has shape \[2\] but x has C=3"):
        batch_norm_forward(x, np.zeros(2), c, c, c, axis=1, training=True)
    with pytest.raises(ShapeError, match=r"batch_norm: axis=2 is out of range for x \[4, 3\]"):
        batch_norm_forward(x, c, c, c, c, axis=2, training=True)
    with pytest.raises(ShapeError, match="more than 1 value per channel"):
        batch_norm_forward(np.zeros((1, 3)), c, c, c, c, axis=1, training=True)
    with pytest.raises(GlassnetError, match=r"inference \(training=False\) needs running_mean"):
        batch_norm_forward(x, c, c, None, None, axis=1, training=False)


def test_dropout_inverted_scaling_and_mask() -> None:
    x = np.ones((200, 50), dtype=np.float32)
    out, cache = dropout_forward(x, rate=0.25, rng=np.random.default_rng(0), training=True)
    assert out.dtype == np.float32
    kept = out != 0
    assert set(np.unique(out)) == {0.0, np.float32(1 / 0.75)}
    assert abs(kept.mean() - 0.75) < 0.01  # 10,000 draws: std of the fraction ~0.004
    dout = np.random.default_rng(1).standard_normal(x.shape).astype(np.float32)
    dx = dropout_backward(dout, cache)
    np.testing.assert_array_equal(dx, np.where(kept, dout * np.float32(1 / 0.75), 0))
    assert dx.dtype == np.float32
    again, _ = dropout_forward(x, rate=0.25, rng=np.random.default_rng(0), training=True)
    np.testing.assert_array_equal(again, out)  # same seed, same mask


def test_dropout_numeric_gradient() -> None:
    x = np.random.default_rng(2).standard_normal((4, 5))
    r = np.random.default_rng(3).standard_normal((4, 5))

    def f(a: np.ndarray) -> float:
        return float(np.sum(dropout_forward(a, rate=0.4, rng=np.random.default_rng(9),
                                            training=True)[0] * r))

    _, cache = dropout_forward(x, rate=0.4, rng=np.random.default_rng(9), training=True)
    assert rel_error(dropout_backward(r, cache), numeric_grad(f, x)) < 1e-6


@pytest.mark.parametrize("training,rate", [(False, 0.5), (True, 0.0)])
def test_dropout_identity(training: bool, rate: float) -> None:
    x = np.arange(6.0).reshape(2, 3)
    out, cache = dropout_forward(x, rate=rate, rng=np.random.default_rng(0), training=training)
    np.testing.assert_array_equal(out, x)
    np.testing.assert_array_equal(dropout_backward(np.ones_like(x), cache), np.ones_like(x))


@pytest.mark.parametrize("rate", [1.0, -0.1, True, "0.5"])
def test_dropout_rate_errors(rate: Any) -> None:
    with pytest.raises(GlassnetError, match=r"dropout: rate=.* must be a number in \[0, 1\)"):
        dropout_forward(np.ones(3), rate=rate, rng=np.random.default_rng(0), training=True)


def test_dropout_rng_error() -> None:
    with pytest.raises(GlassnetError, match="dropout: rng must be a numpy.random.Generator; .*int"):
        dropout_forward(np.ones(3), rate=0.5, rng=0, training=True)  # type: ignore[arg-type]
