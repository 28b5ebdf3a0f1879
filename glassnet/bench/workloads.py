"""What one benchmark worker times: a training step, an inference pass, a ``fit`` epoch, a GEMM.

Each workload exists twice, once per side, doing the same work on the same numbers:

* ``train`` — forward in training mode, mean softmax cross-entropy, backward, SGD (lr 0.01).
  glassnet: the zoo model (softmax head) and ``training.loop.batch_loss`` (the fused softmax +
  cross-entropy); torch: the twin's logits and ``F.cross_entropy``.
* ``infer`` — a forward pass without a graph: glassnet ``model.forward`` under ``no_grad()``,
  torch ``softmax(model(x))`` under ``inference_mode()`` with the twin in ``eval()``.
* ``fit_epoch`` — one epoch on 4,000 images (batch 128, Adam 1e-3, loss and accuracy read every
  batch): ``mnist-5k`` for a 28×28×1, 10-class model, else seeded random images of the model's
  input shape; glassnet through ``model.fit(verbose=0)``, torch a plain loop over a seeded index
  permutation (no DataLoader).

The inputs are seeded random NHWC float32 images (the torch side gets the same values in NCHW)
with seeded labels; the torch twin starts from the glassnet model's weights.
"""

from __future__ import annotations

import functools
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

WORKLOADS = ("train", "infer", "fit_epoch")
FIT_DATA = "mnist-5k"
FIT_SHAPE, FIT_CLASSES, FIT_IMAGES = (28, 28, 1), 10, 4000  # mnist-5k's training part
FIT_BATCH = 128
LOSS = "sparse_categorical_crossentropy"


@dataclass(frozen=True)
class Workload:
    """One timed item: ``steps`` timed repetitions after ``warmup`` untimed ones.

    For ``fit_epoch`` a repetition is a whole epoch and the warm-up is ``warmup`` batches.
    """

    model: str
    workload: str
    batch: int
    steps: int
    warmup: int
    input_shape: tuple[int, ...] | None = None  # None: the zoo's (fit_epoch: 28×28×1)
    classes: int | None = None  # None: the zoo's

    def to_dict(self) -> dict[str, Any]:
        """The JSON form sent to a worker."""
        return asdict(self)


def time_steps(step: Callable[[], object], steps: int, warmup: int) -> list[float]:
    """Run ``step`` ``warmup`` times untimed, then ``steps`` times; return the seconds of each."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return times


def build_model(work: Workload, seed: int) -> Any:
    """The glassnet zoo model of a workload, built.

    Its input shape and class count are the workload's where given, else the zoo's — except
    that ``fit_epoch`` without an input shape uses mnist-5k's 28×28×1.
    """
    from glassnet import zoo

    kwargs: dict[str, Any] = {"seed": seed}
    if work.input_shape is not None:
        kwargs["input_shape"] = tuple(work.input_shape)
    elif work.workload == "fit_epoch":
        kwargs["input_shape"] = FIT_SHAPE
    if work.classes is not None:
        kwargs["num_classes"] = work.classes
    return zoo.get(work.model, **kwargs).build()


def forward_macs(model: Any) -> int:
    """Multiply-adds of one sample's forward pass (conv and dense, the summary's count)."""
    return int(model.summary(print_fn=None)["total_macs"])


def images_per_step(work: Workload) -> int:
    """Images one timed repetition processes: the batch, or the whole epoch for ``fit_epoch``."""
    return FIT_IMAGES if work.workload == "fit_epoch" else work.batch


def random_batch(model: Any, batch: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded NHWC float32 inputs in [0, 1) and int64 labels for ``model``.

    Shapes:
        x: (N, H, W, C); y: (N,)
    """
    rng = np.random.default_rng(seed)
    x = rng.random((batch, *model.input_shape), dtype=np.float32)
    y = rng.integers(0, model.output_shape[-1], size=batch).astype(np.int64)
    return x, y


def fit_data(model: Any) -> tuple[np.ndarray, np.ndarray]:
    """The epoch ``fit_epoch`` times for ``model``: 4,000 NHWC float32 images and their labels.

    mnist-5k's training part where the model reads it (28×28×1, 10 classes), else seeded random
    images of the model's input shape (the work per step is the same; only accuracy differs).

    Shapes:
        x: (4000, H, W, C); y: (4000,)
    """
    return _fit_data(tuple(model.input_shape), int(model.output_shape[-1]))


@functools.cache
def _fit_data(shape: tuple[int, ...], classes: int) -> tuple[np.ndarray, np.ndarray]:
    if shape == FIT_SHAPE and classes == FIT_CLASSES:
        from glassnet import data

        ds = data.load(FIT_DATA)
        x, y = np.ascontiguousarray(ds.x_train, dtype=np.float32), ds.y_train
        if len(y) != FIT_IMAGES:  # pragma: no cover - the bundled data changed
            raise ValueError(f"{FIT_DATA}: {len(y)} training images, expected {FIT_IMAGES}")
        return x, y
    rng = np.random.default_rng(12345)
    x = rng.random((FIT_IMAGES, *shape), dtype=np.float32)
    return x, rng.integers(0, classes, size=FIT_IMAGES).astype(np.int64)


# ----- glassnet --------------------------------------------------------------------------------
def glassnet_step(work: Workload, model: Any, seed: int) -> Callable[[], object]:
    """A zero-argument callable doing one ``train`` step, one ``infer`` pass or one epoch."""
    from glassnet import optim
    from glassnet.tensor import no_grad
    from glassnet.training.loop import batch_loss

    if work.workload == "fit_epoch":
        x, y = fit_data(model)
        model.compile(optimizer=optim.Adam(model.parameters(), lr=1e-3), loss=LOSS,
                      metrics=["accuracy"], from_logits=not model.ends_in_softmax)
        warm = FIT_BATCH * max(work.warmup, 1)
        model.fit(x[:warm], y[:warm], epochs=1, batch_size=FIT_BATCH, verbose=0, seed=seed)
        return lambda: model.fit(x, y, epochs=1, batch_size=FIT_BATCH, verbose=0, seed=seed)
    x, y = random_batch(model, work.batch, seed)
    if work.workload == "infer":
        def infer() -> object:
            with no_grad():
                return model.forward(x, training=False)

        return infer
    params = model.parameters()
    sgd = optim.SGD(params, lr=0.01)

    def train() -> object:
        for p in params:
            p.grad = None
        out = model.forward(x, training=True)
        loss = batch_loss(model, out, y, LOSS, from_logits=not model.ends_in_softmax)
        loss.backward()
        sgd.step()
        return loss

    return train


def numpy_gemm_gflops(n: int = 1024, repeats: int = 5) -> float:
    """float32 GFLOP/s of an n×n matmul through NumPy's BLAS (best of ``repeats``)."""
    rng = np.random.default_rng(0)
    a, b = rng.random((n, n), dtype=np.float32), rng.random((n, n), dtype=np.float32)
    best = min(time_steps(lambda: a @ b, repeats, warmup=1))
    return 2 * n**3 / best / 1e9


# ----- torch -----------------------------------------------------------------------------------
def torch_step(work: Workload, model: Any, seed: int) -> Callable[[], object]:
    """The torch twin's version of :func:`glassnet_step` (same inputs, same weights)."""
    import torch
    import torch.nn.functional as F

    from glassnet.bench.torch_models import torch_twin

    net = torch_twin(model)
    if work.workload == "fit_epoch":
        return _torch_fit_epoch(net, model, work, seed)
    x_np, y_np = random_batch(model, work.batch, seed)
    x = torch.from_numpy(np.ascontiguousarray(x_np.transpose(0, 3, 1, 2)))
    y = torch.from_numpy(y_np)
    if work.workload == "infer":
        net.eval()

        def infer() -> object:
            with torch.inference_mode():
                return F.softmax(net(x), dim=1)

        return infer
    net.train()
    sgd = torch.optim.SGD(net.parameters(), lr=0.01)

    def train() -> object:
        sgd.zero_grad(set_to_none=True)
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        sgd.step()
        return loss

    return train


def _torch_fit_epoch(net: Any, model: Any, work: Workload, seed: int) -> Callable[[], object]:
    """One epoch of Adam on :func:`fit_data` as ``model.fit`` runs it (loss, accuracy per batch)."""
    import torch
    import torch.nn.functional as F

    x_np, y_np = fit_data(model)
    x = torch.from_numpy(np.ascontiguousarray(x_np.transpose(0, 3, 1, 2)))
    y = torch.from_numpy(y_np)
    adam = torch.optim.Adam(net.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(seed)
    net.train()

    def epoch(limit: int | None = None) -> object:
        order = torch.randperm(len(x), generator=gen)[:limit]
        total, correct = 0.0, 0
        for i in range(0, len(order), FIT_BATCH):
            idx = order[i : i + FIT_BATCH]
            xb, yb = x[idx], y[idx]
            adam.zero_grad(set_to_none=True)
            out = net(xb)
            loss = F.cross_entropy(out, yb)
            loss.backward()
            adam.step()
            total += loss.item() * len(idx)
            correct += int((out.argmax(dim=1) == yb).sum().item())
        return total, correct

    epoch(FIT_BATCH * max(work.warmup, 1))
    return epoch


def torch_gemm_gflops(n: int = 1024, repeats: int = 5) -> float:
    """float32 GFLOP/s of an n×n ``torch.mm`` (best of ``repeats``)."""
    import torch

    gen = torch.Generator().manual_seed(0)
    a, b = torch.rand(n, n, generator=gen), torch.rand(n, n, generator=gen)
    best = min(time_steps(lambda: torch.mm(a, b), repeats, warmup=1))
    return 2 * n**3 / best / 1e9


def median_ms(times: list[float]) -> float:
    """Median of step times in seconds, in milliseconds."""
    return statistics.median(times) * 1e3
