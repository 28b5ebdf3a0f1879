"""What an inference convolution applies to each output block as it leaves the GEMM.

A bias, or a BatchNorm folded in (per-filter scale and shift) and a ReLU / ReLU6 (a clip):
:class:`Epilogue`, applied by the chunk kernels (:mod:`glassnet.accel.conv_chunks`) as each
block leaves the GEMM, on the other paths by :func:`finish_images` on each thread's images (one
nogil pass), or by :func:`finish` (NumPy, the whole output: non-NumPy arrays, no numba).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from glassnet.accel import kernels
from glassnet.backend import get_xp

Array = Any
# A streaming pass over the output: its cost per element relative to a convolution's, as
# glassnet.accel.activation.STREAM_COST (what glassnet.accel.parallel weighs a split by).
FINISH_COST = 0.1

if kernels.AVAILABLE:  # pragma: no branch
    from numba import njit

    @njit(cache=True, nogil=True)
    def finish_row(row, scale, shift, scaled, shifted, clip, cap):  # type: ignore[no-untyped-def]
        """Finish one output row in place: times ``scale``, plus ``shift``, then clipped.

        Each step only if its flag is set: ``row·scale`` (``scaled``), ``+ shift``
        (``shifted``), ``min(max(·, 0), cap)`` (``clip``; cap = inf is a ReLU; NaN stays NaN).
        A plain convolution's bias is the shift; a BatchNorm folded in for inference gives
        both.

        Shapes:
            row: (P,)
        """
        zero = row.dtype.type(0)
        if scaled:
            for j in range(row.size):
                row[j] *= scale
        if shifted:
            for j in range(row.size):
                row[j] += shift
        if clip:
            for j in range(row.size):
                t = zero if row[j] <= zero else row[j]
                row[j] = cap if t >= cap else t

    @njit(cache=True, nogil=True)
    def _finish_images(out, lo, hi, scale, shift, clip, cap):  # type: ignore[no-untyped-def]
        """:func:`finish_row` on images lo … hi − 1 of every filter (one run each)."""
        scaled, shifted = scale.size > 0, shift.size > 0
        for f in range(out.shape[0]):
            part = out[f, lo:hi]
            finish_row(part.reshape(part.size), scale[f] if scaled else cap,
                       shift[f] if shifted else cap, scaled, shifted, clip, cap)


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


def finish_images(out: Array, lo: int, hi: int, epilogue: Epilogue) -> None:
    """Apply ``epilogue`` in place to images lo … hi − 1 of ``out``: one thread's share.

    Inside each thread's part of a convolution, instead of :func:`finish` on the whole output
    after the threads joined: NumPy's four passes there ran on one thread, 4.9 ms of
    MobileNetV2's 26 ms inference at batch 32 (profile, docs/performance.md rules table).

    Shapes:
        out: (F, N, OH, OW), C-contiguous when numba runs it
    """
    if (kernels.AVAILABLE and type(out) is np.ndarray and out.flags.c_contiguous
            and out.dtype.kind == "f"):
        _finish_images(out, lo, hi, *epilogue_args(epilogue, None, out.dtype))
    else:
        finish(out[:, lo:hi], epilogue)


def epilogue_args(epilogue: Epilogue | None, b: Array | None, dtype: Any) -> tuple[Any, ...]:
    """(scale, shift, clip, cap) for :func:`glassnet.accel.conv_chunks.forward_chunk`."""
    none = np.zeros(0, dtype)
    if epilogue is None:
        shift = none if b is None else np.ascontiguousarray(b, dtype=dtype)
        return none, shift, False, dtype.type(np.inf)
    scale, shift = (none if a is None else np.ascontiguousarray(a, dtype=dtype)
                    for a in (epilogue.scale, epilogue.shift))
    return scale, shift, bool(epilogue.clip), dtype.type(epilogue.cap)
