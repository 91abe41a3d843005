"""Swedish letter drafts for patients, from Jinja2 templates, to copy into the record system.

Plain text in plain Swedish a patient understands. For a protected identity the name is a
placeholder: the draft is shown in Teams, where no protected identity may appear.
"""

from __future__ import annotations

from datetime import date
from functools import cache
from pathlib import Path

import jinja2

from bot.tasks.enums import TaskKind

LETTERS: dict[str, str] = {
    TaskKind.NORMAL_LETTER: "normal_result",
    TaskKind.INVITATION_LETTER: "call_in",
}
"""Task kind -> the letter template that goes with it."""
NAME_PLACEHOLDER = "[Patientens namn]"


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
