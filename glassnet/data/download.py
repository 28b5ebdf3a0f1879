"""Data directory, MD5 checks and verified downloads (urllib, rich progress bar on stderr).

A download streams into a temporary file in the destination folder while its MD5 is computed;
only a file whose MD5 equals the published one is moved into place (``os.replace``, atomic on
the same filesystem). A mismatching or interrupted download is deleted, never used.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from glassnet.data.registry import RemoteFile
from glassnet.errors import GlassnetError

ENV_DATA_DIR = "GLASSNET_DATA"
DEFAULT_DATA_DIR = Path("~/.glassnet/data")
_CHUNK = 1 << 20


class ChecksumError(GlassnetError):
    """A file whose MD5 differs from the published one (the message names both)."""


class DownloadError(GlassnetError):
    """A missing file that could not be fetched from any mirror (the message lists each try)."""


def data_root(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Return the data directory: ``data_dir``, else ``$GLASSNET_DATA``, else ``~/.glassnet/data``.

    The folder is not created here (a download creates it).
    """
    if data_dir is not None:
        return Path(data_dir).expanduser()
    env = os.environ.get(ENV_DATA_DIR)
    return Path(env).expanduser() if env else DEFAULT_DATA_DIR.expanduser()


def md5sum(path: str | os.PathLike[str]) -> str:
    """Return the MD5 hex digest of a file, read in 1 MiB chunks."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path: Path, expected_md5: str) -> None:
    """Check a file against its published MD5.

    Raises:
        ChecksumError: naming the file, the actual and the expected MD5.
    """
    actual = md5sum(path)
    if actual != expected_md5:
        raise ChecksumError(
            f"data: {path} has MD5 {actual}, expected {expected_md5}; the file is corrupt or "
            f"not the published one — delete it and load again with download=True")


def download(
    file: RemoteFile,
    dest_dir: Path,
    mirrors: Sequence[str],
    *,
    progress: bool = True,
    timeout: float = 60.0,
) -> Path:
    """Fetch ``file`` into ``dest_dir`` from the first mirror that serves it with the right MD5.

    Args:
        file: the file's name and published MD5.
        dest_dir: the destination folder (created if needed).
        mirrors: base URLs tried in order; the URL is ``mirror + file.name`` (a ``/`` is added
            to a mirror that lacks one).
        progress: show a rich progress bar on stderr.
        timeout: seconds to wait on each connection or read.

    Returns:
        The verified file, ``dest_dir / file.name``.

    Raises:
        ChecksumError: if a mirror served the file with another MD5 and no mirror served it
            right; the message names the file, the URL and both checksums. The bad download is
            deleted.
        DownloadError: if no mirror could be reached; the message lists each URL and its error.
    """
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / file.name
    failures: list[str] = []
    mismatch = False
    for mirror in mirrors:
        url = mirror if mirror.endswith("/") else mirror + "/"
        url += file.name
        try:
            actual = _fetch(url, target, file.md5, progress=progress, timeout=timeout)
        # URLError/HTTPError are OSErrors; IncompleteRead (connection cut) is an HTTPException.
        except (OSError, http.client.HTTPException, ValueError) as exc:
            failures.append(f"{url}: {getattr(exc, 'reason', None) or exc}")
            continue
        if actual == file.md5:
            return target
        mismatch = True
        failures.append(f"{url}: MD5 {actual}, expected {file.md5} (download discarded)")
    if not failures:
        raise DownloadError(f"data: no mirror given to download {file.name}")
    tried = "; ".join(failures)
    if mismatch:
        raise ChecksumError(f"data: checksum mismatch downloading {file.name}: {tried}")
    raise DownloadError(
        f"data: could not download {file.name} into {dest_dir}: {tried}. "
        f"Put the file there yourself, or set {ENV_DATA_DIR} / data_dir to where it is.")


def _fetch(url: str, target: Path, expected_md5: str, *, progress: bool, timeout: float) -> str:
    """Stream ``url`` to a temp file beside ``target``; move it into place if the MD5 matches.

    Returns:
        The MD5 of what was received (``target`` exists afterwards only if it equals
        ``expected_md5``).
    """
    digest = hashlib.md5(usedforsecurity=False)
    # Some mirrors refuse urllib's default User-Agent.
    request = urllib.request.Request(url, headers={"User-Agent": "glassnet"})
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with (
            os.fdopen(fd, "wb") as out,
            urllib.request.urlopen(request, timeout=timeout) as response,
        ):
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            received = 0
            with _progress_bar(progress) as bar:
                task = bar.add_task(target.name, total=total)
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    bar.advance(task, len(chunk))
            # NOTE: http.client ends a cut-off body with b"" instead of raising; compare counts.
            if total is not None and received != total:
                raise ConnectionError(f"connection lost after {received} of {total} bytes")
            out.flush()
            os.fsync(out.fileno())
        actual = digest.hexdigest()
        if actual == expected_md5:
            os.replace(tmp, target)
        return actual
    finally:
        tmp.unlink(missing_ok=True)


def _progress_bar(enabled: bool) -> Progress:
    """A rich download bar (name, bar, bytes, speed, ETA) on stderr; invisible if disabled."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not enabled,
        transient=False,
    )
