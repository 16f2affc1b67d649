"""``client.uploads``: resumable uploads over tus 1.0, with a checkpoint file per local file.

A checkpoint is a small JSON file holding the upload's URL, kept until the upload is
complete. Its name is the SHA-256 of the file's absolute path, size and modification time,
so running the same command on the same, unchanged file again resumes: a ``HEAD`` asks the
server how many bytes it holds and the upload goes on from there. An upload the server no
longer knows (``404``, or ``410`` once expired) starts over.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import mimetypes
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from loadbay.client._http import HTTP
from loadbay.client.errors import LoadbayAPIError, LoadbayClientError, LoadbayTransportError
from loadbay.client.models import Upload

TUS_VERSION = "1.0.0"
UPLOADS_PATH = "/api/uploads"
DEFAULT_CHUNK_SIZE = 8 * 1024 * 1024
OFFSET_STREAM = "application/offset+octet-stream"
# Answers after which the same PATCH may succeed once the offset is known again: another
# writer or a stale offset (409, 423), a damaged chunk (460), a limit (429), a server fault.
RETRYABLE_STATUSES = frozenset({409, 423, 429, 460, 500, 502, 503, 504})

UploadProgressCallback = Callable[[int, int], None]


def default_checkpoint_dir() -> Path:
    """``$XDG_CACHE_HOME/loadbay/uploads``, by default ``~/.cache/loadbay/uploads``."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "loadbay" / "uploads"


def checkpoint_path(path: str | os.PathLike[str], directory: Path | None = None) -> Path:
    """Where the checkpoint of ``path`` lives; it changes when the file does (size, mtime)."""
    source = Path(path).resolve()
    stat = source.stat()
    key = f"{source}\0{stat.st_size}\0{stat.st_mtime_ns}".encode()
    name = hashlib.sha256(key).hexdigest() + ".json"
    return (directory or default_checkpoint_dir()) / name


@dataclass(frozen=True, slots=True)
class Checkpoint:
    url: str
    endpoint: str
    path: str
    size: int
    mtime_ns: int

    @classmethod
    def load(cls, file: Path) -> Checkpoint | None:
        """The stored checkpoint; None when there is none or it is unreadable (then the
        upload simply starts over)."""
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
            return cls(
                url=str(data["url"]),
                endpoint=str(data["endpoint"]),
                path=str(data["path"]),
                size=int(data["size"]),
                mtime_ns=int(data["mtime_ns"]),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def save(self, file: Path) -> None:
        """Written to a temporary file and renamed: a crash never leaves half a checkpoint."""
        file.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=file.parent, prefix=".checkpoint-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(asdict(self), out)
            os.replace(temporary, file)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise


def encode_metadata(pairs: Mapping[str, str]) -> str:
    """tus ``Upload-Metadata``: ``key base64(value)`` pairs joined by commas."""
    items = []
    for key, value in pairs.items():
        if not key or not key.isascii() or not key.isprintable() or " " in key or "," in key:
            raise ValueError(f"invalid Upload-Metadata key {key!r}")
        items.append(f"{key} {base64.b64encode(value.encode()).decode()}".rstrip())
    return ",".join(items)


class UploadsAPI:
    def __init__(self, http: HTTP, *, retries: int = 4, retry_delay: float = 0.5) -> None:
        self._http = http
        self.retries = retries
        self.retry_delay = retry_delay

    def get(self, upload: str) -> Upload:
        """An upload's resource, by id or URL."""
        return Upload.model_validate(self._http.json("GET", self._url(upload)))

    def delete(self, upload: str) -> None:
        """tus termination: the upload and its data are deleted."""
        self._http.request("DELETE", self._url(upload), headers={"Tus-Resumable": TUS_VERSION})

    def offset(self, upload: str) -> tuple[int, int | None]:
        """``HEAD``: the bytes the server holds and the declared length (None if deferred)."""
        response = self._http.request(
            "HEAD", self._url(upload), headers={"Tus-Resumable": TUS_VERSION}
        )
        length = response.headers.get("upload-length")
        return int(response.headers["upload-offset"]), int(length) if length else None

    def upload(
        self,
        path: str | os.PathLike[str],
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        checkpoint: str | os.PathLike[str] | None = None,
        resume: bool = True,
        on_progress: UploadProgressCallback | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> Upload:
        """Upload a file and return the complete upload.

        Chunks of ``chunk_size`` bytes go out as ``PATCH`` requests, each with its SHA-256
        in ``Upload-Checksum`` so that a damaged chunk is refused whole. A failed chunk is
        retried (``retries`` times, with growing pauses) after a ``HEAD`` says where the
        server stands. ``checkpoint`` is the checkpoint file (default: one per file under
        ``default_checkpoint_dir()``); ``resume=False`` neither reads nor writes one.
        ``on_progress(offset, size)`` is called with the starting offset (non-zero when
        resuming), then after every chunk. ``metadata`` adds Upload-Metadata pairs to
        ``filename`` and ``filetype``."""
        if chunk_size < 1:
            raise ValueError("chunk_size must be at least 1 byte")
        source = Path(path)
        stat = source.stat()
        size = stat.st_size
        endpoint = str(self._http.url(UPLOADS_PATH))
        saved = Checkpoint(
            url="",
            endpoint=endpoint,
            path=str(source.resolve()),
            size=size,
            mtime_ns=stat.st_mtime_ns,
        )
        checkpoint_file = Path(checkpoint) if checkpoint is not None else checkpoint_path(source)

        resumed = self._resume(checkpoint_file, saved) if resume else None
        if resumed is not None:
            url, offset = resumed
        else:
            url, offset = self._create(source, size, metadata), 0
            if resume:
                Checkpoint(**(asdict(saved) | {"url": url})).save(checkpoint_file)
        if on_progress is not None:
            on_progress(offset, size)
        offset = self._send(url, source, offset, size, chunk_size, on_progress)
        if resume:
            checkpoint_file.unlink(missing_ok=True)
        return self.get(url)

    def _resume(self, checkpoint_file: Path, expected: Checkpoint) -> tuple[str, int] | None:
        """The stored upload URL and the server's offset, when it still fits this file and
        server."""
        stored = Checkpoint.load(checkpoint_file)
        if stored is None or (stored.endpoint, stored.path, stored.size, stored.mtime_ns) != (
            expected.endpoint,
            expected.path,
            expected.size,
            expected.mtime_ns,
        ):
            return None
        try:
            offset, length = self.offset(stored.url)
        except LoadbayAPIError as exc:
            if exc.status in (404, 410):  # unknown, expired or terminated: start over
                return None
            raise
        return (stored.url, offset) if length == expected.size else None

    def _create(self, source: Path, size: int, metadata: Mapping[str, str] | None) -> str:
        pairs = {"filename": source.name}
        filetype = mimetypes.guess_type(source.name)[0]
        if filetype:
            pairs["filetype"] = filetype
        pairs |= dict(metadata or {})
        response = self._http.request(
            "POST",
            UPLOADS_PATH,
            headers={
                "Tus-Resumable": TUS_VERSION,
                "Upload-Length": str(size),
                "Upload-Metadata": encode_metadata(pairs),
            },
        )
        location = response.headers.get("location")
        if not location:
            raise LoadbayClientError(f"POST {response.request.url} answered without a Location")
        return str(self._http.base_url.join(location))

    def _send(
        self,
        url: str,
        source: Path,
        offset: int,
        size: int,
        chunk_size: int,
        on_progress: UploadProgressCallback | None,
    ) -> int:
        failures = 0
        lost = False  # after a failure the server's offset is unknown until HEAD says it
        with source.open("rb") as file:
            while lost or offset < size:
                try:
                    if lost:
                        offset, lost = self.offset(url)[0], False
                        continue
                    file.seek(offset)
                    chunk = file.read(min(chunk_size, size - offset))
                    moved = self._patch(url, offset, chunk)
                    failures = 0
                    if moved <= offset:
                        # Sending the same chunk again would loop for ever.
                        raise LoadbayClientError(
                            f"PATCH {url} was accepted but the offset stayed at {offset}"
                        )
                    offset = moved
                except (LoadbayTransportError, LoadbayAPIError) as exc:
                    if isinstance(exc, LoadbayAPIError) and exc.status not in RETRYABLE_STATUSES:
                        raise
                    failures += 1
                    if failures > self.retries:
                        raise
                    time.sleep(self._pause(exc, failures))
                    lost = True
                    continue
                if on_progress is not None:
                    on_progress(offset, size)
        return offset

    def _patch(self, url: str, offset: int, chunk: bytes) -> int:
        digest = base64.b64encode(hashlib.sha256(chunk).digest()).decode()
        response = self._http.request(
            "PATCH",
            httpx.URL(url),
            content=chunk,
            headers={
                "Tus-Resumable": TUS_VERSION,
                "Content-Type": OFFSET_STREAM,
                "Upload-Offset": str(offset),
                "Upload-Checksum": f"sha256 {digest}",
            },
        )
        return int(response.headers["upload-offset"])

    def _pause(self, exc: LoadbayClientError, failures: int) -> float:
        if isinstance(exc, LoadbayAPIError):
            retry_after = exc.headers.get("retry-after", "")
            if retry_after.isdigit():
                return float(retry_after)
        return float(self.retry_delay * 2 ** (failures - 1))

    def _url(self, upload: str) -> httpx.URL:
        if "/" in upload:
            return self._http.base_url.join(upload)
        return self._http.url(f"{UPLOADS_PATH}/{upload}")
