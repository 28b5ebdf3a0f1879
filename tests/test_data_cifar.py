"""CIFAR-10 python-batch reader, archive extraction and loading from a local data directory."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest

from glassnet import data
from glassnet.data import cifar, registry
from glassnet.data.registry import RemoteFile
from glassnet.errors import GlassnetError

BATCHES = ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5",
           "test_batch"]


def batch_bytes(x: np.ndarray, y: np.ndarray) -> bytes:
    """Pickle NHWC uint8 images the way the CIFAR files store them: rows of R, then G, then B."""
    rows = np.stack([np.concatenate([img[:, :, c].ravel() for c in range(3)]) for img in x])
    return pickle.dumps({b"batch_label": b"test", b"data": rows, b"labels": [int(v) for v in y]})


def make_batches(n: int = 4, seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray, bytes]]:
    rng = np.random.default_rng(seed)
    out = {}
    for name in BATCHES:
        x = rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
        y = rng.integers(0, 10, size=n)
        out[name] = (x, y, batch_bytes(x, y))
    return out


def make_archive(path: Path, batches: dict[str, tuple[np.ndarray, np.ndarray, bytes]],
                 extra: dict[str, bytes] | None = None) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        members = {f"cifar-10-batches-py/{k}": v[2] for k, v in batches.items()}
        for name, payload in {**members, **(extra or {})}.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return path


def md5(payload: bytes) -> str:
    return hashlib.md5(payload).hexdigest()


def cifar_spec(batches: dict[str, tuple[np.ndarray, np.ndarray, bytes]],
               archive_md5: str = "0" * 32, mirrors: tuple[str, ...] = ()) -> registry.DatasetSpec:
    return dataclasses.replace(
        registry.REMOTE["cifar10"],
        files={"archive": RemoteFile("cifar-10-python.tar.gz", archive_md5)},
        members=tuple(RemoteFile(k, md5(v[2])) for k, v in batches.items()),
        mirrors=mirrors,
    )


def test_read_batch_channel_major_rows_to_nhwc(tmp_path: Path) -> None:
    x, y, payload = make_batches()["data_batch_1"]
    path = tmp_path / "data_batch_1"
    path.write_bytes(payload)
    out_x, out_y = cifar.read_batch(path)
    assert out_x.shape == (4, 32, 32, 3) and out_x.dtype == np.uint8
    assert out_x.flags.c_contiguous
    np.testing.assert_array_equal(out_x, x)
    assert out_y.dtype == np.int64
    np.testing.assert_array_equal(out_y, y)
    # The layout by hand: pixel (n, h, w, c) is row n, column c*1024 + h*32 + w.
    rows = pickle.loads(payload)[b"data"]
    assert out_x[2, 5, 7, 1] == rows[2, 1 * 1024 + 5 * 32 + 7]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({b"data": np.zeros((2, 3072), np.uint8)}, r"expected a dict with b'data' and b'labels'"),
        ([1, 2], r"has keys list"),
        ({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]},
         r"b'data' is uint8 \[2, 100\], expected uint8 \[N, 3072\]"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, r"1 labels for 2 images"),
    ],
)
def test_read_batch_rejects_malformed(tmp_path: Path, entry: object, message: str) -> None:
    path = tmp_path / "bad_batch"
    path.write_bytes(pickle.dumps(entry))
    with pytest.raises(GlassnetError, match=message):
        cifar.read_batch(path)


def test_read_batch_not_a_pickle(tmp_path: Path) -> None:
    path = tmp_path / "junk"
    path.write_bytes(b"not a pickle at all")
    with pytest.raises(GlassnetError, match=r"junk is not a CIFAR python batch"):
        cifar.read_batch(path)


def test_extract_only_named_regular_members(tmp_path: Path) -> None:
    batches = make_batches()
    archive = make_archive(tmp_path / "a.tar.gz", batches, extra={"../evil": b"x",
                                                                   "cifar-10-batches-py/x": b"y"})
    folder = cifar.extract_batches(archive, tmp_path / "out", BATCHES)
    assert folder == tmp_path / "out" / "cifar-10-batches-py"
    assert sorted(p.name for p in folder.iterdir()) == sorted(BATCHES)
    assert not (tmp_path / "evil").exists()
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["cifar-10-batches-py"]


def test_extract_missing_member_leaves_nothing(tmp_path: Path) -> None:
    batches = make_batches()
    del batches["test_batch"]
    archive = make_archive(tmp_path / "a.tar.gz", batches)
    with pytest.raises(GlassnetError, match=r"a.tar.gz has no cifar-10-batches-py/test_batch"):
        cifar.extract_batches(archive, tmp_path / "out", BATCHES)
    assert list((tmp_path / "out").iterdir()) == []


def test_extract_not_a_tar(tmp_path: Path) -> None:
    archive = tmp_path / "a.tar.gz"
    archive.write_bytes(b"plain bytes")
    with pytest.raises(GlassnetError, match=r"a.tar.gz is not a readable tar.gz"):
        cifar.extract_batches(archive, tmp_path / "out", BATCHES)


def test_load_from_existing_batch_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    batches = make_batches()
    folder = tmp_path / "cifar10" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name, (_, _, payload) in batches.items():
        (folder / name).write_bytes(payload)
    monkeypatch.setitem(registry.REMOTE, "cifar10", cifar_spec(batches))
    ds = data.load("cifar10", data_dir=tmp_path)
    assert ds.x_train.shape == (20, 32, 32, 3) and ds.x_test.shape == (4, 32, 32, 3)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    want = np.concatenate([batches[k][0] for k in BATCHES[:5]]) / np.float32(255)
    np.testing.assert_array_equal(ds.x_train, want)
    np.testing.assert_array_equal(ds.y_test, batches["test_batch"][1])
    assert ds.class_names[0] == "airplane" and ds.num_classes == 10


def test_load_rejects_batch_with_wrong_md5(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    batches = make_batches()
    folder = tmp_path / "cifar-10-batches-py"  # torchvision's layout, directly under the root
    folder.mkdir()
    for name, (_, _, payload) in batches.items():
        (folder / name).write_bytes(payload)
    spec = cifar_spec(batches)
    bad = RemoteFile("data_batch_3", "f" * 32)
    monkeypatch.setitem(registry.REMOTE, "cifar10", dataclasses.replace(
        spec, members=tuple(bad if m.name == bad.name else m for m in spec.members)))
    actual = md5(batches["data_batch_3"][2])
    message = rf"data_batch_3 has MD5 {actual}, expected f{{32}}"
    with pytest.raises(data.ChecksumError, match=message):
        data.load("cifar10", data_dir=tmp_path)


def test_load_reports_missing_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    batches = make_batches()
    folder = tmp_path / "cifar10" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    (folder / "data_batch_1").write_bytes(batches["data_batch_1"][2])
    monkeypatch.setitem(registry.REMOTE, "cifar10", cifar_spec(batches))
    with pytest.raises(GlassnetError, match=r"cifar-10-batches-py has no data_batch_2"):
        data.load("cifar10", data_dir=tmp_path)


def test_load_extracts_local_archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    batches = make_batches()
    (tmp_path / "cifar10").mkdir()
    archive = make_archive(tmp_path / "cifar10" / "cifar-10-python.tar.gz", batches)
    monkeypatch.setitem(registry.REMOTE, "cifar10",
                        cifar_spec(batches, archive_md5=md5(archive.read_bytes())))
    ds = data.load("cifar10", data_dir=tmp_path)  # download=False: the archive is local
    assert (tmp_path / "cifar10" / "cifar-10-batches-py" / "test_batch").is_file()
    np.testing.assert_array_equal(ds.y_train[:4], batches["data_batch_1"][1])
