"""API latency and throughput: a real loadbay server (several uvicorn workers) on loopback,
against a bare Starlette app on the same machine as the ceiling.

    .venv/bin/python bench/load.py [--workers 2] [--concurrency 32] [--seconds 10] [--rounds 3]

An asyncio httpx client keeps ``--concurrency`` requests in flight for ``--seconds`` per
scenario and reports p50/p90/p99 latency, error rate and QPS for
``GET /api/imports/{id}``, ``POST /api/imports`` with 100 records (synchronous import into
SQLite), and ``GET /`` of the bare app; then the GET's QPS as a share of the ceiling.
Goals: GET p99 under 50 ms at 32 clients; GET QPS at least 50% of the ceiling. Each round
runs the three scenarios in turn against both servers (started once, side by side); the
verdict takes the medians of the rounds, since one 10-second window on a shared machine can
be 10% off.

The server runs as in production: JSON access logs (to a file), metrics in multiprocess
mode, local auth (no key) and rate limits raised out of the way (the default policy,
600/minute per client, would otherwise be what is measured). The client is one Python
process: on a small machine it shares the cores with the server, so both figures are bounded
by it the same way, and the ratio is the meaningful number.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

GOAL_P99_MS = 50.0
GOAL_RATIO = 0.5
RECORDS = 100
BENCH_DIR = Path(__file__).resolve().parent
SCHEMA = {
    "name": "bench_rows",
    "fields": [
        {"name": "id", "type": "integer"},
        {"name": "email", "type": "string", "format": "email"},
        {"name": "amount", "type": "number", "constraints": {"minimum": 0}},
        {"name": "day", "type": "date"},
    ],
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def server(app: str, workers: int, env: dict[str, str], log: Path) -> Iterator[str]:
    port = free_port()
    command = [
        sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
        "--workers", str(workers), "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    if app.endswith("create_app"):
        command.append("--factory")
    with log.open("ab") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/", timeout=1).status_code < 500:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{app} did not start; see {log}")
            time.sleep(0.2)
        time.sleep(1.0)  # let every worker finish its start-up
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)


@dataclass
class Result:
    name: str
    latencies: list[float]
    errors: int
    seconds: float

    @property
    def requests(self) -> int:
        return len(self.latencies)

    @property
    def qps(self) -> float:
        return self.requests / self.seconds

    def percentile(self, q: float) -> float:
        return statistics.quantiles(self.latencies, n=1000, method="inclusive")[int(q * 1000) - 1]

    def line(self) -> str:
        qps = self.qps
        p50, p90, p99 = (self.percentile(q) * 1e3 for q in (0.50, 0.90, 0.99))
        error_rate = 100 * self.errors / max(1, self.requests)
        return (
            f"{self.name:<28} {qps:>8.0f} {p50:>8.1f} {p90:>8.1f} {p99:>8.1f} {error_rate:>7.2f}%"
        )


async def load(
    name: str, base: str, method: str, path: str, body: Any, concurrency: int, seconds: float
) -> Result:
    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds

    async def one_client() -> None:
        # One AsyncClient (one keep-alive connection) per simulated client: a single shared
        # pool costs httpx more CPU per request as concurrency grows, and the client then
        # measures itself instead of the server.
        nonlocal errors
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            while time.perf_counter() < stop:
                started = time.perf_counter()
                response = await client.request(method, path, json=body)
                latencies.append(time.perf_counter() - started)
                errors += response.status_code >= 400

    began = time.perf_counter()
    await asyncio.gather(*(one_client() for _ in range(concurrency)))
    return Result(name, latencies, errors, time.perf_counter() - began)


def records(n: int) -> list[dict[str, Any]]:
    return [
        {"id": i, "email": f"user{i}@example.com", "amount": f"{i}.50", "day": "2024-02-29"}
        for i in range(n)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--rounds", type=int, default=3, help="runs of each scenario, medians reported"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="loadbay-bench-") as tmp:
        work = Path(tmp)
        (work / "prometheus").mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith("LOADBAY_")}
        env |= {
            "LOADBAY_DATA_DIR": str(work / "var"),
            "LOADBAY_RATE_LIMIT_DEFAULT": "100000000/minute",
            "PROMETHEUS_MULTIPROC_DIR": str(work / "prometheus"),
            "PYTHONPATH": str(BENCH_DIR),
        }
        log = work / "server.log"
        batch = {"schema": SCHEMA["name"], "records": records(RECORDS)}
        run = (args.concurrency, args.seconds)
        rounds: list[tuple[Result, Result, Result]] = []
        with (
            server("loadbay.app:create_app", args.workers, env, log) as base,
            server("hello_app:app", args.workers, env, work / "hello.log") as bare_base,
        ):
            assert httpx.post(f"{base}/api/schemas", json=SCHEMA).status_code == 201
            created = httpx.post(f"{base}/api/imports", json=batch, timeout=30)
            assert created.status_code == 201, created.text
            item = f"/api/imports/{created.json()['id']}"
            for _ in range(args.rounds):
                get = asyncio.run(load(f"GET {item[:20]}…", base, "GET", item, None, *run))
                name = f"POST /api/imports ({RECORDS})"
                post = asyncio.run(load(name, base, "POST", "/api/imports", batch, *run))
                bare = asyncio.run(load("bare Starlette GET /", bare_base, "GET", "/", None, *run))
                rounds.append((get, post, bare))
            log_lines = sum(1 for _ in log.open()) if log.exists() else 0

    print(
        f"loadbay load benchmark: {args.workers} uvicorn workers, {args.concurrency} concurrent"
        f" clients, {args.seconds:.0f} s per scenario, {args.rounds} round(s), {os.cpu_count()}"
        f" CPU(s), Python {sys.version.split()[0]}"
    )
    print(f"{'scenario':<28} {'QPS':>8} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'errors':>8}")
    for number, results in enumerate(rounds, 1):
        print(f"round {number}")
        for result in results:
            print(result.line())
    ratios = [get.qps / bare.qps for get, _, bare in rounds]
    p99s = [get.percentile(0.99) * 1e3 for get, _, _ in rounds]
    ratio, p99 = statistics.median(ratios), statistics.median(p99s)
    shown = ", ".join(f"{r:.2f}" for r in ratios)
    print(f"GET QPS / bare ceiling: {ratio:.2f}, median of {shown} (goal >= {GOAL_RATIO})")
    shown = ", ".join(f"{p:.1f}" for p in p99s)
    print(f"GET p99: {p99:.1f} ms, median of {shown} (goal < {GOAL_P99_MS:.0f} ms)")
    print(f"access-log lines written by the server: {log_lines}")
    errors = sum(get.errors + post.errors for get, post, _ in rounds)
    verdict = ratio >= GOAL_RATIO and p99 < GOAL_P99_MS and errors == 0
    print("PASS" if verdict else "MISS")


if __name__ == "__main__":
    main()
