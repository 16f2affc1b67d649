"""`loadbay serve --workers N`: workers with a listening socket each, supervised; metrics
and dashboard figures counted over all of them; clear refusals when the port is taken or a
worker cannot start."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import ServerProcess, free_port, server_env


def workers_of(supervisor: int) -> set[int]:
    """The worker processes of a `loadbay serve --workers N` (not multiprocessing's helper)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue  # gone meanwhile
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == supervisor and b"resource_tracker" not in command:
            found.add(int(entry.name))
    return found


def listening_pids(port: int) -> set[int]:
    """Processes holding a socket that listens on ``port`` (from /proc/net/tcp)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == "0A":  # LISTEN
            inodes.add(fields[9])
    pids = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                links = [os.readlink(fd) for fd in (entry / "fd").iterdir()]
            except OSError:
                continue
            if any(link == f"socket:[{inode}]" for link in links for inode in inodes):
                pids.add(int(entry.name))
    return pids


def wait_for(condition: Callable[[], bool], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.2)


@pytest.fixture
def server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    process = ServerProcess(server_env(tmp_path / "var"), tmp_path / "server.log")
    yield process
    process.stop()
    process.show_log_if_failed(request)


def test_workers_each_listen_share_the_metrics_and_are_replaced_when_killed(
    server: ServerProcess, tmp_path: Path
) -> None:
    base = server.start(workers=2)
    port = int(base.rsplit(":", 1)[1])
    workers = workers_of(server.pid)
    assert len(workers) == 2
    assert listening_pids(port) == workers  # a socket of its own each, none in the supervisor

    # New connections are spread by the kernel; /metrics counts every worker's requests.
    for _ in range(20):
        with httpx.Client(base_url=base) as client:
            assert client.get("/api/schemas").status_code == 200
    metrics = httpx.get(f"{base}/metrics").text
    counts = re.findall(
        r'^http_request_duration_seconds_count\{[^}]*method="GET"[^}]*route="/api/schemas"'
        r'[^}]*status="200"[^}]*\} (\S+)$',
        metrics,
        re.M,
    )
    assert sum(float(count) for count in counts) == 20
    assert (tmp_path / "var" / "metrics").is_dir()

    # So does the dashboard's /api/stats, whichever worker answers (the others' seconds are
    # in its files within about a second).
    def host_figures_counted() -> bool:
        stats = httpx.get(f"{base}/api/stats").json()
        assert stats["scope"] == "host"
        return bool(stats["windows"]["1m"]["requests"] >= 21)  # the 20, and /metrics

    wait_for(host_figures_counted, seconds=10)

    killed = min(workers)
    os.kill(killed, signal.SIGKILL)
    wait_for(lambda: len(workers_of(server.pid) - {killed}) == 2)
    wait_for(lambda: listening_pids(port) == workers_of(server.pid))
    assert httpx.get(f"{base}/healthz").status_code == 200
    assert "exited with code -9; starting another" in server.log.read_text()

    assert server.process is not None
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=60) == 0
    assert workers_of(server.pid) == set()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{base}/healthz", timeout=2)


def serve(tmp_path: Path, *args: str, **variables: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loadbay", "serve", *args],
        env=server_env(tmp_path / "var", **variables),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_taken_port_is_refused_before_any_worker_starts(tmp_path: Path) -> None:
    # SO_REUSEPORT must not let the workers join (and split the traffic of) whatever
    # already listens there, another loadbay included.
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = serve(tmp_path, "--port", str(port), "--workers", "2")
    assert done.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in done.stderr


def test_workers_that_cannot_start_stop_the_server(tmp_path: Path) -> None:
    port = str(free_port())
    store = "postgresql://nobody@127.0.0.1:1/nothing"  # nothing listens on port 1
    done = serve(tmp_path, "--port", port, "--workers", "2", LOADBAY_DATABASE_URL=store)
    assert done.returncode == 2
    assert re.search(r"worker \d+ exited with code 3 at start; see its log above", done.stderr)


def test_reload_runs_one_process_only(tmp_path: Path) -> None:
    done = serve(tmp_path, "--workers", "2", "--reload")
    assert done.returncode == 2
    assert "--reload restarts one process: it cannot be used with --workers" in done.stderr
