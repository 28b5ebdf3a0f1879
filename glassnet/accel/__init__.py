"""The fast paths, behind ONE seam: numba kernels, BLAS by address, the worker pool, fused steps.

Each accelerated op is a drop-in for a reference pair of :mod:`glassnet.ops` with the same
contract, chosen at one dispatch point (:mod:`glassnet.accel.dispatch`) by rules on shapes and
dtypes; :func:`reference_mode` routes everything to the reference. Layers above call the ops
through this package only. See docs/architecture.md ("The seam").

Only :mod:`glassnet.accel.mode` loads with the package; the rest (and numba) on first use, so
``import glassnet`` stays quick.
"""

from __future__ import annotations

import importlib
from typing import Any

from glassnet.accel.mode import reference_active, reference_mode

_LAZY = {
    "batch_norm_backward": "glassnet.accel.dispatch",
    "batch_norm_forward": "glassnet.accel.dispatch",
    "batch_norm_relu_backward": "glassnet.accel.dispatch",
    "batch_norm_relu_forward": "glassnet.accel.dispatch",
    "clipped_relu_forward": "glassnet.accel.dispatch",
    "conv2d_backward": "glassnet.accel.dispatch",
    "conv2d_forward": "glassnet.accel.dispatch",
    "dense_backward": "glassnet.accel.dispatch",
    "dense_forward": "glassnet.accel.dispatch",
    "max_pool2d_backward": "glassnet.accel.dispatch",
    "max_pool2d_forward": "glassnet.accel.dispatch",
    "max_pool2d_relu_backward": "glassnet.accel.dispatch",
    "max_pool2d_relu_forward": "glassnet.accel.dispatch",
    "relu_backward": "glassnet.accel.dispatch",
    "relu_forward": "glassnet.accel.dispatch",
    "compute_scope": "glassnet.accel.scope",
    "set_num_threads": "glassnet.accel.parallel",
}

__all__ = ["reference_active", "reference_mode", *_LAZY]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'glassnet.accel' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value  # found directly from now on
    return value
