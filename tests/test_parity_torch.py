"""Training parity with PyTorch (float64): same start, same batches, same optimizer → same weights.

Each glassnet model is copied into a ``torch.nn.Sequential`` holding IDENTICAL initial weights:
conv kernels ``[KH, KW, C_in, C_out]`` → ``[C_out, C_in, KH, KW]``, dense kernels ``[in, out]`` →
``Linear.weight [out, in]``; a dense layer after ``Flatten`` also gets its rows permuted from Keras'
(H, W, C) flatten order to torch's (C, H, W). Both then train on the same batches in the same order
— the permutations ``fit(seed=s)`` draws from ``np.random.default_rng(s)`` — for at least five
steps, and every weight (and BatchNorm buffer) must agree to 1e-10. The softmax head is dropped on
the torch side, whose ``CrossEntropyLoss`` on logits is glassnet's fused softmax + cross-entropy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import glassnet as gn
from glassnet import data
from glassnet import layers as L
from glassnet.backend import dtype_scope

SCE = "sparse_categorical_crossentropy"
TOL = 1e-10

# name -> (glassnet optimizer on params, torch.optim class name, its keyword arguments).
OPTIMIZERS: dict[str, tuple[Callable[[list[Any]], Any], str, dict[str, Any]]] = {
    "sgd_momentum_wd": (
        lambda p: gn.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=1e-3),
        "SGD", {"lr": 0.05, "momentum": 0.9, "weight_decay": 1e-3},
    ),
    "sgd_nesterov": (
        lambda p: gn.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
        "SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-3},
    ),
    "adam": (
        lambda p: gn.optim.Adam(p, lr=1e-2, weight_decay=1e-3),
        "Adam", {"lr": 1e-2, "weight_decay": 1e-3},
    ),
    "adamw": (
        lambda p: gn.optim.AdamW(p, lr=1e-2, weight_decay=1e-2),
        "AdamW", {"lr": 1e-2, "weight_decay": 1e-2},
    ),
    "rmsprop": (
        lambda p: gn.optim.RMSProp(p, lr=1e-3, alpha=0.9, momentum=0.5),
        "RMSprop", {"lr": 1e-3, "alpha": 0.9, "momentum": 0.5},
    ),
}


# ----- glassnet → torch --------------------------------------------------------------------------
class Pair:
    """A glassnet array and the torch tensor that must equal it, with the layout conversion."""

    def __init__(self, label: str, gn_array: Callable[[], np.ndarray], torch_tensor: Any,
                 to_gn: Callable[[np.ndarray], np.ndarray]) -> None:
        self.label, self.gn_array, self.torch_tensor, self.to_gn = (
            label, gn_array, torch_tensor, to_gn)

    def diff(self) -> float:
        theirs = self.to_gn(self.torch_tensor.detach().numpy())
        return float(np.max(np.abs(self.gn_array() - theirs)))


def _conv_to_gn(w: np.ndarray) -> np.ndarray:
    return w.transpose(2, 3, 1, 0)


def _dense_to_gn(hwc: tuple[int, int, int] | None) -> Callable[[np.ndarray], np.ndarray]:
    """Torch Linear weight [out, in] → glassnet kernel [in, out] (rows in H, W, C order)."""
    if hwc is None:
        return lambda w: w.T
    h, w_, c = hwc
    return lambda w: w.reshape(-1, c, h, w_).transpose(2, 3, 1, 0).reshape(h * w_ * c, -1)


def to_torch(torch: Any, model: gn.Model) -> tuple[Any, list[Pair]]:
    """A torch.nn.Sequential equal to ``model`` (built), and the arrays to compare after training.

    Handles Conv2D (stride 1, padding valid/same), MaxPool2D, BatchNormalization, Activation,
    Flatten, Dropout (rate 0 only: masks cannot match) and Dense; a final softmax is left out.
    """
    nn, f64 = torch.nn, torch.float64
    mods: list[Any] = []
    pairs: list[Pair] = []
    flat_from: tuple[int, int, int] | None = None
    last = model.layers[-1]

    def act(name: str | None, final: bool) -> None:
        if name == "relu":
            mods.append(nn.ReLU())
        elif name == "softmax" and final:
            pass  # CrossEntropyLoss applies log-softmax itself
        elif name is not None:
            raise NotImplementedError(name)

    def copy(label: str, gn_arr: Callable[[], np.ndarray], t: Any,
             to_t: Callable[[np.ndarray], np.ndarray],
             to_gn: Callable[[np.ndarray], np.ndarray]) -> None:
        with torch.no_grad():
            t.copy_(torch.from_numpy(np.ascontiguousarray(to_t(gn_arr()))))
        pairs.append(Pair(label, gn_arr, t, to_gn))

    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "Conv2D":
            kh, kw, cin, cout = layer.weights["kernel"].shape
            assert layer.strides == (1, 1) and layer.padding in ("valid", "same")
            conv = nn.Conv2d(cin, cout, (kh, kw), padding=layer.padding, bias=layer.use_bias,
                             dtype=f64)
            copy(f"{layer.label}.kernel", lambda k=layer.weights["kernel"]: k.data, conv.weight,
                 lambda w: w.transpose(3, 2, 0, 1), _conv_to_gn)
            if layer.use_bias:
                copy(f"{layer.label}.bias", lambda b=layer.weights["bias"]: b.data, conv.bias,
                     lambda b: b, lambda b: b)
            mods.append(conv)
            act(layer.activation, layer is last)
        elif kind == "MaxPool2D":
            assert layer.strides is None
            mods.append(nn.MaxPool2d(layer.pool_size))
        elif kind == "BatchNormalization":
            bn = nn.BatchNorm2d(layer.weights["gamma"].shape[0], eps=layer.epsilon,
                                momentum=1 - layer.momentum, dtype=f64)
            same = (lambda a: a, lambda a: a)
            copy(f"{layer.label}.gamma", lambda g=layer.weights["gamma"]: g.data, bn.weight, *same)
            copy(f"{layer.label}.beta", lambda b=layer.weights["beta"]: b.data, bn.bias, *same)
            for key, buf in (("moving_mean", bn.running_mean),
                             ("moving_variance", bn.running_var)):
                copy(f"{layer.label}.{key}", lambda lay=layer, k=key: lay.buffers[k], buf, *same)
            mods.append(bn)
        elif kind == "Activation":
            act(layer.activation, layer is last)
        elif kind == "Flatten":
            flat_from = tuple(layer.input_shape)  # type: ignore[assignment]
            mods.append(nn.Flatten())
        elif kind == "Dropout":
            assert layer.rate == 0, "dropout masks differ between frameworks; use rate 0"
            mods.append(nn.Dropout(0.0))
        elif kind == "Dense":
            fin, fout = layer.weights["kernel"].shape
            lin = nn.Linear(fin, fout, dtype=f64)
            to_gn = _dense_to_gn(flat_from)
            if flat_from is None:
                to_t = lambda k: k.T  # noqa: E731
            else:
                h, w, c = flat_from
                to_t = lambda k, h=h, w=w, c=c: (  # noqa: E731
                    k.reshape(h, w, c, -1).transpose(3, 2, 0, 1).reshape(-1, h * w * c))
            copy(f"{layer.label}.kernel", lambda k=layer.weights["kernel"]: k.data, lin.weight,
                 to_t, to_gn)
            copy(f"{layer.label}.bias", lambda b=layer.weights["bias"]: b.data, lin.bias,
                 lambda b: b, lambda b: b)
            flat_from = None
            mods.append(lin)
            act(layer.activation, layer is last)
        else:
            raise NotImplementedError(kind)
    return nn.Sequential(*mods), pairs


def torch_fit(torch: Any, net: Any, opt: Any, x: np.ndarray, y: np.ndarray, *, epochs: int,
              batch_size: int, seed: int) -> list[float]:
    """Train with glassnet fit's batch order; return the per-epoch mean losses (its History)."""
    loss_fn = torch.nn.CrossEntropyLoss()
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    yt = torch.from_numpy(y)
    rng = np.random.default_rng(seed)
    losses = []
    net.train()
    for _ in range(epochs):
        order = rng.permutation(len(x))
        total = 0.0
        for start in range(0, len(x), batch_size):
            idx = torch.from_numpy(order[start : start + batch_size])
            opt.zero_grad()
            loss = loss_fn(net(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        losses.append(total / len(x))
    return losses


def check_parity(torch: Any, make_model: Callable[[], gn.Model], opt_name: str, x: np.ndarray,
                 y: np.ndarray, *, epochs: int, batch_size: int, seed: int = 0) -> None:
    x = x.astype(np.float64)
    with dtype_scope("float64"):
        model = make_model().build()
    net, pairs = to_torch(torch, model)
    assert max(p.diff() for p in pairs) == 0.0  # the copy is exact
    gn_opt, torch_cls, torch_kw = OPTIMIZERS[opt_name]
    t_opt = getattr(torch.optim, torch_cls)(net.parameters(), **torch_kw)
    start = [p.gn_array().copy() for p in pairs]
    model.compile(gn_opt(model.parameters()), SCE, ["accuracy"])
    hist = model.fit(x, y, epochs=epochs, batch_size=batch_size, seed=seed, verbose=0)
    t_losses = torch_fit(torch, net, t_opt, x, y, epochs=epochs, batch_size=batch_size, seed=seed)
    assert -(-len(x) // batch_size) * epochs >= 5
    np.testing.assert_allclose(hist.history["loss"], t_losses, rtol=1e-10, atol=0)
    moved = max(float(np.max(np.abs(p.gn_array() - w))) for p, w in zip(pairs, start, strict=True))
    assert moved > 1e-3  # training really changed the weights
    bad = {p.label: p.diff() for p in pairs if p.diff() > TOL}
    assert not bad, f"weights differ from torch's by more than {TOL}: {bad}"


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    ds = data.load("digits")
    return ds.x_train[:48], ds.y_train[:48]


@pytest.fixture(scope="module")
def mnist() -> tuple[np.ndarray, np.ndarray]:
    ds = data.load("mnist-5k")
    return ds.x_train[:160], ds.y_train[:160]


def small_cnn() -> gn.Model:
    """conv 4@3×3 same ReLU → pool → conv 6@3×3 ReLU → flatten (2·2·6) → dense 10 softmax."""
    return gn.Sequential([
        L.Input((8, 8, 1)),
        L.Conv2D(4, 3, padding="same", activation="relu"), L.MaxPool2D(2),
        L.Conv2D(6, 3, activation="relu"),
        L.Flatten(), L.Dense(10, activation="softmax"),
    ], seed=7)


def small_bn_cnn() -> gn.Model:
    """conv (no bias) → BatchNorm → ReLU → pool → flatten → dense 16 ReLU → dense 10 softmax.

    NOTE: a conv bias before BatchNorm has a true gradient of 0, so it receives only rounding
    noise; Adam with an L2 weight decay amplifies that noise by about lr·wd/eps = 1000 per step
    (in torch as in glassnet), so the two runs would part for reasons that are not bugs.
    """
    return gn.Sequential([
        L.Input((8, 8, 1)),
        L.Conv2D(5, 3, use_bias=False), L.BatchNormalization(momentum=0.8, epsilon=1e-5),
        L.Activation("relu"), L.MaxPool2D(2),
        L.Flatten(), L.Dense(16, activation="relu"), L.Dense(10, activation="softmax"),
    ], seed=3)


def mnist_convnet_no_dropout() -> gn.Model:
    """The zoo's Keras mnist_convnet with the dropout rate set to 0 (the layer kept in place)."""
    model = gn.zoo.keras_mnist_convnet(seed=1)
    model.get_layer("dropout").rate = 0.0
    return model


@pytest.mark.parametrize("opt_name", list(OPTIMIZERS))
def test_small_cnn_trains_like_torch(torch, digits, opt_name):
    # 48 samples, batch 8: 6 steps per epoch, 2 epochs = 12 steps.
    check_parity(torch, small_cnn, opt_name, *digits, epochs=2, batch_size=8, seed=1)


def test_partial_last_batch_trains_like_torch(torch, digits):
    # 48 samples, batch 10: the last batch of each epoch has 8 samples (its mean is over 8).
    check_parity(torch, small_cnn, "sgd_momentum_wd", *digits, epochs=2, batch_size=10, seed=2)


@pytest.mark.parametrize("opt_name", ["sgd_momentum_wd", "adam"])
def test_batchnorm_cnn_trains_like_torch(torch, digits, opt_name):
    check_parity(torch, small_bn_cnn, opt_name, *digits, epochs=2, batch_size=8, seed=0)


@pytest.mark.parametrize("opt_name", ["sgd_momentum_wd", "adam"])
def test_keras_mnist_convnet_trains_like_torch_on_mnist(torch, mnist, opt_name):
    # 160 real MNIST images, batch 32: 5 steps.
    check_parity(torch, mnist_convnet_no_dropout, opt_name, *mnist, epochs=1, batch_size=32)


def test_converted_model_forward_matches(torch, mnist):
    """The weight copy itself: both models give the same probabilities before training."""
    x = mnist[0][:8].astype(np.float64)
    with dtype_scope("float64"):
        model = mnist_convnet_no_dropout().build()
    net, _ = to_torch(torch, model)
    net.eval()
    with torch.no_grad():
        theirs = torch.softmax(net(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())), 1).numpy()
    np.testing.assert_allclose(model.predict(x), theirs, rtol=1e-12, atol=1e-14)
