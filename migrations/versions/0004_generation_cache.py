"""The exact-result cache of generated fields, shared by all workers

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 23:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "generation_cache",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_generation_cache")),
    )
    op.create_index(op.f("ix_generation_cache_created_at"), "generation_cache", ["created_at"])
    op.create_index(op.f("ix_generation_cache_expires_at"), "generation_cache", ["expires_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_generation_cache_expires_at"), table_name="generation_cache")
    op.drop_index(op.f("ix_generation_cache_created_at"), table_name="generation_cache")
    op.drop_table("generation_cache")
