"""Checkpoints are validated before use: every problem is one GlassnetError line naming the file.

The bad files are real: checkpoints written by ``save_checkpoint`` and then cut, corrupted,
re-packed with ``np.savez`` or ``zipfile`` with an array or a metadata field changed; a PNG
written by matplotlib; an object array pickled by NumPy itself.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import glassnet as gn
from glassnet import layers as L
from glassnet.errors import GlassnetError
from glassnet.training.checkpoint import load_checkpoint, save_checkpoint

PACKAGE = Path(gn.__file__).parent


def model() -> gn.Sequential:
    m = gn.Sequential([L.Input((6, 6, 1)), L.Conv2D(2, 3), L.BatchNormalization(), L.Flatten(),
                       L.Dense(3)])
    m.compile("adam", "sparse_categorical_crossentropy", ["accuracy"], from_logits=True)
    m.build(seed=0)
    return m


def trained() -> gn.Sequential:
    """``model()`` after one Adam step, so the checkpoint holds optimizer arrays too."""
    m = model()
    rng = np.random.default_rng(0)
    m.fit(rng.normal(size=(4, 6, 6, 1)).astype(np.float32), np.array([0, 1, 2, 0]), epochs=1,
          batch_size=4, verbose=0)
    return m


@pytest.fixture
def good(tmp_path: Path) -> Path:
    path = tmp_path / "good.npz"
    trained().save(path)
    return path


def contents(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    with np.load(path, allow_pickle=False) as files:
        arrays = {k: files[k] for k in files.files if k != "meta"}
        return json.loads(str(files["meta"])), arrays


def repack(path: Path, meta: Any, arrays: dict[str, Any], name: str = "bad.npz") -> Path:
    out = path.with_name(name)
    text = meta if isinstance(meta, str) else json.dumps(meta)
    np.savez(out, meta=np.array(text), **arrays)
    return out


def refused(path: Path, pattern: str, **kw: Any) -> str:
    with pytest.raises(GlassnetError) as info:
        load_checkpoint(path, **kw)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"checkpoint {path}: "), message
    assert re.search(pattern, message), message
    return message


def test_a_good_checkpoint_still_loads(good: Path) -> None:
    ck = load_checkpoint(good)
    np.testing.assert_array_equal(ck.model.layers[-1].weights["kernel"].data,
                                  trained().layers[-1].weights["kernel"].data)
    assert ck.optimizer is not None
    assert any(k.startswith("o/") for k in contents(good)[1])


# ----- not a checkpoint at all -------------------------------------------------------------------
def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.npz"
    path.write_bytes(b"")
    refused(path, r"not a \.npz archive \(0 bytes; File is not a zip file\)")


@pytest.mark.parametrize("keep", [0.5, 0.98])
def test_truncated_file(good: Path, keep: float) -> None:
    data = good.read_bytes()
    cut = good.with_name("cut.npz")
    cut.write_bytes(data[: int(len(data) * keep)])
    refused(cut, r"not a \.npz archive")


def test_png_renamed_npz(tmp_path: Path) -> None:
    from matplotlib.image import imsave

    path = tmp_path / "picture.npz"
    imsave(path, np.zeros((4, 4)), format="png")
    assert path.read_bytes()[:4] == b"\x89PNG"
    refused(path, r"not a \.npz archive")


def test_directory(tmp_path: Path) -> None:
    folder = tmp_path / "dir.npz"
    folder.mkdir()
    refused(folder, r"is a directory")


def test_object_array_is_refused_unloaded(good: Path) -> None:
    meta, arrays = contents(good)
    arrays["w/3/kernel"] = np.array([{"a": 1}, None], dtype=object)  # NumPy pickles these
    refused(repack(good, meta, arrays), r"array 'w/3/kernel' holds Python objects")


def test_a_zip_member_that_is_not_an_array(good: Path) -> None:
    bad = good.with_name("extra-member.npz")
    bad.write_bytes(good.read_bytes())
    with zipfile.ZipFile(bad, "a") as zf:
        zf.writestr("run.sh", "rm -rf /")
    refused(bad, r"member 'run\.sh' is not a \.npy array")


def test_header_declaring_more_than_the_member_holds(good: Path) -> None:
    meta, arrays = contents(good)
    bad = repack(good, meta, arrays)
    header = np.lib.format.header_data_from_array_1_0(np.zeros(3, np.float32))
    header["shape"] = (2**40,)
    with zipfile.ZipFile(bad, "a") as zf, zf.open("w/9/kernel.npy", "w") as fh:
        np.lib.format.write_array_header_1_0(fh, header)
        fh.write(np.zeros(3, np.float32).tobytes())
    refused(bad, r"array 'w/9/kernel' declares \[1099511627776\] float32 .* but holds 140 bytes")


def test_corrupt_array_data(good: Path) -> None:
    data = bytearray(good.read_bytes())
    with zipfile.ZipFile(good) as zf:
        info = zf.getinfo("w/0/kernel.npy")
    local = data[info.header_offset: info.header_offset + 30]
    start = info.header_offset + 30 + int.from_bytes(local[26:28], "little") + \
        int.from_bytes(local[28:30], "little")
    data[start + info.file_size - 3] ^= 0xFF  # the last value's bytes, past the .npy header
    bad = good.with_name("crc.npz")
    bad.write_bytes(bytes(data))
    refused(bad, r"array 'w/0/kernel' is corrupt \(Bad CRC-32")


# ----- metadata ---------------------------------------------------------------------------------
def test_no_meta(good: Path) -> None:
    _, arrays = contents(good)
    bad = good.with_name("nometa.npz")
    np.savez(bad, **arrays)
    refused(bad, r"not a glassnet checkpoint \(no 'meta' entry\)")


@pytest.mark.parametrize(("text", "pattern"), [
    ("{not json", r"'meta' is not valid JSON \(Expecting property name"),
    ("[" * 100_000 + "]" * 100_000, r"'meta' is not valid JSON \(.*recursion"),
    ("[1, 2]", r"metadata must be a JSON object, got list"),
])
def test_meta_that_is_not_a_json_object(good: Path, text: str, pattern: str) -> None:
    _, arrays = contents(good)
    refused(repack(good, text, arrays), pattern)


def test_meta_that_is_not_text(good: Path) -> None:
    _, arrays = contents(good)
    bad = good.with_name("numbers.npz")
    np.savez(bad, meta=np.zeros(3), **arrays)
    refused(bad, r"'meta' is float64 \[3\], expected a JSON text")


def _set(meta: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for key in parents:
        meta = meta[key]
    if value is KeyError:
        del meta[last]
    else:
        meta[last] = value


@pytest.mark.parametrize(("field", "value", "pattern"), [
    ("format", "keras", r"format 'keras' is unknown"),
    ("version", "1", r"field 'version' must be an integer, got str '1'"),
    ("version", True, r"field 'version' must be an integer, got bool"),
    ("version", 99, r"format version 99 is not one this glassnet reads"),
    ("dtype", "int8", r"field 'dtype' is 'int8', expected 'float32' or 'float64'"),
    ("dtype", KeyError, r"field 'dtype' is missing"),
    ("evil", {"__class__": "os.system"}, r"unknown field\(s\) evil; known: format, version"),
    ("architecture", [], r"field 'architecture' must be an object, got list"),
    ("architecture", {"zoo": 5, "kwargs": {}}, r"field 'architecture.zoo' must be a string"),
    ("architecture", {"zoo": "lenet5", "eval": "x"}, r"'architecture' has keys \['eval', 'zoo'\]"),
    ("compile.loss", 5, r"field 'compile.loss' must be a string, got int"),
    ("compile.accuracy", "yes", r"field 'compile.accuracy' must be true or false"),
    ("compile.shell", "ls", r"unknown field\(s\) compile.shell"),
    ("optimizer.hyper", None, r"field 'optimizer.hyper' must be an object, got null"),
    ("optimizer.scalars", {"0/t": "1"}, r"field 'optimizer.scalars.0/t' must be a number"),
    ("optimizer.class", "get", r"unknown optimizer class 'get'"),
    ("rng_states", {"x": {}}, r"'rng_states' has key 'x', expected a layer index"),
    ("fit_rng_state", {"bit_generator": "nope"}, r"field 'fit_rng_state' is not a random"),
    ("extra", "run me", r"field 'extra' must be an object, got str"),
])
def test_metadata_schema(good: Path, field: str, value: Any, pattern: str) -> None:
    meta, arrays = contents(good)
    _set(meta, field, value)
    refused(repack(good, meta, arrays), pattern)


def test_architecture_that_does_not_rebuild(good: Path) -> None:
    meta, arrays = contents(good)
    meta["architecture"] = {"config": {"name": "m", "input": [4], "layers": [{"type": "nope"}]}}
    refused(repack(good, meta, arrays), r"architecture: .*nope")


# ----- arrays against the model ------------------------------------------------------------------
def test_huge_declared_model_fails_before_building(tmp_path: Path) -> None:
    # A small file whose metadata asks for 244 GiB of weights: building would need the memory.
    path = save_checkpoint(gn.Sequential([L.Input((256,)), L.Dense(3)]).build(), tmp_path / "s")
    meta, arrays = contents(path)
    meta["architecture"]["config"]["layers"][0]["units"] = 256_000_000
    bad = repack(path, meta, arrays)
    assert bad.stat().st_size < 10_000
    message = refused(bad, r"architecture does not match its arrays \('dense' declares "
                           r"65,792,000,000 values, the file holds 771; .* 245 GiB declared")
    assert "the model was not built" in message


def test_missing_weights_when_rebuilt_from_metadata(good: Path) -> None:
    meta, arrays = contents(good)
    del arrays["w/3/kernel"]
    refused(repack(good, meta, arrays), r"'dense' declares 99 values, the file holds 3")


@pytest.mark.parametrize("drop", [["w/3/kernel"], "all"])
def test_missing_weights_are_named(good: Path, drop: Any) -> None:
    meta, arrays = contents(good)
    keys = [k for k in arrays if k[0] in "wb"] if drop == "all" else drop
    for key in keys:
        del arrays[key]
    bad = repack(good, meta, arrays)
    if drop == "all":
        refused(bad, r"missing from the file: layer 'conv2d' kernel \[3, 3, 1, 2\], layer "
                     r"'conv2d' bias \[2\], .* \(and 4 more\)$", model=model())
    else:
        refused(bad, r"missing from the file: layer 'dense' kernel \[32, 3\]$", model=model())


def test_wrong_shape_extra_and_wrong_dtype_in_one_line(good: Path) -> None:
    meta, arrays = contents(good)
    arrays["w/3/kernel"] = arrays["w/3/kernel"].reshape(3, 32)  # same count: passes the sizes
    arrays["w/1/beta"] = arrays["w/1/beta"].astype(np.float64)
    arrays["w/7/kernel"] = np.zeros(0, np.float32)
    refused(repack(good, meta, arrays),
            r"layer 'batch_normalization' beta is float64 in the file but the model expects "
            r"float32; layer 'dense' kernel has shape \[3, 32\] in the file but the model "
            r"expects \[32, 3\]; entry 'w/7/kernel' has no matching weight in the model$")


@pytest.mark.parametrize("bad_value", [np.nan, np.inf, -np.inf])
def test_non_finite_weights_are_named(good: Path, bad_value: float) -> None:
    meta, arrays = contents(good)
    arrays["w/3/kernel"][7, 1] = bad_value
    arrays["b/1/moving_variance"][:] = bad_value
    refused(repack(good, meta, arrays),
            r"non-finite weights \(NaN or Inf\) in layer 'batch_normalization' moving_variance "
            r"\(2 of 2\), layer 'dense' kernel \(1 of 96\); refusing to load them$")


def test_non_finite_optimizer_state_is_named(good: Path) -> None:
    meta, arrays = contents(good)
    key = next(k for k in arrays if k.startswith("o/"))
    arrays[key] = np.full_like(arrays[key], np.nan)
    refused(repack(good, meta, arrays), rf"non-finite weights .* in '{key}'")


def test_every_np_load_in_the_package_refuses_pickles() -> None:
    calls = []
    for source in PACKAGE.rglob("*.py"):
        text = source.read_text(encoding="utf-8")
        for m in re.finditer(r"\b(?:np|numpy)\.load\(([^)]*)\)", text):
            calls.append((source.name, m.group(1)))
    assert calls, "the scan found no np.load call at all"
    assert [c for c in calls if "allow_pickle=False" not in c[1]] == []


@pytest.mark.parametrize("command", ["export", "evaluate", "explain"])
def test_cli_commands_reading_a_checkpoint_refuse_a_png(tmp_path: Path, command: str,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    from matplotlib.image import imsave

    from glassnet.cli import main

    path = tmp_path / "picture.npz"
    imsave(path, np.zeros((4, 4)), format="png")
    args = {"export": ["export", str(path), "--onnx", str(tmp_path / "m.onnx")],
            "evaluate": ["evaluate", str(path), "--data", "digits"],
            "explain": ["explain", str(path), "--out", str(tmp_path / "p.html")]}[command]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert re.fullmatch(rf"(glassnet {command}: )?error: checkpoint {re.escape(str(path))}: "
                        r"not a \.npz archive .*", err), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["picture.npz"]


def test_arrays_larger_than_the_memory_budget_are_refused_before_loading(good: Path) -> None:
    """The headers' declared bytes are checked against the budget before anything inflates."""
    from glassnet import limits

    limits.set_memory_budget(1024)
    try:
        with pytest.raises(GlassnetError, match=r"checkpoint .* needs .*more than the memory "
                                                r"budget"):
            load_checkpoint(good)
    finally:
        limits.set_memory_budget(None)
    load_checkpoint(good)  # the default budget lets it through
