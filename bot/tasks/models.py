"""Booking and follow-up tasks created by decisions."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot.db import Base, UTCDateTime, utcnow
from bot.directory.models import Staff
from bot.tasks.enums import TaskStatus

MAX_TASK_NOTE = 1000
"""Characters of a task's note: kept whole or refused, never cut (the cards' `maxLength`)."""
MAX_REFERRAL_CLINIC = 200
"""Characters of the clinic a physiotherapy referral went to (`Task.referral_clinic`)."""


class Task(Base):
    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    position: Mapped[int] = mapped_column(default=1)
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str | None] = mapped_column(Text)
    assignee_role: Mapped[str] = mapped_column(String(20))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    due: Mapped[date] = mapped_column(Date, index=True)
    status: Mapped[str] = mapped_column(String(16), default=TaskStatus.OPEN, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    done_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str | None] = mapped_column(Text)
    booked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # "Boka läkartid"
    # "Fysioterapikontakt": when the referral was sent, and to which clinic
    referral_on: Mapped[date | None] = mapped_column(Date)
    referral_clinic: Mapped[str | None] = mapped_column(String(MAX_REFERRAL_CLINIC))

    assignee: Mapped[Staff | None] = relationship(foreign_keys=[assignee_id], lazy="joined")
    done_by: Mapped[Staff | None] = relationship(foreign_keys=[done_by_id], lazy="joined")
