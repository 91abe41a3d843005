"""Cases (one DXA answer each), their decisions and their history."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot.db import Base, UTCDateTime, utcnow
from bot.directory.models import Staff, Unit

MAX_NOTE = 1000
"""Characters of a decision's note (the call-in booking note, or the other action): kept
whole or refused, never cut; the decision card's `maxLength` is the same."""


class Case(Base):
    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    state: Mapped[str] = mapped_column(String(32), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    physician_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # The answer (remissvar) as sent.
    report_system: Mapped[str] = mapped_column(String(200))
    report_value: Mapped[str] = mapped_column(String(200), index=True)
    report_status: Mapped[str] = mapped_column(String(16))
    content_hash: Mapped[str] = mapped_column(String(64))
    scan_date: Mapped[date | None] = mapped_column(Date)
    issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    conclusion: Mapped[str | None] = mapped_column(Text)
    referral_id: Mapped[str | None] = mapped_column(String(200))
    fracture_code: Mapped[str | None] = mapped_column(String(16))
    fracture_text: Mapped[str | None] = mapped_column(String(500))
    practitioner_hsa_id: Mapped[str | None] = mapped_column(String(64))
    measurements: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)

    # The patient. Identifying fields are emptied by `purge` after retention.
    patient_key: Mapped[str] = mapped_column(String(64), index=True)
    patient_number: Mapped[str | None] = mapped_column(String(12))
    patient_id_kind: Mapped[str | None] = mapped_column(String(20))
    patient_name: Mapped[str | None] = mapped_column(String(300))
    patient_birth_date: Mapped[date | None] = mapped_column(Date)
    patient_gender: Mapped[str | None] = mapped_column(String(16))
    protected_identity: Mapped[bool] = mapped_column(Boolean, default=False)
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    superseded_by_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))

    unit: Mapped[Unit] = relationship(lazy="joined")
    physician: Mapped[Staff | None] = relationship(lazy="joined")
    decision: Mapped[Decision | None] = relationship(
        back_populates="case", lazy="joined", uselist=False
    )


class Decision(Base):
    """The physician's one decision on a case. The unique case id makes a second one impossible."""

    __tablename__ = "decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    by_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    note: Mapped[str | None] = mapped_column(Text)
    visit_physician_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))

    case: Mapped[Case] = relationship(back_populates="decision")
    by: Mapped[Staff] = relationship(foreign_keys=[by_id], lazy="joined")
    visit_physician: Mapped[Staff | None] = relationship(
        foreign_keys=[visit_physician_id], lazy="joined"
    )


class CaseEvent(Base):
    """One row per state transition or other change: who, when, what and why."""

    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    from_state: Mapped[str | None] = mapped_column(String(32))
    to_state: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text)


class AnswerMessage(Base):
    """The DXA answer bundle exactly as received (presentedForm included), kept with its case."""

    __tablename__ = "answer_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sender: Mapped[str] = mapped_column(String(100))
    body: Mapped[str | None] = mapped_column(Text)
