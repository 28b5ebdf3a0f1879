"""CIFAR-10 "python version" reader: pickle batches in ``cifar-10-batches-py/``.

Each batch is a pickled dict with byte-string keys; ``b"data"`` is a ``(10000, 3072)`` uint8
array, each row one 32x32 image stored channel-major (1,024 red, then green, then blue values,
each row-major), and ``b"labels"`` a list of 10,000 ints in 0-9.

NOTE: unpickling can run code, so batches are read with the restricted unpickler of
:mod:`glassnet.data.safepickle` (containers and NumPy arrays only); ``glassnet.data.load`` also
checks every batch against its published MD5 first.
"""

from __future__ import annotations

import os
import pickle
import shutil
import tarfile
import tempfile
from pathlib import Path

import numpy as np

from glassnet.data.safepickle import load_arrays
from glassnet.errors import GlassnetError
from glassnet.limits import check_memory

BATCH_DIR = "cifar-10-batches-py"
_SIDE, _CHANNELS, _CLASSES = 32, 3, 10


def read_batch(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR-10 python batch.

    Args:
        path: a batch file (``data_batch_1`` ... ``data_batch_5``, ``test_batch``).

    Returns:
        ``(x, y)``: uint8 images in NHWC and int64 labels.

    Raises:
        GlassnetError: naming the file, if it does not unpickle, lacks ``b"data"`` or
            ``b"labels"``, the array sizes do not fit ``(N, 3072)`` with ``N`` labels, a label
            is outside 0-9, or the file is larger than the memory budget.

    Shapes:
        x: ``(N, 32, 32, 3)``; y: ``(N,)``.
    """
    path = Path(path)
    # A batch unpickles to about its own size; refuse one the memory budget cannot hold.
    check_memory(f"cifar: {path} ({path.stat().st_size:,} bytes)", path.stat().st_size)
    try:
        with path.open("rb") as f:
            entry = load_arrays(f, encoding="bytes")
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
        raise GlassnetError(f"cifar: {path} is not a CIFAR python batch ({exc})") from exc
    if not isinstance(entry, dict) or b"data" not in entry or b"labels" not in entry:
        keys = sorted(entry) if isinstance(entry, dict) else type(entry).__name__
        raise GlassnetError(
            f"cifar: {path} has keys {keys}, expected a dict with b'data' and b'labels'")
    data = np.asarray(entry[b"data"])
    y = np.asarray(entry[b"labels"], dtype=np.int64)
    row = _SIDE * _SIDE * _CHANNELS
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != row:
        raise GlassnetError(
            f"cifar: {path}: b'data' is {data.dtype} {list(data.shape)}, expected uint8 [N, {row}]")
    if y.shape != (data.shape[0],):
        raise GlassnetError(
            f"cifar: {path}: {y.size} labels for {data.shape[0]} images")
    if y.size and not (0 <= int(y.min()) and int(y.max()) < _CLASSES):
        raise GlassnetError(f"cifar: {path}: labels span {int(y.min())}..{int(y.max())}, "
                            f"expected classes 0..{_CLASSES - 1}")
    # Rows are channel-major (C, H, W); transpose once to NHWC and make it contiguous.
    x = data.reshape(-1, _CHANNELS, _SIDE, _SIDE).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(x), y


def read_batches(paths: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    """Read and concatenate several batches in the given order.

    Returns:
        ``(x, y)`` as ``read_batch``, concatenated along N.
    """
    parts = [read_batch(p) for p in paths]
    return np.concatenate([x for x, _ in parts]), np.concatenate([y for _, y in parts])


def extract_batches(archive: Path, dest: Path, members: list[str]) -> Path:
    """Extract the named batches of ``cifar-10-python.tar.gz`` into ``dest/cifar-10-batches-py``.

    Only the listed regular files under ``cifar-10-batches-py/`` are written (no other member,
    link or absolute path is honoured). They go to a temporary folder beside the target which is
    renamed into place at the end, so an interrupted extraction never leaves a partial folder.
    An existing batch folder is never overwritten (it may hold the user's files).

    Args:
        archive: the verified tar.gz archive.
        dest: the folder that receives ``cifar-10-batches-py/``.
        members: batch file names to extract (e.g. ``data_batch_1``).

    Returns:
        The batch folder.

    Raises:
        GlassnetError: if the archive is not a tar.gz or lacks one of ``members``.
    """
    target = dest / BATCH_DIR
    dest.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{BATCH_DIR}.", dir=dest))
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for name in members:
                try:
                    info = tar.getmember(f"{BATCH_DIR}/{name}")
                except KeyError:
                    raise GlassnetError(
                        f"cifar: {archive} has no {BATCH_DIR}/{name}") from None
                src = tar.extractfile(info) if info.isfile() else None
                if src is None:
                    raise GlassnetError(f"cifar: {archive}: {BATCH_DIR}/{name} is not a file")
                with src, (tmp / name).open("wb") as out:
                    while chunk := src.read(1 << 20):
                        out.write(chunk)
        # NOTE: os.replace of a folder is atomic on POSIX but refuses a non-empty target, so a
        # concurrent extraction that finished first wins and this one is discarded.
        if not target.exists():
            os.replace(tmp, target)
    except tarfile.TarError as exc:
        raise GlassnetError(f"cifar: {archive} is not a readable tar.gz ({exc})") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
