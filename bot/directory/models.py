"""Care units, staff and their roles per unit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot.db import Base, UTCDateTime, utcnow
from bot.directory.enums import Role

DEFAULT_UNIT_SETTINGS: dict[str, Any] = {
    "card_identity": "full",
    "call_in_months": 2,
    "letter_tasks_to": Role.PHYSICIAN,
    "retention_days": 180,
    "digest_time": "07:30",
    "task_texts": {},  # task kind -> title replacing the default (bot.tasks.service.TASK_TEXTS)
    "physio_due_working_days": 5,  # the physiotherapy referral task, after the visit
}


class Unit(Base):
    __tablename__ = "units"

    id: Mapped[int] = mapped_column(primary_key=True)
    hsa_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    mva_channel: Mapped[str | None] = mapped_column(String(200), index=True)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def setting(self, key: str) -> Any:
        """A unit setting, falling back to the product default."""
        return (self.settings or {}).get(key, DEFAULT_UNIT_SETTINGS.get(key))


class Staff(Base):
    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    aad_object_id: Mapped[str] = mapped_column(String(64), unique=True)
    hsa_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    teams_user_id: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    # Loaded only where a role is asked (`bot.directory.service.WITH_ROLES`): a staff row
    # read for its name (a case's physician, a task's assignee) costs no second query.
    roles: Mapped[list[StaffRole]] = relationship(
        back_populates="staff", cascade="all, delete-orphan", lazy="raise"
    )


class StaffRole(Base):
    __tablename__ = "staff_roles"
    __table_args__ = (UniqueConstraint("staff_id", "unit_id", "role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    role: Mapped[str] = mapped_column(String(20))

    staff: Mapped[Staff] = relationship(back_populates="roles")
