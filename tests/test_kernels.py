"""The numba kernels (extra `fast`) equal the reference NumPy path; the model's conv→ReLU→max-pool
fusion equals the unfused computation, values and gradients."""

import numpy as np
import pytest

import glassnet as gn
from glassnet.accel import conv, conv_backward, kernels, pool
from glassnet.ops import fused as ref_fused
from glassnet.ops import pool as ref_pool

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
def test_max_pool_kernels_equal_reference(rng, pool_size, strides, padding, ceil_mode, relu):
    x = rng.standard_normal((3, 2, 9, 8))
    x[0, 0, :2, :2] = 1.5  # a tie: the gradient must go to the first maximum on both paths
    hyper = dict(pool_size=pool_size, strides=strides, padding=padding, ceil_mode=ceil_mode)
    reference = ref_fused.max_pool2d_relu_forward if relu else ref_pool.max_pool2d_forward
    ref_backward = ref_fused.max_pool2d_relu_backward if relu else ref_pool.max_pool2d_backward
    o2, cache2 = reference(x, **hyper)
    dout = rng.standard_normal(o2.shape)
    o1, cache1 = pool.max_pool2d_forward(x, relu=relu, **hyper)
    np.testing.assert_array_equal(o1, o2)
    # Overlapping windows add their gradients in another order on each path: equal to rounding.
    np.testing.assert_allclose(
        pool.max_pool2d_backward(dout, cache1), ref_backward(dout, cache2), rtol=0, atol=1e-14
    )


def test_fused_relu_pool_equals_pool_of_relu(rng):
    x = rng.standard_normal((2, 3, 6, 6))
    x[0, 0, :2, :2] = -1.0  # a window whose maximum is negative: no gradient flows
    dout = rng.standard_normal((2, 3, 3, 3))
    out, cache = pool.max_pool2d_forward(x, pool_size=2, relu=True)
    dx = pool.max_pool2d_backward(dout, cache)
    relu_x = np.maximum(x, 0)
    ref, rcache = ref_pool.max_pool2d_forward(relu_x, pool_size=2)
    np.testing.assert_array_equal(out, ref)
    # d/dx of maxpool(relu(x)): the pool's routing, then ReLU's derivative (1 where x > 0).
    np.testing.assert_array_equal(dx, ref_pool.max_pool2d_backward(dout, rcache) * (x > 0))


@pytest.mark.parametrize("strides,dilation,padding", [(1, 1, 0), (2, 1, 1), (1, 2, "same")])
def test_col2im_kernel_equals_numpy(both_paths, rng, strides, dilation, padding):
    x = rng.standard_normal((3, 2, 9, 7))
    w = rng.standard_normal((3, 3, 3, 4))
    out, cache = conv.conv2d_forward(x, w, strides=strides, padding=padding, dilation=dilation)
    dout = rng.standard_normal(out.shape)
    (a, *_), (b, *_) = both_paths(lambda: conv_backward.conv2d_backward(dout, cache))
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


def test_model_fusion_matches_layer_by_layer(rng):
    from glassnet.backend import dtype_scope

    with dtype_scope("float64"):
        model = gn.zoo.get("keras_mnist_convnet")
        model.build()
    fused = [s for s in model.steps() if type(s.layer).__name__ == "ConvReLUPool"]
    assert len(fused) == 2  # both conv→pool pairs are fused
    x = rng.random((4, 28, 28, 1))
    fused = model.forward(x)
    unfused = list(model.feature_maps(x).values())[-1]  # keep_all: no fusion
    np.testing.assert_allclose(fused.data, unfused.data, rtol=0, atol=1e-14)


@pytest.mark.parametrize("block", [None, 1, 2, 5])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("window", [(2, None, 0), (3, 1, 1), (3, 2, "same"), ((2, 3), (1, 2), 0),
                                    (3, 2, (1, 0))])
def test_max_pool_values_equal_the_forward_output(rng, monkeypatch, threads, relu, window, dtype,
                                                  block):
    """Inference's values-only kernels (2×2, else the two-pass one without the arg-max, padding
    its planes ``block`` at a time) give the training forward's output, NaN windows and ties
    included, whatever the block and the threads."""
    if block is not None:
        monkeypatch.setattr(pool, "block_planes", lambda *args: block)
    x = rng.standard_normal((3, 2, 9, 8)).astype(dtype)
    x[0, 0, 0, 0] = np.nan  # a NaN window: both keep the same value
    x[0, 1, 4, 5] = np.nan  # a NaN inside windows, not first in them
    x[1, 1, :2, :2] = 0.5  # a tie
    size, strides, padding = window
    geo = ref_pool.pool_geometry((9, 8), size, strides, padding)
    full, _ = pool.max_pool2d_resolved(x, geo, relu)
    np.testing.assert_array_equal(pool.max_pool2d_values(x, geo, relu), full)
