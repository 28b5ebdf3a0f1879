"""Pure integer arithmetic of CNN layers: sizes, counts and their explanations. No arrays.

Every result explains itself: a :class:`Quantity` is an int with ``.formula``, ``.substituted``
and ``.explain()``; results of several numbers (:class:`ParamCount`, :class:`MacCount`,
:class:`GemmShapes`, :class:`ReceptiveField`) return a list of lines from ``.explain()``.
"""

from glassnet.arith.explain import MAC_CONVENTION, MacCount, ParamCount, Quantity, human_bytes
from glassnet.arith.geometry import (
    pair,
    resolve_padding,
    same_padding_1d,
    window_output_size,
)
from glassnet.arith.macs import GemmShapes, conv2d_gemm_shapes, conv2d_macs, dense_macs
from glassnet.arith.memory import activation_memory, param_memory
from glassnet.arith.params import (
    batchnorm_params,
    conv2d_params,
    dense_params,
    depthwise_conv2d_params,
)
from glassnet.arith.receptive import ReceptiveField, receptive_field
from glassnet.arith.rnn import gru_params, lstm_params, simple_rnn_params
from glassnet.arith.sizes import conv2d_output, pool2d_output

__all__ = [
    "MAC_CONVENTION",
    "GemmShapes",
    "MacCount",
    "ParamCount",
    "Quantity",
    "ReceptiveField",
    "activation_memory",
    "batchnorm_params",
    "conv2d_gemm_shapes",
    "conv2d_macs",
    "conv2d_output",
    "conv2d_params",
    "dense_macs",
    "dense_params",
    "depthwise_conv2d_params",
    "gru_params",
    "human_bytes",
    "lstm_params",
    "pair",
    "param_memory",
    "pool2d_output",
    "receptive_field",
    "resolve_padding",
    "same_padding_1d",
    "simple_rnn_params",
    "window_output_size",
]
