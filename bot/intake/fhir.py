"""Strict parser for DXA answers sent as FHIR R4 bundles (SPEC section 3).

``parse_bundle`` turns the decoded JSON of a ``POST /api/dxa-answers`` body into a
:class:`DxaAnswer`, or raises :class:`BundleInvalid` listing every problem it found,
each with a JSON path such as ``$.entry[3].resource.identifier[0].value``. It reads
only the elements the workflow needs, checks the type of everything it reads, and
never raises anything else for any JSON input.

Problem messages never quote patient names or identifiers, so they may be logged.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Literal

from bot.core.identifiers import (
    IdentifierError,
    IdentityKind,
    PersonalIdentity,
    kind_for_system,
    parse_personal_number,
)
from bot.core.measurements import SITE_LABELS, Measurement
from bot.intake import jsontext
from bot.intake.limits import (
    CODE_MAX,
    CONCLUSION_MAX,
    IDENTIFIER_SYSTEM_MAX,
    IDENTIFIER_VALUE_MAX,
    NAME_MAX,
    TEXT_MAX,
)
from bot.intake.problems import Problem, ProblemList

__all__ = [
    "BMD_RANGE",
    "BUNDLE_TYPES",
    "DXA_PANEL_CODE",
    "HSA_SYSTEM",
    "ICD10_SYSTEM",
    "LOINC_MEASURES",
    "LOINC_SYSTEMS",
    "PROTECTED_IDENTITY_CODE",
    "SCORE_RANGE",
    "Attachment",
    "BundleInvalid",
    "DxaAnswer",
    "PatientInfo",
    "Problem",
    "ReportStatus",
    "content_hash",
    "parse_bundle",
]

ReportStatus = Literal["final", "amended", "corrected"]
MeasureKind = Literal["bmd", "t", "z"]

BUNDLE_TYPES: frozenset[str] = frozenset({"collection", "message", "transaction"})
LOINC_SYSTEMS: frozenset[str] = frozenset({"http://loinc.org", "urn:oid:2.16.840.1.113883.6.1"})
DXA_PANEL_CODE = "83311-1"
ICD10_SYSTEM = "http://hl7.org/fhir/sid/icd-10"
HSA_SYSTEM = "urn:oid:1.2.752.29.4.19"
PROTECTED_IDENTITY_CODE = "skyddadFolkbokforing"
SCORE_RANGE = (-10.0, 10.0)
"""Accepted T- and Z-scores, inclusive."""
BMD_RANGE = (0.0, 3.0)
"""Accepted bone mineral density in g/cm², inclusive."""

_MEASURE_KINDS: tuple[MeasureKind, ...] = ("bmd", "t", "z")
_SITE_CODES: dict[str, tuple[str, str, str]] = {
    # site: (BMD, T-score, Z-score)
    "lumbar_spine": ("24966-4", "38267-1", "85394-5"),
    "femoral_neck": ("24701-5", "38263-0", "80934-3"),
    "femur_left": ("80954-1", "80948-3", "80940-0"),
    "femur_right": ("80953-3", "80947-5", "80939-2"),
    "total_hip": ("38261-4", "38264-8", "80933-5"),
    "hip_left": ("46278-8", "80946-7", "80938-4"),
    "hip_right": ("46279-6", "80945-9", "80937-6"),
    "forearm": ("24890-6", "38265-5", "80932-7"),
    "forearm_left": ("80952-5", "80944-2", "80936-8"),
    "forearm_right": ("80951-7", "80943-4", "80935-0"),
}

LOINC_MEASURES: dict[str, tuple[str, MeasureKind]] = {
    code: (site, kind)
    for site, codes in _SITE_CODES.items()
    for code, kind in zip(codes, _MEASURE_KINDS, strict=True)
}
"""LOINC code -> (site key, measure kind) for the DXA observations we read."""

_REPORT_STATUSES: dict[str, ReportStatus] = {
    "final": "final",
    "amended": "amended",
    "corrected": "corrected",
}
_SKIPPED_OBSERVATION_STATUSES = frozenset({"entered-in-error", "cancelled"})
_GENDERS = frozenset({"male", "female", "other", "unknown"})
_HASH_EXCLUDED_KEYS = frozenset({"id", "timestamp", "meta"})
_MEASURE_NAMES: dict[MeasureKind, str] = {"bmd": "BMD", "t": "T-score", "z": "Z-score"}

_HSA_ID = re.compile(r"SE[0-9]{10,12}-[A-Za-z0-9]{1,31}")
_DATE = re.compile(r"([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2}))?)?")
_DATE_TIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})"
    r"(?:T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?(Z|[+-][0-9]{2}:[0-9]{2}))?"
)
_ICD10_IN_TEXT = re.compile(r"(?<![A-Za-z0-9])((?:S[0-9]{2}|M80)(?:\.?[0-9]{1,2})?)(?![A-Za-z0-9])")

_Json = dict[str, object]


_SUMMARISED = 10
"""Problems quoted in the exception's text (all of them are in ``problems``)."""


class BundleInvalid(Exception):
    """The bundle cannot be accepted; ``problems`` lists everything found, in reading order."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        summary = "; ".join(f"{p.path}: {p.message}" for p in problems[:_SUMMARISED])
        super().__init__(f"invalid DXA bundle ({len(problems)} problem(s)): {summary}")


@dataclass(frozen=True)
class PatientInfo:
    """The patient as sent. ``birth_date`` is ``birthDate`` (None when absent or only a
    year/month); ``name`` is "Given Family" from the official (else first) name, or its
    ``text``."""

    identity: PersonalIdentity
    name: str | None
    family: str | None
    given: str | None
    birth_date: date | None
    gender: str | None
    protected: bool


@dataclass(frozen=True)
class Attachment:
    """A presented form (usually the PDF report); ``data`` is the base64 text as sent."""

    content_type: str
    title: str | None
    data: str


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


def content_hash(bundle: _Json) -> str:
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
    return _Parser(today, jsontext.check(data)).parse(data)


@dataclass(eq=False)
class _Resource:
    """A resource of the bundle; compared by identity."""

    path: str
    type: str
    body: _Json


@dataclass
class _MeasureGroup:
    body_site_text: str | None = None
    values: dict[MeasureKind, float] = field(default_factory=dict)
    paths: dict[MeasureKind, str] = field(default_factory=dict)


class _Parser:
    def __init__(self, today: date, problems: ProblemList) -> None:
        self.today = today
        self.problems = problems
        self.walked = frozenset(p.path for p in problems)
        self.resources: list[_Resource] = []
        self.by_reference: dict[str, _Resource] = {}
        self.hsa_ids: dict[str, str | None] = {}
        self.bad_hsa: set[str] = set()

    # -- problems and typed access ------------------------------------------------

    def problem(self, path: str, message: str) -> None:
        if path not in self.walked:
            self.problems.add(path, message)

    def invalid(self) -> BundleInvalid:
        return BundleInvalid(self.problems.listed())

    def bounded(self, text: str, path: str, max_length: int) -> None:
        """A problem when ``text`` is longer than the contract keeps (the text is not quoted)."""
        if len(text) > max_length:
            self.problem(path, f"is {len(text)} characters long; at most {max_length} are accepted")

    def string(
        self,
        obj: _Json,
        key: str,
        path: str,
        *,
        required: bool = False,
        max_length: int | None = None,
    ) -> str | None:
        """``obj[key]`` when it is a non-empty string without control characters. Over
        ``max_length`` it is a problem, but the string is still returned (no second problem
        follows from its absence)."""
        p = f"{path}.{key}"
        if key not in obj:
            if required:
                self.problem(p, "required string is missing")
            return None
        value = obj[key]
        if not isinstance(value, str):
            self.problem(p, f"expected a string, got {_json_type(value)}")
            return None
        if not value.strip():
            self.problem(p, "must not be empty")
            return None
        if _CONTROL.search(value):
            self.problem(p, "contains control characters, which FHIR strings may not")
            return None
        if max_length is not None:
            self.bounded(value, p, max_length)
        return value

    def obj(self, obj: _Json, key: str, path: str, *, required: bool = False) -> _Json | None:
        p = f"{path}.{key}"
        if key not in obj:
            if required:
                self.problem(p, "required object is missing")
            return None
        value = obj[key]
        if not isinstance(value, dict):
            self.problem(p, f"expected an object, got {_json_type(value)}")
            return None
        return value

    def array(
        self, obj: _Json, key: str, path: str, *, required: bool = False
    ) -> list[object] | None:
        p = f"{path}.{key}"
        if key not in obj:
            if required:
                self.problem(p, "required array is missing")
            return None
        value = obj[key]
        if not isinstance(value, list):
            self.problem(p, f"expected an array, got {_json_type(value)}")
            return None
        return value

    def objects(self, obj: _Json, key: str, path: str) -> Iterator[tuple[str, _Json]]:
        """Yield (path, item) for each object in the array ``obj[key]`` (if present)."""
        items = self.array(obj, key, path)
        if items is None:
            return
        for index, item in enumerate(items):
            item_path = f"{path}.{key}[{index}]"
            if isinstance(item, dict):
                yield item_path, item
            else:
                self.problem(item_path, f"expected an object, got {_json_type(item)}")

    def strings(self, obj: _Json, key: str, path: str) -> list[str]:
        items = self.array(obj, key, path)
        result: list[str] = []
        for index, item in enumerate(items or ()):
            if isinstance(item, str) and _CONTROL.search(item):
                self.problem(
                    f"{path}.{key}[{index}]",
                    "contains control characters, which FHIR strings may not",
                )
            elif isinstance(item, str):
                result.append(item)
            else:
                self.problem(f"{path}.{key}[{index}]", f"expected a string, got {_json_type(item)}")
        return result

    def codings(
        self, concept: _Json, path: str
    ) -> Iterator[tuple[str, _Json, str | None, str | None]]:
        """Yield (path, coding, system, code) for each Coding of a CodeableConcept."""
        for coding_path, coding in self.objects(concept, "coding", path):
            system = self.string(coding, "system", coding_path)
            code = self.string(coding, "code", coding_path)
            yield coding_path, coding, system, code

    def resolve(
        self,
        holder: _Json,
        key: str,
        path: str,
        expected: frozenset[str] | None,
        *,
        required: bool,
    ) -> _Resource | None:
        """Resolve the Reference ``holder[key]`` to a resource in the bundle.

        With ``required`` a missing, unresolvable or wrongly typed target is a problem;
        otherwise only a wrongly typed target is. ``expected`` None accepts any type.
        """
        ref = self.obj(holder, key, path, required=required)
        if ref is None:
            return None
        return self.resolve_reference(ref, f"{path}.{key}", expected, required=required)

    def resolve_reference(
        self, ref: _Json, path: str, expected: frozenset[str] | None, *, required: bool
    ) -> _Resource | None:
        target = self.string(ref, "reference", path, required=required)
        if target is None:
            return None
        resource = self.by_reference.get(target)
        wanted = " or ".join(sorted(expected)) if expected is not None else "any type"
        if resource is None:
            if required:
                self.problem(
                    f"{path}.reference",
                    f"does not resolve to a resource in the bundle (expected {wanted})",
                )
            return None
        if expected is not None and resource.type not in expected:
            self.problem(f"{path}.reference", f"refers to {resource.type}, expected {wanted}")
            return None
        return resource

    def of_type(self, resource_type: str) -> list[_Resource]:
        return [r for r in self.resources if r.type == resource_type]

    # -- the bundle ----------------------------------------------------------------

    def parse(self, data: object) -> DxaAnswer:
        if not isinstance(data, dict):
            self.problem("$", f"expected a FHIR Bundle object, got {_json_type(data)}")
            raise self.invalid()
        resource_type = data.get("resourceType")
        if resource_type != "Bundle":
            self.problem("$.resourceType", f"expected 'Bundle', got {_describe(resource_type)}")
            raise self.invalid()
        bundle_type = data.get("type")
        if not isinstance(bundle_type, str) or bundle_type not in BUNDLE_TYPES:
            self.problem(
                "$.type",
                f"expected collection, message or transaction, got {_describe(bundle_type)}",
            )
        entries = self.array(data, "entry", "$", required=True)
        if entries is None:
            raise self.invalid()
        self.index_entries(entries)
        answer = self.read_answer()
        if self.problems or answer is None:
            raise self.invalid()
        return replace(answer, content_hash=content_hash(data))

    def index_entries(self, entries: list[object]) -> None:
        first_path: dict[str, str] = {}
        for index, entry in enumerate(entries):
            entry_path = f"$.entry[{index}]"
            if not isinstance(entry, dict):
                self.problem(entry_path, f"expected an object, got {_json_type(entry)}")
                continue
            full_url = self.string(entry, "fullUrl", entry_path)
            body = self.obj(entry, "resource", entry_path, required=True)
            if body is None:
                continue
            path = f"{entry_path}.resource"
            resource_type = self.string(body, "resourceType", path, required=True)
            if resource_type is None:
                continue
            resource = _Resource(path, resource_type, body)
            self.resources.append(resource)
            keys: list[tuple[str, str]] = []
            if full_url is not None:
                keys.append((full_url, f"{entry_path}.fullUrl"))
            resource_id = self.string(body, "id", path)
            if resource_id is not None:
                keys.append((f"{resource_type}/{resource_id}", f"{path}.id"))
            for key, key_path in keys:
                if key in self.by_reference:
                    if self.by_reference[key] is not resource:
                        self.problem(key_path, f"duplicate of {first_path[key]}")
                    continue
                self.by_reference[key] = resource
                first_path[key] = key_path

    def read_answer(self) -> DxaAnswer | None:
        reports = self.of_type("DiagnosticReport")
        if not reports:
            self.problem("$.entry", "no DiagnosticReport; exactly one is required")
        for extra in reports[1:]:
            self.problem(
                extra.path, f"a second DiagnosticReport; exactly one is allowed ({reports[0].path})"
            )
        report = reports[0] if reports else None

        patient_resource = None
        referral = None
        if report is not None:
            patient_resource = self.resolve(
                report.body, "subject", report.path, frozenset({"Patient"}), required=True
            )
            referral = self.find_referral(report)
        if patient_resource is None and (report is None or "subject" not in report.body):
            patients = self.of_type("Patient")
            if not patients:
                self.problem("$.entry", "no Patient; the DiagnosticReport subject is required")
            elif len(patients) == 1:
                patient_resource = patients[0]
        if referral is None:
            referrals = self.of_type("ServiceRequest")
            if len(referrals) == 1:
                referral = referrals[0]
            elif len(referrals) > 1:
                self.problem(
                    "$.entry",
                    "several ServiceRequests and none referenced by DiagnosticReport.basedOn",
                )

        report_fields = self.read_report(report) if report is not None else None
        patient = self.read_patient(patient_resource) if patient_resource is not None else None
        requester = self.find_requester(referral)
        unit = self.find_unit(referral, requester)
        unit_info = self.read_unit(unit) if unit is not None else None
        practitioner_hsa_id, practitioner_name = self.read_requester(requester)
        referral_id = self.read_referral_id(referral)
        fracture_code, fracture_text = self.read_fracture(referral)
        measurements = (
            self.read_measurements(report, patient_resource) if report is not None else ()
        )
        attachments = self.read_attachments(report) if report is not None else ()

        if report_fields is None or patient is None or unit_info is None:
            return None
        system, value, status, scan_date, issued, conclusion = report_fields
        unit_hsa_id, unit_name = unit_info
        return DxaAnswer(
            report_system=system,
            report_value=value,
            status=status,
            scan_date=scan_date,
            issued=issued,
            conclusion=conclusion,
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

    # -- DiagnosticReport ------------------------------------------------------------

    def read_report(
        self, report: _Resource
    ) -> tuple[str, str, ReportStatus, date | None, datetime | None, str | None] | None:
        body, path = report.body, report.path
        identity: tuple[str, str] | None = None
        for identifier_path, identifier in self.objects(body, "identifier", path):
            system = self.string(
                identifier, "system", identifier_path, max_length=IDENTIFIER_SYSTEM_MAX
            )
            value = self.string(
                identifier, "value", identifier_path, max_length=IDENTIFIER_VALUE_MAX
            )
            if identity is None and system is not None and value is not None:
                identity = (system, value)
        if identity is None and isinstance(body.get("identifier", []), list):
            self.problem(f"{path}.identifier", "an identifier with system and value is required")

        status_text = self.string(body, "status", path, required=True)
        status = _REPORT_STATUSES.get(status_text) if status_text is not None else None
        if status_text is not None and status is None:
            self.problem(
                f"{path}.status",
                f"expected final, amended or corrected, got {_describe(status_text)}",
            )

        code = self.obj(body, "code", path, required=True)
        if code is not None:
            found = any(
                system in LOINC_SYSTEMS and value == DXA_PANEL_CODE
                for _, _, system, value in self.codings(code, f"{path}.code")
            )
            if not found:
                self.problem(f"{path}.code", f"must have the LOINC coding {DXA_PANEL_CODE}")

        scan_date = self.read_scan_date(body, path)
        issued_text = self.string(body, "issued", path)
        issued = None
        if issued_text is not None:
            issued = _parse_instant(issued_text)
            if issued is None:
                self.problem(
                    f"{path}.issued",
                    "expected an instant such as 2026-11-12T09:30:00+01:00",
                )
        conclusion = self.string(body, "conclusion", path, max_length=CONCLUSION_MAX)

        if identity is None or status is None:
            return None
        return identity[0], identity[1], status, scan_date, issued, conclusion

    def read_scan_date(self, body: _Json, path: str) -> date | None:
        text = self.string(body, "effectiveDateTime", path)
        if text is None:
            return None
        match = _DATE_TIME.fullmatch(text)
        parsed = _parse_date_time(match) if match is not None else None
        if parsed is None:
            self.problem(
                f"{path}.effectiveDateTime",
                "expected a date (YYYY-MM-DD) or a date-time with seconds and time zone",
            )
            return None
        if parsed > self.today:
            self.problem(f"{path}.effectiveDateTime", "the scan date is in the future")
            return None
        return parsed

    def find_referral(self, report: _Resource) -> _Resource | None:
        for ref_path, ref in self.objects(report.body, "basedOn", report.path):
            if "reference" not in ref:
                continue
            target = self.string(ref, "reference", ref_path)
            resource = self.by_reference.get(target) if target is not None else None
            if resource is not None and resource.type == "ServiceRequest":
                return resource
        return None

    def read_attachments(self, report: _Resource) -> tuple[Attachment, ...]:
        attachments: list[Attachment] = []
        for form_path, form in self.objects(report.body, "presentedForm", report.path):
            if "data" not in form:
                continue
            content_type = self.string(form, "contentType", form_path, required=True)
            title = self.string(form, "title", form_path)
            data = self.string(form, "data", form_path, required=True)
            if data is not None and not _is_base64(data):
                self.problem(f"{form_path}.data", "is not valid base64")
                continue
            if content_type is not None and data is not None:
                attachments.append(Attachment(content_type=content_type, title=title, data=data))
        return tuple(attachments)

    # -- Patient ---------------------------------------------------------------------

    def read_patient(self, resource: _Resource) -> PatientInfo | None:
        body, path = resource.body, resource.path
        identity: PersonalIdentity | None = None
        seen_kind = False
        for identifier_path, identifier in self.objects(body, "identifier", path):
            system = self.string(identifier, "system", identifier_path)
            kind: IdentityKind | None = kind_for_system(system) if system is not None else None
            if kind is None:
                continue
            seen_kind = True
            value = self.string(identifier, "value", identifier_path, required=True)
            if value is None:
                continue
            try:
                parsed = parse_personal_number(value, kind=kind, today=self.today)
            except IdentifierError as error:
                self.problem(f"{identifier_path}.value", str(error))
                continue
            if identity is None or (
                identity.kind == "samordningsnummer" and parsed.kind == "personnummer"
            ):
                identity = parsed
        if not seen_kind and isinstance(body.get("identifier", []), list):
            self.problem(
                f"{path}.identifier",
                "a personnummer or samordningsnummer identifier is required",
            )

        name, family, given = self.read_name(body, path)

        birth_date = None
        birth_text = self.string(body, "birthDate", path)
        if birth_text is not None:
            match = _DATE.fullmatch(birth_text)
            if match is None:
                self.problem(f"{path}.birthDate", "expected a date such as 1952-03-14")
            elif match[3] is not None:
                birth_date = _make_date(int(match[1]), int(match[2]), int(match[3]))
                if birth_date is None:
                    self.problem(f"{path}.birthDate", "is not a valid date")

        gender = self.string(body, "gender", path)
        if gender is not None and gender not in _GENDERS:
            self.problem(f"{path}.gender", "expected male, female, other or unknown")
            gender = None

        protected = False
        meta = self.obj(body, "meta", path)
        if meta is not None:
            for label_path, label in self.objects(meta, "security", f"{path}.meta"):
                if self.string(label, "code", label_path) == PROTECTED_IDENTITY_CODE:
                    protected = True

        if identity is None:
            return None
        return PatientInfo(
            identity=identity,
            name=name,
            family=family,
            given=given,
            birth_date=birth_date,
            gender=gender,
            protected=protected,
        )

    def read_name(self, body: _Json, path: str) -> tuple[str | None, str | None, str | None]:
        """(display name, family, given) from the official, else the first, HumanName.

        The display name is "Given Family" when either part is present, else ``text``.
        """
        names: list[tuple[bool, tuple[str | None, str | None, str | None]]] = []
        for name_path, name in self.objects(body, "name", path):
            use = self.string(name, "use", name_path)
            family = self.string(name, "family", name_path)
            given_parts = self.strings(name, "given", name_path)
            text = self.string(name, "text", name_path)
            given = " ".join(part.strip() for part in given_parts if part.strip()) or None
            family = family.strip() if family is not None else None
            parts = [part for part in (given, family) if part]
            display = " ".join(parts) if parts else (text.strip() if text else None)
            if display is not None:
                self.bounded(display, name_path, NAME_MAX)
            names.append((use == "official", (display, family, given)))
        for official, name_parts in names:
            if official:
                return name_parts
        return names[0][1] if names else (None, None, None)

    # -- unit and practitioner -----------------------------------------------------

    def hsa_id(self, resource: _Resource) -> str | None:
        """The resource's first valid HSA-id, or None. Read once per resource, so its
        problems are reported once; ``self.bad_hsa`` remembers resources whose HSA-id
        identifier was present but invalid."""
        if resource.path in self.hsa_ids:
            return self.hsa_ids[resource.path]
        found: str | None = None
        for identifier_path, identifier in self.objects(resource.body, "identifier", resource.path):
            if self.string(identifier, "system", identifier_path) != HSA_SYSTEM:
                continue
            value = self.string(identifier, "value", identifier_path, required=True)
            if value is not None and not _HSA_ID.fullmatch(value):
                self.problem(f"{identifier_path}.value", "is not a valid HSA-id")
                value = None
            if value is None:
                self.bad_hsa.add(resource.path)
            elif found is None:
                found = value
        self.hsa_ids[resource.path] = found
        return found

    def find_unit(
        self, referral: _Resource | None, requester: _Resource | None
    ) -> _Resource | None:
        """The receiving unit: the Organization with an HSA-id among the referral's
        performers, else the only Organization with an HSA-id that is not the
        requester."""
        if referral is not None:
            performers: list[_Resource] = []
            for ref_path, ref in self.objects(referral.body, "performer", referral.path):
                resource = self.resolve_reference(ref, ref_path, None, required=False)
                if (
                    resource is not None
                    and resource.type == "Organization"
                    and resource not in performers
                ):
                    performers.append(resource)
            if performers:
                with_hsa = [org for org in performers if self.hsa_id(org) is not None]
                if len(with_hsa) == 1:
                    return with_hsa[0]
                if len(with_hsa) > 1:
                    self.problem(
                        f"{referral.path}.performer",
                        "refers to several Organizations with an HSA-id; "
                        "exactly one receiving unit is allowed",
                    )
                elif not any(org.path in self.bad_hsa for org in performers):
                    self.problem(
                        f"{performers[0].path}.identifier",
                        f"the receiving unit (ServiceRequest.performer) has no HSA-id "
                        f"({HSA_SYSTEM})",
                    )
                return None
        candidates = [
            org
            for org in self.of_type("Organization")
            if org is not requester and self.hsa_id(org) is not None
        ]
        if len(candidates) == 1:
            return candidates[0]
        if not candidates:
            self.problem(
                "$.entry",
                f"no receiving unit: an Organization with an HSA-id ({HSA_SYSTEM}) is required",
            )
        else:
            self.problem(
                "$.entry",
                f"{len(candidates)} Organizations with an HSA-id and no ServiceRequest.performer "
                "naming the receiving unit",
            )
        return None

    def read_unit(self, unit: _Resource) -> tuple[str, str | None] | None:
        hsa_id = self.hsa_id(unit)
        if hsa_id is None:
            return None
        return hsa_id, self.string(unit.body, "name", unit.path, max_length=NAME_MAX)

    def find_requester(self, referral: _Resource | None) -> _Resource | None:
        """The resource the referral's ``requester`` refers to, if it is in the bundle."""
        if referral is None or "requester" not in referral.body:
            return None
        return self.resolve(
            referral.body, "requester", referral.path, _REQUESTER_TYPES, required=False
        )

    def read_requester(self, requester: _Resource | None) -> tuple[str | None, str | None]:
        """(HSA-id, name) of the requesting Practitioner (directly or through a
        PractitionerRole); (None, None) for any other requester."""
        resource = requester
        if resource is not None and resource.type == "PractitionerRole":
            resource = self.resolve(
                resource.body,
                "practitioner",
                resource.path,
                frozenset({"Practitioner"}),
                required=False,
            )
        if resource is None or resource.type != "Practitioner":
            return None, None
        name, _, _ = self.read_name(resource.body, resource.path)
        return self.hsa_id(resource), name

    # -- ServiceRequest ------------------------------------------------------------

    def read_referral_id(self, referral: _Resource | None) -> str | None:
        if referral is None:
            return None
        for identifier_path, identifier in self.objects(referral.body, "identifier", referral.path):
            value = self.string(
                identifier, "value", identifier_path, max_length=IDENTIFIER_VALUE_MAX
            )
            if value is not None:
                return value
        return None

    def read_fracture(self, referral: _Resource | None) -> tuple[str | None, str | None]:
        """(ICD-10 code, text) of the index fracture; the code is kept to ``CODE_MAX``
        characters and the text (with its path, as it is stored) to ``TEXT_MAX``."""
        if referral is None:
            return None, None
        texts: list[tuple[str, str]] = []
        for concept_path, concept in self.objects(referral.body, "reasonCode", referral.path):
            concept_text = self.string(concept, "text", concept_path)
            for coding_path, coding, system, code in self.codings(concept, concept_path):
                if system == ICD10_SYSTEM and code is not None:
                    self.bounded(code.strip(), f"{coding_path}.code", CODE_MAX)
                    if concept_text is not None:
                        return code.strip(), self.stored_text(concept_text, f"{concept_path}.text")
                    display = self.string(coding, "display", coding_path, max_length=TEXT_MAX)
                    return code.strip(), display
            if concept_text is not None:
                texts.append((concept_text, f"{concept_path}.text"))
        for note_path, note in self.objects(referral.body, "note", referral.path):
            note_text = self.string(note, "text", note_path)
            if note_text is not None:
                texts.append((note_text, f"{note_path}.text"))
        for text, text_path in texts:
            match = _ICD10_IN_TEXT.search(text.upper())
            if match is not None:
                return _normalise_icd10(match[1]), self.stored_text(text, text_path)
        return None, (self.stored_text(*texts[0]) if texts else None)

    def stored_text(self, text: str, path: str) -> str:
        """``text``, which is stored: a problem when it is over ``TEXT_MAX``."""
        self.bounded(text, path, TEXT_MAX)
        return text

    # -- Observations ----------------------------------------------------------------

    def read_measurements(
        self, report: _Resource, patient: _Resource | None
    ) -> tuple[Measurement, ...]:
        observations: list[_Resource] = []
        if "result" in report.body:
            for ref_path, ref in self.objects(report.body, "result", report.path):
                resource = self.resolve_reference(
                    ref, ref_path, frozenset({"Observation"}), required=True
                )
                if resource is not None and resource not in observations:
                    observations.append(resource)
        else:
            observations = self.of_type("Observation")

        groups: dict[str, _MeasureGroup] = {}
        for observation in observations:
            self.read_observation(observation, patient, groups)
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

    def read_observation(
        self, observation: _Resource, patient: _Resource | None, groups: dict[str, _MeasureGroup]
    ) -> None:
        body, path = observation.body, observation.path
        code = self.obj(body, "code", path, required=True)
        if code is None:
            return
        measure: tuple[str, MeasureKind] | None = None
        for _, _, system, value in self.codings(code, f"{path}.code"):
            if measure is None and system in LOINC_SYSTEMS and value in LOINC_MEASURES:
                measure = LOINC_MEASURES[value]
        if measure is None:
            return
        site, kind = measure
        status = self.string(body, "status", path)
        if status in _SKIPPED_OBSERVATION_STATUSES:
            return
        if patient is not None and "subject" in body:
            subject = self.resolve(body, "subject", path, None, required=False)
            if subject is not None and subject is not patient:
                self.problem(f"{path}.subject", "refers to another patient than the report")

        quantity = self.obj(body, "valueQuantity", path)
        if quantity is None:
            if "valueQuantity" not in body and "dataAbsentReason" not in body:
                self.problem(f"{path}.valueQuantity", "required for a DXA measurement")
            return
        value_path = f"{path}.valueQuantity.value"
        raw = quantity.get("value")
        if "value" not in quantity:
            self.problem(value_path, "required number is missing")
            return
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            self.problem(value_path, f"expected a number, got {_json_type(raw)}")
            return
        low, high = BMD_RANGE if kind == "bmd" else SCORE_RANGE
        if not low <= raw <= high:  # NaN compares false; an int of any size compares exactly
            unit = " g/cm²" if kind == "bmd" else ""
            self.problem(
                value_path,
                f"{_MEASURE_NAMES[kind]} {_number_text(raw)} is outside "
                f"{_format_range(low, high)}{unit}",
            )
            return
        number = float(raw)

        group = groups.setdefault(site, _MeasureGroup())
        if kind in group.values:
            self.problem(
                f"{path}.code",
                f"a second {_MEASURE_NAMES[kind]} for {site} (first at {group.paths[kind]})",
            )
            return
        group.values[kind] = number
        group.paths[kind] = path
        if group.body_site_text is None:
            group.body_site_text = self.read_body_site(body, path)

    def read_body_site(self, body: _Json, path: str) -> str | None:
        site = self.obj(body, "bodySite", path)
        if site is None:
            return None
        text = self.string(site, "text", f"{path}.bodySite", max_length=TEXT_MAX)
        if text is not None:
            return text
        for coding_path, coding in self.objects(site, "coding", f"{path}.bodySite"):
            display = self.string(coding, "display", coding_path, max_length=TEXT_MAX)
            if display is not None:
                return display
        return None


_REQUESTER_TYPES = frozenset(
    {"Practitioner", "PractitionerRole", "Organization", "Patient", "RelatedPerson", "Device"}
)


# FHIR strings: no characters below U+0020 except tab, line feed and carriage return
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _describe(value: object) -> str:
    if isinstance(value, str):
        return repr(value[:40])
    if value is None:
        return "nothing"
    return _json_type(value)


def _number_text(number: float) -> str:
    """A number as written, or its size when it is too long to show."""
    if isinstance(number, int) and not -(10**15) < number < 10**15:
        return "with more than 15 digits"
    return str(number)


def _format_range(low: float, high: float) -> str:
    return f"{low:g}..{high:g}"


def _make_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _parse_date_time(match: re.Match[str]) -> date | None:
    """The calendar date as written in a FHIR date or dateTime (full date required)."""
    if match[4] is not None and _time_zone(match) is None:
        return None
    if match[4] is not None and not (
        int(match[4]) <= 23 and int(match[5]) <= 59 and int(match[6]) <= 59
    ):
        return None
    return _make_date(int(match[1]), int(match[2]), int(match[3]))


def _parse_instant(text: str) -> datetime | None:
    match = _DATE_TIME.fullmatch(text)
    if match is None or match[4] is None:
        return None
    zone = _time_zone(match)
    day = _make_date(int(match[1]), int(match[2]), int(match[3]))
    hour, minute, second = int(match[4]), int(match[5]), int(match[6])
    if zone is None or day is None or hour > 23 or minute > 59 or second > 59:
        return None
    micro = int((match[7] or "0")[:6].ljust(6, "0"))
    return datetime(day.year, day.month, day.day, hour, minute, second, micro, tzinfo=zone)


def _time_zone(match: re.Match[str]) -> timezone | None:
    text = match[8]
    if text == "Z":
        return UTC
    hours, minutes = int(text[1:3]), int(text[4:6])
    if hours > 14 or minutes > 59 or (hours == 14 and minutes != 0):
        return None
    offset = timedelta(hours=hours, minutes=minutes)
    return timezone(-offset if text[0] == "-" else offset)


def _is_base64(text: str) -> bool:
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _normalise_icd10(code: str) -> str:
    code = code.upper()
    if "." not in code and len(code) > 3:
        code = f"{code[:3]}.{code[3:]}"
    return code
