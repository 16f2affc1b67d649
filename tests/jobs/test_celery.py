"""The Celery executor for real: `python -m loadbay worker` subprocesses on the real Redis,
PostgreSQL as metadata store and load target, the API in this process sending the tasks.

Each test has its own Celery queue (a uuid) and its own PostgreSQL schema, so tests running
in parallel never take each other's messages or see each other's rows. Short leases (2 s)
make a killed worker's job come back quickly: the sweepers re-send it once its lease lapsed.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from loadbay.app import create_app
from loadbay.cli import app as cli_app
from loadbay.context import AppContext
from loadbay.db import create_engine, transaction, utcnow
from loadbay.imports.files import ANALYSE, COMMIT, VALIDATE
from loadbay.jobs import service
from loadbay.jobs.distributed import TASK_NAME, CeleryExecutor, celery_app
from loadbay.jobs.models import Job
from loadbay.jobs.runner import JobControl, JobKind, JobRunner
from loadbay.settings import Settings
from tests.conftest import IN_CI, REDIS_URL
from tests.imports.conftest import CUSTOMERS
from tests.imports.files_helpers import (
    customers_csv,
    register_customers,
    start_import,
    upload,
    wait_for,
)

pytestmark = pytest.mark.postgres

STARTUP_SECONDS = 60  # generous: a loaded machine imports polars and Celery slowly
CRASH_ROWS = 200_000
STOP_ROWS = 100_000  # enough for the commit to be running when SIGTERM comes


@pytest.fixture(scope="session")
def redis_url() -> str:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except (redis.RedisError, OSError) as exc:
        message = f"Redis at {REDIS_URL} is not reachable: {exc}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return REDIS_URL


@pytest.fixture
def queue(redis_url: str) -> Iterator[str]:
    name = f"loadbay-test-{uuid.uuid4().hex}"
    yield name
    _forget_queue(redis_url, name)


def _forget_queue(url: str, name: str) -> None:
    """Remove what the test left in Redis: its queue, its binding and the unacknowledged
    messages of killed workers (kombu keeps those in shared keys, by routing key)."""
    client = redis.Redis.from_url(url)
    client.delete(name, f"_kombu.binding.{name}")
    for tag, payload in client.hscan_iter("unacked"):
        try:
            routing_key = json.loads(payload)[2]
        except (ValueError, IndexError, TypeError):
            continue
        if routing_key == name:
            client.hdel("unacked", tag)
            client.zrem("unacked_index", tag)


@pytest.fixture
def celery_settings(
    tmp_path: Path, postgres_schema_url: str, redis_url: str, queue: str
) -> Settings:
    return Settings(
        data_dir=tmp_path / "var",
        database_url=postgres_schema_url,
        target_database_url=postgres_schema_url,
        executor="celery",
        redis_url=redis_url,
        celery_queue=queue,
        job_lease_seconds=2.0,
        job_poll_interval=0.5,
        progress_interval=0.2,
        # The rate-limit counters live in the shared Redis: polling tests must not hit them.
        rate_limit_default="1000000/minute",
    )


@pytest.fixture
def api(celery_settings: Settings) -> Iterator[TestClient]:
    """The API with the Celery executor: it only queues jobs and sends their tasks. Entered
    before any worker starts, so its migrations have run when a worker connects."""
    with TestClient(create_app(celery_settings), raise_server_exceptions=False) as client:
        yield client


def api_context(client: TestClient) -> AppContext:
    context: AppContext = client.app.state.context  # type: ignore[attr-defined]
    return context


class WorkerProcess:
    """One `python -m loadbay worker` subprocess, logging to a file of its own."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> WorkerProcess:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "loadbay", "worker"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if any(line.get("message", "").endswith(" ready.") for line in self.lines()):
                return self
            if self.process.poll() is not None:
                raise AssertionError(f"worker died at start:\n{self.log.read_text()[-4000:]}")
            time.sleep(0.1)
        self.process.kill()
        raise AssertionError(f"worker not ready within {STARTUP_SECONDS} s")

    def lines(self) -> list[dict[str, Any]]:
        """The JSON log lines written so far (Python warnings on stderr are not JSON)."""
        out = []
        for text in self.log.read_text(errors="replace").splitlines():
            if text.startswith("{"):
                try:
                    out.append(json.loads(text))
                except ValueError:
                    continue  # a line being written as we read
        return out

    def messages(self, containing: str) -> list[str]:
        return [m for line in self.lines() if containing in (m := line.get("message", ""))]

    def kill(self) -> None:
        """kill -9: no shutdown, the running job dies with its thread."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


WorkerFactory = Callable[[], WorkerProcess]


def worker_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOADBAY_")}
    assert settings.database_url is not None
    assert settings.target_database_url is not None
    assert settings.redis_url is not None
    return env | {
        "LOADBAY_DATA_DIR": str(settings.data_dir),  # the uploads the API stored
        "LOADBAY_DATABASE_URL": settings.database_url,
        "LOADBAY_TARGET_DATABASE_URL": settings.target_database_url,
        "LOADBAY_EXECUTOR": "celery",
        "LOADBAY_REDIS_URL": settings.redis_url,
        "LOADBAY_CELERY_QUEUE": settings.celery_queue,
        "LOADBAY_JOB_LEASE_SECONDS": str(settings.job_lease_seconds),
        "LOADBAY_JOB_POLL_INTERVAL": str(settings.job_poll_interval),
        "LOADBAY_PROGRESS_INTERVAL": str(settings.progress_interval),
        "LOADBAY_JOB_WORKERS": "2",
    }


@pytest.fixture
def start_worker(tmp_path: Path, celery_settings: Settings) -> Iterator[WorkerFactory]:
    started: list[WorkerProcess] = []

    def start() -> WorkerProcess:
        worker = WorkerProcess(worker_env(celery_settings), tmp_path / f"worker-{len(started)}.log")
        started.append(worker)
        return worker.start()

    yield start
    for worker in started:
        # Killed, not stopped: nothing is left to check, and a warm shutdown takes seconds.
        if worker.process is not None and worker.process.poll() is None:
            worker.kill()


def job_of(context: AppContext, import_id: str, kind: str) -> Job:
    jobs = service.jobs_of(context.sessions, subject_id=uuid.UUID(import_id))
    matching = [j for j in jobs if j.kind == kind]
    assert len(matching) == 1, [(j.kind, j.state) for j in jobs]
    return matching[0]


def wait_job(context: AppContext, import_id: str, kind: str, state: str) -> Job:
    deadline = time.monotonic() + 30
    while (job := job_of(context, import_id, kind)).state != state:
        assert time.monotonic() < deadline, f"job {kind} stayed {job.state}"
        time.sleep(0.05)
    return job


def read_events(client: TestClient, url: str) -> list[tuple[str, dict[str, Any]]]:
    events: list[tuple[str, dict[str, Any]]] = []
    with client.stream("GET", url) as response:
        assert response.status_code == 200
        kind = ""
        for line in response.iter_lines():
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((kind, json.loads(line.removeprefix("data: "))))
    return events


# --- the worker command and readiness ------------------------------------------------------


def test_worker_refuses_without_the_celery_executor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [n for n in os.environ if n.startswith("LOADBAY_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("LOADBAY_DATA_DIR", str(tmp_path / "var"))
    local = CliRunner().invoke(cli_app, ["worker"])
    assert local.exit_code == 2
    assert "set LOADBAY_EXECUTOR=celery" in local.stderr
    monkeypatch.setenv("LOADBAY_EXECUTOR", "celery")
    no_broker = CliRunner().invoke(cli_app, ["worker"])
    assert no_broker.exit_code == 2
    assert "set LOADBAY_REDIS_URL" in no_broker.stderr
    assert not (tmp_path / "var").exists()  # refused before touching any store


def test_readiness_checks_the_broker(api: TestClient, celery_settings: Settings) -> None:
    checks = api.get("/readyz").json()["checks"]
    assert checks["broker"] == {"ok": True, "reason": None}
    broken = celery_settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    with TestClient(create_app(broken), raise_server_exceptions=False) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    reason = response.json()["checks"]["broker"]["reason"]
    assert reason.startswith("celery broker redis unreachable: ConnectionError"), reason


# --- imports run by a worker ---------------------------------------------------------------


def test_file_import_lifecycle_through_a_celery_worker(
    api: TestClient, start_worker: WorkerFactory, celery_settings: Settings
) -> None:
    worker = start_worker()
    register_customers(api)
    upload_id = upload(api, customers_csv(500, bad={7: {"age": 130}}))
    created = start_import(api, upload_id)
    body = wait_for(api, created["id"], {"validated", "failed"})
    assert body["state"] == "validated", body
    assert body["counts"]["rows_total"] == 500
    assert body["counts"]["rows_invalid"] == 1
    assert [(e["row"], e["column"], e["rule"]) for e in body["first_errors"]] == [
        (7, "age", "maximum")
    ]
    fixed = api.patch(
        f"/api/imports/{body['id']}/rows",
        json={"edits": [{"row": 7, "field": "age", "value": "31"}]},
    )
    assert fixed.status_code == 200, fixed.text
    assert fixed.json()["import"]["counts"]["rows_invalid"] == 0
    started = api.post(f"/api/imports/{body['id']}/commit", json={"on_error": "abort"})
    assert started.status_code == 202, started.text
    done = wait_for(api, body["id"], {"completed", "failed"})
    assert done["state"] == "completed", done
    assert done["counts"]["rows_loaded"] == 500
    engine = create_engine(celery_settings.target_url())
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT id, age FROM customers ORDER BY id")).all()
    finally:
        engine.dispose()
    assert len(rows) == 500
    assert rows[6] == (7, 31)
    # Every step ran in the worker (validation queued by the analysis it ran included).
    context = api_context(api)
    for kind in (ANALYSE, VALIDATE, COMMIT):
        job = wait_job(context, body["id"], kind, "succeeded")
        assert job.attempts == 1
        assert job.lease_owner is not None
        assert f":{worker.pid}:" in job.lease_owner  # owner: host:pid:random


def test_event_stream_follows_a_worker_to_completion(
    api: TestClient, start_worker: WorkerFactory
) -> None:
    start_worker()
    register_customers(api)
    created = start_import(api, upload(api, customers_csv(5000)), options={"auto_commit": True})
    events = read_events(api, created["links"]["events"])
    states = [body["state"] for kind, body in events if kind == "state"]
    assert states[-1] == "completed", states
    lifecycle = ["created", "analysing", "validating", "validated", "committing", "completed"]
    assert states == sorted(states, key=lifecycle.index)
    # The stream saw the job at work, not only its end.
    assert len(states) >= 2, events
    assert events[-1][1]["counts"]["rows_loaded"] == 5000


def test_a_duplicate_delivery_runs_the_job_once(
    api: TestClient, start_worker: WorkerFactory, celery_settings: Settings
) -> None:
    register_customers(api)
    # No worker yet: the analysis waits in the broker, and a second message for the same job
    # joins it, so the worker's two threads take both at once.
    created = start_import(api, upload(api, customers_csv(200)))
    context = api_context(api)
    analyse = job_of(context, created["id"], ANALYSE)
    sender = celery_app(celery_settings)
    try:
        sender.send_task(TASK_NAME, args=[str(analyse.id)], queue=celery_settings.celery_queue)
    finally:
        sender.close()
    worker = start_worker()
    body = wait_for(api, created["id"], {"validated", "failed"})
    assert body["state"] == "validated", body
    job = wait_job(context, created["id"], ANALYSE, "succeeded")
    assert job.attempts == 1
    assert len(worker.messages(f"job {analyse.id} ({ANALYSE}) started")) == 1
    deadline = time.monotonic() + 10
    while not worker.messages(f"job {analyse.id} is done or held by a live worker"):
        assert time.monotonic() < deadline, "the second delivery never reached the worker"
        time.sleep(0.1)
    assert job_of(context, created["id"], VALIDATE).attempts == 1


# --- crash consistency ---------------------------------------------------------------------

# No primary key and no unique column: only the load's (import id, row) keying stands between
# a retried commit and duplicated rows.
UNKEYED = {
    **CUSTOMERS,
    "primaryKey": [],
    "fields": [
        {k: v for k, v in f.items() if k != "constraints"} | {"constraints": {"required": True}}
        if f["name"] == "email"
        else f
        for f in CUSTOMERS["fields"]
    ],
}


def count_rows(engine: sa.Engine, import_id: str) -> tuple[int, int]:
    """(rows, distinct ids) one import put in the target table; (0, 0) before it exists."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("customers"):
            return (0, 0)
        total, distinct = conn.execute(
            sa.text(
                "SELECT count(*), count(DISTINCT id) FROM customers "
                "WHERE _loadbay_import_id = :import_id"
            ),
            {"import_id": uuid.UUID(import_id)},
        ).one()
    return (int(total), int(distinct))


CRASH_RUNS = 3


def test_commits_survive_their_worker_killed_at_random_moments(
    api: TestClient, start_worker: WorkerFactory, celery_settings: Settings
) -> None:
    # One upload, imported CRASH_RUNS times into the same unkeyed table (each import adds
    # its rows); each commit's worker is killed and the next worker recovers it, then
    # serves the next run.
    register_customers(api, UNKEYED)
    upload_id = upload(api, customers_csv(CRASH_ROWS))
    context = api_context(api)
    engine = create_engine(celery_settings.target_url())
    worker = start_worker()
    try:
        for run in range(CRASH_RUNS):
            created = start_import(api, upload_id)
            body = wait_for(api, created["id"], {"validated", "failed"}, timeout=90)
            assert body["state"] == "validated", body
            # The commit streams and validates the file again while it stages the rows,
            # then moves them: longer than the validation job took, so a kill within that
            # time lands inside the commit, wherever the random draw puts it.
            # The import is validated a moment before its job is marked finished.
            validation = wait_job(context, body["id"], VALIDATE, "succeeded")
            assert validation.started_at is not None
            assert validation.finished_at is not None
            validation_seconds = (validation.finished_at - validation.started_at).total_seconds()
            started = api.post(f"/api/imports/{body['id']}/commit", json={"on_error": "abort"})
            assert started.status_code == 202, started.text
            assert started.json()["state"] == "committing"
            time.sleep(random.uniform(0.0, 1.0) * validation_seconds)
            worker.kill()
            at_kill = api.get(f"/api/imports/{body['id']}").json()
            assert at_kill["state"] == "committing", f"run {run}: the commit ended before the kill"
            # Nearly always running; queued if the kill came before the worker claimed it.
            killed_running = job_of(context, body["id"], COMMIT).state == "running"
            # All or nothing even mid-crash: the rows moved in one transaction, or not at all.
            assert count_rows(engine, body["id"]) in {(0, 0), (CRASH_ROWS, CRASH_ROWS)}
            worker = start_worker()
            done = wait_for(api, body["id"], {"completed", "failed"}, timeout=90)
            assert done["state"] == "completed", done
            assert done["counts"]["rows_loaded"] == CRASH_ROWS
            # Every row, none twice.
            assert count_rows(engine, body["id"]) == (CRASH_ROWS, CRASH_ROWS), f"run {run}"
            commit = wait_job(context, body["id"], COMMIT, "succeeded")
            # The killed attempt (if it had begun), then the one that finished.
            assert commit.attempts == (2 if killed_running else 1)
        with engine.connect() as conn:
            total = conn.execute(sa.text("SELECT count(*) FROM customers")).scalar_one()
        assert total == CRASH_RUNS * CRASH_ROWS
    finally:
        engine.dispose()


def test_a_stopped_worker_hands_its_running_commit_back(
    api: TestClient, start_worker: WorkerFactory, celery_settings: Settings
) -> None:
    first = start_worker()
    register_customers(api, UNKEYED)
    created = start_import(api, upload(api, customers_csv(STOP_ROWS)))
    body = wait_for(api, created["id"], {"validated", "failed"}, timeout=90)
    assert body["state"] == "validated", body
    started = api.post(f"/api/imports/{body['id']}/commit", json={"on_error": "abort"})
    assert started.status_code == 202, started.text
    context = api_context(api)
    wait_job(context, body["id"], COMMIT, "running")
    first.stop()  # SIGTERM: Celery's warm shutdown
    assert first.process is not None
    assert first.process.returncode == 0
    assert first.messages("interrupted: the executor is shutting down")
    # Handed back at once, not left to its lease: queued again, nothing loaded.
    job = job_of(context, body["id"], COMMIT)
    assert (job.state, job.lease_owner, job.attempts) == ("queued", None, 1)
    engine = create_engine(celery_settings.target_url())
    try:
        assert count_rows(engine, body["id"]) == (0, 0)
        start_worker()
        done = wait_for(api, body["id"], {"completed", "failed"}, timeout=90)
        assert done["state"] == "completed", done
        assert count_rows(engine, body["id"]) == (STOP_ROWS, STOP_ROWS)
    finally:
        engine.dispose()
    assert wait_job(context, body["id"], COMMIT, "succeeded").attempts == 2


# --- the sweeper, without a broker ---------------------------------------------------------


class RecordingApp:
    """Stands in for the Celery app: records what would have been sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, list[str], str]] = []

    def send_task(self, name: str, *, args: list[str], queue: str) -> None:
        self.sent.append((name, args, queue))


def test_the_sweeper_sends_stale_jobs_only_and_backs_off(context: AppContext) -> None:
    def add_job(age: float) -> uuid.UUID:
        with transaction(context.sessions) as session:
            job_id = service.enqueue(
                session, kind="test", subject_id=uuid.uuid4(), notify=lambda _: None
            )
            session.flush()
            session.execute(
                sa.update(Job)
                .where(Job.id == job_id)
                .values(created_at=utcnow() - timedelta(seconds=age))
            )
        return job_id

    app = RecordingApp()
    runner = JobRunner(context.sessions, {}, lease=2.0, max_attempts=3)
    executor = CeleryExecutor(app, runner, poll_interval=0.1, queue="q")  # type: ignore[arg-type]
    young, stale = add_job(age=0.0), add_job(age=10.0)
    executor.sweep_once()
    # The young job's own message is on its way; the stale one was never taken: sent.
    assert app.sent == [(TASK_NAME, [str(stale)], "q")]
    executor.sweep_once()
    assert len(app.sent) == 1  # not again before a lease period has passed
    # A job that a dead worker held comes back as soon as its lease lapsed.
    dead = add_job(age=0.0)
    assert service.claim(context.sessions, job_id=dead, owner="dead", lease=0.05)
    time.sleep(0.1)
    executor.sweep_once()
    assert app.sent[1:] == [(TASK_NAME, [str(dead)], "q")]
    assert young not in {uuid.UUID(args[0]) for _, args, _ in app.sent}


def test_a_job_resent_to_the_worker_still_running_it_is_not_run_twice(
    context: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stall of the store outlasts the lease while the job runs; the sweepers then send the
    # job again, and the message may reach the very worker that still runs it. The lease
    # names the process, so the claim itself would succeed: the worker must refuse it.
    outage = threading.Event()
    real_heartbeat = service.heartbeat

    def flaky_heartbeat(sessions: Any, *, job_id: uuid.UUID, owner: str, lease: float) -> bool:
        if outage.is_set():
            raise ConnectionError("the store does not answer")
        return real_heartbeat(sessions, job_id=job_id, owner=owner, lease=lease)

    monkeypatch.setattr(service, "heartbeat", flaky_heartbeat)
    runs: list[uuid.UUID] = []
    started, finish = threading.Event(), threading.Event()

    def work(subject: uuid.UUID, _control: JobControl) -> None:
        runs.append(subject)
        started.set()
        finish.wait(10)

    kinds = {"test": JobKind(run=work, abandon=lambda _subject, _reason: None)}
    runner = JobRunner(context.sessions, kinds, lease=0.3, max_attempts=3)
    # No broker is needed to call a task in this process.
    settings = Settings(executor="celery", redis_url="redis://127.0.0.1:1/0")
    executor = CeleryExecutor(celery_app(settings), runner, poll_interval=0.1, queue="q")
    executor.register_task()
    run_job = executor.app.tasks[TASK_NAME]
    with transaction(context.sessions) as session:
        job_id = service.enqueue(
            session, kind="test", subject_id=uuid.uuid4(), notify=lambda _: None
        )
    outage.set()
    first = threading.Thread(target=run_job, args=[str(job_id)])
    first.start()
    # The first delivery must be running (not merely queued) before the lease can lapse.
    assert started.wait(10)
    deadline = time.monotonic() + 5
    while job_id not in service.claimable_ids(context.sessions, limit=10):
        assert time.monotonic() < deadline, "the lease never lapsed"
        time.sleep(0.02)
    run_job(str(job_id))  # the re-sent message, in another thread of the same worker
    assert len(runs) == 1
    outage.clear()
    finish.set()
    first.join(5)
    assert not first.is_alive()
    with context.sessions() as session:
        job = session.get_one(Job, job_id)
        assert (job.state, job.attempts) == ("succeeded", 1)
