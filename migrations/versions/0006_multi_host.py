"""Running across hosts: cancellation, priorities, completion callbacks and their attempts,
purged files, token use times, room for encrypted webhook secrets

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 12:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_STATUSES = "status IN ('queued', 'running', 'succeeded', 'failed', 'dead')"
NEW_STATUSES = "status IN ('queued', 'running', 'succeeded', 'failed', 'dead', 'cancelled')"


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_constraint(op.f("ck_jobs_status"), type_="check")
        batch.create_check_constraint("status", NEW_STATUSES)
        batch.add_column(sa.Column("priority", sa.Integer(), server_default="5", nullable=False))
        batch.add_column(sa.Column("cancel_requested_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("callback_url", sa.String(length=2000)))
        batch.add_column(sa.Column("callback_state", sa.String(length=16)))
        batch.add_column(sa.Column("callback_next_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("files_purged_at", sa.DateTime(timezone=True)))
        batch.create_index("ix_jobs_callback_next_at", ["callback_next_at"], unique=False)
    op.create_table(
        "job_callbacks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_job_callbacks_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_callbacks")),
    )
    op.create_index("ix_job_callbacks_job_id", "job_callbacks", ["job_id"], unique=False)
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("last_used_at", sa.DateTime(timezone=True)))
    with op.batch_alter_table("webhooks") as batch:
        batch.alter_column(
            "secret", existing_type=sa.String(length=200), type_=sa.String(length=1000)
        )


def downgrade() -> None:
    with op.batch_alter_table("webhooks") as batch:
        batch.alter_column(
            "secret", existing_type=sa.String(length=1000), type_=sa.String(length=200)
        )
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("last_used_at")
    op.drop_index("ix_job_callbacks_job_id", table_name="job_callbacks")
    op.drop_table("job_callbacks")
    op.execute("UPDATE jobs SET status = 'dead' WHERE status = 'cancelled'")  # no such state before
    with op.batch_alter_table("jobs") as batch:
        batch.drop_index("ix_jobs_callback_next_at")
        for column in (
            "files_purged_at",
            "callback_next_at",
            "callback_state",
            "callback_url",
            "cancel_requested_at",
            "priority",
        ):
            batch.drop_column(column)
        batch.drop_constraint(op.f("ck_jobs_status"), type_="check")
        batch.create_check_constraint("status", OLD_STATUSES)
