"""Model zoo: ``gn.zoo.get(name)``, ``gn.zoo.names()`` and one function per model.

Every function takes ``input_shape``, ``num_classes`` and ``seed`` and returns an UNBUILT model:
layers know their shapes and counts, but weights are allocated only on the first forward pass
(or ``model.build()`` / ``model.parameters()``), so ``glassnet summary vgg16`` is instant and
allocates none of VGG-16's 553 MB of float32 weights. Each docstring names the variant and its
parameter count (torchvision's counts are glassnet's *trainable* parameters for models with
BatchNorm, whose moving statistics glassnet also lists, as Keras does).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from glassnet.errors import GlassnetError
from glassnet.models import Model
from glassnet.zoo import classic, inception, mobilenet, resnet


def _tagged(fn: Callable[..., Model]) -> Callable[..., Model]:
    """Wrap a zoo function so its models carry ``zoo_name`` and ``zoo_kwargs``.

    Checkpoints store these two (JSON-able) instead of the layers, to rebuild the model.
    """
    sig = inspect.signature(fn)

    @functools.wraps(fn)
    def build(*args: Any, **kwargs: Any) -> Model:
        model = fn(*args, **kwargs)
        bound = sig.bind(*args, **kwargs).arguments
        model.zoo_name = fn.__name__
        model.zoo_kwargs = {k: list(v) if isinstance(v, tuple) else v for k, v in bound.items()}
        return model

    return build


lenet5 = _tagged(classic.lenet5)
keras_mnist_mlp = _tagged(classic.keras_mnist_mlp)
keras_mnist_convnet = _tagged(classic.keras_mnist_convnet)
tiny_vgg = _tagged(classic.tiny_vgg)
alexnet = _tagged(classic.alexnet)
alexnet_torchvision = _tagged(classic.alexnet_torchvision)
vgg11 = _tagged(classic.vgg11)
vgg13 = _tagged(classic.vgg13)
vgg16 = _tagged(classic.vgg16)
vgg19 = _tagged(classic.vgg19)
resnet18 = _tagged(resnet.resnet18)
resnet34 = _tagged(resnet.resnet34)
resnet50 = _tagged(resnet.resnet50)
googlenet = _tagged(inception.googlenet)
mobilenet_v2 = _tagged(mobilenet.mobilenet_v2)

_MODELS: dict[str, Callable[..., Model]] = {
    fn.__name__: fn
    for fn in (
        lenet5, keras_mnist_mlp, keras_mnist_convnet, tiny_vgg, alexnet, alexnet_torchvision,
        vgg11, vgg13, vgg16, vgg19, resnet18, resnet34, resnet50, googlenet, mobilenet_v2,
    )
}


def names() -> list[str]:
    """Return the zoo's model names."""
    return list(_MODELS)


def get(name: str, **kwargs: Any) -> Model:
    """Return a new (unbuilt) zoo model.

    Args:
        name: one of :func:`names` (case-insensitive; ``-`` is read as ``_``).
        **kwargs: ``input_shape``, ``num_classes``, ``seed``.

    Raises:
        GlassnetError: for an unknown name, listing the valid ones.
    """
    key = name.lower().replace("-", "_") if isinstance(name, str) else name
    if key not in _MODELS:
        raise GlassnetError(f"zoo: unknown model {name!r}; valid names: {', '.join(_MODELS)}")
    return _MODELS[key](**kwargs)


__all__ = ["get", "names", *_MODELS]
