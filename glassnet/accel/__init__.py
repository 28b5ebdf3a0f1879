"""The fast paths, behind ONE seam: numba kernels, BLAS by address, the worker pool, fused steps.

Each accelerated op is a drop-in for a reference pair of :mod:`glassnet.ops` with the same
contract, chosen at one dispatch point (:mod:`glassnet.accel.dispatch`) by rules on shapes and
dtypes; :func:`reference_mode` routes everything to the reference. Layers above call the ops
through this package only. See docs/architecture.md ("The seam").
"""

from glassnet.accel.dispatch import (
    conv2d_backward,
    conv2d_forward,
    max_pool2d_backward,
    max_pool2d_forward,
    max_pool2d_relu_backward,
    max_pool2d_relu_forward,
)
from glassnet.accel.mode import reference_active, reference_mode
from glassnet.accel.parallel import set_num_threads
from glassnet.accel.scope import compute_scope

__all__ = [
    "compute_scope",
    "conv2d_backward",
    "conv2d_forward",
    "max_pool2d_backward",
    "max_pool2d_forward",
    "max_pool2d_relu_backward",
    "max_pool2d_relu_forward",
    "reference_active",
    "reference_mode",
    "set_num_threads",
]
