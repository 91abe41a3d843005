"""How cards write dates, times, case references and the patient (SPEC sections 6 and 7).

Dates are YYYY-MM-DD and times YYYY-MM-DD HH:MM in Europe/Stockholm. The patient line
follows the unit's `card_identity` setting; a protected identity is never shown.
"""

from __future__ import annotations

from datetime import date, datetime

from bot.cases.models import Case
from bot.core.calendar import STOCKHOLM
from bot.core.identifiers import format_personal_number

__all__ = [
    "PROTECTED",
    "already_decided",
    "case_ref",
    "fmt_date",
    "fmt_time",
    "patient_display",
]

PROTECTED = "Skyddad identitet"


def fmt_time(at: datetime | None) -> str | None:
    """YYYY-MM-DD HH:MM in Europe/Stockholm (None for None)."""
    if not at:
        return None
    t = at.astimezone(STOCKHOLM)
    if t.year < 1000:  # strftime's %Y does not pad those (glibc)
        return t.strftime("%Y-%m-%d %H:%M")
    return f"{t.year}-{t.month:02}-{t.day:02} {t.hour:02}:{t.minute:02}"


def fmt_date(day: date | None) -> str | None:
    """YYYY-MM-DD (None for None)."""
    return day.isoformat() if day else None


def case_ref(case_id: int) -> str:
    """How people name a case: "Ärende 12"."""
    return f"Ärende {case_id}"


def patient_display(case: Case) -> str:
    """The patient line for cards, by the unit setting; protected identities never shown."""
    if case.protected_identity:
        return PROTECTED
    mode = case.unit.setting("card_identity")
    if mode == "reference" or case.patient_number is None:
        return case_ref(case.id)
    number = format_personal_number(case.patient_number)
    if mode == "masked":
        initials = " ".join(f"{part[0]}." for part in (case.patient_name or "").split() if part)
        born = fmt_date(case.patient_birth_date) or number[:8]
        return f"{initials or '?'}, född {born}, {number[:9]}****"
    return f"{case.patient_name or 'Namn saknas'}, {number}"


def already_decided(case: Case) -> str:
    """The notice on a stale card of a decided case: who decided, and when."""
    decision = case.decision
    if decision is None:
        return "Kortet var inaktuellt; här är det aktuella."
    return f"Redan beslutat av {decision.by.name} ({fmt_time(decision.at)})."
