"""Tensor-level ops: each wraps an array-level forward/backward pair into the autodiff graph.

Maps are in the compute layout (CNHW, docs/architecture.md); :mod:`glassnet.functional` offers the
same ops on public NHWC tensors. Every wrapper is three steps: run the forward, keep its cache in
a closure, record ``backward`` mapping dL/d(out) to the parents' gradients.
"""

from glassnet.autodiff.core import (
    add,
    matmul,
    mul,
    reshape,
    scale,
    sum_all,
    to_compute,
    to_public,
    transpose,
    unary,
)
from glassnet.autodiff.losses import LOSSES, loss, softmax_cross_entropy
from glassnet.autodiff.nn import (
    ACTIVATIONS,
    avg_pool2d,
    batch_norm,
    batch_norm_relu,
    clipped_relu,
    concat,
    conv2d,
    dense,
    dropout,
    global_avg_pool2d,
    leaky_relu,
    log_softmax,
    max_pool2d,
    max_pool2d_relu,
    relu,
    sigmoid,
    softmax,
    softmax_input,
    tanh,
)

__all__ = [
    "ACTIVATIONS",
    "LOSSES",
    "add",
    "avg_pool2d",
    "batch_norm",
    "batch_norm_relu",
    "clipped_relu",
    "concat",
    "conv2d",
    "dense",
    "dropout",
    "global_avg_pool2d",
    "leaky_relu",
    "log_softmax",
    "loss",
    "matmul",
    "max_pool2d",
    "max_pool2d_relu",
    "mul",
    "relu",
    "reshape",
    "scale",
    "sigmoid",
    "softmax",
    "softmax_cross_entropy",
    "softmax_input",
    "sum_all",
    "tanh",
    "to_compute",
    "to_public",
    "transpose",
    "unary",
]
