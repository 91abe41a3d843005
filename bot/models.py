"""Imports every model so that the metadata (and Alembic) sees all tables."""

from bot.audit.models import AuditEntry
from bot.botstate.models import BotStateItem
from bot.cases.models import AnswerMessage, Case, CaseEvent, Decision
from bot.clicks.models import Click
from bot.db import Base
from bot.directory.models import Staff, StaffRole, Unit
from bot.intake.models import AnswerKey, RejectedMessage
from bot.jobs.models import JobRun
from bot.outbox.models import ConversationRef, OutboxMessage
from bot.tasks.models import Task
from bot.visits.models import FollowUp, Visit

__all__ = [
    "AnswerKey",
    "AnswerMessage",
    "AuditEntry",
    "Base",
    "BotStateItem",
    "Case",
    "CaseEvent",
    "Click",
    "ConversationRef",
    "Decision",
    "FollowUp",
    "JobRun",
    "OutboxMessage",
    "RejectedMessage",
    "Staff",
    "StaffRole",
    "Task",
    "Unit",
    "Visit",
]
