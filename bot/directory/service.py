"""Units, staff and roles: loading the YAML directory and answering role questions."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, selectinload

from bot.audit import service as audit
from bot.db import utcnow
from bot.directory.enums import Role
from bot.directory.models import Staff, StaffRole, Unit
from bot.directory.schema import DirectoryError as DirectoryError
from bot.directory.schema import parse_directory

# The option that loads a person's roles with them (they are never loaded implicitly).
WITH_ROLES = joinedload(Staff.roles)


@dataclass
class LoadReport:
    units_added: int = 0
    units_updated: int = 0
    staff_added: int = 0
    staff_updated: int = 0
    staff_deactivated: int = 0
    changes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(
            self.units_added
            or self.units_updated
            or self.staff_added
            or self.staff_updated
            or self.staff_deactivated
        )


async def load_directory(session: AsyncSession, text: str, *, actor: str) -> LoadReport:
    """Apply a directory file. Idempotent; staff missing from the file are deactivated."""
    data = parse_directory(text)
    report = LoadReport()
    units_by_hsa: dict[str, Unit] = {
        u.hsa_id: u for u in (await session.scalars(select(Unit))).all()
    }
    for item in data.units:
        settings = item.settings_given()
        unit = units_by_hsa.get(item.hsa_id)
        if unit is None:
            unit = Unit(
                hsa_id=item.hsa_id,
                name=item.name,
                mva_channel=item.mva_channel,
                settings=settings,
                active=True,
            )
            session.add(unit)
            units_by_hsa[unit.hsa_id] = unit
            report.units_added += 1
        elif (unit.name, unit.mva_channel, unit.settings, unit.active) != (
            item.name,
            item.mva_channel,
            settings,
            True,
        ):
            unit.name, unit.mva_channel, unit.settings = item.name, item.mva_channel, settings
            unit.active = True
            unit.updated_at = utcnow()
            report.units_updated += 1
    await session.flush()

    staff_by_aad: dict[str, Staff] = {
        s.aad_object_id: s
        for s in (await session.scalars(select(Staff).options(selectinload(Staff.roles)))).all()
    }
    listed: set[str] = set()
    for entry in data.staff:
        aad = entry.aad_object_id
        listed.add(aad)
        wanted_roles = {
            (units_by_hsa[hsa].id, role) for hsa, roles in entry.units.items() for role in roles
        }
        person = staff_by_aad.get(aad)
        if person is None:
            person = Staff(name=entry.name, aad_object_id=aad, hsa_id=entry.hsa_id, active=True)
            person.roles = [StaffRole(unit_id=u, role=r) for u, r in sorted(wanted_roles)]
            session.add(person)
            report.staff_added += 1
            continue
        current_roles = {(r.unit_id, r.role) for r in person.roles}
        if (person.name, person.hsa_id, person.active, current_roles) == (
            entry.name,
            entry.hsa_id,
            True,
            wanted_roles,
        ):
            continue
        person.name, person.hsa_id, person.active = entry.name, entry.hsa_id, True
        person.roles = [r for r in person.roles if (r.unit_id, r.role) in wanted_roles]
        for unit_id, role in sorted(wanted_roles - current_roles):
            person.roles.append(StaffRole(unit_id=unit_id, role=role))
        person.updated_at = utcnow()
        report.staff_updated += 1
    for aad, person in staff_by_aad.items():
        if aad not in listed and person.active:
            person.active = False
            person.updated_at = utcnow()
            report.staff_deactivated += 1
    audit.record(
        session,
        actor=actor,
        action="directory.load",
        detail={
            "units_added": report.units_added,
            "units_updated": report.units_updated,
            "staff_added": report.staff_added,
            "staff_updated": report.staff_updated,
            "staff_deactivated": report.staff_deactivated,
        },
    )
    return report


async def load_directory_file(session: AsyncSession, path: Path, *, actor: str) -> LoadReport:
    text = await asyncio.to_thread(path.read_text, encoding="utf-8")
    return await load_directory(session, text, actor=actor)


async def unit_by_hsa(session: AsyncSession, hsa_id: str) -> Unit | None:
    return await session.scalar(select(Unit).where(Unit.hsa_id == hsa_id, Unit.active))


STAFF_BY_AAD = select(Staff).options(WITH_ROLES).where(Staff.aad_object_id == bindparam("aad"))
"""The person with AAD object id `aad` with their roles; built once: every click reads its
clicker (`bot.clicks` adds the click's row to it on PostgreSQL)."""


async def staff_by_aad(
    session: AsyncSession,
    aad_object_id: str,
    *,
    statement: Select[Staff] = STAFF_BY_AAD,
    params: Mapping[str, Any] | None = None,
) -> Staff | None:
    """A person with their roles (one query): `statement`, `STAFF_BY_AAD` or one that
    writes something with it (with its `params`)."""
    rows = await session.scalars(statement, {"aad": aad_object_id, **(params or {})})
    return rows.unique().one_or_none()


def has_role(person: Staff | None, unit_id: int, role: Role) -> bool:
    """True when the person is active and holds `role` in the unit."""
    return bool(
        person is not None
        and person.active
        and any(r.unit_id == unit_id and r.role == role for r in person.roles)
    )


async def physician_of_unit(
    session: AsyncSession, aad_object_id: str, *, unit_id: int
) -> Staff | None:
    """The person with this AAD object id when an active physician of the unit, else None."""
    person = await staff_by_aad(session, aad_object_id)
    return person if has_role(person, unit_id, Role.PHYSICIAN) else None


def _unit_staff_query(*, with_roles: bool) -> Select[Staff]:
    query = (
        select(Staff)
        .join(StaffRole)
        .where(
            StaffRole.unit_id == bindparam("unit_id"),
            StaffRole.role == bindparam("role"),
            Staff.active,
        )
        .order_by(Staff.name)
    )
    return query.options(selectinload(Staff.roles)) if with_roles else query


# built once, by `with_roles`: the cards of every action list the unit's people
_UNIT_STAFF = {flag: _unit_staff_query(with_roles=flag) for flag in (False, True)}


async def unit_staff(
    session: AsyncSession, *, unit_id: int, role: Role, with_roles: bool = False
) -> Sequence[Staff]:
    """Active staff holding `role` in the unit, by name; `with_roles` loads all their roles
    (for `has_role` on them). Read once per session (transaction): a card and the card
    sent with it list the same people."""
    known: dict[tuple[int, str, bool], Sequence[Staff]] = session.info.setdefault("unit_staff", {})
    key = (unit_id, role, with_roles)
    if key in known:
        return known[key]
    query = _UNIT_STAFF[with_roles]
    with session.no_autoflush:  # who works where does not depend on this session's rows
        rows = await session.scalars(query, {"unit_id": unit_id, "role": role})
    known[key] = found = rows.unique().all()
    return found


def remember_unit_staff(
    session: AsyncSession, *, unit_id: int, role: Role, staff: Sequence[Staff]
) -> None:
    """Make `staff` (active, holding `role` in the unit, by name; roles not loaded) what
    `unit_staff` answers in this session: for a caller that read them in a query of its
    own (the intake reads the unit's physicians with the unit)."""
    known: dict[tuple[int, str, bool], Sequence[Staff]] = session.info.setdefault("unit_staff", {})
    known[(unit_id, role, False)] = staff
