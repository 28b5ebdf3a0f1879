"""Dead kernel taps: the part of a convolution that reads the input at all.

A tap that reads only padding at every output position multiplies zeros; :func:`live_geometry`
finds the taps that do read the input (:func:`glassnet.arith.geometry.live_taps` per axis) and
the geometry of the cropped convolution, which :mod:`glassnet.accel.conv` then runs instead.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

from glassnet.arith.geometry import Pair, live_taps
from glassnet.ops.conv import ConvGeometry


class LiveCrop(NamedTuple):
    """What :func:`live_geometry` keeps of a convolution: the taps that read the input."""

    rows: Pair  # kernel rows [u0, u1)
    cols: Pair  # kernel columns [v0, v1)
    start: Pair  # the first input row and column any kept tap reads
    size: Pair  # input rows and columns from there up to the last one read
    geometry: ConvGeometry  # of the cropped kernel over that part of the input


# A pure function of a few small tuples, asked on every convolution call (forward and
# backward) of every step: remembered rather than recomputed (0.5–2 ms of Python per ResNet-18
# pass otherwise).
@functools.lru_cache(maxsize=4096)
def live_geometry(
    in_hw: tuple[int, int], kernel_hw: tuple[int, int], geometry: ConvGeometry
) -> LiveCrop | None:
    """The kernel rows/columns that read the input somewhere, and the geometry of that crop.

    A tap that reads only padding at every output position multiplies zeros: dropping it
    changes no output and no gradient but its own dL/dw, which is exactly zero. A 3×3
    convolution over a 1×1 map (padding 1) keeps 1 of its 9 taps, over a 2×2 map with stride 2
    4 of 9 (ResNet's and VGG's last stages at CIFAR size). The rule follows from the geometry
    alone (:func:`glassnet.arith.geometry.live_taps`).

    Returns:
        the crop (same output size), or None when every tap reads the input somewhere.
    """
    taps, pads, first, kept = [], [], [], []
    for axis in (0, 1):
        k, s, d = kernel_hw[axis], geometry.strides[axis], geometry.dilation[axis]
        before, o, size = geometry.pads[axis][0], geometry.out_hw[axis], in_hw[axis]
        lo, hi = live_taps(size, k, s, d, before, o)
        # The cropped kernel's windows span exactly `extent` padded positions (so the geometry
        # gives the same o windows); input outside the part they read is cut off.
        extent = (o - 1) * s + (hi - lo - 1) * d + 1
        pad = before - lo * d  # the cropped kernel's first tap sits lo·D further in
        cut = max(0, -pad)
        length = min(size - cut, extent - max(pad, 0))
        if length < 1:  # no tap reads the input at all (the output is the bias): keep it whole
            return None
        taps.append((lo, hi))
        pads.append((max(pad, 0), extent - max(pad, 0) - length))
        first.append(cut)
        kept.append(length)
    if taps[0] == (0, kernel_hw[0]) and taps[1] == (0, kernel_hw[1]):
        return None
    inner = ConvGeometry(geometry.out_hw, (pads[0], pads[1]), geometry.strides,
                         geometry.dilation)
    return LiveCrop(taps[0], taps[1], (first[0], first[1]), (kept[0], kept[1]), inner)
