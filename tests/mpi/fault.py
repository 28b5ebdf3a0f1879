"""MPI worker: one rank fails mid-training; the guard must end the whole job (no hang).

Usage: mpiexec -n 2 python fault.py runtime|badinput
* ``runtime``: rank 1 raises RuntimeError after epoch 1 while rank 0 is already waiting in
  epoch 2's gradient allreduce -> "rank 1: RuntimeError: ..." on stderr, exit code 1.
* ``badinput``: batch 15 on 2 ranks -> every rank raises GlassnetError -> exit code 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import compiled, data  # noqa: E402

from glassnet.dist import abort_on_error, world  # noqa: E402
from glassnet.training import Callback  # noqa: E402


class FailOnRankOne(Callback):
    """Raise on rank 1 at the end of epoch 1."""

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        if world.rank() == 1 and epoch == 1:
            raise RuntimeError("injected failure after epoch 1")


def main(mode: str) -> None:
    x, y = data(64)
    with abort_on_error():
        batch = 16 if mode == "runtime" else 15
        compiled("plain", "sgd").fit(x, y, epochs=3, batch_size=batch, verbose=0,
                                     callbacks=[FailOnRankOne()], distributed=True)
    print(f"rank {world.rank()} finished", flush=True)  # never reached


if __name__ == "__main__":
    main(sys.argv[1])
