"""Cron schedules, webhooks, and the completion-event outbox on jobs

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 02:30:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _owned_by_template() -> list[sa.Column[Any]]:
    """Columns and keys schedules and webhooks share: template, inputs, formats, owner."""
    return [
        sa.Column("template_id", sa.Integer(), nullable=False),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("formats", sa.JSON(), nullable=True),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("id", sa.Integer(), nullable=False),
        *_owned_by_template(),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("expression", sa.String(length=200), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("next_fire_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_fire_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_job_id", sa.String(length=32), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.CheckConstraint("source IN ('template', 'api')", name=op.f("ck_schedules_source")),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["principals.id"],
            name=op.f("fk_schedules_owner_id_principals"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["templates.id"],
            name=op.f("fk_schedules_template_id_templates"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedules")),
    )
    op.create_index(op.f("ix_schedules_template_id"), "schedules", ["template_id"])
    op.create_index(op.f("ix_schedules_next_fire_at"), "schedules", ["next_fire_at"])
    op.create_table(
        "webhooks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        *_owned_by_template(),
        sa.Column("version", sa.String(length=64), nullable=True),
        sa.Column("secret", sa.String(length=200), nullable=False),
        sa.Column("last_delivery_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["principals.id"],
            name=op.f("fk_webhooks_owner_id_principals"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["templates.id"],
            name=op.f("fk_webhooks_template_id_templates"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhooks")),
        sa.UniqueConstraint("name", name=op.f("uq_webhooks_name")),
    )
    op.create_index(op.f("ix_webhooks_template_id"), "webhooks", ["template_id"])
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("announced_at", sa.DateTime(timezone=True), nullable=True))
    # Jobs that finished before the bridge existed are not announced now.
    op.execute("UPDATE jobs SET announced_at = finished_at WHERE status IN ('succeeded', 'dead')")
    op.create_index(op.f("ix_jobs_announced_at"), "jobs", ["announced_at"])
    # Cron fires look a tick's job up by key alone (its owner may have changed since).
    op.create_index(op.f("ix_jobs_idempotency_key"), "jobs", ["idempotency_key"])


def downgrade() -> None:
    op.drop_index(op.f("ix_jobs_idempotency_key"), table_name="jobs")
    op.drop_index(op.f("ix_jobs_announced_at"), table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("announced_at")
    op.drop_index(op.f("ix_webhooks_template_id"), table_name="webhooks")
    op.drop_table("webhooks")
    op.drop_index(op.f("ix_schedules_next_fire_at"), table_name="schedules")
    op.drop_index(op.f("ix_schedules_template_id"), table_name="schedules")
    op.drop_table("schedules")
