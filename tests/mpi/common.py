"""Helpers the MPI worker scripts share: a tiny float64 model, data, flat weights."""

from __future__ import annotations

from typing import Any

import numpy as np

import glassnet as gn
from glassnet import layers as L
from glassnet.backend import set_default_dtype
from glassnet.dist import model_buffers

set_default_dtype("float64")  # the equivalence contract is checked in float64


def tiny_model(kind: str = "plain", seed: int = 3) -> Any:
    """Conv 4@3x3 ReLU -> max pool 2 [-> BatchNorm] -> flatten [-> dropout] -> dense 10."""
    layers: list[Any] = [L.Input((8, 8, 1)), L.Conv2D(4, 3, activation="relu"), L.MaxPool2D(2)]
    if kind == "bn":
        layers.append(L.BatchNorm(momentum=0.9))
    layers.append(L.Flatten())
    if kind == "dropout":
        layers.append(L.Dropout(0.3))
    layers.append(L.Dense(10, activation="softmax"))
    return gn.Sequential(layers, seed=seed)


def compiled(kind: str, optimizer: str, seed: int = 3) -> Any:
    """A tiny model compiled with SGD (momentum, Nesterov, weight decay) or Adam."""
    model = tiny_model(kind, seed)
    params = model.parameters()
    opt = (gn.optim.SGD(params, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3)
           if optimizer == "sgd" else gn.optim.Adam(params, lr=0.01))
    model.compile(opt, "sparse_categorical_crossentropy", ["accuracy"])
    return model


def data(n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """n random 8x8x1 images and labels 0..9."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 8, 8, 1)), rng.integers(0, 10, n)


def flat_weights(model: Any) -> np.ndarray:
    """Every parameter and buffer of ``model``, concatenated."""
    arrays = [p.data for p in model.parameters()] + model_buffers(model)
    return np.concatenate([np.ravel(a) for a in arrays])


def max_diff(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b|."""
    return float(np.max(np.abs(a - b)))
