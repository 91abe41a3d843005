"""The clinical suggestion shown on the decision card (SPEC section 2.3).

It summarises the DXA answer for the physician: the lowest T-score and its WHO
category, or for patients under 50 the lowest Z-score, and whether the index fracture
(hip or vertebra) calls for treatment regardless of T-score. It never decides.

Scores are compared as they are shown: rounded to one decimal, halves away from zero.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from bot.core.measurements import Measurement

__all__ = [
    "CATEGORY_LABELS",
    "FRACTURE_LABELS",
    "Category",
    "FractureGroup",
    "Suggestion",
    "against_no_osteoporosis",
    "age_on",
    "format_score",
    "fracture_group",
    "round_score",
    "suggest",
    "who_category",
]

Category = Literal["normal", "osteopenia", "osteoporosis"]
FractureGroup = Literal["hip", "vertebra", "wrist", "humerus", "pelvis", "other"]

CATEGORY_LABELS: dict[Category, str] = {
    "normal": "Normal bentäthet",
    "osteopenia": "Osteopeni",
    "osteoporosis": "Osteoporos",
}
FRACTURE_LABELS: dict[FractureGroup, str] = {
    "hip": "Höftfraktur",
    "vertebra": "Kotfraktur",
    "wrist": "Handledsfraktur",
    "humerus": "Proximal humerusfraktur",
    "pelvis": "Bäckenfraktur",
    "other": "Annan fraktur",
}

Z_AGE_LIMIT = 50
"""Patients younger than this (at the scan) are judged by Z-score."""
Z_BELOW_EXPECTED = -2.0
"""A Z-score at or below this is below the expected range for age."""
_NORMAL_FROM = -1.0
_OSTEOPOROSIS_FROM = -2.5
_MINUS = "\u2212"
_ICD10 = re.compile(r"([A-Z])([0-9]{2})\.?([0-9A-Z]*)")
_TENTH = Decimal("0.1")


@dataclass(frozen=True)
class Suggestion:
    """What the card shows next to the scores; ``text`` is one Swedish sentence.

    ``category`` is the WHO category of ``lowest_t`` and is None when ``use_z`` (under
    50) or when there is no T-score. ``z_below_expected`` says whether ``lowest_z`` is at
    or below −2.0, whatever the age.
    """

    age: int | None
    use_z: bool
    lowest_t: float | None
    lowest_t_site_label: str | None
    category: Category | None
    category_label: str | None
    lowest_z: float | None
    lowest_z_site_label: str | None
    z_below_expected: bool
    fracture_group: FractureGroup | None
    fracture_label: str | None
    treat_regardless: bool
    text: str


def round_score(x: float) -> float:
    """``x`` rounded to one decimal, halves away from zero (−2.45 → −2.5); ``x`` must
    be finite (ValueError otherwise)."""
    if not math.isfinite(x):
        raise ValueError(f"a score must be a finite number, got {x!r}")
    return float(Decimal(repr(x)).quantize(_TENTH, rounding=ROUND_HALF_UP))


def format_score(x: float) -> str:
    """A score as shown in Swedish: one decimal, decimal comma, U+2212 minus
    (−2.9 → "−2,9", 0.3 → "0,3", −0.04 → "0,0")."""
    rounded = round_score(x)
    text = f"{abs(rounded):.1f}".replace(".", ",")
    return f"{_MINUS}{text}" if rounded < 0 else text


def who_category(t: float) -> Category:
    """WHO category of a T-score rounded to one decimal: ≥ −1.0 normal,
    ≤ −2.5 osteoporosis, osteopenia in between."""
    rounded = round_score(t)
    if rounded >= _NORMAL_FROM:
        return "normal"
    if rounded <= _OSTEOPOROSIS_FROM:
        return "osteoporosis"
    return "osteopenia"


def fracture_group(icd10: str | None) -> FractureGroup | None:
    """Group of an ICD-10 fracture code; None for no code, "other" for any other code.

    Case, surrounding spaces and a missing dot are ignored (``s720`` = ``S72.0``), and
    further subcodes are allowed (``S22.00``): S72 hip; S22.0, S32.0 vertebra;
    S52.5, S52.6 wrist; S42.2 proximal humerus; S32.1–S32.8 pelvis.
    """
    if icd10 is None or not icd10.strip():
        return None
    match = _ICD10.fullmatch(icd10.strip().upper().replace(" ", ""))
    if match is None:
        return "other"
    category = f"{match[1]}{match[2]}"
    sub = match[3][:1]
    if category == "S72":
        return "hip"
    if (category, sub) in {("S22", "0"), ("S32", "0")}:
        return "vertebra"
    if category == "S52" and sub in {"5", "6"}:
        return "wrist"
    if category == "S42" and sub == "2":
        return "humerus"
    if category == "S32" and sub in {"1", "2", "3", "4", "5", "6", "7", "8"}:
        return "pelvis"
    return "other"


def age_on(birth_date: date, on: date) -> int:
    """Completed years from ``birth_date`` to ``on`` (a 29 February birthday counts
    from 1 March in other years)."""
    years = on.year - birth_date.year
    if (on.month, on.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years


def suggest(
    *,
    measurements: Sequence[Measurement],
    birth_date: date | None,
    scan_date: date | None,
    fracture_code: str | None,
) -> Suggestion:
    """Summarise the answer for the card.

    The age is taken at the scan date; without a birth or scan date it is unknown and
    T-scores are used. Under 50 the text speaks of the lowest Z-score, otherwise of the
    lowest T-score and its category. The lowest score is the first measurement (in the
    given order) with the smallest value. ``treat_regardless`` is True for a hip or
    vertebral index fracture.
    """
    age = age_on(birth_date, scan_date) if birth_date and scan_date else None
    use_z = age is not None and age < Z_AGE_LIMIT

    lowest_t, t_site = _lowest(measurements, "t")
    lowest_z, z_site = _lowest(measurements, "z")
    category = who_category(lowest_t) if lowest_t is not None and not use_z else None
    z_below = lowest_z is not None and round_score(lowest_z) <= Z_BELOW_EXPECTED
    group = fracture_group(fracture_code)

    if use_z:
        if lowest_z is None:
            text = "Inga Z-score i svaret."
        else:
            verdict = "under förväntat för åldern" if z_below else "inom förväntat för åldern"
            text = f"Lägsta Z-score {format_score(lowest_z)} ({z_site}): {verdict}."
    elif lowest_t is None or category is None:
        text = "Inga T-score i svaret."
    else:
        verdict = CATEGORY_LABELS[category].lower()
        text = f"Lägsta T-score {format_score(lowest_t)} ({t_site}): {verdict}."

    return Suggestion(
        age=age,
        use_z=use_z,
        lowest_t=lowest_t,
        lowest_t_site_label=t_site,
        category=category,
        category_label=CATEGORY_LABELS[category] if category is not None else None,
        lowest_z=lowest_z,
        lowest_z_site_label=z_site,
        z_below_expected=z_below,
        fracture_group=group,
        fracture_label=FRACTURE_LABELS[group] if group is not None else None,
        treat_regardless=group in ("hip", "vertebra"),
        text=text,
    )


def _lowest(
    measurements: Sequence[Measurement], score: Literal["t", "z"]
) -> tuple[float | None, str | None]:
    lowest: float | None = None
    label: str | None = None
    for measurement in measurements:
        value = measurement.t_score if score == "t" else measurement.z_score
        if value is not None and (lowest is None or value < lowest):
            lowest, label = value, measurement.site_label
    return lowest, label


def against_no_osteoporosis(suggestion: Suggestion) -> list[str]:
    """Why a decision of no osteoporosis (a normal letter or call) goes against the
    answer, one Swedish line each as the card shows it; empty when it does not.

    For a patient judged by T-score (50 or older, or of unknown age): the lowest T-score
    at or below −2.5. Under 50: the lowest Z-score at or below −2.0 (the card says that
    T-scores are not used then). At any age: a hip or vertebral index fracture.
    """
    s = suggestion
    reasons = []
    if not s.use_z and s.category == "osteoporosis" and s.lowest_t is not None:
        reasons.append(
            f"Lägsta T-score {format_score(s.lowest_t)} ({s.lowest_t_site_label}): osteoporos"
        )
    if s.use_z and s.z_below_expected and s.lowest_z is not None:
        reasons.append(
            f"Lägsta Z-score {format_score(s.lowest_z)} ({s.lowest_z_site_label}): "
            "under förväntat för åldern"
        )
    if s.treat_regardless and s.fracture_label is not None:
        reasons.append(f"{s.fracture_label}: behandling bör övervägas oavsett T-score")
    return reasons
