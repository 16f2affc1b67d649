"""Serving an ASGI app with uvicorn: one process, or several workers that share the load.

``uvicorn --workers N`` gives its workers one listening socket, and whichever worker wakes
first accepts every connection waiting: clients that connect together (a proxy's keep-alive
pool, a load test) end up mostly on one worker (23 of 32 seen here) while the others idle,
and the busy worker's queue is the tail latency. Here each worker listens on a socket of its
own with ``SO_REUSEPORT``, and the kernel spreads new connections over them.

A supervisor (this process) starts the workers, starts again one that dies, and stops them
all on SIGINT or SIGTERM. With several workers and no ``PROMETHEUS_MULTIPROC_DIR``, metrics
go to ``<data dir>/metrics``, emptied at start, so ``/metrics`` counts every worker.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import uvicorn

from loadbay.observability.metrics import MULTIPROC_ENV

logger = logging.getLogger("loadbay.server")

# A worker that exits with an error this soon after it started is broken (settings, the
# store), not unlucky: starting it again would only repeat the failure. One killed by a
# signal (the OOM killer, an operator) is started again whenever it dies.
STARTUP_GRACE_SECONDS = 10.0
# How long stopping waits for a worker to finish its requests before killing it.
STOP_TIMEOUT_SECONDS = 30.0
BACKLOG = 2048


class ServeError(Exception):
    """The server cannot start (the address is taken, or a worker fails at start)."""


@dataclass(frozen=True)
class ServeOptions:
    app: str
    host: str
    port: int
    factory: bool = False
    # Passed to uvicorn.Config as they are (access_log, proxy_headers, log_level…).
    uvicorn: dict[str, Any] = field(default_factory=dict)


def serve(options: ServeOptions, *, workers: int = 1, metrics_dir: Path | None = None) -> None:
    """Serve until SIGINT or SIGTERM; ``workers`` > 1 starts that many processes."""
    if workers <= 1:
        uvicorn.run(
            options.app, host=options.host, port=options.port, factory=options.factory,
            **options.uvicorn,
        )  # fmt: skip
        return
    _refuse_taken_address(options.host, options.port)
    if metrics_dir is not None and not os.environ.get(MULTIPROC_ENV):
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        os.environ[MULTIPROC_ENV] = str(metrics_dir)  # inherited by every worker
    Supervisor(options, workers).run()


def _refuse_taken_address(host: str, port: int) -> None:
    # SO_REUSEPORT would let the workers join another server's sockets (a second loadbay
    # started on the same port) and split its traffic: bind once without it first.
    with socket.socket(_family(host), socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _listening_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(_family(host), socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(BACKLOG)
    return sock


def _worker(options: ServeOptions) -> None:
    sock = _listening_socket(options.host, options.port)
    config = uvicorn.Config(options.app, factory=options.factory, **options.uvicorn)
    uvicorn.Server(config).run(sockets=[sock])


class Supervisor:
    def __init__(self, options: ServeOptions, workers: int) -> None:
        self._options = options
        self._count = workers
        self._context = multiprocessing.get_context("spawn")
        self._workers: dict[BaseProcess, float] = {}  # process -> when it started
        self._stopping = threading.Event()

    def run(self) -> None:
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            logger.info(
                "serving on http://%s:%d with %d workers (one SO_REUSEPORT socket each)",
                self._options.host, self._options.port, self._count,
            )  # fmt: skip
            for _ in range(self._count):
                self._start()
            while not self._stopping.wait(0.5):
                self._replace_dead()
        finally:
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _stop(self, signum: int, _frame: object) -> None:
        self._stopping.set()

    def _start(self) -> None:
        process = self._context.Process(target=_worker, args=(self._options,), daemon=False)
        process.start()
        self._workers[process] = time.monotonic()

    def _replace_dead(self) -> None:
        for process, started in list(self._workers.items()):
            if process.is_alive():
                continue
            del self._workers[process]
            _forget_metrics_of(process)
            failed = process.exitcode is not None and process.exitcode > 0
            if failed and time.monotonic() - started < STARTUP_GRACE_SECONDS:
                raise ServeError(
                    f"worker {process.pid} exited with code {process.exitcode} at start; "
                    "see its log above"
                )
            logger.warning("worker %s exited with code %s; starting another", process.pid,
                           process.exitcode)  # fmt: skip
            self._start()

    def _stop_all(self) -> None:
        for process in self._workers:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn finishes the requests it has
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for process in self._workers:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                logger.warning("worker %s did not stop in time; killing it", process.pid)
                process.kill()
                process.join()
            _forget_metrics_of(process)
        self._workers.clear()


def _forget_metrics_of(process: BaseProcess) -> None:
    # Its in-flight gauge would otherwise count forever (prometheus-client livesum gauges).
    if os.environ.get(MULTIPROC_ENV) and process.pid is not None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(process.pid)  # type: ignore[no-untyped-call]
