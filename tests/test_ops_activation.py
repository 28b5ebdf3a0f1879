"""Activations vs PyTorch float64, numeric gradients and the stability examples."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
from conftest import t64
from hypothesis import given, settings
from hypothesis import strategies as st
from numgrad import numeric_grad, rel_error

from glassnet.errors import GlassnetError
from glassnet.ops import activation as A

F64_TOL = 1e-10


def _torch_fn(torch: Any, name: str) -> Any:
    fn = torch.nn.functional
    return {
        "relu": fn.relu,
        "relu6": fn.relu6,
        "leaky_relu": lambda t: fn.leaky_relu(t, 0.01),
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "softmax": lambda t: fn.softmax(t, dim=-1),
        "log_softmax": lambda t: fn.log_softmax(t, dim=-1),
        "softmax0": lambda t: fn.softmax(t, dim=0),
        "log_softmax1": lambda t: fn.log_softmax(t, dim=1),
    }[name]


def _ours(name: str) -> tuple[Any, Any]:
    """(forward(x) -> (out, cache), backward) for a test name."""
    pairs = {
        "relu": (A.relu_forward, A.relu_backward),
        "relu6": (lambda x: A.clipped_relu_forward(x, max_value=6.0), A.clipped_relu_backward),
        "leaky_relu": (A.leaky_relu_forward, A.leaky_relu_backward),
        "sigmoid": (A.sigmoid_forward, A.sigmoid_backward),
        "tanh": (A.tanh_forward, A.tanh_backward),
        "softmax": (A.softmax_forward, A.softmax_backward),
        "log_softmax": (A.log_softmax_forward, A.log_softmax_backward),
        "softmax0": (lambda x: A.softmax_forward(x, axis=0), A.softmax_backward),
        "log_softmax1": (lambda x: A.log_softmax_forward(x, axis=1), A.log_softmax_backward),
    }
    return pairs[name]


NAMES = ["relu", "relu6", "leaky_relu", "sigmoid", "tanh", "softmax", "log_softmax", "softmax0",
         "log_softmax1"]


def _away_from_kink(x: np.ndarray) -> np.ndarray:
    # ReLU-type kinks at 0 (and ReLU6's at 6) are not differentiable: keep x at least 0.05 away
    # from them so x ± 1e-6 stays on one side.
    x = np.where(np.abs(x) < 0.05, 0.05 + np.abs(x), x)
    return np.where(np.abs(x - 6) < 0.05, x + 0.1, x)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=30, deadline=None)
@given(shape=st.sampled_from([(1, 1), (3, 5), (2, 3, 4), (4, 1, 7)]), seed=st.integers(0, 999),
       scale=st.sampled_from([0.1, 1.0, 10.0]))
def test_activation_vs_torch(torch: Any, name: str, shape: tuple[int, ...], seed: int,
                             scale: float) -> None:
    x = _away_from_kink(np.random.default_rng(seed).standard_normal(shape) * scale)
    dout = np.random.default_rng(seed + 1).standard_normal(shape)
    fwd, bwd = _ours(name)
    out, cache = fwd(x)
    dx = bwd(dout, cache)
    xt = t64(torch, x)
    ref = _torch_fn(torch, name)(xt)
    ref.backward(t64(torch, dout, requires_grad=False))
    assert np.max(np.abs(out - ref.detach().numpy())) <= F64_TOL
    assert np.max(np.abs(dx - xt.grad.numpy())) <= F64_TOL
    out32, cache32 = fwd(x.astype(np.float32))
    dx32 = bwd(dout.astype(np.float32), cache32)
    assert out32.dtype == dx32.dtype == np.float32
    # float32 within 1e-4 of the float64 truth, or no worse than PyTorch's own float32 where the
    # problem itself is ill-conditioned (saturated softmax: dout − Σ dout·p cancels).
    xt32 = torch.tensor(x, dtype=torch.float32, requires_grad=True)
    ref32 = _torch_fn(torch, name)(xt32)
    ref32.backward(torch.tensor(dout, dtype=torch.float32))
    torch_out_err = rel_error(ref32.detach().numpy(), ref.detach().numpy())
    torch_dx_err = rel_error(xt32.grad.numpy(), xt.grad.numpy())
    # (The 1e-10 floor: where torch float64 rounds 1 − tanh² to 0, ours keeps e.g. 5e-18.)
    assert _close(out32, ref.detach().numpy(), max(1e-4, 2 * torch_out_err))
    assert _close(dx32, xt.grad.numpy(), max(1e-4, 2 * torch_dx_err))


def _close(a: np.ndarray, ref: np.ndarray, rtol: float) -> bool:
    return rel_error(a, ref) <= rtol or float(np.max(np.abs(a - ref))) <= 1e-10


@pytest.mark.parametrize("name", NAMES)
def test_activation_numeric_gradient(name: str) -> None:
    x = _away_from_kink(np.random.default_rng(3).standard_normal((3, 4)) * 2)
    r = np.random.default_rng(4).standard_normal((3, 4))
    fwd, bwd = _ours(name)
    num = numeric_grad(lambda a: float(np.sum(fwd(a)[0] * r)), x)
    assert rel_error(bwd(r, fwd(x)[1]), num) < 1e-6


def test_leaky_relu_alpha(torch: Any) -> None:
    x = np.array([-2.0, -0.5, 0.0, 1.5])
    out, cache = A.leaky_relu_forward(x, alpha=0.2)
    np.testing.assert_array_equal(out, [-0.4, -0.1, 0.0, 1.5])
    np.testing.assert_array_equal(A.leaky_relu_backward(np.ones(4), cache), [0.2, 0.2, 0.2, 1])
    assert A.leaky_relu_forward(x)[0][0] == -0.02  # default alpha 0.01 = torch's slope
    with pytest.raises(GlassnetError, match=r"leaky_relu: alpha='0.2' must be a real number"):
        A.leaky_relu_forward(x, alpha="0.2")  # type: ignore[arg-type]


def test_relu_at_zero_and_cache_is_a_mask() -> None:
    out, cache = A.relu_forward(np.array([-1.0, 0.0, 2.0]))
    np.testing.assert_array_equal(out, [0, 0, 2])
    assert cache.mask.dtype == bool
    np.testing.assert_array_equal(A.relu_backward(np.ones(3), cache), [0, 0, 1])


def test_softmax_stability_example() -> None:
    x = np.array([1.0, 3.5, 757.0, -5.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any overflow warning fails the test
        for dtype in (np.float64, np.float32):
            p, _ = A.softmax_forward(x.astype(dtype))
            assert np.all(np.isfinite(p)) and abs(float(p.sum()) - 1) < 1e-6
            assert p.dtype == dtype and p[2] == 1.0
            logp, _ = A.log_softmax_forward(x.astype(dtype))
            assert np.all(np.isfinite(logp))
            np.testing.assert_allclose(logp[3], -762.0, rtol=1e-6)  # not log(0) = -inf


def test_sigmoid_extremes_without_warnings() -> None:
    x = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for dtype in (np.float64, np.float32):
            s, cache = A.sigmoid_forward(x.astype(dtype))
            assert s.dtype == dtype and np.all(np.isfinite(s))
            assert s[0] == 0.0 and s[2] == 0.5 and s[-1] == 1.0
            assert np.all(np.isfinite(A.sigmoid_backward(np.ones(5, dtype), cache)))
            t, _ = A.tanh_forward(x.astype(dtype))
            np.testing.assert_array_equal(t[[0, -1]], [-1, 1])


@pytest.mark.parametrize("fn", [A.softmax_forward, A.log_softmax_forward])
def test_softmax_axis_errors(fn: Any) -> None:
    name = "softmax" if fn is A.softmax_forward else "log_softmax"
    with pytest.raises(GlassnetError, match=rf"{name}: axis=2 is out of range .* \[-2, 1\]"):
        fn(np.zeros((2, 3)), axis=2)


def test_relu6_kinks_pass_no_gradient(torch: Any) -> None:
    """At exactly 0 and 6 the gradient is 0, as PyTorch's relu6 (hardtanh) gives."""
    x = np.array([-1.0, 0.0, 3.0, 6.0, 7.0])
    out, cache = A.clipped_relu_forward(x, max_value=6.0)
    np.testing.assert_array_equal(out, [0, 0, 3, 6, 6])
    dx = A.clipped_relu_backward(np.ones(5), cache)
    xt = t64(torch, x)
    torch.nn.functional.relu6(xt).sum().backward()
    np.testing.assert_array_equal(dx, xt.grad.numpy())

