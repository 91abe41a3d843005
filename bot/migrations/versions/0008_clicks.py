"""clicks answered once

A state-changing card click is recorded with its keys and its answer, so that the same
click arriving twice (a Teams retry, a double click) records once and both get the same
card. Rows older than a day are deleted by the retention job.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 04:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.db import UTCDateTime

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "clicks",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("activity_key", sa.String(64), nullable=True),
        sa.Column("content_key", sa.String(64), nullable=True),
        sa.Column("clicker", sa.String(64), nullable=False),
        sa.Column("verb", sa.String(32), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("answer", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clicks")),
        sa.UniqueConstraint("activity_key", name=op.f("uq_clicks_activity_key")),
        sa.UniqueConstraint("content_key", name=op.f("uq_clicks_content_key")),
    )
    op.create_index(op.f("ix_clicks_clicker"), "clicks", ["clicker"])
    op.create_index(op.f("ix_clicks_created_at"), "clicks", ["created_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_clicks_created_at"), table_name="clicks")
    op.drop_index(op.f("ix_clicks_clicker"), table_name="clicks")
    op.drop_table("clicks")
