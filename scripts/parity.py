"""Learning parity: glassnet vs PyTorch on Keras' mnist_convnet, same weights, same batches.

The bar (issue 4): Keras mnist_convnet on the 4,000 / 1,000 mnist-5k split, Adam lr 1e-3,
batch 128, 10 epochs, float32 in both frameworks, seeds 0, 1, 2 -> the mean test accuracy of
glassnet is within 0.5 percentage points of torch's.

For each seed both models start from glassnet's initial weights for that seed (copied into
torch: conv kernels [KH, KW, C_in, C_out] -> [C_out, C_in, KH, KW]; the dense kernel's rows are
permuted from Keras' (H, W, C) flatten order to torch's (C, H, W)) and see the same batches in
the same order (the permutations ``glassnet.training.loop.fit`` draws from
``np.random.default_rng(seed)``). The torch model ends in a Linear layer and trains with
``CrossEntropyLoss`` on its logits, which is what glassnet's fused softmax + cross-entropy does.

Two configurations:
  * ``dropout``: the real architecture with dropout 0.5. The dropout MASKS differ between the
    frameworks (each draws its own), so the two runs diverge after the first step; this is a
    statistical comparison.
  * ``nodropout``: dropout rate 0. Everything is identical up to float32 rounding (different
    GEMM/conv summation orders), so the runs should track each other closely; the script also
    reports the largest final weight difference.

Usage::

    python scripts/parity.py                      # both configurations, seeds 0 1 2
    python scripts/parity.py --json parity.json --configs nodropout --epochs 2
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

BAR_PP = 0.5  # percentage points, on the mean over seeds


def glassnet_convnet(rate: float, seed: int) -> Any:
    """The zoo's keras_mnist_convnet with the dropout rate set (rate 0 = no dropout)."""
    from glassnet import zoo

    model = zoo.keras_mnist_convnet(seed=seed)
    # The Dropout layer stays in place even at rate 0: its build draws one number from the
    # model's init generator, so removing it would change the dense layer's initial weights.
    for layer in model.layers:
        if type(layer).__name__ == "Dropout":
            layer.rate = float(rate)
    return model


def torch_convnet(torch: Any, gn_model: Any, rate: float) -> Any:
    """A torch.nn copy of ``gn_model`` (built) holding the same weights."""
    nn = torch.nn
    layers = {layer.label: layer for layer in gn_model.layers}
    conv1, conv2, dense = layers["conv2d"], layers["conv2d_1"], layers["dense"]
    net = nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(rate), nn.Linear(1600, 10),
    )
    with torch.no_grad():
        for t_conv, g_conv in ((net[0], conv1), (net[3], conv2)):
            kernel = g_conv.weights["kernel"].data  # [KH, KW, C_in, C_out]
            t_conv.weight.copy_(torch.from_numpy(kernel.transpose(3, 2, 0, 1)))
            t_conv.bias.copy_(torch.from_numpy(g_conv.weights["bias"].data))
        k = dense.weights["kernel"].data  # [H*W*C, 10], rows in (H, W, C) order
        net[8].weight.copy_(torch.from_numpy(k.reshape(5, 5, 64, 10).transpose(3, 2, 0, 1)
                                             .reshape(10, 1600)))
        net[8].bias.copy_(torch.from_numpy(dense.weights["bias"].data))
    return net


def torch_weights_as_glassnet(net: Any) -> list[np.ndarray]:
    """Torch parameters converted back to glassnet's layouts, in glassnet's parameter order."""
    out = []
    for i in (0, 3):
        out.append(net[i].weight.detach().numpy().transpose(2, 3, 1, 0))
        out.append(net[i].bias.detach().numpy())
    w = net[8].weight.detach().numpy().reshape(10, 64, 5, 5).transpose(2, 3, 1, 0)
    out.append(w.reshape(1600, 10))
    out.append(net[8].bias.detach().numpy())
    return out


def run_torch(torch: Any, net: Any, ds: Any, epochs: int, batch_size: int, lr: float,
              seed: int) -> tuple[float, float]:
    """Train ``net`` with the batch order of glassnet's fit(seed=seed); return (acc, loss)."""
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    x = torch.from_numpy(np.ascontiguousarray(ds.x_train.transpose(0, 3, 1, 2)))
    y = torch.from_numpy(ds.y_train)
    rng = np.random.default_rng(seed)  # what loop.fit uses for the batch order
    n = len(x)
    for _ in range(epochs):
        net.train()
        order = torch.from_numpy(rng.permutation(n))
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            opt.zero_grad()
            loss = loss_fn(net(x[idx]), y[idx])
            loss.backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        xt = torch.from_numpy(np.ascontiguousarray(ds.x_test.transpose(0, 3, 1, 2)))
        logits = net(xt)
        test_loss = float(loss_fn(logits, torch.from_numpy(ds.y_test)))
        acc = float((logits.argmax(1).numpy() == ds.y_test).mean())
    return acc, test_loss


def run_seed(torch: Any, ds: Any, config: str, seed: int, args: argparse.Namespace
             ) -> dict[str, Any]:
    """One seed of one configuration: both frameworks from the same start."""
    import glassnet as gn

    rate = 0.5 if config == "dropout" else 0.0
    model = glassnet_convnet(rate, seed).build()
    net = torch_convnet(torch, model, rate)
    torch.manual_seed(seed)  # torch's dropout masks

    t0 = time.perf_counter()
    model.compile(gn.optim.Adam(model.parameters(), lr=args.lr),
                  "sparse_categorical_crossentropy", ["accuracy"])
    model.fit(ds.x_train, ds.y_train, epochs=args.epochs, batch_size=args.batch_size,
              seed=seed, verbose=0)
    res = model.evaluate(ds.x_test, ds.y_test)
    t1 = time.perf_counter()
    t_acc, t_loss = run_torch(torch, net, ds, args.epochs, args.batch_size, args.lr, seed)
    t2 = time.perf_counter()
    max_dw = max(float(np.max(np.abs(p.data - q)))
                 for p, q in zip(model.parameters(), torch_weights_as_glassnet(net), strict=True))
    return {
        "config": config, "seed": seed,
        "glassnet_test_accuracy": res["accuracy"], "torch_test_accuracy": t_acc,
        "diff_pp": 100 * (res["accuracy"] - t_acc),
        "glassnet_test_loss": res["loss"], "torch_test_loss": t_loss,
        "max_abs_weight_diff": max_dw,
        "glassnet_seconds": t1 - t0, "torch_seconds": t2 - t1,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--configs", nargs="+", choices=["dropout", "nodropout"],
                        default=["dropout", "nodropout"])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)

    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch

    import glassnet as gn
    from glassnet import data

    torch.set_num_threads(args.threads)
    torch.set_default_dtype(torch.float32)
    gn.set_default_dtype("float32")
    ds = data.load("mnist-5k")

    rows = []
    print(f"{'config':<10} {'seed':>4} {'glassnet %':>10} {'torch %':>8} {'diff pp':>8} "
          f"{'max|dw|':>9} {'gn s':>6} {'torch s':>7}", flush=True)
    for config in args.configs:
        for seed in args.seeds:
            r = run_seed(torch, ds, config, seed, args)
            rows.append(r)
            print(f"{config:<10} {seed:>4} {100 * r['glassnet_test_accuracy']:>10.2f} "
                  f"{100 * r['torch_test_accuracy']:>8.2f} {r['diff_pp']:>+8.2f} "
                  f"{r['max_abs_weight_diff']:>9.2e} {r['glassnet_seconds']:>6.1f} "
                  f"{r['torch_seconds']:>7.1f}", flush=True)
    summary = {}
    for config in args.configs:
        sel = [r for r in rows if r["config"] == config]
        gn_mean = float(np.mean([r["glassnet_test_accuracy"] for r in sel]))
        t_mean = float(np.mean([r["torch_test_accuracy"] for r in sel]))
        diff = 100 * (gn_mean - t_mean)
        summary[config] = {
            "glassnet_mean_test_accuracy": gn_mean, "torch_mean_test_accuracy": t_mean,
            "mean_diff_pp": diff, "within_bar": abs(diff) <= BAR_PP,
        }
        print(f"{config:<10} mean {100 * gn_mean:>10.2f} {100 * t_mean:>8.2f} {diff:>+8.2f}  "
              f"{'PASS' if abs(diff) <= BAR_PP else 'FAIL'} (bar: |mean diff| <= {BAR_PP} pp)",
              flush=True)
    payload = {
        "model": "keras_mnist_convnet", "data": "mnist-5k", "optimizer": "Adam",
        "lr": args.lr, "batch_size": args.batch_size, "epochs": args.epochs,
        "dtype": "float32", "torch_threads": args.threads, "seeds": args.seeds,
        "bar_pp": BAR_PP, "runs": rows, "summary": summary,
        "note": "dropout config: torch's dropout masks differ from glassnet's (own RNGs)",
    }
    if args.json is not None:
        args.json.write_text(json.dumps(payload, indent=2))
    return 0 if all(s["within_bar"] for s in summary.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
