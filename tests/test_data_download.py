"""Verified downloads against a local HTTP server on 127.0.0.1 serving generated files."""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import http.server
import io
import pickle
import socket
import struct
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from glassnet import data
from glassnet.data import download, registry
from glassnet.data.registry import RemoteFile
from glassnet.errors import GlassnetError

FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}


def idx_u8(a: np.ndarray) -> bytes:
    """IDX encoding of a uint8 array (magic 0x000008DD, big-endian dims)."""
    return struct.pack(f">HBB{a.ndim}I", 0, 8, a.ndim, *a.shape) + a.astype(np.uint8).tobytes()


def md5(payload: bytes) -> str:
    return hashlib.md5(payload).hexdigest()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if not self.path.startswith("/cut/"):
            return super().do_GET()
        # Promise 1000 bytes, send 10, hang up: a connection lost mid-download.
        self.send_response(200)
        self.send_header("Content-Length", "1000")
        self.end_headers()
        self.wfile.write(b"0123456789")
        self.close_connection = True


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTP server on an ephemeral port serving ``tmp_path / "www"``; yields (url, folder)."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_Quiet, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    # A short poll interval keeps shutdown() (one poll) from costing 0.5 s per test.
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/", root
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.fixture
def mnist_files() -> dict[str, tuple[np.ndarray, bytes]]:
    """Small MNIST-like arrays and their gzipped IDX bytes, by role."""
    rng = np.random.default_rng(1)
    arrays = {
        "train_images": rng.integers(0, 256, size=(12, 28, 28), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, size=12).astype(np.uint8),
        "test_images": rng.integers(0, 256, size=(5, 28, 28), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, size=5).astype(np.uint8),
    }
    return {role: (a, gzip.compress(idx_u8(a), mtime=0)) for role, a in arrays.items()}


def serve_mnist(folder: Path, files: dict[str, tuple[np.ndarray, bytes]]) -> None:
    for role, (_, payload) in files.items():
        (folder / FILES[role]).write_bytes(payload)


def override(monkeypatch: pytest.MonkeyPatch, name: str, md5s: dict[str, str],
             mirrors: tuple[str, ...]) -> None:
    """Point the registry entry ``name`` at the test server with the generated files' MD5s."""
    spec = dataclasses.replace(
        registry.REMOTE[name],
        files={role: RemoteFile(FILES[role], value) for role, value in md5s.items()},
        mirrors=mirrors)
    monkeypatch.setitem(registry.REMOTE, name, spec)


def real_md5s(files: dict[str, tuple[np.ndarray, bytes]]) -> dict[str, str]:
    return {role: md5(payload) for role, (_, payload) in files.items()}


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_download_then_load_offline(tmp_path: Path, server: tuple[str, Path], mnist_files: dict,
                                    monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    url, www = server
    serve_mnist(www, mnist_files)
    override(monkeypatch, name, real_md5s(mnist_files), (url,))
    store = tmp_path / "store"
    ds = data.load(name, data_dir=store, download=True, progress=False)
    assert ds.x_train.shape == (12, 28, 28, 1) and ds.x_test.shape == (5, 28, 28, 1)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    want = mnist_files["train_images"][0][..., None] / np.float32(255)
    np.testing.assert_array_equal(ds.x_train, want)
    np.testing.assert_array_equal(ds.y_test, mnist_files["test_labels"][0])
    assert sorted(p.name for p in (store / name).iterdir()) == sorted(FILES.values())
    # Second load: no server needed, files are verified in place.
    override(monkeypatch, name, real_md5s(mnist_files), ("http://127.0.0.1:9/",))
    again = data.load(name, data_dir=store)
    np.testing.assert_array_equal(again.x_test, ds.x_test)


def test_progress_bar_goes_to_stderr(tmp_path: Path, server: tuple[str, Path], mnist_files: dict,
                                     monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    url, www = server
    serve_mnist(www, mnist_files)
    override(monkeypatch, "mnist", real_md5s(mnist_files), (url,))
    data.load("mnist", data_dir=tmp_path, download=True, progress=True)
    out, err = capsys.readouterr()
    assert out == ""
    assert "train-images-idx3-ubyte.gz" in err


def test_env_var_and_mirror_fallback(tmp_path: Path, server: tuple[str, Path], mnist_files: dict,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    url, www = server
    (www / "good").mkdir()
    serve_mnist(www / "good", mnist_files)
    override(monkeypatch, "mnist", real_md5s(mnist_files), (url + "missing/", url + "good"))
    monkeypatch.setenv("GLASSNET_DATA", str(tmp_path / "env"))
    ds = data.load("mnist", download=True, progress=False)
    assert ds.x_train.shape[0] == 12
    assert (tmp_path / "env" / "mnist" / FILES["test_labels"]).is_file()


def test_checksum_mismatch_discards_download(tmp_path: Path, server: tuple[str, Path],
                                             mnist_files: dict,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    url, www = server
    serve_mnist(www, mnist_files)
    md5s = real_md5s(mnist_files)
    actual = md5s["train_images"]
    md5s["train_images"] = "0123456789abcdef0123456789abcdef"
    override(monkeypatch, "mnist", md5s, (url,))
    message = (rf"train-images-idx3-ubyte.gz: .*MD5 {actual}, "
               r"expected 0123456789abcdef0123456789abcdef \(download discarded\)")
    with pytest.raises(data.ChecksumError, match=message):
        data.load("mnist", data_dir=tmp_path, download=True, progress=False)
    assert list((tmp_path / "mnist").iterdir()) == []  # no file, no .part left behind


def test_existing_corrupt_file_is_not_used(tmp_path: Path, mnist_files: dict,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "mnist"
    folder.mkdir()
    serve_mnist(folder, mnist_files)
    (folder / FILES["test_labels"]).write_bytes(b"tampered")
    override(monkeypatch, "mnist", real_md5s(mnist_files), ())
    with pytest.raises(data.ChecksumError, match=rf"t10k-labels-idx1-ubyte.gz has MD5 "
                                                 rf"{md5(b'tampered')}, expected "
                                                 rf"{md5(mnist_files['test_labels'][1])}"):
        data.load("mnist", data_dir=tmp_path)


def test_missing_without_download_says_how(tmp_path: Path) -> None:
    with pytest.raises(GlassnetError, match=r"train-images-idx3-ubyte.gz not found in .*"
                                            r"load with download=True"):
        data.load("mnist", data_dir=tmp_path)
    assert not (tmp_path / "mnist").exists()


def test_connection_lost_mid_download(tmp_path: Path, server: tuple[str, Path],
                                      mnist_files: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    url, _ = server
    override(monkeypatch, "mnist", real_md5s(mnist_files), (url + "cut/",))
    with pytest.raises(data.DownloadError, match=r"train-images-idx3-ubyte.gz: connection lost "
                                                 r"after 10 of 1000 bytes"):
        data.load("mnist", data_dir=tmp_path, download=True, progress=False)
    assert list((tmp_path / "mnist").iterdir()) == []


def test_unreachable_mirror(tmp_path: Path, mnist_files: dict,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    override(monkeypatch, "mnist", real_md5s(mnist_files), (f"http://127.0.0.1:{port}/",))
    with pytest.raises(data.DownloadError,
                       match=rf"could not download train-images-idx3-ubyte.gz .*127.0.0.1:{port}"):
        data.load("mnist", data_dir=tmp_path, download=True, progress=False)


@pytest.mark.parametrize(
    ("role", "payload", "message"),
    [
        ("train_images", gzip.compress(idx_u8(np.zeros((3, 28, 28), np.uint8)))[:-20],
         r"train-images-idx3-ubyte.gz is not a valid gzip file"),
        ("train_images", gzip.compress(idx_u8(np.zeros((3, 28, 28), np.uint8))[:-100]),
         r"train-images-idx3-ubyte.gz is truncated: 2268 bytes, expected 2368"),
        ("train_labels", gzip.compress(idx_u8(np.zeros((2, 2, 2), np.uint8))),
         r"train-labels-idx1-ubyte.gz has magic number 0x00000803, expected 0x00000801"),
        ("test_images", gzip.compress(idx_u8(np.zeros((5, 8, 8), np.uint8))),
         r"t10k-images-idx3-ubyte.gz holds 8x8 images, expected 28x28"),
        ("test_labels", gzip.compress(idx_u8(np.arange(4, dtype=np.uint8))),
         r"has 5 images but .*t10k-labels-idx1-ubyte.gz has 4 labels"),
        ("test_labels", gzip.compress(idx_u8(np.full(5, 11, np.uint8))),
         r"t10k-labels-idx1-ubyte.gz has labels in \[11, 11\], expected \[0, 9\]"),
    ],
    ids=["bad-gzip", "truncated", "wrong-magic", "wrong-size", "count-mismatch", "bad-label"],
)
def test_served_file_that_is_malformed(tmp_path: Path, server: tuple[str, Path],
                                       mnist_files: dict, monkeypatch: pytest.MonkeyPatch,
                                       role: str, payload: bytes, message: str) -> None:
    url, www = server
    files = {**mnist_files, role: (np.empty(0), payload)}
    serve_mnist(www, files)
    override(monkeypatch, "mnist", real_md5s(files), (url,))
    with pytest.raises(GlassnetError, match=message):
        data.load("mnist", data_dir=tmp_path, download=True, progress=False)


def test_uncompressed_files_in_torchvision_layout(tmp_path: Path, mnist_files: dict) -> None:
    folder = tmp_path / "MNIST" / "raw"
    folder.mkdir(parents=True)
    for role, (array, _) in mnist_files.items():
        (folder / FILES[role].removesuffix(".gz")).write_bytes(idx_u8(array))
    ds = data.load("mnist", data_dir=tmp_path)
    np.testing.assert_array_equal(ds.y_train, mnist_files["train_labels"][0])


def test_cifar_download_extract_load(tmp_path: Path, server: tuple[str, Path],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    url, www = server
    rng = np.random.default_rng(2)
    names = ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5",
             "test_batch"]
    payloads, members = {}, []
    for name in names:
        rows = rng.integers(0, 256, size=(3, 3072), dtype=np.uint8)
        payloads[name] = pickle.dumps({b"data": rows, b"labels": [1, 2, 3]})
        members.append(RemoteFile(name, md5(payloads[name])))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, payload in payloads.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    (www / "cifar-10-python.tar.gz").write_bytes(buffer.getvalue())
    monkeypatch.setitem(registry.REMOTE, "cifar10", dataclasses.replace(
        registry.REMOTE["cifar10"], mirrors=("http://127.0.0.1:9/",), members=tuple(members),
        files={"archive": RemoteFile("cifar-10-python.tar.gz", md5(buffer.getvalue()))}))
    ds = data.load("cifar10", data_dir=tmp_path, download=True, mirrors=[url], progress=False)
    assert ds.x_train.shape == (15, 32, 32, 3) and ds.x_test.shape == (3, 32, 32, 3)
    first = pickle.loads(payloads["data_batch_1"])[b"data"][0]
    np.testing.assert_array_equal(ds.x_train[0, :, :, 2] * 255, first[2048:].reshape(32, 32))
    assert (tmp_path / "cifar10" / "cifar-10-python.tar.gz").is_file()


def test_data_root_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GLASSNET_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert download.data_root() == tmp_path / ".glassnet" / "data"
    monkeypatch.setenv("GLASSNET_DATA", str(tmp_path / "env"))
    assert download.data_root() == tmp_path / "env"
    assert download.data_root(tmp_path / "arg") == tmp_path / "arg"


def test_no_mirrors(tmp_path: Path) -> None:
    with pytest.raises(data.DownloadError, match=r"no mirror given to download a.gz"):
        download.download(RemoteFile("a.gz", "0" * 32), tmp_path, [], progress=False)


def test_unknown_name_lists_valid_ones() -> None:
    with pytest.raises(GlassnetError, match=r"unknown dataset 'mnist5k'; expected one of "
                                            r"mnist-5k, digits, mnist, fashion-mnist, cifar10"):
        data.load("mnist5k")
