"""Strict parser for DXA answers sent as FHIR R4 bundles (SPEC section 3).

``parse_bundle`` turns the decoded JSON of a ``POST /api/dxa-answers`` body into a
:class:`DxaAnswer`, or raises :class:`BundleInvalid` listing every problem it found,
each with a JSON path such as ``$.entry[3].resource.identifier[0].value``. It reads
only the elements the workflow needs, checks the type of everything it reads, and
never raises anything else for any JSON input.

Problem messages never quote patient names or identifiers, so they may be logged.

The modules, by what they read: ``answer`` (``parse_bundle``, the answer as a whole),
``bundle`` (the envelope, entries and references), ``report`` (the DiagnosticReport),
``patient``, ``parties`` (the unit and the practitioner), ``referral`` (its identifier
and the index fracture), ``observations`` (the measurements); beneath them ``access``
(typed reads that record problems), ``values`` (dates, instants, base64) and ``codes``.
"""

from bot.intake.fhir.answer import BundleInvalid, DxaAnswer, content_hash, parse_bundle
from bot.intake.fhir.bundle import BUNDLE_TYPES
from bot.intake.fhir.codes import (
    DXA_PANEL_CODE,
    HSA_SYSTEM,
    ICD10_SYSTEM,
    LOINC_MEASURES,
    LOINC_SYSTEMS,
    PROTECTED_IDENTITY_CODE,
)
from bot.intake.fhir.observations import BMD_RANGE, SCORE_RANGE
from bot.intake.fhir.patient import PatientInfo
from bot.intake.fhir.report import Attachment, ReportStatus
from bot.intake.problems import Problem

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
