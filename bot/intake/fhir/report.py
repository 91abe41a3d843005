"""The DiagnosticReport: the answer's identifier, status, panel code, scan date, issue
time, conclusion, its referral (``basedOn``) and its presented forms."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from bot.intake.fhir.access import Json, describe
from bot.intake.fhir.bundle import Bundle, Resource
from bot.intake.fhir.codes import DXA_PANEL_CODE, LOINC_SYSTEMS
from bot.intake.fhir.values import DATE_TIME, is_base64, parse_date_time, parse_instant
from bot.intake.limits import CONCLUSION_MAX, IDENTIFIER_SYSTEM_MAX, IDENTIFIER_VALUE_MAX

__all__ = [
    "Attachment",
    "ReportFields",
    "ReportStatus",
    "find_referral",
    "read_attachments",
    "read_report",
]

ReportStatus = Literal["final", "amended", "corrected"]

_REPORT_STATUSES: dict[str, ReportStatus] = {
    "final": "final",
    "amended": "amended",
    "corrected": "corrected",
}


@dataclass(frozen=True)
class Attachment:
    """A presented form (usually the PDF report); ``data`` is the base64 text as sent."""

    content_type: str
    title: str | None
    data: str


@dataclass(frozen=True)
class ReportFields:
    """What the answer takes from the DiagnosticReport itself."""

    system: str
    value: str
    status: ReportStatus
    scan_date: date | None
    issued: datetime | None
    conclusion: str | None


def read_report(bundle: Bundle, report: Resource, *, today: date) -> ReportFields | None:
    """The report's fields; None when its identifier or status is unusable (the problems
    say why). A scan date after ``today`` is a problem."""
    body, path = report.body, report.path
    identity: tuple[str, str] | None = None
    for identifier_path, identifier in bundle.objects(body, "identifier", path):
        system = bundle.string(
            identifier, "system", identifier_path, max_length=IDENTIFIER_SYSTEM_MAX
        )
        value = bundle.string(identifier, "value", identifier_path, max_length=IDENTIFIER_VALUE_MAX)
        if identity is None and system is not None and value is not None:
            identity = (system, value)
    if identity is None and isinstance(body.get("identifier", []), list):
        bundle.problem(f"{path}.identifier", "an identifier with system and value is required")

    status_text = bundle.string(body, "status", path, required=True)
    status = _REPORT_STATUSES.get(status_text) if status_text is not None else None
    if status_text is not None and status is None:
        bundle.problem(
            f"{path}.status",
            f"expected final, amended or corrected, got {describe(status_text)}",
        )

    code = bundle.obj(body, "code", path, required=True)
    if code is not None:
        found = any(
            system in LOINC_SYSTEMS and value == DXA_PANEL_CODE
            for _, _, system, value in bundle.codings(code, f"{path}.code")
        )
        if not found:
            bundle.problem(f"{path}.code", f"must have the LOINC coding {DXA_PANEL_CODE}")

    scan_date = _read_scan_date(bundle, body, path, today)
    issued_text = bundle.string(body, "issued", path)
    issued = None
    if issued_text is not None:
        issued = parse_instant(issued_text)
        if issued is None:
            bundle.problem(
                f"{path}.issued",
                "expected an instant such as 2026-11-12T09:30:00+01:00",
            )
    conclusion = bundle.string(body, "conclusion", path, max_length=CONCLUSION_MAX)

    if identity is None or status is None:
        return None
    return ReportFields(identity[0], identity[1], status, scan_date, issued, conclusion)


def _read_scan_date(bundle: Bundle, body: Json, path: str, today: date) -> date | None:
    text = bundle.string(body, "effectiveDateTime", path)
    if text is None:
        return None
    match = DATE_TIME.fullmatch(text)
    parsed = parse_date_time(match) if match is not None else None
    if parsed is None:
        bundle.problem(
            f"{path}.effectiveDateTime",
            "expected a date (YYYY-MM-DD) or a date-time with seconds and time zone",
        )
        return None
    if parsed > today:
        bundle.problem(f"{path}.effectiveDateTime", "the scan date is in the future")
        return None
    return parsed


def find_referral(bundle: Bundle, report: Resource) -> Resource | None:
    """The first ServiceRequest of the report's ``basedOn`` that is in the bundle."""
    for ref_path, ref in bundle.objects(report.body, "basedOn", report.path):
        if "reference" not in ref:
            continue
        target = bundle.string(ref, "reference", ref_path)
        resource = bundle.by_reference.get(target) if target is not None else None
        if resource is not None and resource.type == "ServiceRequest":
            return resource
    return None


def read_attachments(bundle: Bundle, report: Resource) -> tuple[Attachment, ...]:
    """The presented forms with inline ``data`` (valid base64); those with only a ``url``
    are skipped."""
    attachments: list[Attachment] = []
    for form_path, form in bundle.objects(report.body, "presentedForm", report.path):
        if "data" not in form:
            continue
        content_type = bundle.string(form, "contentType", form_path, required=True)
        title = bundle.string(form, "title", form_path)
        data = bundle.string(form, "data", form_path, required=True)
        if data is not None and not is_base64(data):
            bundle.problem(f"{form_path}.data", "is not valid base64")
            continue
        if content_type is not None and data is not None:
            attachments.append(Attachment(content_type=content_type, title=title, data=data))
    return tuple(attachments)
