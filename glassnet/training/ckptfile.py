"""Reading a checkpoint file without trusting it: array headers and metadata before any data.

A checkpoint is a ``.npz`` (a zip of ``.npy`` members). Before a model is built from it or an
array is read, :func:`read_headers` lists every member's shape and dtype from its ``.npy``
header alone (no data is decompressed) and checks that the member really holds that many bytes,
and :func:`read_meta` parses the ``meta`` JSON and checks its schema. Every problem is one
:class:`~glassnet.errors.GlassnetError` line naming the file and what is wrong with it.
"""

from __future__ import annotations

import json
import math
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from glassnet.errors import GlassnetError
from glassnet.limits import check_memory

FORMAT = "glassnet-checkpoint"
VERSION = 1
META_MAX_CHARS = 4_000_000  # a real checkpoint's metadata is a few KB; a zoo config ~100 KB
# What a truncated list in an error message shows before "(and N more)".
SHOW = 4


@dataclass(frozen=True)
class ArrayInfo:
    """One array's shape and dtype, read from its ``.npy`` header."""

    shape: tuple[int, ...]
    dtype: np.dtype[Any]

    @property
    def size(self) -> int:
        """Number of values (Python int: no overflow, whatever the header claims)."""
        return math.prod(self.shape)


def listing(items: list[str]) -> str:
    """Join ``items`` with commas, the first :data:`SHOW` of them and ``(and N more)``."""
    shown = ", ".join(items[:SHOW])
    return shown + (f" (and {len(items) - SHOW} more)" if len(items) > SHOW else "")


def reason(exc: BaseException) -> str:
    """The first line of an exception's message (its type name when it has none), short."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:160]


def shape_text(shape: tuple[int, ...]) -> str:
    """``[3, 3, 1, 4]``: shapes as the error messages print them."""
    return "[" + ", ".join(str(s) for s in shape) + "]"


def _header(fh: Any) -> tuple[tuple[int, ...], np.dtype[Any], int]:
    version = np.lib.format.read_magic(fh)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
    elif version == (2, 0):
        shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
    else:
        raise ValueError(f".npy format version {version[0]}.{version[1]} is not 1.0 or 2.0")
    return tuple(shape), np.dtype(dtype), fh.tell()


def read_headers(path: Path) -> dict[str, ArrayInfo]:
    """Return every array of the ``.npz`` at ``path`` by key, from the headers alone.

    Raises:
        GlassnetError: the file is not a zip archive (empty, truncated, another format), a
            member is not a ``.npy`` array, a header is malformed, an array holds Python objects,
            or a member holds fewer or more bytes than its header declares.
    """
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        size = path.stat().st_size
        raise GlassnetError(f"checkpoint {path}: not a .npz archive ({size} bytes; {exc}); "
                            "expected a file written by glassnet train or model.save") from None
    except IsADirectoryError:
        raise GlassnetError(f"checkpoint {path}: is a directory, expected a .npz file") from None
    arrays: dict[str, ArrayInfo] = {}
    with archive:
        for member in archive.infolist():
            key = member.filename.removesuffix(".npy")
            if key == member.filename:
                raise GlassnetError(
                    f"checkpoint {path}: member {member.filename!r} is not a .npy array")
            try:
                with archive.open(member) as fh:
                    shape, dtype, offset = _header(fh)
            except (zipfile.BadZipFile, zlib.error) as exc:
                raise GlassnetError(f"checkpoint {path}: array {key!r} is corrupt ({reason(exc)})"
                                    ) from None
            except (ValueError, EOFError, OSError) as exc:
                raise GlassnetError(
                    f"checkpoint {path}: array {key!r} has no valid .npy header ({reason(exc)})"
                ) from None
            if dtype.hasobject:
                raise GlassnetError(f"checkpoint {path}: array {key!r} holds Python objects "
                                    f"(dtype {dtype}); only numeric arrays are loaded")
            info = ArrayInfo(shape, dtype)
            declared = offset + info.size * dtype.itemsize
            if member.file_size != declared:
                raise GlassnetError(
                    f"checkpoint {path}: array {key!r} declares {shape_text(shape)} {dtype} "
                    f"({declared:,} bytes with its header) but holds {member.file_size:,} bytes")
            arrays[key] = info
    # Before any data is inflated: a zip member may declare (and a bomb may hold) far more
    # bytes than the file's own size.
    check_memory(f"checkpoint {path}", sum(a.size * a.dtype.itemsize for a in arrays.values()))
    return arrays


# ----- metadata --------------------------------------------------------------------------------
def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _expect(path: Path, field: str, value: Any, types: tuple[type, ...], what: str) -> None:
    # bool is an int to Python but never a valid count, version or flag-as-number here.
    ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
    if not ok:
        raise GlassnetError(f"checkpoint {path}: metadata field {field!r} must be {what}, "
                            f"got {_kind(value)} {str(value)[:40]!r}")


_TOP_FIELDS: dict[str, tuple[tuple[type, ...], str]] = {
    "format": ((str,), "a string"),
    "version": ((int,), "an integer"),
    "architecture": ((dict,), "an object"),
    "dtype": ((str,), "a string"),
    "rng_states": ((dict,), "an object"),
    "fit_rng_state": ((dict, type(None)), "an object or null"),
    "extra": ((dict,), "an object"),
    "compile": ((dict,), "an object"),
    "optimizer": ((dict,), "an object"),
}
_REQUIRED = ("format", "version", "architecture", "dtype")
_COMPILE = {"loss": ((str,), "a string"), "accuracy": ((bool,), "true or false"),
            "from_logits": ((bool,), "true or false")}
_OPTIMIZER = {"class": ((str,), "a string"), "hyper": ((dict,), "an object"),
              "scalars": ((dict,), "an object")}


def _fields(path: Path, prefix: str, obj: dict[str, Any],
            spec: dict[str, tuple[tuple[type, ...], str]], required: tuple[str, ...]) -> None:
    unknown = sorted(set(obj) - set(spec))
    if unknown:
        raise GlassnetError(f"checkpoint {path}: metadata has unknown field(s) "
                            f"{listing([prefix + k for k in unknown])}; known: "
                            f"{', '.join(prefix + k for k in spec)}")
    for key in required:
        if key not in obj:
            raise GlassnetError(f"checkpoint {path}: metadata field {prefix + key!r} is missing")
    for key, value in obj.items():
        _expect(path, prefix + key, value, *spec[key])


def check_meta(path: Path, meta: Any) -> dict[str, Any]:
    """Check the metadata's schema: known fields, each of its type, a known format and version.

    Returns:
        ``meta``, checked.

    Raises:
        GlassnetError: naming the first field that is unknown, missing or of the wrong type.
    """
    if not isinstance(meta, dict):
        raise GlassnetError(f"checkpoint {path}: metadata must be a JSON object, got "
                            f"{_kind(meta)}")
    if meta.get("format") != FORMAT:
        raise GlassnetError(f"checkpoint {path}: format {meta.get('format')!r} is unknown "
                            f"(expected {FORMAT!r})")
    _fields(path, "", meta, _TOP_FIELDS, _REQUIRED)
    if not 1 <= meta["version"] <= VERSION:
        raise GlassnetError(f"checkpoint {path}: format version {meta['version']} is not one "
                            f"this glassnet reads (1 to {VERSION})")
    dtype = meta["dtype"]
    if dtype not in ("float32", "float64"):
        raise GlassnetError(f"checkpoint {path}: metadata field 'dtype' is {dtype!r}, "
                            "expected 'float32' or 'float64'")
    arch = meta["architecture"]
    if set(arch) == {"config"} or set(arch) == {"zoo"}:
        pass
    elif set(arch) == {"zoo", "kwargs"}:
        _expect(path, "architecture.kwargs", arch["kwargs"], (dict,), "an object")
    else:
        raise GlassnetError(f"checkpoint {path}: metadata field 'architecture' has keys "
                            f"{sorted(arch)}, expected ['config'] or ['zoo', 'kwargs']")
    if "zoo" in arch:
        _expect(path, "architecture.zoo", arch["zoo"], (str,), "a string")
    else:
        _expect(path, "architecture.config", arch["config"], (dict,), "an object")
    if "compile" in meta:
        _fields(path, "compile.", meta["compile"], _COMPILE, tuple(_COMPILE))
    if "optimizer" in meta:
        _fields(path, "optimizer.", meta["optimizer"], _OPTIMIZER, tuple(_OPTIMIZER))
        for key, value in meta["optimizer"]["scalars"].items():
            _expect(path, f"optimizer.scalars.{key}", value, (int, float), "a number")
    for key, value in meta.get("rng_states", {}).items():
        if not key.isdigit():
            raise GlassnetError(f"checkpoint {path}: metadata field 'rng_states' has key "
                                f"{key!r}, expected a layer index")
        _expect(path, f"rng_states.{key}", value, (dict,), "an object")
    return meta


def read_meta(path: Path, files: Any, headers: dict[str, ArrayInfo]) -> dict[str, Any]:
    """Read and check the ``meta`` entry of an open ``NpzFile``.

    Raises:
        GlassnetError: no ``meta`` entry, not a text scalar, too long, not JSON, or a schema
            problem (see :func:`check_meta`).
    """
    info = headers.get("meta")
    if info is None:
        raise GlassnetError(f"checkpoint {path}: not a glassnet checkpoint (no 'meta' entry)")
    if info.shape != () or info.dtype.kind != "U":
        raise GlassnetError(f"checkpoint {path}: 'meta' is {info.dtype} {shape_text(info.shape)},"
                            " expected a JSON text")
    chars = info.dtype.itemsize // 4
    if chars > META_MAX_CHARS:
        raise GlassnetError(f"checkpoint {path}: 'meta' is {chars:,} characters long, more than "
                            f"the {META_MAX_CHARS:,} a checkpoint's metadata can need")
    try:
        text = str(files["meta"])
        meta = json.loads(text)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise GlassnetError(f"checkpoint {path}: 'meta' is corrupt ({reason(exc)})") from None
    except (ValueError, RecursionError) as exc:
        raise GlassnetError(f"checkpoint {path}: 'meta' is not valid JSON ({reason(exc)})"
                            ) from None
    return check_meta(path, meta)
