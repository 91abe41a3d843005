"""The DXA measurements: Observations with a known LOINC code, grouped per site in order
of first appearance, each value checked against its range."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.core.measurements import SITE_LABELS, Measurement
from bot.intake.fhir.access import Json, json_type
from bot.intake.fhir.bundle import Bundle, Resource
from bot.intake.fhir.codes import LOINC_MEASURES, LOINC_SYSTEMS, MeasureKind
from bot.intake.limits import TEXT_MAX

__all__ = ["BMD_RANGE", "SCORE_RANGE", "read_measurements"]

SCORE_RANGE = (-10.0, 10.0)
"""Accepted T- and Z-scores, inclusive."""
BMD_RANGE = (0.0, 3.0)
"""Accepted bone mineral density in g/cm², inclusive."""

_SKIPPED_OBSERVATION_STATUSES = frozenset({"entered-in-error", "cancelled"})
_MEASURE_NAMES: dict[MeasureKind, str] = {"bmd": "BMD", "t": "T-score", "z": "Z-score"}


@dataclass
class _MeasureGroup:
    body_site_text: str | None = None
    values: dict[MeasureKind, float] = field(default_factory=dict)
    paths: dict[MeasureKind, str] = field(default_factory=dict)


def read_measurements(
    bundle: Bundle, report: Resource, patient: Resource | None
) -> tuple[Measurement, ...]:
    """The measurements of the Observations in the report's ``result`` (all Observations
    in the bundle when ``result`` is absent). Other codes are ignored, as are observations
    entered in error or cancelled; one value per site and kind."""
    observations: list[Resource] = []
    if "result" in report.body:
        for ref_path, ref in bundle.objects(report.body, "result", report.path):
            resource = bundle.resolve_reference(
                ref, ref_path, frozenset({"Observation"}), required=True
            )
            if resource is not None and resource not in observations:
                observations.append(resource)
    else:
        observations = bundle.of_type("Observation")

    groups: dict[str, _MeasureGroup] = {}
    for observation in observations:
        _read_observation(bundle, observation, patient, groups)
    return tuple(
        Measurement(
            site=site,
            site_label=SITE_LABELS[site],
            body_site_text=group.body_site_text,
            bmd=group.values.get("bmd"),
            t_score=group.values.get("t"),
            z_score=group.values.get("z"),
        )
        for site, group in groups.items()
    )


def _read_observation(
    bundle: Bundle,
    observation: Resource,
    patient: Resource | None,
    groups: dict[str, _MeasureGroup],
) -> None:
    body, path = observation.body, observation.path
    code = bundle.obj(body, "code", path, required=True)
    if code is None:
        return
    measure: tuple[str, MeasureKind] | None = None
    for _, _, system, value in bundle.codings(code, f"{path}.code"):
        if measure is None and system in LOINC_SYSTEMS and value in LOINC_MEASURES:
            measure = LOINC_MEASURES[value]
    if measure is None:
        return
    site, kind = measure
    status = bundle.string(body, "status", path)
    if status in _SKIPPED_OBSERVATION_STATUSES:
        return
    if patient is not None and "subject" in body:
        subject = bundle.resolve(body, "subject", path, None, required=False)
        if subject is not None and subject is not patient:
            bundle.problem(f"{path}.subject", "refers to another patient than the report")

    quantity = bundle.obj(body, "valueQuantity", path)
    if quantity is None:
        if "valueQuantity" not in body and "dataAbsentReason" not in body:
            bundle.problem(f"{path}.valueQuantity", "required for a DXA measurement")
        return
    value_path = f"{path}.valueQuantity.value"
    raw = quantity.get("value")
    if "value" not in quantity:
        bundle.problem(value_path, "required number is missing")
        return
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        bundle.problem(value_path, f"expected a number, got {json_type(raw)}")
        return
    low, high = BMD_RANGE if kind == "bmd" else SCORE_RANGE
    if not low <= raw <= high:  # NaN compares false; an int of any size compares exactly
        unit = " g/cm²" if kind == "bmd" else ""
        bundle.problem(
            value_path,
            f"{_MEASURE_NAMES[kind]} {_number_text(raw)} is outside "
            f"{_format_range(low, high)}{unit}",
        )
        return
    number = float(raw)

    group = groups.setdefault(site, _MeasureGroup())
    if kind in group.values:
        bundle.problem(
            f"{path}.code",
            f"a second {_MEASURE_NAMES[kind]} for {site} (first at {group.paths[kind]})",
        )
        return
    group.values[kind] = number
    group.paths[kind] = path
    if group.body_site_text is None:
        group.body_site_text = _read_body_site(bundle, body, path)


def _read_body_site(bundle: Bundle, body: Json, path: str) -> str | None:
    site = bundle.obj(body, "bodySite", path)
    if site is None:
        return None
    text = bundle.string(site, "text", f"{path}.bodySite", max_length=TEXT_MAX)
    if text is not None:
        return text
    for coding_path, coding in bundle.objects(site, "coding", f"{path}.bodySite"):
        display = bundle.string(coding, "display", coding_path, max_length=TEXT_MAX)
        if display is not None:
            return display
    return None


def _number_text(number: float) -> str:
    """A number as written, or its size when it is too long to show."""
    if isinstance(number, int) and not -(10**15) < number < 10**15:
        return "with more than 15 digits"
    return str(number)


def _format_range(low: float, high: float) -> str:
    return f"{low:g}..{high:g}"
