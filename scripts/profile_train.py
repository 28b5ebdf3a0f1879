"""Where a training step's time goes, by op family: glassnet, or its torch twin (torch.profiler).

The bench's ``train`` workload (forward in training mode, mean softmax cross-entropy, backward,
SGD lr 0.01) on seeded random 32×32×3 images, after 3 warm-up steps. glassnet: wall time on
the calling thread per op family (the dispatch functions of ``glassnet.accel``, the loss, the
optimizer) and, inside those, the time the calling thread waits for the pool's worker at joins.
A convolution's backward is split into dL/dw and dL/dx by running it once more with
``need_dx=False`` first (in the profiled steps only; the step time printed first comes from
unwrapped steps). torch (``--torch``): ``torch.profiler`` self CPU time per aten op, same model
(``glassnet.bench.torch_models``), same batch, ``torch.set_num_threads(threads)``.

    PYTHONPATH=. python scripts/profile_train.py --model resnet18 --batch 128 [--steps 5]
                                                 [--threads 2] [--torch]
"""

from __future__ import annotations

import argparse
import collections
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

FAMILIES = {
    "conv2d_forward": "conv forward (im2col or pairs, GEMMs)",
    "batch_norm_forward": "BatchNorm forward",
    "batch_norm_backward": "BatchNorm backward",
    "batch_norm_relu_forward": "BatchNorm + ReLU forward (fused)",
    "batch_norm_relu_backward": "BatchNorm + ReLU backward (fused)",
    "relu_forward": "ReLU forward",
    "clipped_relu_forward": "ReLU forward",
    "relu_backward": "ReLU backward",
    "max_pool2d_forward": "max pool forward",
    "max_pool2d_backward": "max pool backward",
    "max_pool2d_relu_forward": "max pool forward",
    "max_pool2d_relu_backward": "max pool backward",
}


def _workload(model: str, batch: int, steps: int) -> Any:
    from glassnet.bench.workloads import Workload

    return Workload(model=model, workload="train", batch=batch, input_shape=(32, 32, 3),
                    classes=10, steps=steps, warmup=3)


def profile_glassnet(model_name: str, batch: int, steps: int, threads: int) -> None:
    """Print the step time and a markdown table: ms per step by op family."""
    from glassnet import optim
    from glassnet.accel import dispatch, parallel, spin, workers
    from glassnet.autodiff import nn as adnn
    from glassnet.bench.workloads import build_model, random_batch, time_steps
    from glassnet.training import loop

    acc: dict[str, float] = collections.defaultdict(float)
    on = {"v": False}
    main = threading.get_ident()

    def timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*a: Any, **k: Any) -> Any:
            if not on["v"] or threading.get_ident() != main:
                return fn(*a, **k)
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                acc[name] += time.perf_counter() - t
        return wrapper

    for fname, family in FAMILIES.items():
        if hasattr(dispatch, fname):
            setattr(dispatch, fname, timed(family, getattr(dispatch, fname)))
    conv_backward = dispatch.conv2d_backward

    def split_backward(dout: Any, cache: Any, need_dx: bool = True) -> Any:
        if not on["v"]:
            return conv_backward(dout, cache, need_dx=need_dx)
        t = time.perf_counter()
        conv_backward(dout, cache, need_dx=False)
        dw_only = time.perf_counter() - t
        t = time.perf_counter()
        out = conv_backward(dout, cache, need_dx=need_dx)
        both = time.perf_counter() - t
        acc["conv backward dL/dw, dL/db (GEMM)"] += min(dw_only, both)
        acc["conv backward dL/dx (GEMMs, col2im)"] += max(both - dw_only, 0.0)
        return out

    dispatch.conv2d_backward = split_backward
    joins = "  of which joins: the caller waits for the worker"
    spin.post_and_wait = timed(joins, spin.post_and_wait)
    spin.wait_while = timed(joins, spin.wait_while)
    workers.Workers._wait_change = timed(joins, workers.Workers._wait_change)
    adnn.dense = timed("dense", adnn.dense)
    adnn.global_avg_pool2d = timed("global average pool", adnn.global_avg_pool2d)
    loop.batch_loss = timed("loss (softmax cross-entropy)", loop.batch_loss)

    work = _workload(model_name, batch, steps)
    parallel.set_num_threads(threads)
    with parallel.split_scope():
        model = build_model(work, 0)
        x, y = random_batch(model, batch, 0)
        params = model.parameters()
        sgd_step = timed("optimizer (SGD step)", optim.SGD(params, lr=0.01).step)

        def step() -> None:
            for p in params:
                p.grad = None
            t0 = time.perf_counter()
            out = model.forward(x, training=True)
            loss = loop.batch_loss(model, out, y, "sparse_categorical_crossentropy",
                                   from_logits=not model.ends_in_softmax)
            t1 = time.perf_counter()
            loss.backward()
            t2 = time.perf_counter()
            sgd_step()
            if on["v"]:
                acc["= forward + loss"] += t1 - t0
                acc["= backward"] += t2 - t1

        times = time_steps(step, steps, warmup=3)
        on["v"] = True
        for _ in range(steps):
            step()
    print(f"glassnet {model_name} b{batch}, {threads} threads: step median "
          f"{1000 * np.median(times):.1f} ms, min {1000 * min(times):.1f} ms")
    backward = acc.pop("= backward") - acc["conv backward dL/dw, dL/db (GEMM)"]
    forward = acc.pop("= forward + loss")
    print("| op family | ms / step |\n|---|---:|")
    print(f"| forward + loss (total) | {1000 * forward / steps:.1f} |")
    print(f"| backward (total, without the dL/dw re-run) | {1000 * backward / steps:.1f} |")
    for name, secs in sorted(acc.items(), key=lambda kv: -kv[1]):
        print(f"| {name} | {1000 * secs / steps:.1f} |")


def profile_torch(model_name: str, batch: int, steps: int, threads: int) -> None:
    """Print the torch twin's step time and torch.profiler's table (self CPU time)."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from glassnet.bench.workloads import build_model, time_steps, torch_step

    torch.set_num_threads(threads)
    work = _workload(model_name, batch, steps)
    step = torch_step(work, build_model(work, 0), 0)
    times = time_steps(step, steps, warmup=3)
    print(f"torch {model_name} b{batch}, {threads} threads: step median "
          f"{1000 * np.median(times):.1f} ms, min {1000 * min(times):.1f} ms")
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=16))


def main() -> None:
    """Parse the arguments and profile one side."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="resnet18")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--torch", action="store_true", help="profile the torch twin instead")
    args = ap.parse_args()
    side = profile_torch if args.torch else profile_glassnet
    side(args.model, args.batch, args.steps, args.threads)


if __name__ == "__main__":
    main()
