"""IDX parser on small files written here with struct (an independent writer)."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from glassnet.data import idx
from glassnet.errors import GlassnetError

_TYPE_CODES = {"u1": 0x08, "i1": 0x09, "i2": 0x0B, "i4": 0x0C, "f4": 0x0D, "f8": 0x0E}


def idx_bytes(a: np.ndarray) -> bytes:
    """Encode ``a`` as IDX: magic 0x0000TTDD, big-endian uint32 dims, big-endian elements."""
    code = _TYPE_CODES[a.dtype.str[1:]]
    header = struct.pack(">HBB", 0, code, a.ndim) + struct.pack(f">{a.ndim}I", *a.shape)
    return header + a.astype(a.dtype.newbyteorder(">")).tobytes()


def write(path: Path, payload: bytes, *, gz: bool = False) -> Path:
    path.write_bytes(gzip.compress(payload) if gz else payload)
    return path


@pytest.fixture
def images() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(5, 4, 3), dtype=np.uint8)


@pytest.mark.parametrize("gz", [False, True])
def test_images_and_labels_round_trip(tmp_path: Path, images: np.ndarray, gz: bool) -> None:
    labels = np.array([3, 0, 9, 1, 1], dtype=np.uint8)
    pi = write(tmp_path / "img", idx_bytes(images), gz=gz)
    pl = write(tmp_path / "lab", idx_bytes(labels), gz=gz)
    x = idx.read_images(pi)
    y = idx.read_labels(pl)
    assert x.dtype == np.uint8 and x.shape == (5, 4, 3)
    np.testing.assert_array_equal(x, images)
    assert y.dtype == np.int64
    np.testing.assert_array_equal(y, [3, 0, 9, 1, 1])


def test_magic_numbers_are_the_published_ones() -> None:
    assert idx.LABELS_MAGIC == 2049 and idx.IMAGES_MAGIC == 2051


def test_header_bytes_are_big_endian(tmp_path: Path) -> None:
    # 2 images of 1x2 pixels, written by hand: magic 0x00000803, dims 2, 1, 2, then 4 pixels.
    raw = bytes([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2, 10, 20, 30, 40])
    x = idx.read_images(write(tmp_path / "hand", raw))
    np.testing.assert_array_equal(x, [[[10, 20]], [[30, 40]]])


@pytest.mark.parametrize("dtype", ["i1", "i2", "i4", "f4", "f8"])
def test_multi_byte_types_are_read_big_endian(tmp_path: Path, dtype: str) -> None:
    a = (np.arange(12).reshape(3, 4) * 37 - 100).astype(dtype)
    out = idx.read_idx(write(tmp_path / "a", idx_bytes(a)))
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative
    np.testing.assert_array_equal(out, a)


def test_gzip_is_detected_from_content_not_name(tmp_path: Path, images: np.ndarray) -> None:
    path = write(tmp_path / "no-suffix-ubyte", idx_bytes(images), gz=True)
    np.testing.assert_array_equal(idx.read_images(path), images)


@pytest.mark.parametrize("gz", [False, True])
def test_truncated_file_names_file_and_byte_counts(
    tmp_path: Path, images: np.ndarray, gz: bool
) -> None:
    payload = idx_bytes(images)  # 4 + 12 + 60 = 76 bytes
    path = write(tmp_path / "short-ubyte", payload[:-7], gz=gz)
    with pytest.raises(GlassnetError, match=r"short-ubyte is truncated: 69 bytes, expected 76"):
        idx.read_images(path)


def test_trailing_bytes_are_an_error(tmp_path: Path, images: np.ndarray) -> None:
    path = write(tmp_path / "long", idx_bytes(images) + b"\0\0")
    with pytest.raises(GlassnetError, match=r"long has trailing bytes: 78 bytes, expected 76"):
        idx.read_images(path)


def test_truncated_header(tmp_path: Path) -> None:
    with pytest.raises(GlassnetError, match=r"tiny is truncated: 2 bytes, expected at least 4"):
        idx.read_idx(write(tmp_path / "tiny", b"\0\0"))
    with pytest.raises(GlassnetError, match=r"hdr is truncated: 8 bytes, expected at least 16"):
        idx.read_idx(write(tmp_path / "hdr", bytes([0, 0, 8, 3, 0, 0, 0, 1])))


def test_wrong_magic_names_both_numbers(tmp_path: Path) -> None:
    path = write(tmp_path / "labels-ubyte", idx_bytes(np.zeros(4, np.uint8)))
    with pytest.raises(GlassnetError, match=r"labels-ubyte has magic number 0x00000801, "
                                            r"expected 0x00000803"):
        idx.read_images(path)
    images = write(tmp_path / "images-ubyte", idx_bytes(np.zeros((1, 2, 2), np.uint8)))
    with pytest.raises(GlassnetError, match=r"0x00000803, expected 0x00000801"):
        idx.read_labels(images)


def test_not_an_idx_file(tmp_path: Path) -> None:
    path = write(tmp_path / "zip", b"PK\x03\x04" + bytes(20))
    with pytest.raises(GlassnetError, match=r"zip has magic number 0x504B0304, which is not an"):
        idx.read_idx(path)


def test_corrupt_gzip(tmp_path: Path, images: np.ndarray) -> None:
    packed = gzip.compress(idx_bytes(images))
    path = write(tmp_path / "cut.gz", packed[: len(packed) // 2])
    with pytest.raises(GlassnetError, match=r"cut.gz is not a valid gzip file"):
        idx.read_images(path)
