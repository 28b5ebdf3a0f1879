"""The failure mapper (one line, exit code) and the limits it relies on, in-process and fast.

Cases a subprocess cannot provoke safely (a full disk, an internal bug) are checked here on
real exceptions: a real ENOSPC from writing to /dev/full, a real bug in a command function.
"""

from __future__ import annotations

import argparse
import errno
import gzip
import struct
from pathlib import Path

import pytest

from glassnet import limits
from glassnet.cli import chosen_command, main
from glassnet.commands import argtypes
from glassnet.commands.failures import MAX_LINE, describe
from glassnet.data import idx
from glassnet.errors import GlassnetError


def _raised(fn) -> BaseException:  # type: ignore[no-untyped-def]
    try:
        fn()
    except BaseException as exc:  # noqa: BLE001 - the test inspects whatever was raised
        return exc
    raise AssertionError("nothing raised")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_disk_full_is_bad_input_naming_the_path() -> None:
    def write() -> None:
        with open("/dev/full", "wb") as f:
            f.write(b"x" * 10)
            f.flush()

    exc = _raised(write)
    assert isinstance(exc, OSError) and exc.errno == errno.ENOSPC
    msg, code = describe(exc)
    assert code == 2 and "disk" in msg and "\n" not in msg


@pytest.mark.parametrize(("make", "fragment"), [
    (lambda: open("/nonexistent/x.yaml"), "/nonexistent/x.yaml: No such file"),
    (lambda: open("/", "rb"), "/: Is a directory"),
    (lambda: b"\xff".decode("utf-8"), "not a binary one"),
    (lambda: gzip.decompress(b"\x1f\x8b" + bytes(20)), ""),
    (lambda: {}["vgg99"], "vgg99"),
])
def test_user_errors_exit_2(make, fragment: str) -> None:  # type: ignore[no-untyped-def]
    msg, code = describe(_raised(make))
    assert code == 2 and fragment in msg and "\n" not in msg


def test_internal_error_exit_1_names_the_type_and_debug(capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from glassnet.commands import calc

    def bug(args: argparse.Namespace) -> int:
        return [][1]  # type: ignore[no-any-return]  # a real IndexError, as a bug would raise

    monkeypatch.setattr(calc, "_dense", bug)  # registered when main builds the parser
    argv = ["calc", "dense", "--inputs", "3", "--units", "2"]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "internal error (IndexError" in err[0] and "--debug" in err[0]
    with pytest.raises(IndexError):
        main(["--debug", *argv])


def test_long_messages_are_one_short_line() -> None:
    msg, code = describe(GlassnetError("x" * 100_000 + "\n" + "y"))
    assert code == 2 and len(msg) <= MAX_LINE and "\n" not in msg


def test_chosen_command_skips_global_options() -> None:
    assert chosen_command(["--max-memory", "1G", "--debug", "import", "f.onnx"]) == "import_"
    assert chosen_command(["--max-memory=1G", "summary", "x"]) == "summary"
    assert chosen_command(["frobnicate"]) is None and chosen_command(["--help"]) is None


@pytest.mark.parametrize(("text", "expected"), [
    ("512M", 512 << 20), ("4G", 4 << 30), ("1.5g", 3 << 29), ("65536", 65536), ("2KiB", 2048),
])
def test_parse_size(text: str, expected: int) -> None:
    assert limits.parse_size(text) == expected


@pytest.mark.parametrize("text", ["0", "", "abc", "-5G", "1.5X", "0.1"])
def test_parse_size_refuses(text: str) -> None:
    with pytest.raises(GlassnetError, match="expected a size > 0"):
        limits.parse_size(text)


def test_seed_range_names_value_and_range() -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=r"-1 is out of range; expected an "
                                                         r"integer from 0 to 4294967295"):
        argtypes.SEED("-1")
    assert argtypes.SEED("4294967295") == 2**32 - 1


def test_budget_refuses_declared_sizes_with_exact_ints(tmp_path: Path) -> None:
    path = tmp_path / "images-ubyte"
    path.write_bytes(struct.pack(">IIII", 0x803, 2**31, 2**31, 4))  # 2**64 bytes declared
    with pytest.raises(GlassnetError, match=r"dims \[2147483648, 2147483648, 4\].*memory budget"):
        idx.read_images(path)
    assert limits.element_count([2**31, 2**31, 4]) == 2**64  # no int64 wrap-around


def test_gzip_bomb_is_read_only_to_the_declared_size(tmp_path: Path) -> None:
    header = struct.pack(">IIII", 0x803, 1, 2, 2)
    path = tmp_path / "bomb-ubyte"
    path.write_bytes(gzip.compress(header + bytes(4) + bytes(32 << 20)))  # 32 MiB of zeros
    with pytest.raises(GlassnetError, match=r"has trailing bytes: at least \d+ bytes, expected 20"):
        idx.read_images(path)


def test_yaml_alias_bomb_is_refused_in_one_short_line(tmp_path: Path) -> None:
    from badinputs import BOMB

    with pytest.raises(GlassnetError, match="aliases") as info:
        limits.parse_yaml(BOMB, "model file m.yaml")
    assert len(str(info.value)) < 200


@pytest.mark.parametrize("text", ["[" * 100_000 + "]" * 100_000, "[" * 65 + "]" * 65])
def test_json_depth_cap(text: str) -> None:
    with pytest.raises(GlassnetError, match="nested deeper than 64"):
        limits.parse_json(text, "spec")
    assert limits.parse_json("[" * 64 + "]" * 64, "spec") is not None


def test_read_text_caps_size_and_refuses_binary(tmp_path: Path) -> None:
    big, binary = tmp_path / "big.yaml", tmp_path / "b.yaml"
    big.write_text("#" * 101)
    binary.write_bytes(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(GlassnetError, match="larger than the 100 B"):
        limits.read_text(big, "model file", max_bytes=100)
    assert limits.read_text(big, "model file", max_bytes=101) == "#" * 101
    with pytest.raises(GlassnetError, match="not UTF-8 text"):
        limits.read_text(binary, "model file")
