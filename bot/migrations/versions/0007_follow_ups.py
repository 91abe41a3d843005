"""follow-ups after the visit, and the physiotherapy referral of its task

A call-in case whose visit plans a follow-up goes to the new state `follow_up` (a string
column: no schema change for the state itself). Each planned follow-up is a row of
`follow_ups`, filled in when the physician records it. The physiotherapy task keeps the
date its referral was sent and the receiving clinic.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 03:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.db import UTCDateTime

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "follow_ups",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("due", sa.Date(), nullable=False),
        sa.Column("physician_id", sa.Integer(), sa.ForeignKey("staff.id"), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("card_sent_at", UTCDateTime(), nullable=True),
        sa.Column("recorded_at", UTCDateTime(), nullable=True),
        sa.Column("recorded_by_id", sa.Integer(), sa.ForeignKey("staff.id"), nullable=True),
        sa.Column("treatment_started", sa.Boolean(), nullable=True),
        sa.Column("treatment_drug", sa.String(100), nullable=True),
        sa.Column("not_started_reason", sa.Text(), nullable=True),
        sa.Column("on_treatment", sa.Boolean(), nullable=True),
        sa.Column("stopped_reason", sa.String(32), nullable=True),
        sa.Column("stopped_note", sa.Text(), nullable=True),
        sa.Column("falls", sa.Boolean(), nullable=True),
        sa.Column("new_fracture", sa.Boolean(), nullable=True),
        sa.Column("next_due", sa.Date(), nullable=True),
        sa.Column("dxa_planned", sa.Date(), nullable=True),
        sa.Column("physio_assessed_on", sa.Date(), nullable=True),
    )
    op.create_index("ix_follow_ups_case_id", "follow_ups", ["case_id"])
    op.create_index("ix_follow_ups_due", "follow_ups", ["due"])
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("referral_on", sa.Date(), nullable=True))
        batch.add_column(sa.Column("referral_clinic", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("referral_clinic")
        batch.drop_column("referral_on")
    op.drop_index("ix_follow_ups_due", "follow_ups")
    op.drop_index("ix_follow_ups_case_id", "follow_ups")
    op.drop_table("follow_ups")
