"""Running one job: claim it, keep its lease alive, fill and export, store, record the outcome.

The same `JobRunner` serves the Celery task and the embedded in-process queue.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_exponential

from core.db import database_unavailable
from core.errors import AutoglmError, ConfigError, UserError
from core.settings import Settings
from documents.document import Document, FieldRecord
from documents.loader import LoadedTemplate
from exporters.pool import ExportPool
from generation.cache import ResultCache
from generation.protocol import Generator
from registry import jobs, templates
from registry.jobs import StoredArtifact
from registry.models import Job
from registry.storage import ArtifactStore, attempt_key, discard_attempts
from workers import metrics
from workers.live import ProgressRecorder
from workers.pipeline import artifact_stem, export_all, fill_template
from workers.watch import Watch, watching

log = structlog.get_logger(__name__)

Resend = Callable[[str, float], None]


class JobTimeout(AutoglmError):
    """The attempt ran past the template's `schedule.timeout`."""


class LeaseLost(AutoglmError):
    """This attempt's lease expired and another attempt owns the job now."""


class JobCancelled(AutoglmError):
    """Someone asked to cancel the job (`POST /jobs/{id}/cancel`): the attempt stops."""


@dataclass
class JobRunner:
    """Executes jobs by id; one per worker process, holding that process's generator."""

    sessions: sessionmaker[Session]
    settings: Settings
    make_generator: Callable[[], Generator]
    store: ArtifactStore
    resend: Resend
    worker_name: str
    cache: ResultCache | None = None  # identical requests answered from here (shared store)
    exports: ExportPool | None = None  # warm export processes; None = export in the job thread
    _generator: Generator | None = field(default=None, init=False)
    _generator_lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def generator(self) -> Generator:
        """The process's generator, made on first use (a worker process calls it at start)."""
        with self._generator_lock:
            if self._generator is None:
                self._generator = self.make_generator()
            return self._generator

    def current_generator(self) -> Generator | None:
        """The generator if it is made already (never waits for a model to load)."""
        return self._generator

    def run(self, job_id: str) -> None:
        """Run `job_id` if it is due; a job already done, dead or held elsewhere is left alone."""
        with self.sessions() as session:
            try:
                claim = self._claim(session, job_id)
            except SQLAlchemyError as exc:
                if not database_unavailable(exc):
                    raise
                # Still unreachable: hand the job back to the queue rather than fail the task.
                log.warning("database unavailable; job sent again later", error=str(exc))
                self.resend(job_id, self.settings.database_retry_seconds)
                return
            if claim is None:
                self._not_claimed(session, job_id)
                return
            with structlog.contextvars.bound_contextvars(
                job_id=claim.job.id, trace_id=claim.job.trace_id, attempt=claim.attempt
            ):
                self._attempt(session, claim.job, claim.attempt)

    def _claim(self, session: Session, job_id: str) -> jobs.Claim | None:
        """Claim, retrying while the database is unreachable (a restart, a failover)."""
        for retrying in Retrying(
            retry=retry_if_exception(database_unavailable),
            wait=wait_exponential(multiplier=0.2, max=5),
            stop=stop_after_delay(self.settings.database_retry_seconds),
            before_sleep=lambda state: session.rollback(),
            reraise=True,
        ):
            with retrying:
                return jobs.claim(
                    session, job_id, self.worker_name, self.settings.job_lease_seconds
                )
        raise AssertionError("unreachable")  # pragma: no cover

    def _not_claimed(self, session: Session, job_id: str) -> None:
        """Done, dead, held by a live worker, or early: only an early retry is sent again."""
        wait = jobs.seconds_until_due(session, job_id)
        if wait is None:
            log.info("job not claimable; skipped", job_id=job_id)
            return
        log.info("retry message arrived early; sent again", job_id=job_id, due_in=wait)
        self.resend(job_id, wait)

    def _attempt(self, session: Session, job: Job, attempt: int) -> None:
        """Run attempt number `attempt` (the claim's own number: `job.attempts` may be newer)."""
        started = time.perf_counter()
        template = job.template.name
        loaded = templates.load_version(job.version)
        # End the claim's transaction before the long part: an open one would hold SQLite's
        # write lock (or sit "idle in transaction" on PostgreSQL) for the whole job.
        session.commit()
        log.info("job started", template=template, version=job.version.version)
        self._remove_earlier_attempts(job.id, attempt)
        watch = Watch()
        try:
            with watching(self.sessions, self.settings, job.id, attempt, watch):
                generation, artifacts, timings = self._produce(job, attempt, loaded, started, watch)
        except Exception as exc:
            # A cancel may surface as another error (a field cut short, say): the request wins.
            if not (watch.cancelled.is_set() and self._cancelled(session, job, attempt, started)):
                self._failed(session, job, attempt, exc, time.perf_counter() - started)
            return
        timings["total_seconds"] = round(time.perf_counter() - started, 4)
        try:
            owned = jobs.complete(
                session,
                job.id,
                attempt,
                generation=generation,
                artifacts=artifacts,
                timings=timings,
            )
        except Exception:
            # Unknown whether the commit landed (a connection lost mid-commit): keep the files.
            # If it did not, the attempt that takes the job over removes them.
            log.warning("recording the result failed; files kept for whoever records next")
            raise
        if owned:
            self._remove_earlier_attempts(job.id, attempt)  # one killed after storing, say
            metrics.JOB_SECONDS.labels(template, "succeeded").observe(timings["total_seconds"])
            metrics.ATTEMPTS.labels("succeeded").inc()
            log.info("job succeeded", artifacts=[a.uri for a in artifacts], **timings)
        elif not self._cancelled(session, job, attempt, started):  # a cancel won the race?
            self._discard(job.id, attempt)
            metrics.ATTEMPTS.labels("lost").inc()
            log.warning("job was taken over while running; this attempt's result is dropped")

    def _cancelled(self, session: Session, job: Job, attempt: int, started: float) -> bool:
        """End the attempt `cancelled` if a cancel was requested, its files removed; False
        when no cancel is on record (or another attempt owns the job)."""
        session.rollback()
        total = round(time.perf_counter() - started, 4)
        if not jobs.end_cancelled(session, job.id, attempt, {"total_seconds": total}):
            return False
        self._discard(job.id, attempt)
        metrics.ATTEMPTS.labels("cancelled").inc()
        metrics.JOB_SECONDS.labels(job.template.name, "cancelled").observe(total)
        log.info("job cancelled", seconds=total)
        return True

    def _discard(self, job_id: str, attempt: int) -> None:
        """Remove this attempt's own files, its result not recorded (best effort). Only its
        own: the folder is named by the number its claim wrote, never by a later read."""
        discard_attempts(self.store, job_id, [attempt])

    def _remove_earlier_attempts(self, job_id: str, attempt: int) -> None:
        """Files of attempts before `attempt` can never be recorded (the fence moved past
        them): remove what a killed attempt left behind between storing and recording."""
        discard_attempts(self.store, job_id, range(1, attempt))

    def _produce(
        self,
        job: Job,
        attempt: int,
        loaded: LoadedTemplate,
        started: float,
        watch: Watch,
    ) -> tuple[list[dict[str, object]], list[StoredArtifact], dict[str, float]]:
        check = _checkpoint(started + job.timeout_seconds, job.timeout_seconds, watch)
        live = ProgressRecorder(
            self.sessions, job.id, attempt, self.settings.progress_interval_seconds
        )

        def on_progress(name: str, tokens: int, elapsed: float, text: str) -> None:
            live.update(name, tokens, elapsed, text)
            check()

        filling = time.perf_counter()
        with live:
            document = fill_template(
                loaded,
                job.inputs,
                self.generator,
                self.settings,
                seed=job.seed,
                on_progress=on_progress,
                done={r["name"]: FieldRecord.from_dict(r) for r in job.generation or []},
                on_field=lambda record: self._checkpoint_field(job.id, attempt, record),
                cache=self.cache,
            )
        filled = time.perf_counter()
        for record in document.provenance:
            if not (record.reused or record.cached):
                metrics.FIELD_SECONDS.labels(loaded.spec.name).observe(record.seconds)
                metrics.TOKENS.labels(loaded.spec.name).inc(record.completion_tokens)
        check()
        artifacts, export_seconds = self._export(job, attempt, document, check)
        timings = {
            "queued_seconds": round((job.started_at - job.created_at).total_seconds(), 4)
            if job.started_at
            else 0.0,
            # Wall time: a document's fields are written at once, so their own times overlap.
            "generation_seconds": round(filled - filling, 4),
            "render_seconds": round(filling - started, 4),
            "export_seconds": round(export_seconds, 4),
            "store_seconds": round(time.perf_counter() - filled - export_seconds, 4),
        }
        return [r.as_dict() for r in document.provenance], artifacts, timings

    def _checkpoint_field(self, job_id: str, attempt: int, record: FieldRecord) -> None:
        with self.sessions() as session:
            if not jobs.record_field(session, job_id, attempt, record.as_dict()):
                raise LeaseLost("another attempt took the job over (this one's lease expired)")

    def _export(
        self, job: Job, attempt: int, document: Document, check: Callable[[], None]
    ) -> tuple[list[StoredArtifact], float]:
        """Export every format in memory, then store each; a failure stores no row."""
        stem, exported = (
            artifact_stem(document),
            export_all(document, job.formats, check, self.exports),
        )
        stored = []
        for item in exported:
            exporter, data = item.exporter, item.data
            filename = f"{stem}.{exporter.extension}"
            # Per attempt, so an attempt that lost its lease never touches the winner's files.
            key = attempt_key(job.id, attempt, filename)
            uri = self.store.put(key, data, exporter.media_type)
            digest = hashlib.sha256(data).hexdigest()
            stored.append(
                StoredArtifact(exporter.name, filename, uri, exporter.media_type, len(data), digest)
            )
        return stored, sum(item.seconds for item in exported)

    def _failed(
        self, session: Session, job: Job, attempt: int, exc: Exception, seconds: float
    ) -> None:
        # The template or its inputs cannot work: no retry. A worker misconfiguration (a
        # missing model file) is not the job's fault, so it is retried like any other error.
        permanent = isinstance(exc, UserError) and not isinstance(exc, ConfigError)
        error = f"{type(exc).__name__}: {exc}"
        session.rollback()
        outcome = jobs.fail(session, job, attempt, error, permanent=permanent)
        if outcome is None:
            if not self._cancelled(session, job, attempt, time.perf_counter() - seconds):
                log.warning("job failed after it was taken over", error=error)
            return
        metrics.ATTEMPTS.labels(outcome.status).inc()
        metrics.JOB_SECONDS.labels(job.template.name, outcome.status).observe(seconds)
        if outcome.status == "dead":
            log.error("job dead", error=error, attempts=attempt, permanent=permanent)
            return
        log.warning("job attempt failed; retrying", error=error, retry_in=outcome.retry_in)
        try:
            self.resend(job.id, outcome.retry_in)
        except Exception as send_error:
            log.warning("retry send failed; the sweeper will resend", error=str(send_error))


def _checkpoint(deadline: float, timeout: int, watch: Watch) -> Callable[[], None]:
    """Called between steps and on every generated token: stop when cancelled, out of time
    or no longer the owner."""

    def check() -> None:
        if watch.cancelled.is_set():
            raise JobCancelled("the job was cancelled")
        if time.perf_counter() > deadline:
            raise JobTimeout(f"the job ran past its timeout of {timeout} s")
        if watch.lost.is_set():
            raise LeaseLost("another attempt took the job over (this one's lease expired)")

    return check
