"""The pairs convolution (``accel/conv_pairs.py``) against im2col: the measurements behind its rule.

* ``sweep``: a 3×3 "same" convolution's forward + backward (C = F channels, square maps,
  strides, batches), the pairs path forced against im2col forced, interleaved in one process;
  prints the ratio and whether the rule (:func:`conv_pairs.applies`) picks the faster one;
* ``infer``: an inference convolution (3×3 "same", stride 1, F = C or 2C) by Winograd forced
  against the pairs forced, where both apply, interleaved; prints the ratio and whether the
  inference rule (:func:`glassnet.accel.conv._winograd_pays`) picks the faster one;
* ``models``: whole training steps (or inference passes, ``--workload infer``) of zoo models at
  32×32×3 (tiny_vgg 64×64×3), 10 classes, the rule on against the pairs path switched off,
  interleaved in one process.

Median of the repeats, 2 threads. Check ``uptime`` first.

    PYTHONPATH=. python scripts/bench_conv_pairs.py sweep --channels 16,64,256 \\
        --maps 2,4,8,16,32 --batches 2,8,32,128 --strides 1,2
    PYTHONPATH=. python scripts/bench_conv_pairs.py infer --channels 32,64,128,256,512 \\
        --maps 2,4,8,16,32 --batches 8,32,128
    PYTHONPATH=. python scripts/bench_conv_pairs.py models --models resnet18,vgg11 --batches 32,128
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from glassnet.accel import conv as fast_conv
from glassnet.accel import conv_backward, conv_pairs, parallel
from glassnet.accel.scope import compute_scope
from glassnet.ops.conv import conv_geometry

RULE = conv_pairs.applies
PAYS = fast_conv._winograd_pays


def _forced(on: bool) -> Callable[..., bool]:
    return (lambda x, w, geometry, groups: conv_pairs.usable(x, w, groups)) if on else (
        lambda *args: False)


def _interleaved(step: Callable[[], Any], variants: dict[str, Callable[..., bool]],
                 repeats: int) -> dict[str, float]:
    """Median ms of ``step`` with ``conv_pairs.applies`` set to each variant, alternating."""
    times: dict[str, list[float]] = {name: [] for name in variants}
    try:
        for rule in variants.values():  # warm-up (numba, buffers)
            conv_pairs.applies = rule
            step()
        for r in range(repeats):
            order = list(variants) if r % 2 == 0 else list(reversed(variants))
            for name in order:
                conv_pairs.applies = variants[name]
                start = time.perf_counter()
                step()
                times[name].append(time.perf_counter() - start)
    finally:
        conv_pairs.applies = RULE
    return {name: 1000 * float(np.median(v)) for name, v in times.items()}


def sweep(args: argparse.Namespace) -> None:
    """Pairs vs im2col per geometry, and the rule's choice."""
    rng = np.random.default_rng(0)
    right = total = 0
    for s in args.strides:
        for c in args.channels:
            for h in args.maps:
                for n in args.batches:
                    macs = c * c * h * h * n * 9 / (s * s)
                    if macs > args.max_macs:
                        continue
                    x = rng.standard_normal((c, n, h, h)).astype(np.float32)
                    w = (0.1 * rng.standard_normal((3, 3, c, c))).astype(np.float32)
                    geometry = conv_geometry((h, h), (3, 3), s, "same", 1)
                    dout = rng.standard_normal((c, n, *geometry.out_hw)).astype(np.float32)

                    def step(x: Any = x, w: Any = w, s: int = s, dout: Any = dout) -> None:
                        _, cache = fast_conv.conv2d_forward(x, w, strides=s, padding="same")
                        conv_backward.conv2d_backward(dout, cache)

                    reps = max(3, min(args.repeats, int(3e9 / macs / 20)))
                    t = _interleaved(step, {"pairs": _forced(True), "im2col": _forced(False)},
                                     reps)
                    pick = RULE(x, w, geometry, 1)
                    ok = (t["pairs"] < t["im2col"]) == pick
                    right, total = right + ok, total + 1
                    print(f"stride {s}, C = F = {c}, {h}×{h}, batch {n}: pairs {t['pairs']:.2f} "
                          f"ms, im2col {t['im2col']:.2f} ms, ratio {t['pairs'] / t['im2col']:.2f}; "
                          f"rule: {'pairs' if pick else 'im2col'}{'' if ok else '  (slower)'}",
                          flush=True)
    print(f"the rule picked the faster path in {right} of {total} geometries")


def infer(args: argparse.Namespace) -> None:
    """Winograd vs the pairs per inference geometry, and the inference rule's choice."""
    from glassnet.accel import winograd

    rng = np.random.default_rng(0)
    right = total = 0
    for c in args.channels:
        for f in (c, 2 * c):
            for h in args.maps:
                for n in args.batches:
                    x = rng.standard_normal((c, n, h, h)).astype(np.float32)
                    w = (0.1 * rng.standard_normal((3, 3, c, f))).astype(np.float32)
                    geometry = conv_geometry((h, h), (3, 3), 1, "same", 1)
                    if not (winograd.applies(x, w, geometry, 1)
                            and conv_pairs.usable(x, w, 1) and c >= conv_pairs.MIN_CHANNELS):
                        continue
                    macs = c * f * h * h * n * 9
                    if macs > args.max_macs:
                        continue

                    def step(x: Any = x, w: Any = w, geometry: Any = geometry) -> None:
                        fast_conv.conv2d_values(x, w, None, geometry)

                    reps = max(3, min(args.repeats, int(3e9 / macs / 20)))
                    variants = {"winograd": lambda *a: True, "pairs": lambda *a: False}
                    times: dict[str, list[float]] = {k: [] for k in variants}
                    try:
                        for r in range(reps + 1):
                            order = list(variants) if r % 2 == 0 else list(reversed(variants))
                            for name in order:
                                fast_conv._winograd_pays = variants[name]
                                start = time.perf_counter()
                                step()
                                if r:  # the first round warms up
                                    times[name].append(time.perf_counter() - start)
                    finally:
                        fast_conv._winograd_pays = PAYS
                    t = {k: 1000 * float(np.median(v)) for k, v in times.items()}
                    pick = PAYS(x, w, geometry, 1)
                    ok = (t["winograd"] < t["pairs"]) == pick
                    right, total = right + ok, total + 1
                    print(f"C = {c}, F = {f}, {h}×{h}, batch {n}: winograd {t['winograd']:.2f} "
                          f"ms, pairs {t['pairs']:.2f} ms, ratio "
                          f"{t['winograd'] / t['pairs']:.2f}; rule: "
                          f"{'winograd' if pick else 'pairs'}{'' if ok else '  (slower)'}",
                          flush=True)
    print(f"the rule picked the faster path in {right} of {total} geometries")


def models(args: argparse.Namespace) -> None:
    """Whole training steps / inference passes, the rule against no pairs path."""
    from glassnet.bench.workloads import Workload, build_model, glassnet_step

    for name in args.models:
        for batch in args.batches:
            shape = (64, 64, 3) if name == "tiny_vgg" else (32, 32, 3)
            work = Workload(name, args.workload, batch, args.repeats, 2, shape, 10)
            step = glassnet_step(work, build_model(work, 0), 0)
            t = _interleaved(step, {"rule": RULE, "im2col": _forced(False)}, args.repeats)
            print(f"{name} {args.workload} batch {batch}: with the rule {t['rule']:.1f} ms, "
                  f"without the pairs path {t['im2col']:.1f} ms, ratio "
                  f"{t['rule'] / t['im2col']:.3f}", flush=True)


def main() -> None:
    ints = lambda s: [int(v) for v in s.split(",")]  # noqa: E731
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    sw = sub.add_parser("sweep", help="pairs vs im2col per geometry, and the rule's choice")
    sw.add_argument("--channels", type=ints, default=[16, 64, 256])
    sw.add_argument("--maps", type=ints, default=[2, 4, 8, 16, 32])
    sw.add_argument("--batches", type=ints, default=[2, 8, 32, 128])
    sw.add_argument("--strides", type=ints, default=[1, 2])
    sw.add_argument("--max-macs", type=float, default=1.5e9, help="skip larger convolutions")
    sw.add_argument("--repeats", type=int, default=9)
    inf = sub.add_parser("infer", help="Winograd vs the pairs in inference, and the rule's choice")
    inf.add_argument("--channels", type=ints, default=[32, 64, 128, 256, 512])
    inf.add_argument("--maps", type=ints, default=[2, 4, 8, 16, 32])
    inf.add_argument("--batches", type=ints, default=[8, 32, 128])
    inf.add_argument("--max-macs", type=float, default=1.5e9, help="skip larger convolutions")
    inf.add_argument("--repeats", type=int, default=9)
    mo = sub.add_parser("models", help="whole steps with and without the pairs path")
    mo.add_argument("--models", type=lambda s: s.split(","), default=["resnet18", "vgg11"])
    mo.add_argument("--batches", type=ints, default=[32, 128])
    mo.add_argument("--workload", choices=["train", "infer"], default="train")
    mo.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with compute_scope():
        parallel.set_num_threads(2)
        {"sweep": sweep, "infer": infer, "models": models}[args.what](args)


if __name__ == "__main__":
    main()
