"""What an inference convolution applies to each output block as it leaves the GEMM.

A bias, or a BatchNorm folded in (per-filter scale and shift) and a ReLU / ReLU6 (a clip):
:class:`Epilogue`, applied by the chunk kernels (:mod:`glassnet.accel.conv_chunks`) or, on the
other paths, by :func:`finish` on the whole output.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from glassnet.backend import get_xp

Array = Any


class Epilogue(NamedTuple):
    """What an inference convolution applies to its output as each block leaves the GEMM.

    ``out·scale + shift`` per filter (either may be None), then ``min(max(·, 0), cap)`` when
    ``clip`` (cap = inf: ReLU). A BatchNorm (running statistics) after the convolution folds
    into scale and shift, a ReLU / ReLU6 after it into the clip (``layers.fused.ConvBN``).
    """

    scale: Array | None
    shift: Array | None
    clip: bool = False
    cap: float = float("inf")


def finish(out: Array, epilogue: Epilogue) -> Array:
    """Apply ``epilogue`` to a whole (F, N, OH, OW) output in place (paths without the kernel).

    Shapes:
        out: (F, N, OH, OW) -> the same array
    """
    xp = get_xp(out)
    if epilogue.scale is not None:
        out *= epilogue.scale.reshape(-1, 1, 1, 1)
    if epilogue.shift is not None:
        out += epilogue.shift.reshape(-1, 1, 1, 1)
    if epilogue.clip:
        xp.maximum(out, 0, out=out)  # NaN stays NaN (maximum propagates it)
        if epilogue.cap != float("inf"):
            xp.minimum(out, out.dtype.type(epilogue.cap), out=out)
    return out


def epilogue_args(epilogue: Epilogue | None, b: Array | None, dtype: Any) -> tuple[Any, ...]:
    """(scale, shift, clip, cap) for :func:`glassnet.accel.conv_chunks.forward_chunk`."""
    none = np.zeros(0, dtype)
    if epilogue is None:
        shift = none if b is None else np.ascontiguousarray(b, dtype=dtype)
        return none, shift, False, dtype.type(np.inf)
    scale, shift = (none if a is None else np.ascontiguousarray(a, dtype=dtype)
                    for a in (epilogue.scale, epilogue.shift))
    return scale, shift, bool(epilogue.clip), dtype.type(epilogue.cap)
