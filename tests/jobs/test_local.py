"""The durable job queue and the local executor, on SQLite and PostgreSQL.

Real threads, real leases: short ones (tenths of a second) so that a lapse is quick to wait
for, and waits that poll the table rather than sleep a guessed time.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from loadbay.context import AppContext
from loadbay.db import transaction
from loadbay.destinations.sql import SqlDestination
from loadbay.imports.files import ANALYSE, COMMIT, VALIDATE, begin_commit
from loadbay.imports.jobs import import_job_kinds
from loadbay.imports.models import ImportRecord
from loadbay.imports.service import transition as real_transition
from loadbay.imports.states import ImportState
from loadbay.jobs import service
from loadbay.jobs.local import LocalExecutor
from loadbay.jobs.models import Job, JobState
from loadbay.jobs.runner import JobControl, JobInterrupted, JobKind, JobRunner
from loadbay.schemas.model import TableSchema
from loadbay.settings import Settings
from tests.imports.conftest import CUSTOMERS
from tests.imports.files_helpers import (
    customers_csv,
    register_customers,
    start_import,
    upload,
    wait_for,
)

KIND = "test.work"
CUSTOMERS_SCHEMA = TableSchema.model_validate(CUSTOMERS)
SUBJECT = uuid.UUID("00000000-0000-4000-8000-000000000001")


def wait_until(condition: Callable[[], object], timeout: float = 3.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or condition}")
        time.sleep(0.01)


def job_row(context: AppContext, job_id: uuid.UUID) -> Job:
    with context.sessions() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job


def add_job(context: AppContext, kind: str = KIND, subject_id: uuid.UUID = SUBJECT) -> uuid.UUID:
    with transaction(context.sessions) as session:
        return service.enqueue(session, kind=kind, subject_id=subject_id, notify=lambda _: None)


def lapse(context: AppContext, job_id: uuid.UUID) -> None:
    """Wait until the job's lease has lapsed, as the queue itself judges it."""
    wait_until(
        lambda: job_id in service.claimable_ids(context.sessions, limit=100),
        what=f"the lease of job {job_id} to lapse",
    )


def add_import(context: AppContext, state: ImportState) -> uuid.UUID:
    """An import row in ``state``, as a job would find it (no file is read by these tests)."""
    record = ImportRecord(
        id=uuid.uuid4(),
        schema_name="customers",
        schema_version=1,
        table_name="customers",
        source="upload",
        state=state,
        mode="insert",
        on_error="abort",
    )
    with transaction(context.sessions) as session:
        session.add(record)
    return record.id


def import_row(context: AppContext, import_id: uuid.UUID) -> ImportRecord:
    with context.sessions() as session:
        record = session.get(ImportRecord, import_id)
        assert record is not None
        return record


class Recorder:
    """A job kind whose runs and abandons are recorded; ``work`` is what one run does."""

    def __init__(self, work: Callable[[uuid.UUID, JobControl], None] | None = None) -> None:
        self.work = work
        self.runs: list[uuid.UUID] = []
        self.abandoned: list[tuple[uuid.UUID, str]] = []
        self.interrupted: list[str] = []
        self.started = threading.Event()

    def run(self, subject_id: uuid.UUID, control: JobControl) -> None:
        self.runs.append(subject_id)
        self.started.set()
        try:
            if self.work is not None:
                self.work(subject_id, control)
        except JobInterrupted as exc:
            self.interrupted.append(str(exc))
            raise

    def abandon(self, subject_id: uuid.UUID, reason: str) -> None:
        self.abandoned.append((subject_id, reason))

    @property
    def kind(self) -> JobKind:
        return JobKind(run=self.run, abandon=self.abandon)


def busy_until_interrupted(seconds: float) -> Callable[[uuid.UUID, JobControl], None]:
    """Work in small steps, checking the control between them, for at most ``seconds``."""

    def work(_subject: uuid.UUID, control: JobControl) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            control.check()
            time.sleep(0.01)

    return work


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The app (``client``) runs its own executor; here it only wakes when notified, so the
    jobs a test queues itself are left to the runners the test makes."""
    return settings.model_copy(update={"job_poll_interval": 3600.0})


@pytest.fixture
def make_runner(context: AppContext) -> Callable[..., JobRunner]:
    def make(
        kinds: dict[str, JobKind], *, lease: float = 0.3, max_attempts: int = 3, owner: str = ""
    ) -> JobRunner:
        return JobRunner(
            context.sessions, kinds, lease=lease, max_attempts=max_attempts, owner=owner or None
        )

    return make


@pytest.fixture
def executors() -> Iterator[list[LocalExecutor]]:
    """Executors a test starts; stopped at the end even if the test failed half-way."""
    started: list[LocalExecutor] = []
    yield started
    for executor in started:
        executor.stop(timeout=5)


# --- enqueue -------------------------------------------------------------------------------


def test_enqueue_notifies_only_after_the_commit(context: AppContext) -> None:
    heard: list[uuid.UUID] = []
    with transaction(context.sessions) as session:
        job_id = service.enqueue(session, kind=KIND, subject_id=SUBJECT, notify=heard.append)
        session.flush()
        assert heard == []  # an executor told now would not see the row yet
    assert heard == [job_id]
    job = job_row(context, job_id)
    assert (job.kind, job.subject_id, job.state, job.attempts) == (KIND, SUBJECT, "queued", 0)


def test_enqueue_rolled_back_leaves_no_job_and_no_notice(context: AppContext) -> None:
    heard: list[uuid.UUID] = []
    with context.sessions() as session:
        session.begin()
        service.enqueue(session, kind=KIND, subject_id=SUBJECT, notify=heard.append)
        session.flush()
        session.rollback()  # the state change that asked for the job failed
        # The same session commits something else later: still nothing to hear of.
        with session.begin():
            session.add(Job(id=uuid.uuid4(), kind="other", subject_id=SUBJECT, state="queued"))
    assert heard == []
    assert [j.kind for j in service.jobs_of(context.sessions, subject_id=SUBJECT)] == ["other"]


def test_enqueue_notifies_at_the_outer_commit_not_at_a_savepoint(context: AppContext) -> None:
    heard: list[uuid.UUID] = []
    with transaction(context.sessions) as session:
        job_id = service.enqueue(session, kind=KIND, subject_id=SUBJECT, notify=heard.append)
        with session.begin_nested():  # released: the job is still not committed
            session.add(Job(id=uuid.uuid4(), kind="other", subject_id=SUBJECT, state="queued"))
        assert heard == []
        # A savepoint rolled back (as the mapping memory does on a race) keeps the job.
        with pytest.raises(RuntimeError), session.begin_nested():
            raise RuntimeError("a nested step failed")
        assert heard == []
    assert heard == [job_id]
    assert job_row(context, job_id).state == "queued"


def test_enqueue_of_a_queued_kind_and_subject_is_deduplicated(context: AppContext) -> None:
    heard: list[uuid.UUID] = []

    def enqueue(kind: str = KIND, subject_id: uuid.UUID = SUBJECT) -> uuid.UUID:
        with transaction(context.sessions) as session:
            return service.enqueue(session, kind=kind, subject_id=subject_id, notify=heard.append)

    first = enqueue()
    assert enqueue() == first  # a retried request queues nothing new…
    assert heard == [first]  # …and wakes nobody again
    other_subject = uuid.uuid4()
    assert enqueue(subject_id=other_subject) != first
    assert enqueue(kind="test.other") != first
    # Once the job runs, asking again is a new request for new work: a new job.
    assert service.claim(context.sessions, job_id=first, owner="a", lease=5) is not None
    second = enqueue()
    assert second != first
    assert len(service.jobs_of(context.sessions, subject_id=SUBJECT)) == 3


def test_enqueue_twice_in_one_transaction_is_one_job(context: AppContext) -> None:
    heard: list[uuid.UUID] = []
    with transaction(context.sessions) as session:
        first = service.enqueue(session, kind=KIND, subject_id=SUBJECT, notify=heard.append)
        again = service.enqueue(session, kind=KIND, subject_id=SUBJECT, notify=heard.append)
    assert again == first
    assert heard == [first]


# --- claims and leases ---------------------------------------------------------------------


def race(claim: Callable[[str], service.Claimed | None]) -> dict[str, service.Claimed | None]:
    """Two owners call ``claim`` at the same moment; what each got."""
    barrier = threading.Barrier(2)
    results: dict[str, service.Claimed | None] = {}

    def one(owner: str) -> None:
        barrier.wait()
        results[owner] = claim(owner)

    threads = [threading.Thread(target=one, args=(f"owner-{n}",)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    return results


def test_claim_is_exclusive_between_racing_owners(context: AppContext) -> None:
    for _ in range(5):
        job_id = add_job(context, subject_id=uuid.uuid4())
        results = race(
            lambda owner, job=job_id: service.claim(  # type: ignore[misc]
                context.sessions, job_id=job, owner=owner, lease=5
            )
        )
        winners = [owner for owner, claimed in results.items() if claimed is not None]
        assert (len(results), len(winners)) == (2, 1), results
        job = job_row(context, job_id)
        assert (job.state, job.lease_owner, job.attempts) == ("running", winners[0], 1)


def test_racing_claim_next_gives_each_owner_its_own_job(context: AppContext) -> None:
    jobs = {add_job(context, subject_id=uuid.uuid4()) for _ in range(2)}
    results = race(lambda owner: service.claim_next(context.sessions, owner=owner, lease=5))
    claimed = [c for c in results.values() if c is not None]
    assert {c.id for c in claimed} == jobs, results
    assert service.claim_next(context.sessions, owner="late", lease=5) is None


def test_a_lapsed_lease_is_claimed_by_another_owner(context: AppContext) -> None:
    job_id = add_job(context)
    first = service.claim(context.sessions, job_id=job_id, owner="dead", lease=0.2)
    assert first is not None
    assert first.attempts == 1
    # Held: nobody else gets it, and it is not offered to pollers.
    assert service.claim(context.sessions, job_id=job_id, owner="other", lease=5) is None
    assert job_id not in service.claimable_ids(context.sessions, limit=10)
    lapse(context, job_id)
    second = service.claim(context.sessions, job_id=job_id, owner="other", lease=5)
    assert second is not None
    assert (second.id, second.kind, second.subject_id, second.attempts) == (
        job_id,
        KIND,
        SUBJECT,
        2,
    )
    # The first owner, come back to life, owns nothing any more.
    assert not service.heartbeat(context.sessions, job_id=job_id, owner="dead", lease=5)
    assert not service.finish(
        context.sessions, job_id=job_id, owner="dead", state=JobState.SUCCEEDED
    )
    service.release(context.sessions, job_id=job_id, owner="dead")
    job = job_row(context, job_id)
    assert (job.state, job.lease_owner, job.attempts) == ("running", "other", 2)
    assert service.finish(context.sessions, job_id=job_id, owner="other", state=JobState.SUCCEEDED)
    assert service.claim(context.sessions, job_id=job_id, owner="third", lease=5) is None


def test_heartbeat_extends_the_lease(context: AppContext) -> None:
    job_id = add_job(context)
    assert service.claim(context.sessions, job_id=job_id, owner="a", lease=0.5) is not None
    before = job_row(context, job_id).lease_expires_at
    assert before is not None
    time.sleep(0.05)
    assert service.heartbeat(context.sessions, job_id=job_id, owner="a", lease=0.5)
    after = job_row(context, job_id).lease_expires_at
    assert after is not None
    assert after > before
    assert not service.heartbeat(context.sessions, job_id=job_id, owner="b", lease=0.5)


def test_the_runner_heartbeat_keeps_a_long_job_held(
    context: AppContext, make_runner: Callable[..., JobRunner]
) -> None:
    recorder = Recorder(busy_until_interrupted(0.9))  # three leases long
    runner = make_runner({KIND: recorder.kind}, lease=0.3)
    job_id = add_job(context)
    claimed = runner.claim(job_id)
    assert claimed is not None
    worker = threading.Thread(target=runner.run, args=(claimed,))
    worker.start()
    steals = 0
    while worker.is_alive():
        assert service.claim(context.sessions, job_id=job_id, owner="thief", lease=5) is None
        steals += 1
        time.sleep(0.03)
    assert steals > 10
    assert recorder.interrupted == []
    job = job_row(context, job_id)
    assert (job.state, job.attempts, job.error) == ("succeeded", 1, None)
    assert job.finished_at is not None
    assert job.lease_expires_at is None


def test_a_lost_lease_interrupts_the_job_which_is_released_not_finished(
    context: AppContext, make_runner: Callable[..., JobRunner], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A store outage stops the heartbeat long enough for the lease to lapse; another owner
    # takes the job; when the store answers again, the first runner learns it lost the job.
    outage = threading.Event()
    real_heartbeat = service.heartbeat

    def flaky_heartbeat(sessions: Any, *, job_id: uuid.UUID, owner: str, lease: float) -> bool:
        if outage.is_set() and owner == "first":
            raise ConnectionError("the store does not answer")
        return real_heartbeat(sessions, job_id=job_id, owner=owner, lease=lease)

    monkeypatch.setattr(service, "heartbeat", flaky_heartbeat)
    recorder = Recorder(busy_until_interrupted(4.0))
    runner = make_runner({KIND: recorder.kind}, lease=0.3, owner="first")
    job_id = add_job(context)
    claimed = runner.claim(job_id)
    assert claimed is not None
    outage.set()
    worker = threading.Thread(target=runner.run, args=(claimed,))
    worker.start()
    assert recorder.started.wait(2)
    lapse(context, job_id)
    taken = service.claim(context.sessions, job_id=job_id, owner="second", lease=5)
    assert taken is not None
    assert taken.attempts == 2
    outage.clear()
    worker.join(3)
    assert not worker.is_alive(), "the job went on after its lease was lost"
    assert recorder.interrupted == ["the job's lease was lost"]
    # Neither finished nor put back by the first runner: the second one holds it.
    job = job_row(context, job_id)
    assert (job.state, job.lease_owner, job.attempts) == ("running", "second", 2)
    assert (job.finished_at, job.error) == (None, None)


# --- how jobs end --------------------------------------------------------------------------


def test_attempts_beyond_max_attempts_abandon_the_job(
    context: AppContext, make_runner: Callable[..., JobRunner]
) -> None:
    recorder = Recorder()
    runner = make_runner({KIND: recorder.kind}, max_attempts=2)
    last_chance, given_up = uuid.uuid4(), uuid.uuid4()
    jobs = {subject: add_job(context, subject_id=subject) for subject in (last_chance, given_up)}
    # Attempts that died with their process: claimed, never heard of again.
    for subject, deaths in ((last_chance, 1), (given_up, 2)):
        for n in range(deaths):
            owner = f"dead-{n}"
            assert service.claim(context.sessions, job_id=jobs[subject], owner=owner, lease=0.05)
            lapse(context, jobs[subject])
    for subject in (last_chance, given_up):
        claimed = runner.claim(jobs[subject])
        assert claimed is not None
        runner.run(claimed)
    assert recorder.runs == [last_chance]  # attempt 2 of 2 still runs
    assert job_row(context, jobs[last_chance]).state == "succeeded"
    reason = "gave up after 2 attempts that did not finish"
    assert recorder.abandoned == [(given_up, reason)]
    job = job_row(context, jobs[given_up])
    assert (job.state, job.attempts, job.error) == ("failed", 3, reason)


@pytest.mark.parametrize(
    ("kind", "state"),
    [(ANALYSE, ImportState.ANALYSING), (COMMIT, ImportState.COMMITTING)],
)
def test_an_abandoned_import_job_fails_the_import(
    context: AppContext, make_runner: Callable[..., JobRunner], kind: str, state: ImportState
) -> None:
    import_id = add_import(context, state)
    runner = make_runner(import_job_kinds(context), max_attempts=1)
    job_id = add_job(context, kind=kind, subject_id=import_id)
    assert service.claim(context.sessions, job_id=job_id, owner="dead", lease=0.05)
    lapse(context, job_id)
    claimed = runner.claim(job_id)
    assert claimed is not None
    runner.run(claimed)
    record = import_row(context, import_id)
    assert record.state == "failed"
    assert record.finished_at is not None
    assert record.failure is not None
    failure = json.loads(record.failure)
    assert failure == {
        "type": "job-abandoned",
        "detail": "gave up after 1 attempts that did not finish",
    }
    assert job_row(context, job_id).state == "failed"


def test_an_unexpected_exception_fails_the_job(
    context: AppContext, make_runner: Callable[..., JobRunner]
) -> None:
    def broken(_subject: uuid.UUID, _control: JobControl) -> None:
        raise ZeroDivisionError("a bug")

    recorder = Recorder(broken)
    runner = make_runner({KIND: recorder.kind})
    job_id = add_job(context)
    claimed = runner.claim(job_id)
    assert claimed is not None
    runner.run(claimed)  # the runner survives its job's bug
    job = job_row(context, job_id)
    assert (job.state, job.error, job.lease_expires_at) == (
        "failed",
        "ZeroDivisionError: a bug",
        None,
    )
    assert recorder.abandoned == []
    # A failed job is done: not offered again.
    assert service.claim(context.sessions, job_id=job_id, owner="other", lease=5) is None


def test_an_unexpected_exception_in_an_import_job_fails_the_import(
    context: AppContext, make_runner: Callable[..., JobRunner], monkeypatch: pytest.MonkeyPatch
) -> None:
    from loadbay.imports import pipeline

    def broken(_context: AppContext, _import_id: uuid.UUID, _control: JobControl) -> None:
        raise KeyError("a bug in the pipeline")

    monkeypatch.setattr(pipeline, "validate", broken)
    import_id = add_import(context, ImportState.VALIDATING)
    runner = make_runner(import_job_kinds(context))
    job_id = add_job(context, kind=VALIDATE, subject_id=import_id)
    claimed = runner.claim(job_id)
    assert claimed is not None
    runner.run(claimed)
    record = import_row(context, import_id)
    assert record.state == "failed"  # not stuck in validating for ever
    assert record.failure is not None
    assert json.loads(record.failure) == {
        "type": "internal-error",
        "detail": "the import failed unexpectedly; the server log has the details",
    }
    job = job_row(context, job_id)
    assert (job.state, job.error) == ("failed", "KeyError: 'a bug in the pipeline'")


def test_an_interrupted_import_job_leaves_the_import_where_it_was(
    context: AppContext, make_runner: Callable[..., JobRunner], monkeypatch: pytest.MonkeyPatch
) -> None:
    from loadbay.imports import pipeline

    def interrupted(_context: AppContext, _import_id: uuid.UUID, control: JobControl) -> None:
        raise JobInterrupted("the executor is shutting down")

    monkeypatch.setattr(pipeline, "commit", interrupted)
    import_id = add_import(context, ImportState.COMMITTING)
    runner = make_runner(import_job_kinds(context))
    job_id = add_job(context, kind=COMMIT, subject_id=import_id)
    claimed = runner.claim(job_id)
    assert claimed is not None
    runner.run(claimed)
    assert import_row(context, import_id).state == "committing"
    job = job_row(context, job_id)
    assert (job.state, job.lease_owner, job.attempts) == ("queued", None, 1)


class ProcessDied(BaseException):
    """Stands for kill -9: nothing in the runner handles it, no clean-up is written."""


def dies_before_completing(
    session: Any, iid: uuid.UUID, expected: Any, new: Any, **values: Any
) -> None:
    """``transition``, except that the process dies instead of marking the import completed."""
    if new == ImportState.COMPLETED:
        raise ProcessDied
    real_transition(session, iid, expected, new, **values)


def test_a_commit_that_died_after_loading_is_not_loaded_twice(
    client: TestClient,
    context: AppContext,
    target_engine: sa.Engine,
    make_runner: Callable[..., JobRunner],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The narrowest crash window: the rows are committed into the target table, the process
    dies before the import is marked completed. The next attempt must find the rows there
    and load nothing."""
    from loadbay.imports import pipeline

    register_customers(client)
    created = start_import(client, upload(client, customers_csv(1000)))
    assert wait_for(client, created["id"], {"validated", "failed"})["state"] == "validated"
    import_id = uuid.UUID(created["id"])
    # The commit job goes into the queue without waking the app's executor (it polls once an
    # hour here): these runners, two processes as far as leases go, take it instead.
    with transaction(context.sessions) as session:
        record = session.get_one(ImportRecord, import_id)
        begin_commit(context, session, record, mode="insert", on_error="abort")
    job_id = next(
        j.id for j in service.jobs_of(context.sessions, subject_id=import_id) if j.kind == COMMIT
    )

    monkeypatch.setattr(pipeline, "transition", dies_before_completing)
    first = make_runner(import_job_kinds(context), lease=0.3, owner="first")
    claimed = first.claim(job_id)
    assert claimed is not None
    with pytest.raises(ProcessDied):
        first.run(claimed)
    assert SqlDestination(target_engine).count_rows(CUSTOMERS_SCHEMA) == 1000
    assert import_row(context, import_id).state == "committing"
    monkeypatch.setattr(pipeline, "transition", real_transition)
    lapse(context, job_id)
    second = make_runner(import_job_kinds(context), lease=0.3, owner="second")
    again = second.claim(job_id)
    assert again is not None
    assert again.attempts == 2
    with caplog.at_level(logging.INFO, logger="loadbay.destinations"):
        second.run(again)
    assert f"import {import_id} was loaded already (1000 rows)" in caplog.messages
    record = import_row(context, import_id)
    assert (record.state, record.rows_loaded, record.rows_valid) == ("completed", 1000, 1000)
    with target_engine.connect() as conn:
        counts = conn.execute(sa.text("SELECT count(*), count(DISTINCT id) FROM customers")).one()
    assert tuple(counts) == (1000, 1000)
    assert job_row(context, job_id).state == "succeeded"


def validated_auto_commit(client: TestClient, context: AppContext, rows: int) -> uuid.UUID:
    """A validated import of ``rows`` customers, made an auto-commit afterwards (so that no
    job of the app's executor took it further)."""
    register_customers(client)
    created = start_import(client, upload(client, customers_csv(rows)))
    assert wait_for(client, created["id"], {"validated", "failed"})["state"] == "validated"
    import_id = uuid.UUID(created["id"])
    with transaction(context.sessions) as session:
        session.execute(
            sa.update(ImportRecord)
            .where(ImportRecord.id == import_id)
            .values(options=json.dumps({"auto_commit": True}))
        )
    return import_id


def test_an_auto_commit_that_died_after_loading_is_finished_by_its_validate_job(
    client: TestClient,
    context: AppContext,
    target_engine: sa.Engine,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An auto-commit loads in its validate job, and the import is committing before the
    table's commit: dying between that and the import's, the job run again finds it
    committing and finishes the commit, loading nothing twice."""
    from loadbay.imports import pipeline

    import_id = validated_auto_commit(client, context, 1000)
    # As the validate job of an auto-commit finds it (this app's executor, which polls once
    # an hour here, does not see it; the job function is called as a runner would).
    with transaction(context.sessions) as session:
        session.execute(
            sa.update(ImportRecord)
            .where(ImportRecord.id == import_id)
            .values(state=ImportState.VALIDATING)
        )
    control = JobControl(threading.Event())
    monkeypatch.setattr(pipeline, "transition", dies_before_completing)
    with pytest.raises(ProcessDied):
        pipeline.validate(context, import_id, control)
    assert SqlDestination(target_engine).count_rows(CUSTOMERS_SCHEMA) == 1000
    assert import_row(context, import_id).state == "committing"
    monkeypatch.setattr(pipeline, "transition", real_transition)
    with caplog.at_level(logging.INFO, logger="loadbay.destinations"):
        pipeline.validate(context, import_id, control)
    assert f"import {import_id} was loaded already (1000 rows)" in caplog.messages
    record = import_row(context, import_id)
    assert (record.state, record.rows_loaded, record.rows_valid) == ("completed", 1000, 1000)
    assert SqlDestination(target_engine).count_rows(CUSTOMERS_SCHEMA) == 1000
    kinds = {j.kind for j in service.jobs_of(context.sessions, subject_id=import_id)}
    assert COMMIT not in kinds, "the validate job commits itself: no commit job was queued"


def test_a_validate_job_run_again_leaves_a_requested_commit_to_its_commit_job(
    client: TestClient, context: AppContext, target_engine: sa.Engine
) -> None:
    """An auto-commit that rested validated (invalid rows) and was then committed on request
    is committing with a commit job of its own: its validate job, run again late, must not
    load it too."""
    from loadbay.imports import pipeline

    import_id = validated_auto_commit(client, context, 100)
    with transaction(context.sessions) as session:
        record = session.get_one(ImportRecord, import_id)
        begin_commit(context, session, record, mode="insert", on_error="abort")
    pipeline.validate(context, import_id, JobControl(threading.Event()))
    assert import_row(context, import_id).state == "committing"
    assert SqlDestination(target_engine).count_rows(CUSTOMERS_SCHEMA) == 0


# --- the local executor --------------------------------------------------------------------


def test_local_executor_runs_a_job_when_notified(
    context: AppContext, make_runner: Callable[..., JobRunner], executors: list[LocalExecutor]
) -> None:
    recorder = Recorder()
    # A poll interval far longer than the test: only the notice can wake the worker in time.
    executor = LocalExecutor(make_runner({KIND: recorder.kind}), workers=1, poll_interval=30)
    executors.append(executor)
    executor.start()
    time.sleep(0.1)  # the worker has looked at the empty queue and waits
    with transaction(context.sessions) as session:
        job_id = service.enqueue(session, kind=KIND, subject_id=SUBJECT, notify=executor.notify)
    wait_until(lambda: job_row(context, job_id).state == "succeeded", timeout=2)
    assert recorder.runs == [SUBJECT]


def test_local_executor_takes_over_a_job_whose_owner_died(
    context: AppContext, make_runner: Callable[..., JobRunner], executors: list[LocalExecutor]
) -> None:
    recorder = Recorder()
    job_id = add_job(context)
    assert service.claim(context.sessions, job_id=job_id, owner="dead", lease=0.2)
    executor = LocalExecutor(make_runner({KIND: recorder.kind}), workers=2, poll_interval=0.05)
    executors.append(executor)
    executor.start()
    wait_until(lambda: job_row(context, job_id).state == "succeeded")
    job = job_row(context, job_id)
    assert job.attempts == 2
    assert job.lease_owner == executor.runner.owner
    assert recorder.runs == [SUBJECT]


def test_local_executor_stop_interrupts_a_running_job_and_requeues_it(
    context: AppContext, make_runner: Callable[..., JobRunner], executors: list[LocalExecutor]
) -> None:
    recorder = Recorder(busy_until_interrupted(4.0))
    executor = LocalExecutor(make_runner({KIND: recorder.kind}), workers=1, poll_interval=0.05)
    executor.start()
    job_id = add_job(context)
    assert recorder.started.wait(2)
    started = time.monotonic()
    executor.stop(timeout=3)
    assert time.monotonic() - started < 1, "stop waited for the job instead of interrupting it"
    assert recorder.interrupted == ["the executor is shutting down"]
    job = job_row(context, job_id)
    assert (job.state, job.lease_owner, job.lease_expires_at) == ("queued", None, None)
    assert (job.attempts, job.finished_at, job.error) == (1, None, None)
    # The next executor (a restarted process) runs it again, to its end this time.
    again = Recorder()
    successor = LocalExecutor(make_runner({KIND: again.kind}), workers=1, poll_interval=0.05)
    executors.append(successor)
    successor.start()
    wait_until(lambda: job_row(context, job_id).state == "succeeded")
    assert job_row(context, job_id).attempts == 2
    assert again.runs == [SUBJECT]


def test_local_executor_survives_a_store_outage_at_the_end_of_a_job(
    context: AppContext,
    make_runner: Callable[..., JobRunner],
    executors: list[LocalExecutor],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The store fails just as the job's end is recorded: the worker thread must live on, and
    # the job (its lease lapsing) runs again and ends properly.
    real_finish = service.finish
    failures: list[uuid.UUID] = []

    def finish_once_unreachable(sessions: Any, *, job_id: uuid.UUID, **values: Any) -> bool:
        if not failures:
            failures.append(job_id)
            raise ConnectionError("the store does not answer")
        return real_finish(sessions, job_id=job_id, **values)

    monkeypatch.setattr(service, "finish", finish_once_unreachable)
    recorder = Recorder()
    executor = LocalExecutor(
        make_runner({KIND: recorder.kind}, lease=0.3), workers=1, poll_interval=0.05
    )
    executors.append(executor)
    executor.start()
    job_id = add_job(context)
    wait_until(lambda: job_row(context, job_id).state == "succeeded")
    assert failures == [job_id]
    assert job_row(context, job_id).attempts == 2
    assert recorder.runs == [SUBJECT, SUBJECT]  # at least once: job functions are idempotent


# --- statistics ----------------------------------------------------------------------------


def test_queue_stats_count_queued_and_running_jobs(context: AppContext) -> None:
    assert service.queue_stats(context.sessions) == service.QueueStats(0, 0, 0.0)
    jobs = [add_job(context, subject_id=uuid.uuid4()) for _ in range(4)]
    time.sleep(0.02)
    service.claim(context.sessions, job_id=jobs[0], owner="a", lease=5)
    service.claim(context.sessions, job_id=jobs[1], owner="a", lease=5)
    service.finish(context.sessions, job_id=jobs[1], owner="a", state=JobState.SUCCEEDED)
    stats = service.queue_stats(context.sessions)
    assert (stats.queued, stats.running) == (2, 1)
    assert 0.02 <= stats.oldest_queued_seconds < 5
    for job_id in jobs[2:]:
        service.claim(context.sessions, job_id=job_id, owner="b", lease=5)
        service.finish(context.sessions, job_id=job_id, owner="b", state=JobState.FAILED)
    assert service.queue_stats(context.sessions) == service.QueueStats(0, 1, 0.0)
