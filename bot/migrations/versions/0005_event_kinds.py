"""case events stored as codes

The history of a case (`case_events.action`) was stored as the Swedish label people read
("Fördelat"); it is now the code of `bot.cases.enums.EventKind` ("assigned"), and the
label is looked up where people read it. Rows whose action is not one of these labels
(or codes) are left as they are.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 01:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here: a migration keeps meaning what it meant when it was written.
LABELS_TO_CODES = {
    "Svar mottaget": "received",
    "Fördelat": "assigned",
    "Fördelat om": "reassigned",
    "Beslut": "decided",
    "Uppgift klar": "task_done",
    "Uppgift ångrad": "task_reopened",
    "Avslutat": "closed",
    "Återöppnat": "reopened",
    "Besök registrerat": "visit_recorded",
    "Ersatt": "superseded",
    "Makulerat": "cancelled",
}

_events = sa.table("case_events", sa.column("action", sa.String(64)))


def _rewrite(mapping: dict[str, str]) -> None:
    for old, new in mapping.items():
        op.execute(_events.update().where(_events.c.action == old).values(action=new))


def upgrade() -> None:
    _rewrite(LABELS_TO_CODES)


def downgrade() -> None:
    _rewrite({code: label for label, code in LABELS_TO_CODES.items()})
