"""Structured JSON log lines. Only ids and codes go in; never names or personal numbers.

Domain events (an answer taken in, a decision recorded, a card sent …) are one line each
on the logger `frakturkedjan.events`, named by `Event` in the line's `event` key, with
ids and codes as the other keys: `log_event` writes it now, `log_on_commit` when the
session's transaction commits (nothing when it rolls back).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

__all__ = ["Event", "JsonFormatter", "configure_logging", "log_event", "log_on_commit"]

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the record's extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = (
                    value if isinstance(value, str | int | float | bool | None) else str(value)
                )
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class _JsonStderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler `configure_logging` installs; replaced, never duplicated, on a re-call."""


def configure_logging(level: int = logging.INFO) -> None:
    """JSON lines on stderr, Python's warnings among them (logger `py.warnings`). Other
    handlers (a test's log capture) are left in place."""
    logging.captureWarnings(True)
    handler = _JsonStderrHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if not isinstance(h, _JsonStderrHandler)]
    root.addHandler(handler)
    root.setLevel(level)


class Event(StrEnum):
    """The domain events, as the `event` key of their log line: `<subject>.<what happened>`
    in the past tense. The keys beside it are ids and codes only (`case_id`, `task_id`,
    `unit_id`, `outbox_id`, `purpose`, `reason` …), never names or free text.
    scripts/pretty-log.sh prints each of them as a Swedish line for the demo."""

    ANSWER_RECEIVED = "answer.received"  # case_id, unit_id, outcome, routed, supersedes
    ANSWER_REJECTED = "answer.rejected"  # status, problems, channel
    CASE_ROUTED = "case.routed"  # case_id, unit_id, physician_id, by (assign, reassign)
    DECISION_RECORDED = "decision.recorded"  # case_id, unit_id, decision, tasks
    DECISION_UNDONE = "decision.undone"  # case_id, unit_id, decision, tasks (cancelled)
    TASK_DONE = "task.done"  # task_id, case_id, task_kind
    TASK_REOPENED = "task.reopened"  # task_id, case_id, task_kind
    CARD_SENT = "card.sent"  # outbox_id, purpose, case_id, to (user, channel, fallback)
    CARD_UPDATED = "card.updated"  # outbox_id, purpose, case_id, update_of
    CARD_GONE = "card.gone"  # outbox_id, posted_id, case_id: deleted in Teams
    CARD_UPDATE_SKIPPED = "card.update_skipped"  # outbox_id, reason
    ACTION_REFUSED = "action.refused"  # action, reason, case_id, task_id


_TEXTS = {
    Event.ANSWER_RECEIVED: "DXA answer received",
    Event.ANSWER_REJECTED: "DXA answer rejected",
    Event.CASE_ROUTED: "case routed to a physician",
    Event.DECISION_RECORDED: "decision recorded",
    Event.DECISION_UNDONE: "decision undone",
    Event.TASK_DONE: "task done",
    Event.TASK_REOPENED: "task reopened",
    Event.CARD_SENT: "card sent",
    Event.CARD_UPDATED: "card updated",
    Event.CARD_GONE: "card message deleted in Teams; no longer updated",
    Event.CARD_UPDATE_SKIPPED: "card update skipped",
    Event.ACTION_REFUSED: "action refused",
}
_events = logging.getLogger("frakturkedjan.events")
_PENDING = "frakturkedjan.events"  # the session.info key of the lines waiting for commit


def log_event(event: Event, /, **ids: str | int | None) -> None:
    """Write the event's line now: `event` and the `ids` given (None values left out)."""
    if _events.isEnabledFor(logging.INFO):
        extra: dict[str, Any] = {k: v for k, v in ids.items() if v is not None}
        extra["event"] = event.value
        _events.info(_TEXTS[event], extra=extra)


def log_on_commit(session: AsyncSession, event: Event, /, **ids: str | int | None) -> None:
    """Write the event's line when `session`'s transaction commits; never if it rolls
    back. No database work: the line waits in `session.info`."""
    session.info.setdefault(_PENDING, []).append((event, ids))


@sa_event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    for event, ids in session.info.pop(_PENDING, ()):
        log_event(event, **ids)


@sa_event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)
