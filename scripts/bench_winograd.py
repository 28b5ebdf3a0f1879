"""Where Winograd F(2×2, 3×3) beats im2col + GEMM: the sweep behind accel.winograd's rule.

For 3×3 stride-1 "same" convolutions over a grid of channels (C = F), map sizes and batches,
times the inference convolution both ways in the same process, interleaved, median of
``--repeats``, and prints the ratio winograd/direct with the call's 2×2 output tiles — the
quantity the rule (``MIN_CHANNELS``, ``KERNEL_VALUES_PER_TILE``) reads. Run it on a quiet machine
(``uptime`` first); the numbers belong to the machine.

    python scripts/bench_winograd.py [--channels 16,64,256] [--maps 2,4,8,16,32]
                                     [--batches 1,8,32] [--repeats 7] [--orders]

``--orders`` times Winograd's two tile orders instead (the transforms' vectors over the tiles
of a row, or over the images of a thread's part): the sweep behind ``winograd.images_inner``.
``--tiles`` times F(4×4, 3×3) against F(2×2, 3×3) where both apply (output sizes multiples
of 4), with the columns of each thread's GEMMs (its 4×4 tiles): the sweep behind
``winograd.large_tiles``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time

import numpy as np

from glassnet.accel import compute_scope, parallel, winograd
from glassnet.accel import conv as fast_conv
from glassnet.ops.conv import conv_geometry


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",")]


@contextlib.contextmanager
def _rule(min_channels: int, values_per_tile: int):
    """Override the rule's thresholds for the block (forces one path or the other)."""
    old = winograd.MIN_CHANNELS, winograd.KERNEL_VALUES_PER_TILE
    winograd.MIN_CHANNELS, winograd.KERNEL_VALUES_PER_TILE = min_channels, values_per_tile
    try:
        yield
    finally:
        winograd.MIN_CHANNELS, winograd.KERNEL_VALUES_PER_TILE = old


def _paths(x: np.ndarray, w: np.ndarray, geo: object) -> tuple:
    """(im2col + GEMM, Winograd): the inference convolution forced down each path."""

    def direct() -> np.ndarray:
        with _rule(1 << 62, 1):
            return fast_conv.conv2d_values(x, w, None, geo)

    def wino() -> np.ndarray:
        with _rule(0, 1 << 62):
            return fast_conv.conv2d_values(x, w, None, geo)

    return direct, wino


def _forced(x: np.ndarray, w: np.ndarray, geo: object, name: str) -> tuple:
    """Winograd forced, with ``winograd.<name>`` (a rule returning a bool) answering False,
    then True: the two runs to compare."""

    def forced(answer: bool):
        def run() -> np.ndarray:
            old = getattr(winograd, name)
            setattr(winograd, name, lambda *_: answer)
            try:
                with _rule(0, 1 << 62):
                    return fast_conv.conv2d_values(x, w, None, geo)
            finally:
                setattr(winograd, name, old)

        return run

    return forced(False), forced(True)


def _orders(x: np.ndarray, w: np.ndarray, geo: object) -> tuple:
    """(rows innermost, images innermost): Winograd forced to each tile order."""
    return _forced(x, w, geo, "images_inner")


def _tile_sizes(x: np.ndarray, w: np.ndarray, geo: object) -> tuple:
    """(F(2×2, 3×3), F(4×4, 3×3)): Winograd forced to each output tile."""
    return _forced(x, w, geo, "large_tiles")


def _median_ms(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def main() -> None:
    """Parse the arguments, run the sweep, print one line per shape."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--channels", type=_ints, default=[16, 32, 64, 128, 256, 512])
    p.add_argument("--maps", type=_ints, default=[2, 4, 8, 16, 32])
    p.add_argument("--batches", type=_ints, default=[1, 8, 32])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--max-macs", type=float, default=4e9, help="skip larger convolutions")
    p.add_argument("--orders", action="store_true",
                   help="compare Winograd's tile orders (rows vs images innermost) instead")
    p.add_argument("--tiles", action="store_true",
                   help="compare F(4×4, 3×3) with F(2×2, 3×3) instead")
    args = p.parse_args()
    rng = np.random.default_rng(0)
    if args.orders:
        print(f"load average {os.getloadavg()[0]:.2f}; ratio = images / rows innermost; "
              "rule: what images_inner picks for the first thread's part")
        print("channels map batch tiles    rows_ms  images_ms  ratio  rule")
    elif args.tiles:
        print(f"load average {os.getloadavg()[0]:.2f}; ratio = F(4x4) / F(2x2); tiles: 4x4 "
              "tiles in the first thread's part; rule: what large_tiles picks")
        print("channels map batch tiles    F2_ms      F4_ms  ratio  rule")
    else:
        print(f"load average {os.getloadavg()[0]:.2f}; "
              "ratio = winograd / im2col+GEMM (< 1: faster)")
        print("channels map batch tiles  direct_ms  winograd_ms  ratio")
    with compute_scope():
        for c in args.channels:
            for hw in args.maps:
                for n in args.batches:
                    if 9 * c * c * hw * hw * n > args.max_macs or (args.tiles and hw % 4):
                        continue
                    x = rng.standard_normal((c, n, hw, hw)).astype(np.float32)
                    w = rng.standard_normal((3, 3, c, c)).astype(np.float32)
                    geo = conv_geometry((hw, hw), (3, 3), 1, 1, 1)
                    tiles = n * ((hw + 1) // 2) ** 2
                    pick = _orders if args.orders else _tile_sizes if args.tiles else _paths
                    direct, wino = pick(x, w, geo)
                    d, wi = [], []
                    for _ in range(3):  # interleaved rounds
                        d.append(_median_ms(direct, args.repeats))
                        wi.append(_median_ms(wino, args.repeats))
                    dm, wm = float(np.median(d)), float(np.median(wi))
                    rule = ""
                    lo, hi = parallel.chunks(n, 1 << 40)[0]
                    if args.orders:
                        rule = "images" if winograd.images_inner(hi - lo, (hw + 1) // 2) else "rows"
                    elif args.tiles:
                        tiles = (hi - lo) * (hw // 4) ** 2
                        rule = "F4" if winograd.large_tiles(n, c, c, geo) else "F2"
                    print(f"{c:8d} {hw:3d} {n:5d} {tiles:5d} {dm:10.3f} {wm:12.3f} "
                          f"{wm / dm:6.2f}  {rule}", flush=True)


if __name__ == "__main__":
    main()
