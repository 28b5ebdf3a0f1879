"""IDX file parser (the MNIST / Fashion-MNIST ``*-ubyte`` format), gzipped or not.

Layout (all integers big-endian): a 4-byte magic number ``0x0000TTDD`` — two zero bytes, the
element type ``TT`` (0x08 = uint8, 0x09 = int8, 0x0B = int16, 0x0C = int32, 0x0D = float32,
0x0E = float64) and the number of dimensions ``DD`` — then ``DD`` uint32 sizes, then the elements
in row-major order. Labels are ``0x00000801`` (uint8, 1-D) and images ``0x00000803`` (uint8, 3-D).
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from glassnet.errors import GlassnetError

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


def read_bytes(path: Path) -> bytes:
    """Return the content of ``path``, decompressed if it is gzip (detected by its first bytes).

    Raises:
        GlassnetError: if the file looks like gzip but does not decompress (e.g. truncated).
    """
    raw = path.read_bytes()
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError) as exc:
        raise GlassnetError(f"idx: {path} is not a valid gzip file ({exc})") from exc


def read_idx(path: str | Path, *, expected_magic: int | None = None) -> np.ndarray:
    """Parse one IDX file into an array.

    Args:
        path: the ``.idx`` / ``-ubyte`` file, optionally gzip-compressed (``.gz`` or not; the
            format is detected from the content, not the name).
        expected_magic: if given, the magic number the file must carry (``LABELS_MAGIC`` or
            ``IMAGES_MAGIC``).

    Returns:
        A read-only array in native byte order with the dtype and dimensions from the header.

    Raises:
        GlassnetError: naming the file, if the magic number differs from ``expected_magic``
            (both are shown in hex), the header is malformed or the element type unknown, or
            the body holds fewer or more bytes than the header promises (both counts shown).
    """
    path = Path(path)
    data = read_bytes(path)
    if len(data) < 4:
        raise GlassnetError(
            f"idx: {path} is truncated: {len(data)} bytes, expected at least 4 (the magic number)")
    (magic,) = struct.unpack(">I", data[:4])
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
    if len(data) < header:
        raise GlassnetError(
            f"idx: {path} is truncated: {len(data)} bytes, expected at least {header} "
            f"(magic + {ndim} dimension sizes)")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = _DTYPES[type_code]
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        problem = "is truncated" if len(data) < expected else "has trailing bytes"
        raise GlassnetError(
            f"idx: {path} {problem}: {len(data)} bytes, expected {expected} "
            f"(header {header} + dims {list(dims)} x {dtype.itemsize} byte(s))")
    out = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
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
