"""Training-step kernels of issue 15, timed: the measurements behind their rules-table rows.

* ``adam``: ``Adam(weight_decay=5e-4).step()`` over resnet18-like parameter sizes (14.8M
  float32 values), NumPy's sequence against the one-pass kernel (``accel.update.adam``),
  interleaved in one process;
* ``bnrelu``: BatchNorm (training) + ReLU, forward and backward, at resnet18 batch-128 map
  sizes: the sequence before (two parallel regions per direction for the BatchNorm, a separate
  ReLU pass and mask each way — rebuilt here from the same kernels) against the fused one
  (``accel.norm.batch_norm_forward(relu_cap=inf)``), interleaved in one process;
* ``conv``: forward + backward of resnet18's 3×3 convolutions at batch 128 (this checkout's
  code; run it at two commits, alternating, to compare them).

Min and median of ``--repeats``, on ``--threads`` threads. Check ``uptime`` first.

    PYTHONPATH=. python scripts/bench_train_kernels.py adam|bnrelu|conv [--repeats 25]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from glassnet import optim
from glassnet.accel import activation as fast_act
from glassnet.accel import conv as fast_conv
from glassnet.accel import norm, parallel, update
from glassnet.ops import norm as ref_norm


def _interleaved(variants: dict[str, Callable[[], Any]], repeats: int) -> str:
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, fn in variants.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return ", ".join(f"{name} min {1000 * min(v):.2f} / median {1000 * np.median(v):.2f} ms"
                     for name, v in times.items())


def bench_adam(repeats: int) -> None:
    """NumPy's Adam-with-weight-decay sequence against the one-pass kernel."""
    rng = np.random.default_rng(0)

    class Param:
        def __init__(self, n: int) -> None:
            self.data = rng.standard_normal(n).astype(np.float32)
            self.grad = rng.standard_normal(n).astype(np.float32)

    sizes = [2_359_296] * 4 + [1_179_648] * 2 + [589_824] * 3 + [147_456] * 6 + [36_864] * 8
    opt = optim.Adam([Param(n) for n in sizes], lr=1e-3, weight_decay=5e-4)
    usable = update.usable

    def numpy_step() -> None:
        update.usable = lambda *a: False
        try:
            opt.step()
        finally:
            update.usable = usable

    print(f"adam, {sum(sizes):,} float32 parameters:",
          _interleaved({"numpy": numpy_step, "one pass": opt.step}, repeats))


def _bn_before(x: Any, g: Any, b: Any, d: Any) -> None:
    """The BatchNorm + ReLU training sequence before the fusion (same kernels, same splits)."""
    c, dt = x.shape[0], x.dtype
    x2 = norm._rows(x)
    m = x2.shape[1]
    mean64, var64 = np.empty(c), np.empty(c)
    norm._run(lambda lo, hi: norm._stats(x2, lo, hi, mean64, var64), c, x.size)
    mean, var = mean64.astype(dt), var64.astype(dt)
    ref_norm.update_running(None, None, mean, var, m, 0.1)
    inv_std = 1 / np.sqrt(var + dt.type(1e-5))
    xhat, out = np.empty_like(x2), np.empty_like(x2)
    norm._run(lambda lo, hi: norm._normalise(x2, mean, inv_std, g, b, lo, hi, xhat, out),
              c, x.size)
    _, relu_cache = fast_act.relu_forward(out.reshape(x.shape))
    d2 = norm._rows(fast_act.relu_backward(d, relu_cache))
    db64, dg64 = np.empty(c), np.empty(c)
    norm._run(lambda lo, hi: norm._grad_sums(d2, xhat, lo, hi, db64, dg64), c, d.size)
    dbeta, dgamma = db64.astype(dt), dg64.astype(dt)
    k = (g * inv_std).astype(dt) / m
    dx = np.empty_like(d2)
    norm._run(lambda lo, hi: norm._grad_x(d2, xhat, k, dt.type(m), dbeta, dgamma, lo, hi, dx),
              c, d.size)


def bench_bnrelu(repeats: int) -> None:
    """BatchNorm + ReLU forward and backward, before and after the fusion."""
    rng = np.random.default_rng(0)
    for shape in [(64, 128, 16, 16), (64, 128, 8, 8), (128, 128, 4, 4), (256, 128, 2, 2)]:
        c = shape[0]
        x = rng.standard_normal(shape).astype(np.float32)
        d = rng.standard_normal(shape).astype(np.float32)
        g = rng.standard_normal(c).astype(np.float32)
        b = rng.standard_normal(c).astype(np.float32)

        def fused(x: Any = x, g: Any = g, b: Any = b, d: Any = d) -> None:
            _, cache = norm.batch_norm_forward(x, g, b, None, None, axis=0, training=True,
                                               relu_cap=np.inf)
            norm.batch_norm_backward(d, cache)

        print(f"bn+relu {shape}:", _interleaved(
            {"before": lambda x=x, g=g, b=b, d=d: _bn_before(x, g, b, d), "fused": fused},
            repeats))


def bench_conv(repeats: int) -> None:
    """resnet18's 3×3 convolutions at batch 128: forward + backward (dL/dx, dL/dw, dL/db)."""
    rng = np.random.default_rng(0)
    for c, n, hw, f, s in [(64, 128, 8, 64, 1), (128, 128, 4, 128, 1), (256, 128, 2, 256, 1),
                           (64, 128, 8, 128, 2)]:
        x = rng.standard_normal((c, n, hw, hw)).astype(np.float32)
        w = rng.standard_normal((3, 3, c, f)).astype(np.float32)
        b = rng.standard_normal(f).astype(np.float32)

        def step(x: Any = x, w: Any = w, b: Any = b, s: int = s) -> None:
            out, cache = fast_conv.conv2d_forward(x, w, b, strides=s, padding="same")
            dx, _, _ = fast_conv.conv2d_backward(out, cache)
            np.ascontiguousarray(dx)  # what the next op's kernel needs

        print(f"conv {hw}×{hw}×{c} → {f}, stride {s}:", _interleaved({"this": step}, repeats))


def main() -> None:
    """Parse the arguments and run one benchmark."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("which", choices=["adam", "bnrelu", "conv"])
    ap.add_argument("--repeats", type=int, default=25)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    parallel.set_num_threads(args.threads)
    with parallel.split_scope():
        {"adam": bench_adam, "bnrelu": bench_bnrelu, "conv": bench_conv}[args.which](
            args.repeats)


if __name__ == "__main__":
    main()
