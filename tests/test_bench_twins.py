"""The bench's torch twin of every zoo family computes what glassnet computes (float64).

Eval mode: the same logits. Train mode (BatchNorm on batch statistics, dropout off on both
sides so the masks cannot differ): the same outputs, the same updated moving statistics and the
same loss gradient of the first convolution's kernel.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import glassnet as gn
from glassnet import layers as L
from glassnet import zoo
from glassnet.bench.torch_models import torch_twin
from glassnet.training.loop import batch_loss

# (zoo name, input shape): the families issue 15 benchmarks, at CIFAR size where they allow it.
FAMILIES = [
    ("resnet18", (32, 32, 3)), ("resnet50", (32, 32, 3)), ("mobilenet_v2", (32, 32, 3)),
    ("googlenet", (32, 32, 3)), ("vgg11", (32, 32, 3)), ("tiny_vgg", (64, 64, 3)),
    ("keras_mnist_convnet", (28, 28, 1)),
]


def _model(name: str, shape: tuple[int, ...]) -> Any:
    model = zoo.get(name, input_shape=shape, num_classes=10, seed=1).build()
    rng = np.random.default_rng(2)
    for layer in model.layers:  # moving statistics away from (0, 1), so copying them matters
        if isinstance(layer, L.BatchNormalization):
            c = layer.buffers["moving_mean"].shape[0]
            layer.buffers["moving_mean"][:] = rng.normal(0, 0.1, c)
            layer.buffers["moving_variance"][:] = rng.uniform(0.5, 2.0, c)
            layer.weights["gamma"].data[:] = rng.uniform(0.5, 1.5, c)
            layer.weights["beta"].data[:] = rng.normal(0, 0.1, c)
    return model


def _probs(torch: Any, model: Any, logits: Any) -> np.ndarray:
    """The twin's output as glassnet's model gives it (softmax applied only if the model ends in
    one: the twin always returns logits)."""
    return (torch.softmax(logits, 1) if model.ends_in_softmax else logits).detach().numpy()


def _nchw(torch: Any, x: np.ndarray) -> Any:
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


@pytest.mark.parametrize(("name", "shape"), FAMILIES)
def test_eval_logits_equal(torch: Any, float64: Any, name: str, shape: tuple[int, ...]) -> None:
    model = _model(name, shape)
    x = np.random.default_rng(3).random((2, *shape))
    with gn.no_grad():
        probs = model.forward(x, training=False).data
    net = torch_twin(model).eval()
    with torch.no_grad():
        logits = net(_nchw(torch, x))
    assert logits.dtype == torch.float64
    np.testing.assert_allclose(_probs(torch, model, logits), probs, rtol=1e-9, atol=1e-13)


@pytest.mark.parametrize(("name", "shape"), FAMILIES)
def test_train_step_equal(torch: Any, float64: Any, name: str, shape: tuple[int, ...]) -> None:
    model = _model(name, shape)
    for layer in model.layers:
        if isinstance(layer, L.Dropout):
            layer.rate = 0.0
    net = torch_twin(model).train()  # built before glassnet's step moves the statistics
    rng = np.random.default_rng(4)
    x, y = rng.random((4, *shape)), rng.integers(0, 10, 4)
    out = model.forward(x, training=True)
    batch_loss(model, out, y, "sparse_categorical_crossentropy",
               from_logits=not model.ends_in_softmax).backward()
    logits = net(_nchw(torch, x))
    torch.nn.functional.cross_entropy(logits, torch.from_numpy(y)).backward()
    np.testing.assert_allclose(_probs(torch, model, logits), out.data, rtol=1e-9, atol=1e-13)
    bns = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    ours = [layer for layer in model.layers if isinstance(layer, L.BatchNormalization)]
    assert len(bns) == len(ours)
    for bn, layer in zip(bns, ours, strict=True):
        np.testing.assert_allclose(bn.running_mean.numpy(), layer.buffers["moving_mean"],
                                   rtol=1e-9, atol=1e-13)
        np.testing.assert_allclose(bn.running_var.numpy(), layer.buffers["moving_variance"],
                                   rtol=1e-9, atol=1e-13)
    conv = next(m for m in net.modules() if isinstance(m, torch.nn.Conv2d))
    first = next(layer for layer in model.layers if isinstance(layer, L.Conv2D))
    # Norm-wise: through 50 BatchNorm'd layers entries of ~1e3 and ~1e-2 mix, so an entry's own
    # relative error says little; the error against the gradient's scale is float64 rounding.
    theirs, mine = conv.weight.grad.numpy(), first.weights["kernel"].grad.transpose(3, 2, 0, 1)
    assert np.abs(theirs - mine).max() <= 1e-10 * np.abs(mine).max()
