"""Scheduled jobs that must run once per day and scope, whatever the number of processes."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.db import Base, UTCDateTime, utcnow


class JobRun(Base):
    """A claim: the first process to insert (job, scope, day) runs it; others see the row."""

    __tablename__ = "job_runs"
    __table_args__ = (UniqueConstraint("job", "scope", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(String(200))
    day: Mapped[date] = mapped_column(Date)
    ran_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
