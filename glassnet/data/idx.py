"""IDX file parser (the MNIST / Fashion-MNIST ``*-ubyte`` format), gzipped or not.

Layout (all integers big-endian): a 4-byte magic number ``0x0000TTDD`` — two zero bytes, the
element type ``TT`` (0x08 = uint8, 0x09 = int8, 0x0B = int16, 0x0C = int32, 0x0D = float32,
0x0E = float64) and the number of dimensions ``DD`` — then ``DD`` uint32 sizes, then the elements
in row-major order. Labels are ``0x00000801`` (uint8, 1-D) and images ``0x00000803`` (uint8, 3-D).
"""

from __future__ import annotations

import gzip
import os
import stat
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from glassnet.errors import GlassnetError
from glassnet.limits import check_memory, element_count

LABELS_MAGIC = 0x00000801
IMAGES_MAGIC = 0x00000803

_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


# How far past the declared end a reader looks, to report trailing bytes (never unbounded).
_TRAILING_PEEK = 1 << 20


def _read(f: BinaryIO, n: int, path: Path) -> bytes:
    """Read up to ``n`` bytes, turning a corrupt or cut gzip stream into one GlassnetError."""
    try:
        return f.read(n)
    except (OSError, EOFError, zlib.error) as exc:
        raise GlassnetError(f"idx: {path} is not a valid gzip file ({exc})") from exc


def read_idx(path: str | Path, *, expected_magic: int | None = None) -> np.ndarray:
    """Parse one IDX file into an array.

    The header is read first and the size it declares checked (Python ints: no overflow)
    against the memory budget; then exactly that many bytes are read, decompressing a gzip
    file incrementally, so a hostile header or a gzip bomb never gets more than that.

    Args:
        path: the ``.idx`` / ``-ubyte`` file, optionally gzip-compressed (``.gz`` or not; the
            format is detected from the content, not the name).
        expected_magic: if given, the magic number the file must carry (``LABELS_MAGIC`` or
            ``IMAGES_MAGIC``).

    Returns:
        A read-only array in native byte order with the dtype and dimensions from the header.

    Raises:
        GlassnetError: naming the file, if the magic number differs from ``expected_magic``
            (both are shown in hex), the header is malformed or the element type unknown, the
            declared size exceeds the memory budget, the gzip stream is corrupt, or the body
            holds fewer or more bytes than the header promises (both counts shown).
    """
    path = Path(path)
    with path.open("rb") as raw:
        packed = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        f: BinaryIO = gzip.GzipFile(fileobj=raw, mode="rb") if packed else raw  # type: ignore[assignment]
        st = os.fstat(raw.fileno())
        # A plain regular file's size is known up front: a mismatch is refused before reading.
        size = st.st_size if not packed and stat.S_ISREG(st.st_mode) else None
        return _parse(f, path, expected_magic, size)


def _parse(f: BinaryIO, path: Path, expected_magic: int | None, size: int | None) -> np.ndarray:
    """Read header then body from an open (possibly decompressing) stream of ``size`` bytes."""
    head = _read(f, 4, path)
    if len(head) < 4:
        raise GlassnetError(
            f"idx: {path} is truncated: {len(head)} bytes, expected at least 4 (the magic number)")
    (magic,) = struct.unpack(">I", head)
    if expected_magic is not None and magic != expected_magic:
        raise GlassnetError(
            f"idx: {path} has magic number 0x{magic:08X}, expected 0x{expected_magic:08X} "
            f"({_describe(expected_magic)})")
    type_code, ndim = (magic >> 8) & 0xFF, magic & 0xFF
    if magic >> 16 != 0 or type_code not in _DTYPES:
        raise GlassnetError(
            f"idx: {path} has magic number 0x{magic:08X}, which is not an IDX header "
            f"(expected 0x0000TTDD with type TT in {{08, 09, 0B, 0C, 0D, 0E}})")
    header = 4 + 4 * ndim
    sizes = _read(f, 4 * ndim, path)
    if len(sizes) < 4 * ndim:
        raise GlassnetError(
            f"idx: {path} is truncated: {4 + len(sizes)} bytes, expected at least {header} "
            f"(magic + {ndim} dimension sizes)")
    dims = struct.unpack(f">{ndim}I", sizes)
    dtype = _DTYPES[type_code]
    body = element_count(dims) * dtype.itemsize  # exact: 2**31 * 2**31 * 4 stays 2**64
    expected = header + body
    check_memory(f"idx: {path} declares dims {list(dims)} x {dtype.itemsize} byte(s), which",
                 body)
    if size is not None and size != expected:
        data, extra, more = b"", 0, ""
        got = size
    else:
        data = _read(f, body, path)
        extra = len(_read(f, _TRAILING_PEEK, path)) if len(data) == body else 0
        got = header + len(data) + extra
        more = "at least " if extra == _TRAILING_PEEK else ""
    if got != expected:
        problem = "is truncated" if got < expected else "has trailing bytes"
        raise GlassnetError(
            f"idx: {path} {problem}: {more}{got} bytes, expected {expected} "
            f"(header {header} + dims {list(dims)} x {dtype.itemsize} byte(s))")
    out = np.frombuffer(data, dtype=dtype).reshape(dims)
    return out if dtype.isnative or dtype.itemsize == 1 else out.astype(dtype.newbyteorder("="))


def read_images(path: str | Path) -> np.ndarray:
    """Read an IDX image file (magic ``0x00000803``).

    Returns:
        uint8 images (read-only view of the file content).

    Raises:
        GlassnetError: as ``read_idx`` (wrong magic, truncated file).

    Shapes:
        out: ``(N, H, W)``.
    """
    return read_idx(path, expected_magic=IMAGES_MAGIC)


def read_labels(path: str | Path) -> np.ndarray:
    """Read an IDX label file (magic ``0x00000801``).

    Returns:
        int64 labels.

    Raises:
        GlassnetError: as ``read_idx`` (wrong magic, truncated file).

    Shapes:
        out: ``(N,)``.
    """
    return read_idx(path, expected_magic=LABELS_MAGIC).astype(np.int64)


def _describe(magic: int) -> str:
    """Name a well-known magic number for error messages."""
    return {LABELS_MAGIC: "uint8 labels, 1-D", IMAGES_MAGIC: "uint8 images, 3-D"}.get(
        magic, "IDX")
