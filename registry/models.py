"""Registry tables: templates and their immutable versions, principals, teams, roles, tokens, audit.

Times are stored in UTC. Portable types only, so the same migrations run on PostgreSQL and
on the embedded SQLite.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime stored; use an aware UTC datetime")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        # UTC whatever the connection's time zone, so values compare and format alike.
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime,
        dict[str, Any]: JSON,
        list[str]: JSON,
    }


team_members = Table(
    "team_members",
    Base.metadata,
    Column("team_id", ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True),
    Column("principal_id", ForeignKey("principals.id", ondelete="CASCADE"), primary_key=True),
)

role_grants = Table(
    "role_grants",
    Base.metadata,
    Column("principal_id", ForeignKey("principals.id", ondelete="CASCADE"), primary_key=True),
    Column("role_id", ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True),
)


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Role(Base):
    __tablename__ = "roles"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    permissions: Mapped[list[str]] = mapped_column(default=list)


class Principal(Base):
    """A person or a service (CI pipeline, Kafka bridge) that authenticates with tokens."""

    __tablename__ = "principals"
    __table_args__ = (CheckConstraint("kind IN ('person', 'service')", name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(16), default="person")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    disabled_at: Mapped[datetime | None]

    teams: Mapped[list[Team]] = relationship(secondary=team_members, lazy="selectin")
    roles: Mapped[list[Role]] = relationship(secondary=role_grants, lazy="selectin")


class ApiToken(Base):
    """A bearer token, stored only as its SHA-256; `prefix` identifies it in listings."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    principal_id: Mapped[int] = mapped_column(ForeignKey("principals.id", ondelete="CASCADE"))
    label: Mapped[str] = mapped_column(String(100), default="")
    prefix: Mapped[str] = mapped_column(String(16))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]  # updated at most once a minute

    principal: Mapped[Principal] = relationship(lazy="joined")


class Template(Base):
    """A named template; its content lives in immutable `TemplateVersion` rows."""

    __tablename__ = "templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    category: Mapped[str | None] = mapped_column(String(100), index=True)
    owner_team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    active_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("template_versions.id", use_alter=True, ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    archived_at: Mapped[datetime | None]

    owner_team: Mapped[Team] = relationship(lazy="joined")
    active_version: Mapped[TemplateVersion | None] = relationship(
        foreign_keys=[active_version_id], lazy="joined", post_update=True
    )
    role_access: Mapped[list[TemplateRole]] = relationship(
        lazy="selectin", cascade="all, delete-orphan"
    )


class TemplateRole(Base):
    """A role outside the owner team that may `read` or `run` a template."""

    __tablename__ = "template_roles"
    __table_args__ = (CheckConstraint("capability IN ('read', 'run')", name="capability"),)

    template_id: Mapped[int] = mapped_column(
        ForeignKey("templates.id", ondelete="CASCADE"), primary_key=True
    )
    role_id: Mapped[int] = mapped_column(
        ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True
    )
    capability: Mapped[str] = mapped_column(String(8), primary_key=True)

    role: Mapped[Role] = relationship(lazy="joined")


class TemplateVersion(Base):
    """One uploaded version, never changed: the YAML as sent, what it parsed to, who sent it."""

    __tablename__ = "template_versions"
    __table_args__ = (UniqueConstraint("template_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("templates.id", ondelete="CASCADE"))
    version: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(Text)
    content_sha256: Mapped[str] = mapped_column(String(64))
    meta: Mapped[dict[str, Any]] = mapped_column("metadata")
    uploaded_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("principals.id", ondelete="SET NULL")
    )
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)

    uploaded_by: Mapped[Principal | None] = relationship(lazy="joined")
    template: Mapped[Template] = relationship(foreign_keys=[template_id])


class AuditEntry(Base):
    """Who did what to which object, and when; `actor_name` survives the principal's removal."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_target", "target_type", "target"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("principals.id", ondelete="SET NULL"))
    actor_name: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(300))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


JOB_STATUSES = ("queued", "running", "succeeded", "failed", "dead", "cancelled")
# Statuses a job never leaves: its completion event and callback go out once it has one.
FINAL_STATUSES = ("succeeded", "dead", "cancelled")
# Job priorities: 0 (lowest) to 9 (highest); workers take higher ones first.
PRIORITY_MIN, PRIORITY_MAX = 0, 9
CALLBACK_STATES = ("pending", "delivered", "failed", "refused")


class Job(Base):
    """One document to make. The row is the truth; the broker only carries its id.

    `attempts` doubles as a fencing token: a worker may only finish the attempt it claimed,
    so a worker that lost its lease cannot overwrite the one that took over.
    """

    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(f"status IN {JOB_STATUSES!r}", name="status"),
        UniqueConstraint("requested_by", "idempotency_key"),
        Index("ix_jobs_status_lease", "status", "lease_expires_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("templates.id"), index=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("template_versions.id"))
    inputs: Mapped[dict[str, Any]]
    formats: Mapped[list[str]]
    seed: Mapped[int]
    requested_by: Mapped[str] = mapped_column(String(100))
    requested_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("principals.id", ondelete="SET NULL")
    )
    idempotency_key: Mapped[str] = mapped_column(String(200), index=True)
    request_sha256: Mapped[str] = mapped_column(String(64))
    trace_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int]
    timeout_seconds: Mapped[int]
    retry_delay_seconds: Mapped[float] = mapped_column(Float)
    backoff: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    next_attempt_at: Mapped[datetime | None]
    dispatched_at: Mapped[datetime | None]
    lease_expires_at: Mapped[datetime | None]
    worker: Mapped[str | None] = mapped_column(String(200))
    error: Mapped[str | None] = mapped_column(Text)
    generation: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    timings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    announced_at: Mapped[datetime | None] = mapped_column(index=True)  # completion published
    priority: Mapped[int] = mapped_column(default=5, server_default="5")
    cancel_requested_at: Mapped[datetime | None]  # a running job stops at its next check
    # The completion callback: where it goes, and its delivery (an outbox, like announced_at).
    callback_url: Mapped[str | None] = mapped_column(String(2000))
    callback_state: Mapped[str | None] = mapped_column(String(16))  # None: no callback
    callback_next_at: Mapped[datetime | None] = mapped_column(index=True)
    files_purged_at: Mapped[datetime | None]  # an admin or retention removed the files

    template: Mapped[Template] = relationship(lazy="joined")
    version: Mapped[TemplateVersion] = relationship(lazy="joined")
    artifacts: Mapped[list[JobArtifact]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="JobArtifact.format"
    )
    callbacks: Mapped[list[JobCallback]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="JobCallback.id"
    )


class JobArtifact(Base):
    """One exported file of a job; one per format, so a retried job never has two sets."""

    __tablename__ = "job_artifacts"
    __table_args__ = (UniqueConstraint("job_id", "format"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    format: Mapped[str] = mapped_column(String(16))
    filename: Mapped[str] = mapped_column(String(200))
    uri: Mapped[str] = mapped_column(String(500))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class JobCallback(Base):
    """One delivery attempt of a job's completion callback: what was sent where and what came
    back (the job page shows them)."""

    __tablename__ = "job_callbacks"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    attempt: Mapped[int]
    url: Mapped[str] = mapped_column(String(2000))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    outcome: Mapped[str] = mapped_column(String(16))  # delivered, failed, refused
    status_code: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)


class JobFieldProgress(Base):
    """A generated field's text so far, while its job runs: what the console and
    `GET /jobs/{id}/events` stream. Written by the worker a few times a second (any host),
    removed when the job finishes; the finished text is the job's `generation` record."""

    __tablename__ = "job_field_progress"

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    attempt: Mapped[int]
    text: Mapped[str] = mapped_column(Text)
    tokens: Mapped[int]
    seconds: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


SCHEDULE_SOURCES = ("template", "api")


class Schedule(Base):
    """A cron schedule that submits a job of its template at each fire time.

    `source='template'` rows mirror the active version's `schedule` block (one per template);
    `api` rows are made through `/schedules`. A fire runs as `owner`, with RBAC checked then.
    `next_fire_at` is the claim: a scheduler advances it with a compare-and-set, so two
    schedulers never fire the same tick, and the fire's idempotency key absorbs a crash.
    """

    __tablename__ = "schedules"
    __table_args__ = (CheckConstraint(f"source IN {SCHEDULE_SOURCES!r}", name="source"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(
        ForeignKey("templates.id", ondelete="CASCADE"), index=True
    )
    source: Mapped[str] = mapped_column(String(16), default="api")
    expression: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    inputs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    formats: Mapped[list[str] | None] = mapped_column(JSON)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("principals.id", ondelete="SET NULL"))
    next_fire_at: Mapped[datetime] = mapped_column(index=True)
    last_fire_at: Mapped[datetime | None]
    last_job_id: Mapped[str | None] = mapped_column(String(32))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    template: Mapped[Template] = relationship(lazy="joined")
    owner: Mapped[Principal | None] = relationship(lazy="joined")


class Webhook(Base):
    """A named endpoint (`POST /hooks/{name}`) that turns a signed delivery into a job.

    `inputs` maps variable names to literals or to `$.dotted.path`s into the JSON payload.
    The secret is kept encrypted at rest (a key from settings; HMAC checks need it back) and
    is never returned again.
    """

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    template_id: Mapped[int] = mapped_column(
        ForeignKey("templates.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[str | None] = mapped_column(String(64))
    inputs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    formats: Mapped[list[str] | None] = mapped_column(JSON)
    secret: Mapped[str] = mapped_column(String(1000))  # encrypted (`registry.secrets`)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("principals.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_delivery_at: Mapped[datetime | None]

    template: Mapped[Template] = relationship(lazy="joined")
    owner: Mapped[Principal | None] = relationship(lazy="joined")


class CachedGeneration(Base):
    """An exact generation result: the same model, prompt, sampling and seed give this answer.

    Shared by every worker on the database, so a request any of them answered is not
    generated again until it expires (see `workers.result_cache`).
    """

    __tablename__ = "generation_cache"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the request
    model: Mapped[str] = mapped_column(String(200))
    result: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    hits: Mapped[int] = mapped_column(default=0)
