"""Upload throughput: a file sent through a real `loadbay serve` on loopback, against raw disk.

    .venv/bin/python bench/upload.py [--size-mib 1024] [--chunk-mib 8] [--dir DIR]

Sends the file with tus PATCHes of ``--chunk-mib`` MiB, each with an sha1 Upload-Checksum,
from a Python client (httpx), and prints the throughput, the server's peak RSS, the raw write
bandwidth of the same disk (``dd … conv=fdatasync``) in the same run, and the ratio.
Goals: at least 50% of the raw bandwidth, server peak RSS under 150 MB. ``--dir`` must be on
the disk to measure (default: a new directory under the system temp dir).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

import httpx

MIB = 1024 * 1024
TUS = {"Tus-Resumable": "1.0.0"}
GOAL_RATIO = 0.5
GOAL_RSS_MB = 150


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def make_source(path: Path, size: int, chunk: int) -> str:
    """Random bytes, fsync'd so that flushing them cannot slow the measured run."""
    digest = hashlib.sha256()
    block = os.urandom(chunk)
    with path.open("wb") as out:
        for start in range(0, size, chunk):
            piece = block[: size - start]
            # vary every block so no layer can deduplicate or compress
            piece = start.to_bytes(8, "little") + piece[8:]
            digest.update(piece)
            out.write(piece)
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest()


def raw_disk_mb_s(directory: Path) -> tuple[float, str]:
    target = directory / "dd.bin"
    run = subprocess.run(
        ["dd", "if=/dev/zero", f"of={target}", "bs=8M", "count=128", "conv=fdatasync"],
        capture_output=True,
        text=True,
        check=True,
    )
    target.unlink()
    line = run.stderr.strip().splitlines()[-1]
    match = re.match(r"(\d+) bytes .* copied, ([\d.]+) s", line)
    assert match, line
    return int(match.group(1)) / float(match.group(2)) / 1e6, line


def start_server(data_dir: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOADBAY_")}
    env["LOADBAY_DATA_DIR"] = str(data_dir)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "loadbay", "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/openapi.json", timeout=1).status_code == 200:
                return process, base
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"server did not start:\n{log.read_text()}")


def rss_mb(pid: int, field: str) -> float:
    """VmRSS (now) or VmHWM (peak) of a process, from /proc, in MB (10^6 bytes)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024 / 1e6
    raise LookupError(field)


def chunks(source: Path, chunk: int) -> Iterator[tuple[bytes, str]]:
    """Each chunk with its sha1, the next one read and hashed while this one is sent."""

    def prepare(data: BinaryIO) -> tuple[bytes, str]:
        piece = data.read(chunk)
        return piece, base64.b64encode(hashlib.sha1(piece).digest()).decode()

    with source.open("rb") as data, ThreadPoolExecutor(max_workers=1) as reader:
        upcoming = reader.submit(prepare, data)
        while True:
            piece, digest = upcoming.result()
            if not piece:
                return
            upcoming = reader.submit(prepare, data)
            yield piece, digest


def upload(base: str, source: Path, size: int, chunk: int) -> tuple[float, str]:
    with httpx.Client(base_url=base, timeout=120) as http:
        created = http.post(
            "/api/uploads", headers=TUS | {"Upload-Length": str(size), "Upload-Metadata": ""}
        )
        created.raise_for_status()
        url = created.headers["location"]
        started = time.perf_counter()
        offset = 0
        for piece, digest in chunks(source, chunk):
            response = http.patch(
                url,
                content=piece,
                headers=TUS
                | {
                    "Upload-Offset": str(offset),
                    "Content-Type": "application/offset+octet-stream",
                    "Upload-Checksum": f"sha1 {digest}",
                },
            )
            if response.status_code != 204:
                raise SystemExit(f"PATCH at {offset}: {response.status_code} {response.text}")
            offset = int(response.headers["upload-offset"])
        elapsed = time.perf_counter() - started
        server_sha256 = http.get(url).json()["sha256"]
        http.delete(url, headers=TUS)
    return elapsed, server_sha256


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--chunk-mib", type=int, default=8)
    parser.add_argument("--dir", type=Path, default=None, help="a directory on the disk to test")
    args = parser.parse_args()
    size, chunk = args.size_mib * MIB, args.chunk_mib * MIB
    work = Path(tempfile.mkdtemp(prefix="loadbay-bench-", dir=args.dir))
    try:
        source = work / "source.bin"
        expected = make_source(source, size, chunk)
        disk_mb_s, dd_line = raw_disk_mb_s(work)
        process, base = start_server(work / "var", work / "server.log")
        try:
            idle_rss = rss_mb(process.pid, "VmRSS")
            elapsed, server_sha256 = upload(base, source, size, chunk)
            peak_rss = rss_mb(process.pid, "VmHWM")
        finally:
            process.terminate()
            process.wait(timeout=30)
        if server_sha256 != expected:
            raise SystemExit(f"sha256 mismatch: server {server_sha256}, file {expected}")
        upload_mb_s = size / elapsed / 1e6
        ratio = upload_mb_s / disk_mb_s
        print(
            f"file:           {args.size_mib} MiB in {args.chunk_mib} MiB PATCHes, sha1 per chunk"
        )
        print(f"upload:         {elapsed:.2f} s, {upload_mb_s:.0f} MB/s (sha256 verified)")
        print(f"raw disk (dd):  {disk_mb_s:.0f} MB/s   [{dd_line}]")
        ratio_met = "met" if ratio >= GOAL_RATIO else "NOT met"
        rss_met = "met" if peak_rss < GOAL_RSS_MB else "NOT met"
        print(f"ratio:          {ratio:.2f}  (goal >= {GOAL_RATIO}: {ratio_met})")
        print(
            f"server RSS:     peak {peak_rss:.0f} MB, idle before the upload {idle_rss:.0f} MB"
            f"  (goal < {GOAL_RSS_MB}: {rss_met})"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
