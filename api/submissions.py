"""Answer a submission from memory, so that a job once committed is always answered 202.

A committed job row is queued work. Were its client told 503 (the database went away just
after the commit), it would submit again, and without an idempotency key that is a second
document. So the answer never reads the database after the commit:

- the job the submission inserts is given its template and version (already loaded by the
  submission itself, found in the session's identity map), its artifacts and callback
  attempts (none yet) as loaded values, and its answer (`JobOut`) is built the moment its
  transaction commits;
- a failure after that commit (the bookkeeping of a failed send, a later commit of the
  webhook's delivery time) is logged and the job is answered all the same: the sweeper
  sends a job whose message was lost, and the rest is not the client's business.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import structlog
from sqlalchemy import event, inspect
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from api.job_schemas import JobOut
from registry.models import Job, Template, TemplateVersion
from triggers.submit import Submission

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Answer:
    job: JobOut
    created: bool  # False when the idempotency key (or delivery id) named an existing job


class _Watch:
    """Follows one submission on `session`: the job it inserts, and its answer once that job
    is committed."""

    def __init__(self) -> None:
        self.inserted: Job | None = None
        self.committed: JobOut | None = None

    def pending(self, session: Session, instance: object) -> None:
        if not isinstance(instance, Job):
            return
        with session.no_autoflush:  # identity-map hits: submit() holds both objects
            template = session.get(Template, instance.template_id)
            version = session.get(TemplateVersion, instance.version_id)
        set_committed_value(instance, "template", template)
        set_committed_value(instance, "version", version)
        set_committed_value(instance, "artifacts", [])
        set_committed_value(instance, "callbacks", [])
        self.inserted = instance

    def after_commit(self, session: Session) -> None:
        if session.in_nested_transaction():  # a savepoint released: nothing is durable yet
            return
        job = self.inserted
        if self.committed is None and job is not None and inspect(job).persistent:
            # Now, before a later rollback expires the object; it reads loaded values only.
            self.committed = JobOut.of(job)


def answered_in_memory(session: Session, run: Callable[[], Submission]) -> Answer:
    """Run `run`, a submission on `session`; its answer, built without another query once
    the job is committed, and given even when something fails after that commit."""
    watch = _Watch()
    event.listen(session, "transient_to_pending", watch.pending)
    event.listen(session, "after_commit", watch.after_commit)
    try:
        submission = run()
    except Exception as exc:
        if watch.committed is None:
            raise
        log.warning(
            "failure after the job was committed; answering with the job",
            job_id=watch.committed.id,
            error=f"{type(exc).__name__}: {exc}".strip(),
        )
        return Answer(watch.committed, created=True)
    finally:
        event.remove(session, "transient_to_pending", watch.pending)
        event.remove(session, "after_commit", watch.after_commit)
    if submission.created and watch.committed is not None:
        return Answer(watch.committed, created=True)
    return Answer(JobOut.of(submission.job), created=submission.created)
