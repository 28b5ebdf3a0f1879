"""Hostile inputs for the bad-input suite, built for real in a folder (no mocks).

Each builder writes the smallest file that triggers its case: truncated, empty and binary files
given as text models, deeply nested JSON/YAML, YAML alias bombs, huge declared shapes, gzip
garbage and gzip bombs in a data folder, IDX headers whose sizes overflow int64, checkpoints
that are not archives, ONNX files whose initializer is cut short.
"""

from __future__ import annotations

import gzip
import io
import json
import struct
import zlib
from pathlib import Path

import numpy as np

TINY8 = {"name": "tiny8", "input": [8, 8, 1], "layers": [
    {"type": "conv2d", "filters": 2, "kernel": 3, "activation": "relu"},
    {"type": "flatten"}, {"type": "dense", "units": 10, "activation": "softmax"}]}
TINY28 = {**TINY8, "name": "tiny28", "input": [28, 28, 1]}
BOMB = ('a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
        + "".join(f"{c}: &{c} [{','.join([f'*{p}'] * 9)}]\n"
                  for p, c in zip("abcdefgh", "bcdefghi", strict=True)))


def png_bytes() -> bytes:
    """A real 4x4 PNG, written by Pillow."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def npz_bytes(**arrays: np.ndarray) -> bytes:
    """A real ``.npz`` archive, written by NumPy."""
    buf = io.BytesIO()
    np.savez(buf, **(arrays or {"x": np.arange(6.0)}))
    return buf.getvalue()


def idx_header(magic: int, dims: tuple[int, ...]) -> bytes:
    """An IDX header: magic then one big-endian uint32 per dimension."""
    return struct.pack(f">I{len(dims)}I", magic, *dims)


def gzip_bomb(prefix: bytes, zeros: int) -> bytes:
    """``prefix`` then ``zeros`` zero bytes, gzip-compressed in chunks (~1000:1)."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: a gzip container
    out = [comp.compress(prefix)]
    chunk = bytes(1 << 20)
    for _ in range(zeros >> 20):
        out.append(comp.compress(chunk))
    out.append(comp.flush())
    return b"".join(out)


def onnx_matmul(path: Path, dims: list[int], raw: bytes) -> None:
    """An ONNX MatMul graph whose initializer ``w`` declares ``dims`` and holds ``raw``."""
    from onnx import TensorProto, helper

    w = helper.make_tensor("w", TensorProto.FLOAT, [4, 3], np.zeros(12, np.float32).tobytes(),
                           raw=True)
    del w.dims[:]
    w.dims.extend(dims)
    w.raw_data = raw  # what a damaged or hostile file holds, whatever the dims say
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g", [x], [y],
                              [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    path.write_bytes(model.SerializeToString())


def model_files(d: Path | None) -> list[str]:
    """Write the hostile MODEL files into ``d`` (None: only name them); return their names."""
    def layer(**kw: object) -> str:
        return json.dumps({**TINY8, "layers": [kw, *TINY8["layers"][1:]]})

    files: dict[str, str | bytes] = {
        "empty.yaml": "", "empty.json": "", "trunc.json": json.dumps(TINY8)[:40],
        "png.yaml": png_bytes(), "model.npz": npz_bytes(), "binary.json": bytes(range(256)),
        "deep.json": "[" * 100_000 + "]" * 100_000,
        "deep.yaml": "[" * 100_000 + "]" * 100_000,
        "deepblock.yaml": "".join("  " * i + "a:\n" for i in range(200)) + "  " * 200 + "1\n",
        "bomb.yaml": BOMB, "alias.yaml": "name: &n x\ninput: [8, 8, 1]\nlayers: *n\n",
        "list.yaml": "- 1\n- 2\n", "scalar.json": "42",
        "unknown_type.json": layer(type="conv9d"), "unknown_key.json": layer(type="dense",
                                                                            units=3, colour=1),
        "long_key.json": layer(**{"type": "dense", "units": 3, "k" * 20_000: 1}),
        "neg_filters.json": layer(type="conv2d", filters=-3, kernel=3),
        "str_kernel.json": layer(type="conv2d", filters=3, kernel="abc"),
        "zero_kernel.json": layer(type="conv2d", filters=3, kernel=0),
        "huge_units.json": json.dumps({**TINY8, "layers": [
            {"type": "flatten"}, {"type": "dense", "units": 10**9}]}),
        "huge_input.json": json.dumps({**TINY8, "input": [100_000, 100_000, 3]}),
        "bigint.json": '{"input": [8, 8, 1], "layers": [{"type": "dense", "units": '
                       + "9" * 5000 + "}]}",
        "nan_units.json": '{"input": [8, 8, 1], "layers": [{"type": "flatten"}, '
                          '{"type": "dense", "units": NaN}]}',
        "str_input.json": json.dumps({**TINY8, "input": "28x28"}),
        "neg_input.json": json.dumps({**TINY8, "input": [8, -8, 1]}),
        "no_layers.json": json.dumps({"input": [8, 8, 1]}),
        "big.yaml": "#" * 1023 + "\n" + ("#" * 1023 + "\n") * (9 << 10),
    }
    if d is not None:
        for name, body in files.items():
            (d / name).write_bytes(body if isinstance(body, bytes) else body.encode())
        (d / "adir.yaml").mkdir()
    return sorted(files) + ["adir.yaml", "missing.yaml"]


def trace_files(d: Path) -> None:
    """Trace specs: a huge padding, a spec over a small budget, bad values."""
    def spec(**kw: object) -> str:
        return json.dumps({"input": [[1.0, 2.0], [3.0, 4.0]], **kw})

    files = {
        "pad_huge.json": spec(layers=[{"type": "conv2d", "kernel": [[1.0]], "padding": 5000}]),
        "mid.json": json.dumps({"input": np.ones((30, 30)).tolist(), "layers": [
            {"type": "conv2d", "kernel": np.ones((3, 3)).tolist()}]}),
        "nan.json": '{"input": [[NaN]], "layers": [{"type": "flatten"}]}',
        "nolayers.json": spec(), "badlayer.json": spec(layers=[{"type": "pool"}]),
        "ragged.json": json.dumps({"input": [[1.0], [1.0, 2.0]], "layers": [{"type": "flatten"}]}),
        "spec.txt": spec(layers=[{"type": "flatten"}]),
        "good.json": spec(layers=[{"type": "flatten"}]),
    }
    for name, body in files.items():
        (d / name).write_text(body)


def checkpoint_files(d: Path | None) -> list[str]:
    """``.npz`` files that are not checkpoints."""
    real = npz_bytes()
    files = {"empty.npz": b"", "trunc.npz": real[: len(real) // 2], "png.npz": png_bytes(),
             "text.npz": b"hello\n", "plain.npz": real,
             "objects.npz": npz_bytes(meta=np.array([{"a": 1}], dtype=object))}
    if d is not None:
        for name, body in files.items():
            (d / name).write_bytes(body)
        (d / "dir.npz").mkdir()
    return sorted(files) + ["dir.npz", "missing.npz"]


def data_dirs(d: Path | None) -> list[str]:
    """One ``--data-dir`` per hostile MNIST image file; the other three files are valid."""
    good_labels = idx_header(0x801, (2,)) + bytes([1, 2])
    good_images = idx_header(0x803, (2, 28, 28)) + bytes(2 * 784)
    valid = idx_header(0x803, (10, 28, 28)) + bytes(7840)
    packed = gzip.compress(valid)
    hostile: dict[str, bytes | None] = {
        "gz_garbage": b"\x1f\x8b" + bytes(range(200)),
        "gz_trunc": packed[: len(packed) // 2],
        "gz_bomb": gzip_bomb(idx_header(0x803, (10, 28, 28)), 64 << 20) if d else b"",
        "overflow": idx_header(0x803, (2**31, 2**31, 4)),
        "overflow_gz": gzip.compress(idx_header(0x803, (2**31, 2**31, 4))),
        "max_dims": idx_header(0x803, (2**32 - 1, 2**32 - 1, 2**32 - 1)),
        "short_header": idx_header(0x803, (1,))[:6], "empty": b"",
        "wrong_magic": good_labels, "not_idx": png_bytes(),
        "short_body": idx_header(0x803, (10, 28, 28)) + bytes(100),
        "trailing": valid + bytes(10), "dir": None,
    }
    if d is None:
        return [*hostile, "labels_range"]
    for case, body in hostile.items():
        sub = d / f"data_{case}" / "mnist"
        sub.mkdir(parents=True)
        for name, content in (("train-labels-idx1-ubyte", good_labels),
                              ("t10k-images-idx3-ubyte", good_images),
                              ("t10k-labels-idx1-ubyte", good_labels)):
            (sub / name).write_bytes(content)
        target = sub / "train-images-idx3-ubyte"
        if body is None:
            target.mkdir()
        else:
            target.write_bytes(body)
    bad_labels = d / "data_labels_range" / "mnist"
    bad_labels.mkdir(parents=True)
    (bad_labels / "train-images-idx3-ubyte").write_bytes(good_images)
    (bad_labels / "train-labels-idx1-ubyte").write_bytes(idx_header(0x801, (2,)) + b"\xc8\x01")
    (bad_labels / "t10k-images-idx3-ubyte").write_bytes(good_images)
    (bad_labels / "t10k-labels-idx1-ubyte").write_bytes(good_labels)
    cifar = d / "data_cifar" / "cifar-10-batches-py"
    cifar.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (cifar / name).write_bytes(b"\x80\x04garbage")
    return [*hostile, "labels_range"]


def onnx_files(d: Path | None) -> list[str]:
    """ONNX files: an initializer cut short, one declaring 4e12 floats, and non-ONNX bytes."""
    files = {"garbage.onnx": bytes(range(256)) * 4, "empty.onnx": b"", "png.onnx": png_bytes(),
             "text.onnx": b"not an onnx file\n", "npz.onnx": npz_bytes()}
    if d is not None:
        onnx_matmul(d / "short.onnx", [4, 3], np.zeros(6, np.float32).tobytes())
        onnx_matmul(d / "huge_init.onnx", [100_000, 100_000, 100], b"")
        for name, body in files.items():
            (d / name).write_bytes(body)
        (d / "dir.onnx").mkdir()
    return ["short.onnx", "huge_init.onnx", *sorted(files), "dir.onnx", "missing.onnx"]


def names() -> dict[str, list[str]]:
    """The input names per category, without writing anything."""
    return {"model": model_files(None), "checkpoint": checkpoint_files(None),
            "data": data_dirs(None), "onnx": onnx_files(None)}


def build(d: Path) -> dict[str, list[str]]:
    """Build every hostile input under ``d``; return the names per category."""
    d.mkdir(parents=True, exist_ok=True)
    (d / "tiny8.json").write_text(json.dumps(TINY8))
    (d / "tiny28.json").write_text(json.dumps(TINY28))
    (d / "a_file").write_text("a regular file, not a folder\n")
    trace_files(d)
    return {"model": model_files(d), "checkpoint": checkpoint_files(d), "data": data_dirs(d),
            "onnx": onnx_files(d)}
