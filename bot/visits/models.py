"""The call-in visit: when it is booked, and the physician's visit checklist (routine §5)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot.db import Base, UTCDateTime
from bot.directory.models import Staff


class Visit(Base):
    __tablename__ = "visits"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), unique=True)
    physician_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    booked_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    booked_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    checklist_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    patient_informed: Mapped[bool | None] = mapped_column(Boolean)
    investigation: Mapped[str | None] = mapped_column(Text)  # None: no supplementary work-up
    treatment_started: Mapped[bool | None] = mapped_column(Boolean)
    treatment_drug: Mapped[str | None] = mapped_column(String(100))
    no_treatment_reason: Mapped[str | None] = mapped_column(Text)
    followup_date: Mapped[date | None] = mapped_column(Date)
    physio_contact: Mapped[bool | None] = mapped_column(Boolean)

    physician: Mapped[Staff | None] = relationship(foreign_keys=[physician_id], lazy="joined")


class FollowUp(Base):
    """One planned follow-up of a case after its visit (routine §5), and once recorded,
    what came of it. The visit's checklist plans the first; each record may plan the next.

    `stopped_reason` is `side_effects`, `patient_choice` or `other` (with `stopped_note`).
    """

    __tablename__ = "follow_ups"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    number: Mapped[int] = mapped_column(Integer, default=1)  # 1, 2, … within the case
    due: Mapped[date] = mapped_column(Date, index=True)
    physician_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    card_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    treatment_started: Mapped[bool | None] = mapped_column(Boolean)
    treatment_drug: Mapped[str | None] = mapped_column(String(100))
    not_started_reason: Mapped[str | None] = mapped_column(Text)
    on_treatment: Mapped[bool | None] = mapped_column(Boolean)
    stopped_reason: Mapped[str | None] = mapped_column(String(32))
    stopped_note: Mapped[str | None] = mapped_column(Text)
    falls: Mapped[bool | None] = mapped_column(Boolean)
    new_fracture: Mapped[bool | None] = mapped_column(Boolean)
    next_due: Mapped[date | None] = mapped_column(Date)
    dxa_planned: Mapped[date | None] = mapped_column(Date)
    physio_assessed_on: Mapped[date | None] = mapped_column(Date)

    physician: Mapped[Staff | None] = relationship(foreign_keys=[physician_id], lazy="joined")
    recorded_by: Mapped[Staff | None] = relationship(
        foreign_keys=[recorded_by_id], lazy="joined"
    )
