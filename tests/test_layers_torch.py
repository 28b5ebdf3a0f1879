"""Layers and blocks against PyTorch float64: forward values and parameter gradients."""

from __future__ import annotations

import numpy as np
import pytest

from glassnet import layers as L
from glassnet.backend import dtype_scope
from glassnet.models import Model, Sequential
from glassnet.zoo.inception import inception_module
from glassnet.zoo.mobilenet import inverted_residual
from glassnet.zoo.resnet import basic_block, bottleneck_block


@pytest.fixture(autouse=True)
def _float64_torch(torch):
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def _torch_params(layer, torch):
    """The layer's weights in PyTorch's layouts (conv OIHW, linear [out, in])."""
    w = layer.weights
    if isinstance(layer, L.Conv2D | L.DepthwiseConv2D):
        out = {"weight": w["kernel"].data.transpose(3, 2, 0, 1)}
    elif isinstance(layer, L.Dense):
        out = {"weight": w["kernel"].data.T}
    else:
        out = {"weight": w["gamma"].data, "bias": w["beta"].data}
    if "bias" in w:
        out["bias"] = w["bias"].data
    return {k: torch.tensor(np.ascontiguousarray(v)) for k, v in out.items()}


def _grad_in_our_layout(layer, key, module):
    g = module.get_parameter({"kernel": "weight", "gamma": "weight", "beta": "bias"}.get(key, key))
    g = g.grad.numpy()
    if key == "kernel":
        return g.transpose(2, 3, 1, 0) if g.ndim == 4 else g.T
    return g


def _copy(model, modules, torch):
    """Load each glassnet layer's weights into the torch module of the same name."""
    for layer in model.layers:
        if layer.weights:
            with torch.no_grad():
                for k, v in _torch_params(layer, torch).items():
                    getattr(modules[layer.name], k).copy_(v)


def _compare(model, modules, torch_forward, x, torch, training, atol=1e-10):
    """Forward + gradients of sum(out · r) for both frameworks."""
    _copy(model, modules, torch)
    for m in modules.values():
        m.train(training)
    out = model(x, training=training)
    r = np.random.default_rng(5).normal(size=out.shape)
    (out * r).sum().backward()
    tx = torch.tensor(x, requires_grad=True)
    tout = torch_forward(tx)
    (tout * torch.tensor(r)).sum().backward()
    np.testing.assert_allclose(out.data, tout.detach().numpy(), atol=atol, rtol=1e-9)
    for layer in model.layers:
        for key, p in layer.weights.items():
            np.testing.assert_allclose(
                p.grad, _grad_in_our_layout(layer, key, modules[layer.name]), atol=atol,
                rtol=1e-8, err_msg=f"{layer.name}.{key}",
            )


@pytest.mark.parametrize("training", [False, True])
def test_tiny_sequential_matches_torch(torch, training):
    nn = torch.nn
    with dtype_scope("float64"):
        model = Sequential([
            L.Input((11, 10, 3)),
            L.Conv2D(4, 3, padding=1, activation="relu", name="c1"),
            L.MaxPool2D(3, strides=2, padding=1, name="p1"),
            L.Conv2D(6, (3, 2), strides=(1, 2), dilation_rate=(2, 1), groups=2, name="c2"),
            L.BatchNormalization(momentum=0.9, epsilon=1e-5, name="bn"),
            L.AvgPool2D(2, ceil_mode=True, name="p2"),
            L.Flatten(name="flat"),
            L.Dense(5, activation="tanh", name="d1"),
            L.Dense(3, activation="softmax", name="d2"),
        ], seed=1).build()
    mods = {
        "c1": nn.Conv2d(3, 4, 3, padding=1), "c2": nn.Conv2d(4, 6, (3, 2), (1, 2),
                                                            dilation=(2, 1), groups=2),
        "bn": nn.BatchNorm2d(6), "d1": nn.Linear(model.get_layer("d1").input_shape[0], 5),
        "d2": nn.Linear(5, 3),
    }

    def fwd(x):
        y = x.permute(0, 3, 1, 2)
        y = nn.functional.max_pool2d(torch.relu(mods["c1"](y)), 3, 2, padding=1)
        y = nn.functional.avg_pool2d(mods["bn"](mods["c2"](y)), 2, ceil_mode=True,
                                     count_include_pad=False)
        y = y.permute(0, 2, 3, 1).flatten(1)  # Keras flatten order (H, W, C)
        return torch.softmax(mods["d2"](torch.tanh(mods["d1"](y))), dim=-1)

    x = np.random.default_rng(2).normal(size=(3, 11, 10, 3))
    _compare(model, mods, fwd, x, torch, training)
    if training:
        bn = model.get_layer("bn")
        np.testing.assert_allclose(bn.buffers["moving_mean"], mods["bn"].running_mean.numpy())
        np.testing.assert_allclose(bn.buffers["moving_variance"], mods["bn"].running_var.numpy())


def _bn(nn, c):
    return nn.BatchNorm2d(c)


@pytest.mark.parametrize(("block", "c_in", "planes", "strides"), [
    (basic_block, 4, 4, 1), (basic_block, 4, 8, 2), (bottleneck_block, 8, 2, 1),
    (bottleneck_block, 4, 4, 2),
])
def test_resnet_blocks_match_torch(torch, block, c_in, planes, strides):
    nn = torch.nn
    with dtype_scope("float64"):
        x_in = L.Input((6, 6, c_in))
        model = Model(x_in, block(x_in.node, planes, strides, "b"), seed=3).build()
    mods = {}
    for layer in model.layers:
        if isinstance(layer, L.Conv2D):
            k = layer.kernel_size[0]
            mods[layer.name] = nn.Conv2d(layer.input_shape[-1], layer.filters, k, layer.strides[0],
                                         padding=k // 2, bias=False)
        elif isinstance(layer, L.BatchNormalization):
            mods[layer.name] = _bn(nn, layer.input_shape[-1])
    bottle = block is bottleneck_block
    n = 3 if bottle else 2

    def fwd(x):
        y = x.permute(0, 3, 1, 2)
        short = y
        for i in range(1, n + 1):
            y = mods[f"b.bn{i}"](mods[f"b.conv{i}"](y))
            y = torch.relu(y) if i < n else y
        if "b.downsample.0" in mods:
            short = mods["b.downsample.1"](mods["b.downsample.0"](short))
        return torch.relu(y + short).permute(0, 2, 3, 1)

    x = np.random.default_rng(4).normal(size=(2, 6, 6, c_in))
    _compare(model, mods, fwd, x, torch, training=True)


def test_inception_module_matches_torch(torch):
    nn = torch.nn
    widths = (2, 3, 4, 2, 3, 2)
    with dtype_scope("float64"):
        x_in = L.Input((5, 5, 3))
        model = Model(x_in, inception_module(x_in.node, widths, "m"), seed=5).build()
    mods = {}
    for layer in model.layers:
        if isinstance(layer, L.Conv2D):
            k = layer.kernel_size[0]
            mods[layer.name] = nn.Conv2d(layer.input_shape[-1], layer.filters, k, padding=k // 2,
                                         bias=False)
        elif isinstance(layer, L.BatchNormalization):
            mods[layer.name] = nn.BatchNorm2d(layer.input_shape[-1], eps=1e-3)

    def cb(y, n):
        return torch.relu(mods[f"m.{n}.bn"](mods[f"m.{n}.conv"](y)))

    def fwd(x):
        y = x.permute(0, 3, 1, 2)
        pooled = nn.functional.max_pool2d(y, 3, 1, padding=1, ceil_mode=True)
        outs = [cb(y, "branch1"), cb(cb(y, "branch2.0"), "branch2.1"),
                cb(cb(y, "branch3.0"), "branch3.1"), cb(pooled, "branch4.1")]
        return torch.cat(outs, dim=1).permute(0, 2, 3, 1)

    x = np.random.default_rng(6).normal(size=(2, 5, 5, 3))
    _compare(model, mods, fwd, x, torch, training=False)


@pytest.mark.parametrize(("expansion", "c_in", "filters", "strides"), [
    (1, 4, 3, 1), (6, 3, 3, 1), (6, 3, 5, 2),
])
def test_inverted_residual_matches_torch(torch, expansion, c_in, filters, strides):
    nn = torch.nn
    with dtype_scope("float64"):
        x_in = L.Input((7, 7, c_in))
        model = Model(x_in, inverted_residual(x_in.node, expansion, filters, strides, "r"),
                      seed=7).build()
    hidden = c_in * expansion
    mods = {"r.depthwise.conv": nn.Conv2d(hidden, hidden, 3, strides, 1, groups=hidden,
                                          bias=False),
            "r.depthwise.bn": nn.BatchNorm2d(hidden),
            "r.project.conv": nn.Conv2d(hidden, filters, 1, bias=False),
            "r.project.bn": nn.BatchNorm2d(filters)}
    if expansion != 1:
        mods |= {"r.expand.conv": nn.Conv2d(c_in, hidden, 1, bias=False),
                 "r.expand.bn": nn.BatchNorm2d(hidden)}

    def fwd(x):
        y = x.permute(0, 3, 1, 2)
        z = y
        if expansion != 1:
            z = nn.functional.relu6(mods["r.expand.bn"](mods["r.expand.conv"](z)))
        z = nn.functional.relu6(mods["r.depthwise.bn"](mods["r.depthwise.conv"](z)))
        z = mods["r.project.bn"](mods["r.project.conv"](z))
        if strides == 1 and c_in == filters:
            z = z + y
        return z.permute(0, 2, 3, 1)

    x = np.random.default_rng(8).normal(size=(2, 7, 7, c_in)) * 3
    _compare(model, mods, fwd, x, torch, training=True)
