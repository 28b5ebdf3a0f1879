"""The autodiff engine: graph recording, accumulation, no_grad, errors; checked against torch."""

import numpy as np
import pytest
from conftest import t64

from glassnet import autodiff as A
from glassnet.backend import default_dtype, dtype_scope, set_default_dtype
from glassnet.errors import GlassnetError, ShapeError
from glassnet.gradcheck import gradcheck
from glassnet.tensor import Parameter, Tensor, no_grad


def test_default_dtype_is_float32_and_float_arrays_keep_theirs():
    assert Tensor([1, 2]).dtype == np.float32
    assert Tensor(np.zeros(2)).dtype == np.float64
    with dtype_scope("float64"):
        assert Tensor([1.0]).dtype == np.float64
    assert default_dtype() == np.float32


def test_bad_default_dtype_is_named():
    with pytest.raises(GlassnetError, match=r"set_default_dtype: dtype='int32' is not one of"):
        set_default_dtype("int32")


def test_copy_gate_adds_gradients_of_a_reused_tensor():
    # f = x·x + x  => df/dx = 2x + 1, the tensor x feeds three edges.
    x = Tensor(np.array([3.0, -2.0]), requires_grad=True)
    (x * x + x).sum().backward()
    np.testing.assert_array_equal(x.grad, [7.0, -3.0])


def test_gradients_accumulate_across_backward_calls_like_torch():
    w = Parameter(np.array([1.0, 2.0]))
    for _ in range(2):
        (w * 3.0).sum().backward()
    np.testing.assert_array_equal(w.grad, [6.0, 6.0])


def test_no_grad_records_nothing():
    w = Parameter(np.ones(3))
    with no_grad():
        y = (w * 2.0).sum()
    assert not y.requires_grad and y.is_leaf
    with pytest.raises(GlassnetError, match="does not require grad"):
        y.backward()


def test_backward_needs_grad_for_non_scalar_and_checks_its_shape():
    x = Tensor(np.ones((2, 2)), requires_grad=True)
    y = x * 2.0
    with pytest.raises(
        GlassnetError, match=r"grad must be given for a non-scalar output of shape \[2, 2\]"
    ):
        y.backward()
    with pytest.raises(
        ShapeError, match=r"grad shape \[3\] does not match the output shape \[2, 2\]"
    ):
        y.backward(np.ones(3))


def test_retain_grad_keeps_intermediate_gradient():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    h = (x * 3.0).retain_grad()
    (h * h).sum().backward()
    np.testing.assert_allclose(h.grad, 2 * h.data)
    np.testing.assert_allclose(x.grad, 18 * x.data)


def test_diamond_graph_against_torch(torch, rng):
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
    bias = rng.standard_normal((1, 2))
    ga, gb, gbias = (Tensor(v, requires_grad=True) for v in (a, b, bias))
    h = ga @ gb
    out = (h * h + h + gbias - h * 0.5).sum()
    out.backward()
    ta, tb, tbias = t64(torch, a), t64(torch, b), t64(torch, bias)
    th = ta @ tb
    tout = (th * th + th + tbias - th * 0.5).sum()
    tout.backward()
    assert abs(out.item() - tout.item()) < 1e-12
    for mine, ref in ((ga, ta), (gb, tb), (gbias, tbias)):
        np.testing.assert_allclose(mine.grad, ref.grad.numpy(), atol=1e-12)


def test_matmul_shape_error_names_shapes():
    with pytest.raises(ShapeError, match=r"matmul: shapes \[2, 3\] and \[2, 3\] do not chain"):
        Tensor(np.ones((2, 3))) @ Tensor(np.ones((2, 3)))


def test_item_of_non_scalar_is_an_error():
    with pytest.raises(ShapeError, match=r"tensor of shape \[2\] is not a single value"):
        Tensor([1.0, 2.0]).item()


@pytest.mark.parametrize(
    "fn",
    [
        lambda a, b: A.add(a, b),
        lambda a, b: A.mul(a, b),
        lambda a, b: A.transpose(a, (1, 0)) * 2.0 - b.reshape(3, 2).reshape(2, 3).reshape(3, 2),
    ],
)
def test_generic_ops_pass_gradcheck(fn, rng):
    res = gradcheck(fn, rng.standard_normal((2, 3)), rng.standard_normal((2, 3)))
    assert res.ok, str(res)


def test_broadcast_add_gradient_sums_back(rng):
    res = gradcheck(
        lambda a, b: A.add(a, b), rng.standard_normal((4, 3)), rng.standard_normal((1, 3))
    )
    assert res.ok, str(res)


def test_gradcheck_detects_a_wrong_backward(rng):
    def bad_square(x):
        return Tensor.from_op(x.data**2, (x,), lambda g: (g * x.data,))  # should be 2·x

    res = gradcheck(bad_square, rng.standard_normal(5))
    assert not res.ok and res.max_error > 0.1
    assert "FAIL" in str(res)


def test_gradcheck_rejects_disconnected_output():
    with pytest.raises(GlassnetError, match="fn must return a Tensor computed from its inputs"):
        gradcheck(lambda x: Tensor(np.ones(2)), np.ones(2))
