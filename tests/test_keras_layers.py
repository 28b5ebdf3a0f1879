"""The layers Keras files bring (ZeroPadding2D, GlobalMaxPool2D, Rescaling, Reshape,
SeparableConv2D): op pairs and layers against PyTorch float64, counts, errors."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import t64
from hypothesis import given, settings
from hypothesis import strategies as st
from numgrad import numeric_grad, rel_error

from glassnet import layers as L
from glassnet.arith.separable import separable_conv2d_params
from glassnet.backend import dtype_scope
from glassnet.errors import GlassnetError, ShapeError
from glassnet.models import Model
from glassnet.ops import spatial as S

TOL = 1e-10


def _check_pair(torch, fwd, bwd, ref, x, **kw):
    """Forward and backward of an op pair equal torch's (float64), plus a numeric gradient."""
    out, cache = fwd(x, **kw)
    dout = np.random.default_rng(1).normal(size=out.shape)
    tx = t64(torch, x)
    ty = ref(tx)
    ty.backward(torch.tensor(dout))
    assert rel_error(out, ty.detach().numpy()) < TOL
    dx = bwd(dout, cache)
    assert rel_error(dx, tx.grad.numpy()) < TOL
    num = numeric_grad(lambda v: float((fwd(v, **kw)[0] * dout).sum()), x)
    assert rel_error(dx, num) < 1e-7


@pytest.mark.parametrize("pads", [((1, 2), (0, 3)), ((0, 0), (2, 2))])
def test_zero_pad2d_vs_torch(torch, pads):
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 5))
    (t, b), (le, r) = pads
    _check_pair(torch, S.zero_pad2d_forward, S.zero_pad2d_backward,
                lambda v: torch.nn.functional.pad(v, (le, r, t, b)), x, pads=pads)


def test_global_max_pool2d_vs_torch(torch):
    x = np.random.default_rng(0).normal(size=(3, 2, 5, 4))
    _check_pair(torch, S.global_max_pool2d_forward, S.global_max_pool2d_backward,
                lambda v: torch.amax(v, dim=(-2, -1)), x)


def test_rescale_vs_torch(torch):
    x = np.random.default_rng(0).normal(size=(2, 3, 4))
    _check_pair(torch, S.rescale_forward, S.rescale_backward,
                lambda v: v * 0.25 - 1.5, x, scale=0.25, offset=-1.5)


def test_op_errors():
    with pytest.raises(ShapeError, match=r"zero_pad2d: x must have shape \(\.\.\., H, W\)"):
        S.zero_pad2d_forward(np.zeros(3), pads=((1, 1), (1, 1)))
    with pytest.raises(GlassnetError, match=r"zero_pad2d: pads=.* ints >= 0"):
        S.zero_pad2d_forward(np.zeros((2, 2)), pads=((-1, 1), (1, 1)))
    with pytest.raises(ShapeError, match="global_max_pool2d: x must have shape"):
        S.global_max_pool2d_forward(np.zeros(3))


def _model_vs_torch(torch, build, torch_fn, shape, seed=0):
    """A one-input model's output and input gradient against a torch function (NHWC)."""
    with dtype_scope("float64"):
        inp = L.Input(shape)
        model = Model(inp, build(inp)).build(seed)
        x = np.random.default_rng(seed).normal(size=(2, *shape))
        from glassnet.tensor import Tensor

        tx_ours = Tensor(x, requires_grad=True)
        out = model.forward(tx_ours)
        dout = np.random.default_rng(2).normal(size=out.shape)
        out.backward(dout)
        tx = t64(torch, x)
        ty = torch_fn(tx, model)
        ty.backward(torch.tensor(dout))
        assert tuple(out.shape[1:]) == model.output_shape
        assert rel_error(out.data, ty.detach().numpy()) < TOL
        assert rel_error(tx_ours.grad, tx.grad.numpy()) < TOL
        return model


def _nchw(v):
    return v.permute(0, 3, 1, 2)


def _nhwc(v):
    return v.permute(0, 2, 3, 1)


@pytest.mark.parametrize("strides,padding,mult,dil", [(1, "same", 1, 1), (2, "same", 2, 1),
                                                       (1, "valid", 2, 2)])
def test_separable_conv2d_vs_torch(torch, strides, padding, mult, dil):
    fn = torch.nn.functional

    def ref(tx, model):
        layer = model.layers[0]
        w = {k: torch.tensor(p.data) for k, p in layer.weights.items()}
        xc = _nchw(tx)
        if padding == "same":  # TensorFlow rule: the extra pixel bottom/right
            (t, b), (le, r) = layer._geometry((9, 8, 3))[1]
            xc = fn.pad(xc, (le, r, t, b))
        mid = fn.conv2d(xc, w["depthwise_kernel"].permute(3, 2, 0, 1), stride=strides,
                        dilation=dil, groups=3)
        out = fn.conv2d(mid, w["pointwise_kernel"].permute(3, 2, 0, 1), w["bias"])
        return _nhwc(torch.relu(out))

    model = _model_vs_torch(
        torch, lambda i: L.SeparableConv2D(5, 3, strides=strides, padding=padding,
                                           depth_multiplier=mult, dilation_rate=dil,
                                           activation="relu")(i),
        ref, (9, 8, 3))
    counts = model.summary(print_fn=None)
    assert counts["total_params"] == 9 * 3 * mult + 3 * mult * 5 + 5
    assert counts["total_params"] == sum(p.data.size for p in model.parameters())


def test_spatial_layers_vs_torch(torch):
    fn = torch.nn.functional

    def build(i):
        x = L.Rescaling(0.5, offset=0.25)(i)
        x = L.ZeroPadding2D(((1, 0), (2, 1)))(x)
        x = L.GlobalMaxPool2D()(x)
        return L.Reshape((2, 1, 3))(x)

    def ref(tx, model):
        x = fn.pad(_nchw(tx * 0.5 + 0.25), (2, 1, 1, 0))
        return torch.amax(x, dim=(-2, -1)).reshape(-1, 2, 1, 3)

    model = _model_vs_torch(torch, build, ref, (4, 5, 6))
    assert [layer.output_shape() for layer in model.layers] == [
        (4, 5, 6), (5, 8, 6), (6,), (2, 1, 3)]


def test_reshape_follows_keras_order(torch):
    # map -> vector -> map: Keras' row-major (H, W, C) order both ways
    def build(i):
        return L.Reshape((3, 2, 2))(L.Reshape((-1,))(i))

    _model_vs_torch(torch, build, lambda tx, m: tx.reshape(-1, 3, 2, 2), (2, 3, 2))


def test_separable_counts_explained():
    p = separable_conv2d_params(3, 3, 16, 32, 2)
    assert int(p.params) == 3 * 3 * 16 * 2 + 16 * 2 * 32 + 32
    assert "W = K_h·K_w·C_in·M + C_in·M·N" in p.explain()[0]


def test_layer_errors():
    with pytest.raises(GlassnetError, match=r"zero_padding2d: padding=-1 must be"):
        L.ZeroPadding2D(-1)
    with pytest.raises(GlassnetError, match=r"reshape: target_shape=\(2, 2\) must be"):
        L.Reshape((2, 2))
    with pytest.raises(ShapeError,
                       match=r"reshape: cannot reshape \(None, 4, 4, 1\) \(16 values\) to"):
        L.Reshape((5,))(L.Input((4, 4, 1)))
    with pytest.raises(GlassnetError, match=r"rescaling: scale='x' must be a number"):
        L.Rescaling("x")
    with pytest.raises(GlassnetError, match=r"separable_conv2d: filters=0 must be"):
        L.SeparableConv2D(0, 3)
    with pytest.raises(ShapeError):
        L.GlobalMaxPool2D()(L.Input((5,)))


@settings(max_examples=15, deadline=None)
@given(size=st.tuples(st.integers(3, 9), st.integers(3, 9)), kernel=st.sampled_from([1, 2, 3]),
       strides=st.sampled_from([1, 2, 3]), padding=st.sampled_from(["valid", "same"]),
       mult=st.sampled_from([1, 2]), dil=st.sampled_from([1, 2]), seed=st.integers(0, 99))
def test_separable_conv2d_fuzz_vs_torch(torch, size, kernel, strides, padding, mult, dil, seed):
    if padding == "valid" and min(size) < dil * (kernel - 1) + 1:
        return  # the window does not fit (refused, tested elsewhere)
    fn = torch.nn.functional
    shape = (*size, 2)

    def ref(tx, model):
        layer = model.layers[0]
        w = {k: torch.tensor(p.data) for k, p in layer.weights.items()}
        (t, b), (le, r) = layer._geometry(shape)[1]
        mid = fn.conv2d(fn.pad(_nchw(tx), (le, r, t, b)),
                        w["depthwise_kernel"].permute(3, 2, 0, 1), stride=strides,
                        dilation=dil, groups=2)
        return _nhwc(fn.conv2d(mid, w["pointwise_kernel"].permute(3, 2, 0, 1), w["bias"]))

    _model_vs_torch(
        torch, lambda i: L.SeparableConv2D(3, kernel, strides=strides, padding=padding,
                                           depth_multiplier=mult, dilation_rate=dil)(i),
        ref, shape, seed=seed)


@settings(max_examples=20, deadline=None)
@given(shape=st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 6),
                       st.integers(1, 6)),
       pads=st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 3), st.integers(0, 3)),
       seed=st.integers(0, 99))
def test_spatial_ops_fuzz_vs_torch(torch, shape, pads, seed):
    x = np.random.default_rng(seed).normal(size=shape)
    t, b, le, r = pads
    _check_pair(torch, S.zero_pad2d_forward, S.zero_pad2d_backward,
                lambda v: torch.nn.functional.pad(v, (le, r, t, b)), x, pads=((t, b), (le, r)))
    _check_pair(torch, S.global_max_pool2d_forward, S.global_max_pool2d_backward,
                lambda v: torch.amax(v, dim=(-2, -1)), x)
