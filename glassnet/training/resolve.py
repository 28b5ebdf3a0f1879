"""Turn a MODEL argument (a zoo name, a model file, an ``.onnx`` or a Keras file) into a model.

Zoo names and model files give an unbuilt model; ``.onnx``, ``.keras`` and ``.h5`` files a
built one holding the file's weights. It lives in training (it was ``glassnet.models.resolve``)
because it must see zoo, onnx and keras, which sit above models (docs/architecture.md,
"Layers and imports").
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from glassnet.errors import GlassnetError
from glassnet.models.graph import Model

# Keras model files (glassnet.keras.SUFFIXES, repeated here so that resolving a zoo name does
# not import the keras and onnx packages).
KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")


def resolve_model(spec: str, input_shape: Any = None, **zoo_kwargs: Any) -> Model:
    """Return the model ``spec`` names: a zoo name (``lenet5``, ``keras-mnist-convnet``) or a file.

    Args:
        spec: zoo name (case and ``-``/``_`` insensitive), a YAML/JSON model-file path, or an
            ``.onnx`` / ``.keras`` / ``.h5`` file (read with its weights).
        input_shape: HWC shape to build for (a file's own input is replaced by it).
        **zoo_kwargs: further arguments for the zoo function (``num_classes``, ``seed``);
            those the function does not take are ignored.

    Raises:
        GlassnetError: if ``spec`` is neither (the zoo names are listed), or the file is bad.
    """
    from glassnet import zoo
    from glassnet.models.modelfile import load_model_file

    key = spec.lower().replace("-", "_")
    if key in zoo.names():
        kwargs = dict(zoo_kwargs)
        if input_shape is not None:
            kwargs["input_shape"] = tuple(input_shape)
        accepted = inspect.signature(getattr(zoo, key)).parameters
        return zoo.get(key, **{k: v for k, v in kwargs.items() if k in accepted})
    path = Path(spec)
    if path.suffix.lower() == ".onnx" and path.is_file():
        from glassnet.onnx import load_onnx_model

        return load_onnx_model(path, input_shape=input_shape)
    if path.suffix.lower() in KERAS_SUFFIXES and path.is_file():
        from glassnet.keras import load_keras_model

        return load_keras_model(path, input_shape=input_shape)
    if path.is_file():
        return load_model_file(path, input_shape=input_shape)
    raise GlassnetError(
        f"MODEL {spec!r} is neither a zoo name ({', '.join(zoo.names())}) nor a model file"
    )
