"""Time mobilenet_v2's depthwise convolutions: the direct path, the grouped im2col path, torch.

In one process, interleaved by rounds (each round runs every contender through all the layers,
in alternating order, with a pause between contenders), median of the rounds per layer;
float32, the same thread count for glassnet and torch.
Contenders: ``im2col`` (accel.conv's grouped path: the depthwise rule switched off), ``direct``
(accel.depthwise) and ``torch`` (``F.conv2d(..., groups=C)``, NCHW, with an explicit ``F.pad``
first where the padding is uneven, as the bench's twin does). Forward + backward computes
dL/dx, dL/dw (and dL/db) on every side.

    PYTHONPATH=. python scripts/bench_depthwise.py [--batch 32] [--rounds 15] [--threads 2]
    PYTHONPATH=. python scripts/bench_depthwise.py --padding   # bounds vs padded planes
    PYTHONPATH=. python scripts/bench_depthwise.py --model     # whole mobilenet_v2 steps

``--padding`` times the alternative to accel.depthwise's padded phase planes: padding handled
by bounds inside the loops (no copy; each tap then one short loop per output row), forward,
stride 1, one thread, against the direct path on the stride-1 layers' shapes. ``--model``
times whole mobilenet_v2 (32×32×3, 10 classes) training steps and inferences, the bench's own
step functions (glassnet.bench.workloads), with the depthwise rule on and off, interleaved.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

import glassnet
from glassnet import accel
from glassnet.accel import conv as fast_conv
from glassnet.accel import depthwise, parallel
from glassnet.layers.conv import DepthwiseConv2D
from glassnet.models.graph import node_input_shape
from glassnet.ops.conv import ConvGeometry, conv_geometry

NAMES = ("im2col", "direct", "torch")
PAUSE_S = 0.3  # before each contender's pass: the other side's idle threads stop spinning


@contextlib.contextmanager
def rule_off() -> Iterator[None]:
    """accel.conv without the depthwise rule: the grouped im2col path it replaced."""
    usable = depthwise.usable
    depthwise.usable = lambda *args: False  # type: ignore[assignment]
    try:
        yield
    finally:
        depthwise.usable = usable  # type: ignore[assignment]


def layers(batch: int) -> list[tuple[str, Any, Any, Any, ConvGeometry]]:
    """(label, x CNHW, w, b, geometry) of every depthwise convolution of mobilenet_v2."""
    model = glassnet.zoo.get("mobilenet_v2", input_shape=(32, 32, 3), num_classes=10,
                             seed=0).build()
    rng = np.random.default_rng(0)
    found = []
    for node in model.nodes:
        layer = node.layer
        if not isinstance(layer, DepthwiseConv2D):
            continue
        h, wd, c = node_input_shape(node)
        x = rng.standard_normal((c, batch, h, wd)).astype(np.float32)
        w = layer.weights["kernel"].data.astype(np.float32)
        b = layer.weights["bias"].data.astype(np.float32) if layer.use_bias else None
        geo = conv_geometry((h, wd), layer.kernel_size, layer.strides, layer.padding,
                            layer.dilation_rate)
        found.append((f"{layer.label} {h}x{wd}x{c} s{layer.strides[0]}", x, w, b, geo))
    return found


def contenders(x: Any, w: Any, b: Any, geo: ConvGeometry, backward: bool
               ) -> dict[str, Callable[[], Any]]:
    """One zero-argument callable per contender doing the same work."""
    import torch
    import torch.nn.functional as tf

    c = x.shape[0]
    out_shape = (w.shape[3], x.shape[1], *geo.out_hw)
    dout = np.random.default_rng(1).standard_normal(out_shape).astype(np.float32)

    def glassnet_call() -> Any:
        out, cache = fast_conv.conv2d_resolved(x, w, b, geo, c)
        return fast_conv.conv2d_backward(dout, cache) if backward else out

    def im2col() -> Any:
        with rule_off():
            return glassnet_call()

    (top, bottom), (left, right) = geo.pads
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(1, 0, 2, 3))).requires_grad_(backward)
    wt = torch.from_numpy(np.ascontiguousarray(w.transpose(3, 2, 0, 1))).requires_grad_(backward)
    bt = None if b is None else torch.from_numpy(b).requires_grad_(backward)
    dt = torch.from_numpy(np.ascontiguousarray(dout.transpose(1, 0, 2, 3)))
    symmetric = top == bottom and left == right

    def torch_call() -> Any:
        xin = xt if symmetric else tf.pad(xt, (left, right, top, bottom))
        with contextlib.nullcontext() if backward else torch.inference_mode():
            out = tf.conv2d(xin, wt, bt, stride=geo.strides, dilation=geo.dilation,
                            padding=(top, left) if symmetric else 0, groups=c)
            if backward:
                out.backward(dt)
                xt.grad = wt.grad = None
                if bt is not None:
                    bt.grad = None
        return out

    return {"im2col": im2col, "direct": glassnet_call, "torch": torch_call}


def measure(batch: int, rounds: int, backward: bool) -> dict[str, dict[str, float]]:
    """Median ms per layer and contender over ``rounds`` rounds (after two warm-up rounds).

    Each round runs every contender through all the layers in turn (the order alternating
    between rounds), after a pause: a side's idle threads (torch's OpenMP team, glassnet's
    spinning workers) keep spinning on the cores for a while after its last call, and would
    slow down the other side's next call if the calls alternated layer by layer.
    """
    cases = [(label, contenders(x, w, b, geo, backward)) for label, x, w, b, geo in layers(batch)]
    times: dict[str, dict[str, list[float]]] = {label: {k: [] for k in NAMES} for label, _ in cases}
    for r in range(rounds + 2):
        for name in NAMES if r % 2 == 0 else NAMES[::-1]:
            time.sleep(PAUSE_S)
            for label, calls in cases:
                t0 = time.perf_counter()
                calls[name]()
                if r >= 2:  # two warm-up rounds (numba compile / load, torch's first calls)
                    times[label][name].append((time.perf_counter() - t0) * 1e3)
    return {label: {k: statistics.median(v) for k, v in per.items()}
            for label, per in times.items()}


def bounds_forward_kernel() -> Any:
    """A stride-1 depthwise forward with padding by bounds (the alternative measured)."""
    from numba import njit

    @njit(nogil=True)
    def forward(x, taps, out, kh, kw, top, left):  # type: ignore[no-untyped-def]
        nc, n, h, wd = x.shape
        oh, ow = out.shape[2], out.shape[3]
        for c in range(nc):
            for b in range(n):
                for i in range(oh):
                    row = out[c, b, i]
                    for j in range(ow):
                        row[j] = 0
                    for u in range(kh):
                        r = i + u - top
                        if r < 0 or r >= h:
                            continue
                        for v in range(kw):
                            off = v - left
                            lo, hi = max(0, -off), min(ow, wd - off)
                            t, dst, src = taps[c, u * kw + v], row[lo:], x[c, b, r, lo + off :]
                            for j in range(hi - lo):  # views: no wrap-around, vectorised
                                dst[j] += t * src[j]

    return forward


def padding_check(batch: int, rounds: int) -> None:
    """Print bounds vs padded phase planes, forward, stride 1, one thread (median ms)."""
    accel.set_num_threads(1)
    forward = bounds_forward_kernel()
    for label, x, w, _, geo in layers(batch):
        if geo.strides != (1, 1) or x.shape[2] == 1:  # 1×1 maps keep one tap: no padding
            continue
        c, kh, kw = x.shape[0], w.shape[0], w.shape[1]
        taps = np.ascontiguousarray(w.reshape(kh * kw, c).T)
        out = np.empty((c, *x.shape[1:]), np.float32)
        (top, _), (left, _) = geo.pads
        forward(x, taps, out, kh, kw, top, left)
        want = fast_conv.conv2d_resolved(x, w, None, geo, c)[0]
        np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-4)
        bounds, planes = [], []
        for _ in range(rounds):
            t0 = time.perf_counter()
            forward(x, taps, out, kh, kw, top, left)
            t1 = time.perf_counter()
            fast_conv.conv2d_resolved(x, w, None, geo, c)
            t2 = time.perf_counter()
            bounds.append((t1 - t0) * 1e3)
            planes.append((t2 - t1) * 1e3)
        print(f"{label:34s} bounds {statistics.median(bounds):7.3f}  "
              f"planes {statistics.median(planes):7.3f}")


def model_check(batch: int, rounds: int) -> None:
    """Print whole-model step times, rule on (direct) and off (im2col), median ms."""
    from glassnet.bench.workloads import Workload, glassnet_step

    model = glassnet.zoo.get("mobilenet_v2", input_shape=(32, 32, 3), num_classes=10,
                             seed=0).build()
    for workload in ("infer", "train"):
        step = glassnet_step(Workload("mobilenet_v2", workload, batch, 1, 1), model, 0)
        times: dict[str, list[float]] = {"im2col": [], "direct": []}
        for r in range(rounds + 2):
            for name in ("im2col", "direct") if r % 2 else ("direct", "im2col"):
                with rule_off() if name == "im2col" else contextlib.nullcontext():
                    t0 = time.perf_counter()
                    step()
                    if r >= 2:
                        times[name].append((time.perf_counter() - t0) * 1e3)
        print(f"mobilenet_v2 {workload} batch {batch}: " + ", ".join(
            f"{k} {statistics.median(v):.2f}" for k, v in times.items()))


def main() -> None:
    """Print one table per workload (forward; forward + backward)."""
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--padding", action="store_true", help="bounds vs padded planes")
    parser.add_argument("--model", action="store_true", help="whole mobilenet_v2 steps")
    args = parser.parse_args()
    if args.model:
        accel.set_num_threads(args.threads)
        print(f"load average {os.getloadavg()}, batch {args.batch}, threads {args.threads}, "
              f"median of {args.rounds} interleaved rounds, ms")
        with accel.compute_scope():
            model_check(args.batch, args.rounds)
        return
    if args.padding:
        print(f"load average {os.getloadavg()}, batch {args.batch}, one thread, "
              f"median of {args.rounds} interleaved rounds, ms")
        padding_check(args.batch, args.rounds)
        return
    torch.set_num_threads(args.threads)
    accel.set_num_threads(args.threads)
    print(f"load average {os.getloadavg()}, batch {args.batch}, threads {args.threads}, "
          f"median of {args.rounds} interleaved rounds, ms")
    with accel.compute_scope():
        for backward in (False, True):
            result = measure(args.batch, args.rounds, backward)
            print("\nforward + backward (dx, dw)" if backward else "\nforward")
            print(f"{'layer':34s}" + "".join(f"{k:>9s}" for k in NAMES))
            for label, per in result.items():
                print(f"{label:34s}" + "".join(f"{per[k]:9.3f}" for k in NAMES))
            totals = {k: sum(per[k] for per in result.values()) for k in NAMES}
            print(f"{'total':34s}" + "".join(f"{totals[k]:9.3f}" for k in NAMES))
    print(f"\nload average at the end {os.getloadavg()}; parallel threads "
          f"{parallel.configured_threads()}")


if __name__ == "__main__":
    main()
