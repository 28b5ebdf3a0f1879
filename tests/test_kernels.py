"""The numba kernels (extra `fast`) equal the NumPy path; the model's conv→ReLU→max-pool fusion
equals the unfused computation, values and gradients."""

import numpy as np
import pytest

import glassnet as gn
from glassnet.ops import conv, kernels, pool

pytestmark = pytest.mark.skipif(not kernels.AVAILABLE, reason="numba not installed")


@pytest.fixture
def both_paths():
    """Yield a function running f with the kernels on and off, returning both results."""

    def run(f):
        old = kernels.set_enabled(True)
        try:
            fast = f()
            kernels.set_enabled(False)
            slow = f()
        finally:
            kernels.set_enabled(old)
        return fast, slow

    return run


@pytest.mark.parametrize(
    "pool_size,strides,padding,ceil_mode",
    [
        (2, None, "valid", False),
        (3, 2, "same", False),
        (3, 1, 1, False),
        ((2, 3), (1, 2), 0, True),
    ],
)
@pytest.mark.parametrize("relu", [False, True])
def test_max_pool_kernels_equal_numpy(
    both_paths, rng, pool_size, strides, padding, ceil_mode, relu
):
    x = rng.standard_normal((3, 2, 9, 8))
    x[0, 0, :2, :2] = 1.5  # a tie: the gradient must go to the first maximum on both paths
    dout = rng.standard_normal(
        pool.max_pool2d_forward(
            x, pool_size=pool_size, strides=strides, padding=padding, ceil_mode=ceil_mode
        )[0].shape
    )

    def run():
        out, cache = pool.max_pool2d_forward(
            x, pool_size=pool_size, strides=strides, padding=padding, ceil_mode=ceil_mode, relu=relu
        )
        return out, pool.max_pool2d_backward(dout, cache)

    (o1, d1), (o2, d2) = both_paths(run)
    np.testing.assert_array_equal(o1, o2)
    # Overlapping windows add their gradients in another order on each path: equal to rounding.
    np.testing.assert_allclose(d1, d2, rtol=0, atol=1e-14)


def test_fused_relu_pool_equals_pool_of_relu(rng):
    x = rng.standard_normal((2, 3, 6, 6))
    x[0, 0, :2, :2] = -1.0  # a window whose maximum is negative: no gradient flows
    dout = rng.standard_normal((2, 3, 3, 3))
    out, cache = pool.max_pool2d_forward(x, pool_size=2, relu=True)
    dx = pool.max_pool2d_backward(dout, cache)
    relu_x = np.maximum(x, 0)
    ref, rcache = pool.max_pool2d_forward(relu_x, pool_size=2)
    np.testing.assert_array_equal(out, ref)
    # d/dx of maxpool(relu(x)): the pool's routing, then ReLU's derivative (1 where x > 0).
    np.testing.assert_array_equal(dx, pool.max_pool2d_backward(dout, rcache) * (x > 0))


@pytest.mark.parametrize("strides,dilation,padding", [(1, 1, 0), (2, 1, 1), (1, 2, "same")])
def test_col2im_kernel_equals_numpy(both_paths, rng, strides, dilation, padding):
    x = rng.standard_normal((3, 2, 9, 7))
    w = rng.standard_normal((3, 3, 3, 4))
    out, cache = conv.conv2d_forward(x, w, strides=strides, padding=padding, dilation=dilation)
    dout = rng.standard_normal(out.shape)
    (a, *_), (b, *_) = both_paths(lambda: conv.conv2d_backward(dout, cache))
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


def test_model_fusion_matches_layer_by_layer(rng):
    from glassnet.backend import dtype_scope

    with dtype_scope("float64"):
        model = gn.zoo.get("keras_mnist_convnet")
        model.build()
    assert len(model._relu_pool_pairs()) == 2  # both conv→pool pairs are fused
    x = rng.random((4, 28, 28, 1))
    fused = model.forward(x)
    unfused = list(model.feature_maps(x).values())[-1]  # keep_all: no fusion
    np.testing.assert_allclose(fused.data, unfused.data, rtol=0, atol=1e-14)


@pytest.mark.parametrize("relu", [False, True])
def test_max_pool_values_equal_the_forward_output(rng, relu):
    x = rng.standard_normal((3, 2, 9, 8))
    x[0, 0, 0, 0] = np.nan  # a NaN window: both keep the same value
    x[1, 1, :2, :2] = 0.5  # a tie
    geo = pool.pool_geometry((9, 8), 2)
    full, _ = pool.max_pool2d_resolved(x, geo, relu)
    np.testing.assert_array_equal(pool.max_pool2d_values(x, geo, relu), full)
