"""MPI worker: data-parallel fit against one-process references (run: mpiexec -n 2 python ...).

Rank 0 prints one JSON object: per case the largest weight difference from the one-process
reference (``vs_single``), the largest difference between ranks (``across_ranks``) and the
history differences. Cases:

* ``sgd``: 69 samples, batch 16 (last batch 5 -> shards 3 + 2), SGD Nesterov + weight decay,
  validation data; reference: plain fit with batch 16.
* ``adam_tiny_last``: 65 samples (last batch 1 -> one rank has no sample), Adam.
* ``batchnorm``: reference = one process where each shard is normalised with its own batch
  statistics, its gradient weighted by its share, moving statistics averaged the same way.
* ``dropout``: 65 samples (the last batch of 1 leaves one rank without a sample); each rank
  draws the masks of the whole global batch from the shared stream and keeps its rows, so the
  reference is plain fit, and the ranks' dropout streams stay equal.
* ``bad_batch``: batch 15 on 2 ranks -> the GlassnetError message.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import compiled, data, flat_weights, max_diff  # noqa: E402

from glassnet.data.transforms import batches  # noqa: E402
from glassnet.dist import abort_on_error, model_buffers, shard_bounds, world  # noqa: E402
from glassnet.errors import GlassnetError  # noqa: E402
from glassnet.training.loop import batch_loss  # noqa: E402

EPOCHS, BATCH, SEED = 2, 16, 7
COMM = world.mpi().COMM_WORLD  # also under `mpiexec -n 1`, where world.world() is None


def across_ranks(model: Any) -> float:
    """Largest difference of any weight or buffer between rank 0 and another rank."""
    every = COMM.gather(flat_weights(model), root=0)
    return 0.0 if every is None else max(max_diff(every[0], w) for w in every)


def history_diff(a: Any, b: Any) -> float:
    return max(abs(x - y) for k in a.history for x, y in zip(a.history[k], b.history[k],
                                                            strict=True))


def compare_with_plain(optimizer: str, n: int, with_val: bool) -> dict[str, float]:
    x, y = data(n)
    val = data(23, seed=2) if with_val else None
    dist, single = compiled("plain", optimizer), compiled("plain", optimizer)
    kw: dict[str, Any] = dict(epochs=EPOCHS, batch_size=BATCH, seed=SEED, verbose=0,
                              validation_data=val)
    h_dist = dist.fit(x, y, distributed=True, **kw)
    h_single = single.fit(x, y, distributed=False, **kw)
    return {"vs_single": max_diff(flat_weights(dist), flat_weights(single)),
            "across_ranks": across_ranks(dist), "history": history_diff(h_dist, h_single),
            "steps": EPOCHS * -(-n // BATCH)}


def shard_reference(model: Any, x: np.ndarray, y: np.ndarray, ranks: int) -> None:
    """One process doing what N ranks do: each shard normalised on its own statistics."""
    cfg, params, bufs = model._train_cfg, model.parameters(), model_buffers(model)
    order = np.random.default_rng(SEED)
    for _ in range(EPOCHS):
        for xb, yb in batches(x, y, BATCH, shuffle=True, rng=order):
            before = [b.copy() for b in bufs]
            grads = [np.zeros_like(p.data) for p in params]
            new_bufs = [np.zeros_like(b) for b in bufs]
            for r in range(ranks):
                start, stop = shard_bounds(len(xb), r, ranks)
                share = (stop - start) / len(xb)
                for b, b0 in zip(bufs, before, strict=True):
                    b[...] = b0
                for p in params:
                    p.grad = None
                out = model.forward(xb[start:stop], training=True)
                batch_loss(model, out, yb[start:stop], cfg.loss, cfg.from_logits).backward()
                for g, p in zip(grads, params, strict=True):
                    g += share * p.grad
                for nb, b in zip(new_bufs, bufs, strict=True):
                    nb += share * b
            for p, g in zip(params, grads, strict=True):
                p.grad = g
            for b, nb in zip(bufs, new_bufs, strict=True):
                b[...] = nb
            cfg.optimizer.step()


def batchnorm_case() -> dict[str, float]:
    x, y = data(69)
    dist, ref = compiled("bn", "adam"), compiled("bn", "adam")
    dist.fit(x, y, epochs=EPOCHS, batch_size=BATCH, seed=SEED, verbose=0, distributed=True)
    shard_reference(ref, x, y, COMM.Get_size())
    plain = compiled("bn", "adam")
    plain.fit(x, y, epochs=EPOCHS, batch_size=BATCH, seed=SEED, verbose=0, distributed=False)
    return {"vs_shard_reference": max_diff(flat_weights(dist), flat_weights(ref)),
            "vs_single": max_diff(flat_weights(dist), flat_weights(plain)),
            "across_ranks": across_ranks(dist)}


def dropout_case() -> dict[str, Any]:
    x, y = data(65)
    model, plain = compiled("dropout", "sgd"), compiled("dropout", "sgd")
    model.fit(x, y, epochs=EPOCHS, batch_size=BATCH, seed=SEED, verbose=0, distributed=True)
    plain.fit(x, y, epochs=EPOCHS, batch_size=BATCH, seed=SEED, verbose=0, distributed=False)
    layer = next(layer for layer in model.layers if hasattr(layer, "rng"))
    states = COMM.gather(json.dumps(layer.rng.bit_generator.state), root=0)
    distinct = None if states is None else len(set(states))
    return {"across_ranks": across_ranks(model), "distinct_mask_streams": distinct,
            "vs_single": max_diff(flat_weights(model), flat_weights(plain))}


def bad_batch_case() -> str:
    x, y = data(32)
    try:
        compiled("plain", "sgd").fit(x, y, batch_size=15, verbose=0, distributed=True)
    except GlassnetError as exc:
        return str(exc)
    return ""


def main() -> None:
    with abort_on_error():
        out = {
            "ranks": COMM.Get_size(),
            "sgd": compare_with_plain("sgd", 69, with_val=True),
            "adam_tiny_last": compare_with_plain("adam", 65, with_val=False),
            "batchnorm": batchnorm_case(),
            "dropout": dropout_case(),
            "bad_batch": bad_batch_case(),
        }
    if COMM.Get_rank() == 0:
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
