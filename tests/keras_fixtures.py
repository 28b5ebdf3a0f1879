"""Small Keras 3 models (torch backend) saved by the real Keras as .keras and .h5.

Used by ``test_keras_files.py``; importing this module imports Keras, so only do so in a test
that has checked Keras is importable.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")


def mnist_convnet(keras: Any) -> Any:
    """The keras.io MNIST convnet (Sequential)."""
    layers = keras.layers
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Flatten(),
        layers.Dropout(0.5),
        layers.Dense(10, activation="softmax"),
    ], name="mnist_convnet")


def branchy(keras: Any) -> Any:
    """Functional: Add + Concatenate + BatchNorm + DepthwiseConv2D + SeparableConv2D + GAP."""
    layers = keras.layers
    inp = keras.Input((12, 12, 3), name="image")
    x = layers.Conv2D(8, 3, padding="same", use_bias=False, name="stem")(inp)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.Activation("relu", name="stem_relu")(x)
    a = layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2, name="dw")(x)
    a = layers.Conv2D(8, 1, activation="tanh", name="dw_project")(a)
    s = layers.Add(name="residual")([x, a])
    b = layers.SeparableConv2D(6, 3, strides=2, padding="same", activation="sigmoid",
                               name="sep")(s)
    c = layers.Conv2D(4, 3, strides=2, padding="same", dilation_rate=1, name="side")(s)
    x = layers.Concatenate(name="concat")([b, c])
    x = layers.BatchNormalization(name="concat_bn")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    out = layers.Dense(5, activation="softmax", name="classes")(x)
    return keras.Model(inp, out, name="branchy")


def odds(keras: Any) -> Any:
    """ZeroPadding2D + Rescaling + LeakyReLU + ReLU(6) + Reshape + AvgPool + GMP + Softmax."""
    layers = keras.layers
    inp = keras.Input((10, 10, 2), name="pixels")
    x = layers.Rescaling(1 / 255.0, offset=-0.5, name="scale")(inp)
    x = layers.ZeroPadding2D(((1, 2), (0, 1)), name="pad")(x)
    x = layers.Conv2D(6, 3, name="conv")(x)
    x = layers.LeakyReLU(negative_slope=0.1, name="leaky")(x)
    x = layers.AveragePooling2D(2, name="avg")(x)
    x = layers.Conv2D(8, 2, activation="relu6", name="conv6")(x)
    x = layers.ReLU(max_value=6.0, name="relu6")(x)
    x = layers.GlobalMaxPooling2D(name="gmp")(x)
    x = layers.Reshape((2, 2, 2), name="to_map")(x)
    x = layers.Flatten(name="flat")(x)
    x = layers.Dense(4, name="logits")(x)
    x = layers.Activation("linear", name="identity")(x)
    out = layers.Softmax(name="probs")(x)
    return keras.Model(inp, out, name="odds")


BUILDERS = {"mnist_convnet": mnist_convnet, "branchy": branchy, "odds": odds}


def perturb_batchnorm(keras: Any, model: Any, seed: int) -> None:
    """Give BatchNorm layers non-trivial statistics so the test can see them read."""
    import numpy as np

    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            c = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, c), rng.normal(0, 0.3, c),
                               rng.normal(0, 0.3, c), rng.uniform(0.5, 2.0, c)])
        elif layer.weights and not isinstance(layer, keras.layers.BatchNormalization):
            # non-zero biases too (Keras initializes them to zero)
            layer.set_weights([w + rng.normal(0, 0.05, w.shape) for w in layer.get_weights()])


def write_all(out: Path, n: int = 6, seed: int = 0) -> dict[str, Any]:
    """Save every model as .keras and .h5 with a batch and Keras' predictions on it."""
    import keras
    import numpy as np

    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    made: dict[str, Any] = {}
    for name, build in BUILDERS.items():
        model = build(keras)
        perturb_batchnorm(keras, model, seed)
        shape = tuple(model.input_shape[1:])
        scale = 255.0 if name == "odds" else 1.0
        x = (rng.random((n, *shape)) * scale).astype("float32")
        files = {}
        for ext in ("keras", "h5"):
            path = out / f"{name}.{ext}"
            model.save(path)
            files[ext] = path
        made[name] = {
            "files": files, "x": x, "y": np.asarray(model.predict(x, verbose=0)),
            "trainable": int(sum(np.prod(w.shape) for w in model.trainable_weights)),
            "non_trainable": int(sum(np.prod(w.shape) for w in model.non_trainable_weights)),
            "names": [layer.name for layer in model.layers],
        }
    return made
