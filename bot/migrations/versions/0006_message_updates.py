"""outbox rows that update a posted card message

Every card message the bot posts is kept current: after a change of its case, a row
naming the posted message (`update_of`) is written to the outbox, and the worker replaces
the message with the current card. `shown_hash` is the hash of the card the message shows
now, so that an update that would change nothing is not sent.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 03:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("update_of", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("shown_hash", sa.String(64), nullable=True))
        batch.create_index("ix_outbox_update_of", ["update_of"])


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index("ix_outbox_update_of")
        batch.drop_column("shown_hash")
        batch.drop_column("update_of")
