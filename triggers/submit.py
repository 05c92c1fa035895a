"""Submission, shared by every trigger: permission, validation, the job row, then the task.

The task is sent only after the row is committed, so a worker never looks for a job that is
not there yet; if the send fails the job stays `queued` and the sweeper sends it later.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.settings import Settings
from documents.inputs import validate_inputs
from documents.spec import RetrySpec, ScheduleSpec
from registry import jobs, templates
from registry.errors import Conflict, Invalid
from registry.models import PRIORITY_MAX, PRIORITY_MIN, Job, Template, TemplateVersion, utcnow
from registry.permissions import Actor, Permission
from triggers import priorities
from triggers.callback_url import checked_callback_url
from triggers.dispatch import Dispatcher

log = structlog.get_logger(__name__)

MAX_KEY_LENGTH = 200
# Templates without a `schedule` block get the same defaults as one that leaves them out.
DEFAULT_TIMEOUT_SECONDS: int = ScheduleSpec.model_fields["timeout"].default


@dataclass(frozen=True)
class JobRequest:
    """What any trigger asks for; `version` None means the template's active version."""

    template: str
    inputs: dict[str, Any] = field(default_factory=dict)
    version: str | None = None
    formats: list[str] | None = None
    idempotency_key: str | None = None
    trace_id: str | None = None
    callback_url: str | None = None  # receives the completion event, signed
    priority: int | None = None  # 0-9, higher first; None: the trigger's default


@dataclass(frozen=True)
class Submission:
    job: Job
    created: bool  # False when the idempotency key named an existing job


def submit(
    session: Session,
    actor: Actor,
    request: JobRequest,
    dispatcher: Dispatcher,
    settings: Settings,
) -> Submission:
    """Create (or find, by idempotency key) the job for `request` and send it to a worker."""
    template = templates.find(session, actor, request.template, Permission.JOB_CREATE)
    fingerprint = _fingerprint(template, request)
    if request.idempotency_key is not None:  # a retry finds its job even if the template moved on
        existing = _existing(session, actor, request.idempotency_key, fingerprint)
        if existing is not None:
            return Submission(existing, created=False)
    templates.require_not_archived(template)
    version = _version_of(session, template, request.version)
    job = _new_job(
        actor,
        template,
        version=version,
        request=request,
        fingerprint=fingerprint,
        settings=settings,
    )
    try:
        with session.begin_nested():
            session.add(job)
    except IntegrityError:  # a concurrent submission with the same key won the insert
        session.rollback()
        winner = _existing(session, actor, job.idempotency_key, fingerprint)
        if winner is None:
            raise
        return Submission(winner, created=False)
    session.commit()
    log.info("job queued", job_id=job.id, trace_id=job.trace_id, template=template.name)
    try:
        dispatcher.send(job.id, priority=job.priority)
    except Exception as exc:
        log.warning("send failed; the next sweep sends it", job_id=job.id, error=str(exc))
        jobs.mark_unsent(session, job.id)
    return Submission(job, created=True)


def _version_of(session: Session, template: Template, version: str | None) -> TemplateVersion:
    if version is not None:
        return templates.get_version(session, template, version)
    if template.active_version is None:
        raise Conflict(
            f"template {template.name!r} has no active version; name one or publish one",
            "no_active_version",
        )
    return template.active_version


def _existing(session: Session, actor: Actor, key: str, fingerprint: str) -> Job | None:
    job = jobs.by_idempotency_key(session, actor.name, key)
    if job is not None and job.request_sha256 != fingerprint:
        raise Conflict(
            f"idempotency key {key!r} was already used for a different request",
            "idempotency_key_reused",
        )
    return job


def _new_job(
    actor: Actor,
    template: Template,
    version: TemplateVersion,
    *,
    request: JobRequest,
    fingerprint: str,
    settings: Settings,
) -> Job:
    spec = templates.load_version(version).spec
    validate_inputs(spec, request.inputs)
    formats = templates.checked_formats(request.formats) or spec.formats
    key = request.idempotency_key
    if key is not None and not 0 < len(key) <= MAX_KEY_LENGTH:
        raise Invalid(f"idempotency_key must be 1 to {MAX_KEY_LENGTH} characters")
    priority = priorities.DEFAULT if request.priority is None else request.priority
    if not PRIORITY_MIN <= priority <= PRIORITY_MAX:
        raise Invalid(f"priority must be {PRIORITY_MIN} to {PRIORITY_MAX} (higher runs first)")
    callback_url = checked_callback_url(request.callback_url, settings)
    timeout = spec.schedule.timeout if spec.schedule else DEFAULT_TIMEOUT_SECONDS
    retry = spec.schedule.retry if spec.schedule else RetrySpec()
    job_id = uuid.uuid4().hex
    return Job(
        id=job_id,
        template_id=template.id,
        version_id=version.id,
        inputs=dict(request.inputs),
        formats=formats,
        seed=settings.seed if settings.seed is not None else secrets.randbelow(2**31),
        requested_by=actor.name,
        requested_by_id=actor.principal_id,
        idempotency_key=key or job_id,
        request_sha256=fingerprint,
        trace_id=request.trace_id or uuid.uuid4().hex,
        status="queued",
        attempts=0,
        max_attempts=retry.max_attempts,
        timeout_seconds=timeout,
        retry_delay_seconds=retry.delay,
        backoff=retry.backoff,
        dispatched_at=utcnow(),
        priority=priority,
        callback_url=callback_url,
        callback_state="pending" if callback_url else None,
    )


def _fingerprint(template: Template, request: JobRequest) -> str:
    """What makes two requests "the same" for an idempotency key: what was asked, not what it
    resolved to (a retry after a new version was published still finds the first job)."""
    canonical = json.dumps(
        # A callback joins the fingerprint only when given: keys made before it existed still match.
        [template.name, request.version, request.inputs, request.formats]
        + ([request.callback_url] if request.callback_url else []),
        sort_keys=True,
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
