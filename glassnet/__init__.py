"""glassnet: a glass-box, fast CNN framework — every shape, count, value and gradient shown.

``import glassnet as gn`` gives the stable names of DESIGN.md §3. Subpackages that pull in more
(layers, zoo, data, trace) load on first use, so ``import glassnet`` stays quick.

This module is also the composition root: it stands outside the layers of
docs/architecture.md and wires the two services a lower layer uses but an upper one provides —
the training engine behind ``Model.fit`` (models <- training) and data parallelism behind
``fit(distributed=...)`` (training <- dist). Both are imported on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from glassnet import arith, hooks, init, optim
from glassnet.accel import reference_mode
from glassnet.backend import default_dtype, set_backend, set_default_dtype
from glassnet.errors import GlassnetError, ShapeError
from glassnet.gradcheck import gradcheck
from glassnet.tensor import Parameter, Tensor, no_grad

__version__ = "0.1.0"


def _data_parallel(model: Any, **kwargs: Any) -> Any:
    """The MPI data-parallel strategy of one distributed ``fit`` (imports glassnet.dist)."""
    from glassnet.dist import data_parallel

    return data_parallel(True, model, **kwargs)


def _training_engine() -> Any:
    """The engine behind ``Model.compile/fit/...``, with MPI data parallelism when asked."""
    from glassnet.training.engine import Engine

    return Engine(parallel=_data_parallel)


hooks.TRAINING_ENGINE.provide(_training_engine)

_LAZY_MODULES = (
    "autodiff",
    "data",
    "functional",
    "layers",
    "models",
    "ops",
    "training",
    "tracing",
    "viz",
    "zoo",
)
_LAZY_NAMES = {
    "trace": "glassnet.tracing",
    "Sequential": "glassnet.models",
    "Model": "glassnet.models",
    "load_model": "glassnet.training.checkpoint",
}

__all__ = [
    "GlassnetError",
    "Parameter",
    "ShapeError",
    "Tensor",
    "arith",
    "default_dtype",
    "gradcheck",
    "init",
    "no_grad",
    "optim",
    "reference_mode",
    "set_backend",
    "set_default_dtype",
    *_LAZY_MODULES,
    *_LAZY_NAMES,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY_MODULES:
        return importlib.import_module(f"glassnet.{name}")
    if name in _LAZY_NAMES:
        return getattr(importlib.import_module(_LAZY_NAMES[name]), name)
    raise AttributeError(f"module 'glassnet' has no attribute {name!r}")
