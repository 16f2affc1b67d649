"""Real servers for end-to-end tests: `python -m loadbay serve` as a subprocess."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import CALL_FAILED

STARTUP_SECONDS = 60  # generous: a loaded CI machine imports slowly


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServerProcess:
    """One `loadbay serve` process at a time; it can be killed and started again."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self.base = ""

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, workers: int = 1) -> str:
        port = free_port()
        command = [sys.executable, "-m", "loadbay", "serve", "--port", str(port)]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [*command, "--workers", str(workers)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/openapi.json", timeout=1).status_code == 200:
                    return self.base
            except httpx.TransportError:
                time.sleep(0.1)
            if self.process.poll() is not None:
                raise AssertionError(f"server died at start:\n{self.log.read_text()[-4000:]}")
        self.process.kill()
        raise AssertionError(f"server did not start within {STARTUP_SECONDS} s")

    def kill(self) -> None:
        """kill -9: no shutdown handlers, no flushing."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def show_log_if_failed(self, request: pytest.FixtureRequest, lines: int = 150) -> None:
        """Print the end of the server's log when the test failed: CI keeps only the output,
        and what the server did (a job that failed, a request refused) explains most
        failures of end-to-end tests."""
        if request.node.stash.get(CALL_FAILED, False) and self.log.exists():
            tail = self.log.read_text(errors="replace").splitlines()[-lines:]
            print(f"--- last {len(tail)} lines of {self.log} ---", *tail, sep="\n")


UploadServerFactory = Callable[..., "ServerProcess"]


def server_env(data_dir: Path, **variables: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOADBAY_")}
    return env | {"LOADBAY_DATA_DIR": str(data_dir)} | variables


@pytest.fixture
def start_upload_server(
    tmp_path: Path, database_url: str, request: pytest.FixtureRequest
) -> Iterator[UploadServerFactory]:
    """Starts servers on the current backend's metadata store, uploads under tmp_path/var."""
    started: list[ServerProcess] = []

    def start(**variables: str) -> ServerProcess:
        env = server_env(tmp_path / "var", LOADBAY_DATABASE_URL=database_url, **variables)
        server = ServerProcess(env, tmp_path / "server.log")
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.stop()
    if started:
        started[0].show_log_if_failed(request)  # they share one log


@pytest.fixture
def upload_server(start_upload_server: UploadServerFactory) -> ServerProcess:
    return start_upload_server()
