"""API latency and throughput: a real loadbay server (`loadbay serve --workers N`) on loopback,
against a bare Starlette app on the same machine as the ceiling.

    .venv/bin/python bench/load.py [--workers 2] [--concurrency 32] [--client-processes 2]
                                   [--seconds 10] [--rounds 3]

asyncio httpx clients keep ``--concurrency`` requests in flight for ``--seconds`` per
scenario and report p50/p90/p99 latency, error rate and QPS for
``GET /api/imports/{id}``, ``POST /api/imports`` with 100 records (synchronous import into
SQLite), and ``GET /`` of the bare app; then the GET's QPS as a share of the ceiling.
Goals: GET p99 under 50 ms at 32 clients; GET QPS at least 50% of the ceiling. Each round
runs the three scenarios in turn against both servers (started once, side by side); the
verdict takes the medians of the rounds, since one 10-second window on a shared machine can
be 10% off.

The server runs as in production: JSON access logs (to a file), metrics in multiprocess
mode, local auth (no key) and rate limits raised out of the way (the default policy,
600/minute per client, would otherwise be what is measured). The clients are spread over
``--client-processes`` processes (each simulated client with its own connection): httpx
spends more CPU per request than the bare app does, so a single client process saturates
its core first and then measures its own event loop, and both servers look alike. On a
small machine the clients share the cores with the servers, which bounds both figures the
same way; the ratio is the meaningful number.
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
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import astuple, dataclass
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


# The ceiling is served by the same supervisor as ``loadbay serve --workers N``: one
# SO_REUSEPORT socket per worker (loadbay/server.py).
_SERVE_BARE = (
    "import sys; from loadbay.server import ServeOptions, serve; serve(ServeOptions("
    "sys.argv[1], '127.0.0.1', int(sys.argv[2]), uvicorn={'access_log': False}),"
    " workers=int(sys.argv[3]))"
)


@contextmanager
def server(app: str, workers: int, env: dict[str, str], log: Path) -> Iterator[str]:
    port = free_port()
    if app == "loadbay":  # as in production
        command = [sys.executable, "-m", "loadbay", "serve", "--port", str(port)]
        command += ["--workers", str(workers)]
    else:
        command = [sys.executable, "-c", _SERVE_BARE, app, str(port), str(workers)]
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


@dataclass(frozen=True)
class Scenario:
    name: str
    base: str
    method: str
    path: str
    body: Any


def _load_part(scenario: Scenario, concurrency: int, seconds: float, start: float) -> Result:
    time.sleep(max(0.0, start - time.time()))  # every process begins at the same moment
    return asyncio.run(load(*astuple(scenario), concurrency, seconds))


def load_from(
    pool: ProcessPoolExecutor, processes: int, scenario: Scenario, concurrency: int, seconds: float
) -> Result:
    """``load`` spread over ``processes`` client processes, the clients shared among them:
    one asyncio process can drive only one core, and a saturated client measures itself
    (each response waits for its turn in the client's own loop), not the server."""
    shares = [concurrency // processes + (n < concurrency % processes) for n in range(processes)]
    start = time.time() + 1.0
    parts = [pool.submit(_load_part, scenario, share, seconds, start) for share in shares if share]
    results = [part.result() for part in parts]
    return Result(
        scenario.name,
        [latency for result in results for latency in result.latencies],
        sum(result.errors for result in results),
        max(result.seconds for result in results),
    )


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
        "--client-processes",
        type=int,
        default=2,
        help="processes the clients are spread over (default 2)",
    )
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
            server("loadbay", args.workers, env, log) as base,
            server("hello_app:app", args.workers, env, work / "hello.log") as bare_base,
        ):
            assert httpx.post(f"{base}/api/schemas", json=SCHEMA).status_code == 201
            created = httpx.post(f"{base}/api/imports", json=batch, timeout=30)
            assert created.status_code == 201, created.text
            item = f"/api/imports/{created.json()['id']}"
            scenarios = (
                Scenario(f"GET {item[:20]}…", base, "GET", item, None),
                Scenario(f"POST /api/imports ({RECORDS})", base, "POST", "/api/imports", batch),
                Scenario("bare Starlette GET /", bare_base, "GET", "/", None),
            )
            with ProcessPoolExecutor(args.client_processes) as pool:
                for _ in range(args.rounds):
                    get, post, bare = (
                        load_from(pool, args.client_processes, scenario, *run)
                        for scenario in scenarios
                    )
                    rounds.append((get, post, bare))
            log_lines = sum(1 for _ in log.open()) if log.exists() else 0

    print(
        f"loadbay load benchmark: {args.workers} uvicorn workers, {args.concurrency} concurrent"
        f" clients in {args.client_processes} process(es), {args.seconds:.0f} s per scenario,"
        f" {args.rounds} round(s), {os.cpu_count()} CPU(s), Python {sys.version.split()[0]}"
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
