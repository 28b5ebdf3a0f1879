"""Dense, add, mul, concat, reshape and flatten vs PyTorch float64, numeric gradients, errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from conftest import t64
from hypothesis import given, settings
from hypothesis import strategies as st
from numgrad import numeric_grad, rel_error

from glassnet.errors import GlassnetError, ShapeError
from glassnet.ops import basic as B

F64_TOL = 1e-10


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 6), fin=st.integers(1, 7), fout=st.integers(1, 7),
       bias=st.booleans(), seed=st.integers(0, 999))
def test_dense_vs_torch(torch: Any, n: int, fin: int, fout: int, bias: bool, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal((n, fin)), rng.standard_normal((fin, fout))
    b = rng.standard_normal(fout)
    dout = rng.standard_normal((n, fout))
    out, cache = B.dense_forward(x, w, b if bias else None)
    dx, dw, db = B.dense_backward(dout, cache)
    xt, wt, bt = t64(torch, x), t64(torch, w), t64(torch, b)
    ref = xt @ wt + bt if bias else xt @ wt
    ref.backward(t64(torch, dout, requires_grad=False))
    assert np.max(np.abs(out - ref.detach().numpy())) <= F64_TOL
    assert np.max(np.abs(dx - xt.grad.numpy())) <= F64_TOL
    assert np.max(np.abs(dw - wt.grad.numpy())) <= F64_TOL
    if bias:
        assert np.max(np.abs(db - bt.grad.numpy())) <= F64_TOL
    else:
        assert db is None
    f32 = [a.astype(np.float32) for a in (x, w, b)]
    out32, cache32 = B.dense_forward(f32[0], f32[1], f32[2] if bias else None)
    grads32 = B.dense_backward(dout.astype(np.float32), cache32)
    assert out32.dtype == grads32[0].dtype == grads32[1].dtype == np.float32
    assert rel_error(out32, ref.detach().numpy()) <= 1e-4
    assert rel_error(grads32[0], xt.grad.numpy()) <= 1e-4
    assert rel_error(grads32[1], wt.grad.numpy()) <= 1e-4


def test_dense_numeric_gradient() -> None:
    rng = np.random.default_rng(0)
    x, w, b, r = (rng.standard_normal(s) for s in [(3, 4), (4, 2), (2,), (3, 2)])
    dx, dw, db = B.dense_backward(r, B.dense_forward(x, w, b)[1])

    def f(a: np.ndarray, ww: np.ndarray, bb: np.ndarray) -> float:
        return float(np.sum(B.dense_forward(a, ww, bb)[0] * r))

    assert rel_error(dx, numeric_grad(lambda a: f(a, w, b), x)) < 1e-6
    assert rel_error(dw, numeric_grad(lambda a: f(x, a, b), w)) < 1e-6
    assert rel_error(db, numeric_grad(lambda a: f(x, w, a), b)) < 1e-6


def test_add_mul_vs_torch_and_numeric(torch: Any) -> None:
    rng = np.random.default_rng(1)
    a, b, dout = (rng.standard_normal((2, 3, 4)) for _ in range(3))
    for fwd, bwd, op in [(B.add_forward, B.add_backward, lambda p, q: p + q),
                         (B.mul_forward, B.mul_backward, lambda p, q: p * q)]:
        out, cache = fwd(a, b)
        da, db = bwd(dout, cache)
        at, bt = t64(torch, a), t64(torch, b)
        ref = op(at, bt)
        ref.backward(t64(torch, dout, requires_grad=False))
        assert np.max(np.abs(out - ref.detach().numpy())) <= F64_TOL
        assert np.max(np.abs(da - at.grad.numpy())) <= F64_TOL
        assert np.max(np.abs(db - bt.grad.numpy())) <= F64_TOL
        num_a = numeric_grad(lambda p, fwd=fwd: float(np.sum(fwd(p, b)[0] * dout)), a)
        num_b = numeric_grad(lambda q, fwd=fwd: float(np.sum(fwd(a, q)[0] * dout)), b)
        assert rel_error(da, num_a) < 1e-6 and rel_error(db, num_b) < 1e-6
        out32, _ = fwd(a.astype(np.float32), b.astype(np.float32))
        assert out32.dtype == np.float32


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concat_vs_torch_and_numeric(torch: Any, axis: int) -> None:
    rng = np.random.default_rng(2)
    sizes = [1, 3, 2]
    shapes = [tuple(s if d == axis % 3 else 2 + d for d in range(3)) for s in sizes]
    xs = [rng.standard_normal(s) for s in shapes]
    out, cache = B.concat_forward(xs, axis=axis)
    dout = rng.standard_normal(out.shape)
    dxs = B.concat_backward(dout, cache)
    xts = [t64(torch, x) for x in xs]
    ref = torch.cat(xts, dim=axis)
    ref.backward(t64(torch, dout, requires_grad=False))
    assert np.max(np.abs(out - ref.detach().numpy())) <= F64_TOL
    for i, (dx, xt) in enumerate(zip(dxs, xts, strict=True)):
        assert np.max(np.abs(dx - xt.grad.numpy())) <= F64_TOL

        def f(a: np.ndarray, i: int = i) -> float:
            parts = xs[:i] + [a] + xs[i + 1:]
            return float(np.sum(B.concat_forward(parts, axis=axis)[0] * dout))

        assert rel_error(dx, numeric_grad(f, xs[i])) < 1e-6


def test_reshape_and_flatten(torch: Any) -> None:
    x = np.random.default_rng(3).standard_normal((2, 3, 4, 5))  # NHWC: flatten is H, W, C order
    out, cache = B.flatten_forward(x)
    assert out.shape == (2, 60)
    np.testing.assert_array_equal(out, torch.flatten(t64(torch, x), 1).detach().numpy())
    dout = np.random.default_rng(4).standard_normal(out.shape)
    dx = B.flatten_backward(dout, cache)
    np.testing.assert_array_equal(dx, dout.reshape(x.shape))
    assert rel_error(dx, numeric_grad(lambda a: float(np.sum(B.flatten_forward(a)[0] * dout)), x)
                     ) < 1e-6
    out, cache = B.reshape_forward(x, (6, -1))
    assert out.shape == (6, 20)
    assert B.reshape_backward(out, cache).shape == x.shape
    assert B.flatten_forward(np.zeros((0, 3, 2)))[0].shape == (0, 6)


def test_basic_errors() -> None:
    x = np.zeros((2, 3))
    with pytest.raises(ShapeError, match=r"dense: x has shape \[2, 3\] and w \[4, 5\]"):
        B.dense_forward(x, np.zeros((4, 5)))
    with pytest.raises(ShapeError, match=r"dense: b has shape \[4\] but w has out=5; expec"):
        B.dense_forward(x, np.zeros((3, 5)), np.zeros(4))
    with pytest.raises(ShapeError, match=r"add: operands have shapes \[2, 3\] and \[3\]"):
        B.add_forward(x, np.zeros(3))
    with pytest.raises(ShapeError, match=r"mul: operands have shapes \[2, 3\] and \[3, 2\]"):
        B.mul_forward(x, np.zeros((3, 2)))
    with pytest.raises(ShapeError, match=r"concat: xs\[1\] has shape \[3, 3\] but xs\[0\] has"):
        B.concat_forward([x, np.zeros((3, 3))], axis=1)
    with pytest.raises(ShapeError, match="concat: xs is empty"):
        B.concat_forward([], axis=0)
    with pytest.raises(ShapeError, match="concat: axis=2 is out of range for 2-d arrays"):
        B.concat_forward([x], axis=2)
    with pytest.raises(GlassnetError, match=r"reshape: cannot reshape x of shape \[2, 3\] .*\[4"):
        B.reshape_forward(x, (4,))
    with pytest.raises(ShapeError, match="flatten: x is a scalar"):
        B.flatten_forward(np.float64(1.0))
