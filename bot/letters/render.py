"""Swedish drafts from Jinja2 templates, to copy into the record system: letters for
patients, and the referral to a physiotherapist after the visit.

Plain text in plain Swedish a patient (or a physiotherapy clinic) understands. For a
protected identity the name (and the personal number) are placeholders: the draft is shown
in Teams, where no protected identity may appear.
"""

from __future__ import annotations

from datetime import date
from functools import cache
from pathlib import Path

import jinja2

from bot.cases.clinical import Suggestion, format_score
from bot.core.identifiers import format_personal_number
from bot.tasks.enums import TaskKind

LETTERS: dict[str, str] = {
    TaskKind.NORMAL_LETTER: "normal_result",
    TaskKind.INVITATION_LETTER: "call_in",
}
"""Task kind -> the letter template that goes with it."""
NAME_PLACEHOLDER = "[Patientens namn]"
NUMBER_PLACEHOLDER = "[Personnummer]"


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701 - plain-text letters, never HTML
        keep_trailing_newline=True,
    )


def letter_for_task(
    task_kind: str,
    *,
    patient_name: str | None,
    protected: bool,
    scan_date: date | None,
    physician: str,
    unit: str,
    months: int,
    today: date,
) -> str | None:
    """The letter draft that goes with a task of this kind, or None when there is none."""
    template = LETTERS.get(task_kind)
    if template is None:
        return None
    return (
        _environment()
        .get_template(f"{template}.txt.j2")
        .render(
            patient=NAME_PLACEHOLDER if protected or not patient_name else patient_name,
            scan_date=scan_date.isoformat() if scan_date else "nyligen",
            physician=physician,
            unit=unit,
            months=months,
            date=today.isoformat(),
        )
    )


def physio_referral(
    *,
    patient_name: str | None,
    patient_number: str | None,
    protected: bool,
    fracture_label: str | None,
    fracture_code: str | None,
    fracture_text: str | None,
    scan_date: date | None,
    suggestion: Suggestion,
    treatment: str | None,
    decision_note: str | None,
    investigation: str | None,
    physician: str,
    unit: str,
    today: date,
) -> str:
    """The referral draft of the physiotherapy task (routine §5): the fragility fracture and
    the DXA finding as the cards show it (`suggestion`) as the reason, a fall-risk assessment
    and strength and balance training as the ask, and the physician's notes. `protected`
    leaves the name and the personal number as placeholders (`patient_number`: 12 digits)."""
    if suggestion.use_z:
        score, site, name = suggestion.lowest_z, suggestion.lowest_z_site_label, "Z-score"
        below: bool | None = suggestion.z_below_expected
    else:
        score, site, name = suggestion.lowest_t, suggestion.lowest_t_site_label, "T-score"
        below = None
    return (
        _environment()
        .get_template("physio_referral.txt.j2")
        .render(
            patient=NAME_PLACEHOLDER if protected or not patient_name else patient_name,
            personal_number=NUMBER_PLACEHOLDER
            if protected or not patient_number
            else format_personal_number(patient_number),
            fracture={"label": fracture_label, "code": fracture_code, "text": fracture_text},
            scan_date=scan_date.isoformat() if scan_date else None,
            finding={
                "name": name,
                "score": format_score(score) if score is not None else None,
                "site": site,
                "category": None if suggestion.use_z else suggestion.category_label,
                "below_expected": below,
            },
            treatment=treatment,
            decision_note=decision_note,
            investigation=investigation,
            physician=physician,
            unit=unit,
            date=today.isoformat(),
        )
    )
