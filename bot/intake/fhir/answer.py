"""``parse_bundle``: one DXA answer bundle to a :class:`DxaAnswer`, or
:class:`BundleInvalid` with every problem found."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from datetime import date, datetime

from bot.core.measurements import Measurement
from bot.intake import jsontext
from bot.intake.fhir.access import Json
from bot.intake.fhir.bundle import Bundle
from bot.intake.fhir.observations import read_measurements
from bot.intake.fhir.parties import Parties
from bot.intake.fhir.patient import PatientInfo, read_patient
from bot.intake.fhir.referral import read_fracture, read_referral_id
from bot.intake.fhir.report import (
    Attachment,
    ReportStatus,
    find_referral,
    read_attachments,
    read_report,
)
from bot.intake.problems import Problem

__all__ = ["BundleInvalid", "DxaAnswer", "content_hash", "parse_bundle"]

_HASH_EXCLUDED_KEYS = frozenset({"id", "timestamp", "meta"})

_SUMMARISED = 10
"""Problems quoted in the exception's text (all of them are in ``problems``)."""


class BundleInvalid(Exception):
    """The bundle cannot be accepted; ``problems`` lists everything found, in reading order."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        summary = "; ".join(f"{p.path}: {p.message}" for p in problems[:_SUMMARISED])
        super().__init__(f"invalid DXA bundle ({len(problems)} problem(s)): {summary}")


@dataclass(frozen=True)
class DxaAnswer:
    """Everything the workflow needs from one DXA answer.

    ``content_hash`` identifies the content: two bundles that differ only in the
    top-level ``id``, ``timestamp`` or ``meta`` have the same hash.
    """

    report_system: str
    report_value: str
    status: ReportStatus
    scan_date: date | None
    issued: datetime | None
    conclusion: str | None
    patient: PatientInfo
    unit_hsa_id: str
    unit_name: str | None
    practitioner_hsa_id: str | None
    practitioner_name: str | None
    referral_id: str | None
    fracture_code: str | None
    fracture_text: str | None
    measurements: tuple[Measurement, ...]
    attachments: tuple[Attachment, ...]
    content_hash: str


def content_hash(bundle: Json) -> str:
    """SHA-256 hex of the canonical JSON (sorted keys, compact, UTF-8) of ``bundle``
    without its top-level ``id``, ``timestamp`` and ``meta``."""
    content = {k: v for k, v in bundle.items() if k not in _HASH_EXCLUDED_KEYS}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def parse_bundle(data: object, *, today: date) -> DxaAnswer:
    """Parse the decoded JSON of a DXA answer bundle; raise BundleInvalid otherwise.

    ``today`` (Europe/Stockholm) dates the personal identity number checks and rejects
    scan dates in the future. Contract, in short (SPEC section 3):

    - the whole value passes :func:`bot.intake.jsontext.check` (nesting, Unicode text
      without NUL, finite numbers), ignored elements included; a path it reports gets no
      second problem from the reading below;
    - stored texts keep to :mod:`bot.intake.limits`: the answer's and the referral's
      identifier (system, value), the index fracture's code and text, a measurement's body
      site text, display names, the conclusion;
    - a ``Bundle`` of type collection, message or transaction whose ``entry`` is a list
      of objects each holding a ``resource`` object with a string ``resourceType``;
      references resolve by ``Type/id`` or by an entry's ``fullUrl``;
    - exactly one ``DiagnosticReport`` with an identifier (system + value), status
      final/amended/corrected, code LOINC 83311-1 and ``subject`` -> the Patient;
    - the Patient has a valid personnummer or samordningsnummer identifier (the first
      valid personnummer wins over a samordningsnummer);
    - the referral is the ServiceRequest of ``basedOn`` (else the only one in the
      bundle); the receiving unit is the Organization with an HSA-id among its
      ``performer``s, else the only Organization with an HSA-id that is not its
      ``requester``; the practitioner is its ``requester`` when that is a Practitioner
      (directly or through a PractitionerRole), with an HSA-id when it has one;
    - measurements come from the Observations in ``result`` (all Observations in the
      bundle when ``result`` is absent) whose LOINC code is in :data:`LOINC_MEASURES`,
      grouped per site in order of first appearance; others are ignored, as are
      observations with status entered-in-error or cancelled. Scores must lie in
      :data:`SCORE_RANGE`, BMD in :data:`BMD_RANGE`; one value per site and kind;
    - the index fracture is the first ICD-10 coding of the referral's ``reasonCode``,
      else the first S-code (or M80) found in its reasonCode texts or notes;
    - ``presentedForm`` entries with inline ``data`` (valid base64) are kept, those
      with only a ``url`` are skipped.
    """
    bundle = Bundle(jsontext.check(data))
    bundle_object = bundle.index(data)
    if bundle_object is None:
        raise BundleInvalid(bundle.problems.listed())
    answer = _read_answer(bundle, today)
    if bundle.problems or answer is None:
        raise BundleInvalid(bundle.problems.listed())
    return replace(answer, content_hash=content_hash(bundle_object))


def _read_answer(bundle: Bundle, today: date) -> DxaAnswer | None:
    """Every part of the answer, each read (and its problems found) even when another is
    missing; None when the report, the patient or the unit is unusable."""
    reports = bundle.of_type("DiagnosticReport")
    if not reports:
        bundle.problem("$.entry", "no DiagnosticReport; exactly one is required")
    for extra in reports[1:]:
        bundle.problem(
            extra.path, f"a second DiagnosticReport; exactly one is allowed ({reports[0].path})"
        )
    report = reports[0] if reports else None

    patient_resource = None
    referral = None
    if report is not None:
        patient_resource = bundle.resolve(
            report.body, "subject", report.path, frozenset({"Patient"}), required=True
        )
        referral = find_referral(bundle, report)
    if patient_resource is None and (report is None or "subject" not in report.body):
        patients = bundle.of_type("Patient")
        if not patients:
            bundle.problem("$.entry", "no Patient; the DiagnosticReport subject is required")
        elif len(patients) == 1:
            patient_resource = patients[0]
    if referral is None:
        referrals = bundle.of_type("ServiceRequest")
        if len(referrals) == 1:
            referral = referrals[0]
        elif len(referrals) > 1:
            bundle.problem(
                "$.entry",
                "several ServiceRequests and none referenced by DiagnosticReport.basedOn",
            )

    report_fields = read_report(bundle, report, today=today) if report is not None else None
    patient = (
        read_patient(bundle, patient_resource, today=today)
        if patient_resource is not None
        else None
    )
    parties = Parties(bundle)
    requester = parties.find_requester(referral)
    unit = parties.find_unit(referral, requester)
    unit_info = parties.read_unit(unit) if unit is not None else None
    practitioner_hsa_id, practitioner_name = parties.read_requester(requester)
    referral_id = read_referral_id(bundle, referral)
    fracture_code, fracture_text = read_fracture(bundle, referral)
    measurements = read_measurements(bundle, report, patient_resource) if report is not None else ()
    attachments = read_attachments(bundle, report) if report is not None else ()

    if report_fields is None or patient is None or unit_info is None:
        return None
    unit_hsa_id, unit_name = unit_info
    return DxaAnswer(
        report_system=report_fields.system,
        report_value=report_fields.value,
        status=report_fields.status,
        scan_date=report_fields.scan_date,
        issued=report_fields.issued,
        conclusion=report_fields.conclusion,
        patient=patient,
        unit_hsa_id=unit_hsa_id,
        unit_name=unit_name,
        practitioner_hsa_id=practitioner_hsa_id,
        practitioner_name=practitioner_name,
        referral_id=referral_id,
        fracture_code=fracture_code,
        fracture_text=fracture_text,
        measurements=measurements,
        attachments=attachments,
        content_hash="",
    )
