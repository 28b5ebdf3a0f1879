"""MPI worker: a checkpoint written by an N-rank run resumes on one process.

Usage:
  mpiexec -n 2 python resume.py save DIR   # 2 epochs on 2 ranks; rank 0 writes DIR/ckpt.npz
  python resume.py resume DIR              # 2 more epochs in one process, vs 4 uninterrupted
The resumed run restores the weights, the Adam state and the batch-order generator, so its
batches are those of the uninterrupted run; prints {"vs_uninterrupted": max |difference|}.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import compiled, data, flat_weights, max_diff  # noqa: E402

from glassnet.dist import abort_on_error, world  # noqa: E402
from glassnet.training import load_checkpoint, save_checkpoint  # noqa: E402

SEED, BATCH, FIRST, MORE = 5, 16, 2, 2


def save(folder: Path) -> None:
    x, y = data(69)
    model = compiled("plain", "adam")
    rng = np.random.default_rng(SEED)
    model.fit(x, y, epochs=FIRST, batch_size=BATCH, rng=rng, verbose=0, distributed=True)
    if world.is_root():
        save_checkpoint(model, folder / "ckpt.npz", optimizer=model.optimizer, fit_rng=rng)
        print(json.dumps({"saved": str(folder / "ckpt.npz"), "ranks": world.size()}), flush=True)


def resume(folder: Path) -> None:
    x, y = data(69)
    ck = load_checkpoint(folder / "ckpt.npz")
    rng = np.random.default_rng()
    rng.bit_generator.state = ck.fit_rng_state
    ck.model.fit(x, y, epochs=MORE, batch_size=BATCH, rng=rng, initial_epoch=FIRST, verbose=0)
    straight = compiled("plain", "adam")
    straight.fit(x, y, epochs=FIRST + MORE, batch_size=BATCH, seed=SEED, verbose=0)
    print(json.dumps({"vs_uninterrupted": max_diff(flat_weights(ck.model),
                                                   flat_weights(straight))}), flush=True)


if __name__ == "__main__":
    with abort_on_error():
        (save if sys.argv[1] == "save" else resume)(Path(sys.argv[2]))
