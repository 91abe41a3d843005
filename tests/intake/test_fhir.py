import copy
import hashlib
import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from bot.intake.fhir import (
    LOINC_MEASURES,
    SITE_LABELS,
    Attachment,
    BundleInvalid,
    DxaAnswer,
    Measurement,
    PatientInfo,
    Problem,
    content_hash,
    parse_bundle,
)
from bot.intake.identifiers import PersonalIdentity

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
TODAY = date(2026, 11, 12)
CET = timezone(timedelta(hours=1))

# Entry indices in sample 01 (and 07).
PATIENT, UNIT, DOC, REFERRAL = 0, 1, 2, 3
O0B, O0T, O0Z, O1B, O1T, O1Z, O2B, O2T, O2Z = range(4, 13)
REPORT = 13


def load(name: str) -> dict[str, Any]:
    matches = sorted(FIXTURES.glob(f"{name}*.json"))
    assert len(matches) == 1, name
    return json.loads(matches[0].read_text(encoding="utf-8"))


def res(bundle: dict[str, Any], index: int) -> dict[str, Any]:
    return bundle["entry"][index]["resource"]


def parse(bundle: object) -> DxaAnswer:
    return parse_bundle(bundle, today=TODAY)


def problems(bundle: object, *, today: date = TODAY) -> list[Problem]:
    with pytest.raises(BundleInvalid) as info:
        parse_bundle(bundle, today=today)
    return info.value.problems


def only_problem(bundle: object) -> tuple[str, str]:
    found = problems(bundle)
    assert len(found) == 1, found
    return found[0].path, found[0].message


def M(
    site: str,
    label: str,
    body_site: str | None,
    bmd: float | None,
    t: float | None,
    z: float | None,
) -> Measurement:
    return Measurement(site, label, body_site, bmd, t, z)


EXPECTED: dict[str, DxaAnswer] = {
    "01_osteoporosis_named.json": DxaAnswer(
        report_system="urn:oid:1.2.752.74.9.2",
        report_value="DXA-2026-000101",
        status="final",
        scan_date=date(2026, 11, 10),
        issued=datetime(2026, 11, 12, 9, 30, tzinfo=CET),
        conclusion="Osteoporos i ländrygg och lårbenshals. Behandling rekommenderas.",
        patient=PatientInfo(
            identity=PersonalIdentity("195203142384", "personnummer", date(1952, 3, 14)),
            name="Margareta Lindqvist",
            family="Lindqvist",
            given="Margareta",
            birth_date=date(1952, 3, 14),
            gender="female",
            protected=False,
        ),
        unit_hsa_id="SE2321000156-7TNG",
        unit_name="Tingvalla vårdcentral",
        practitioner_hsa_id="SE2321000156-L1AB",
        practitioner_name="Anna Berg",
        referral_id="R-DXA-2026-000101",
        fracture_code="S52.5",
        fracture_text="Distal radiusfraktur",
        measurements=(
            M("lumbar_spine", "Ländrygg", "Ländrygg L1-L4", 0.781, -2.9, -1.4),
            M("femoral_neck", "Lårbenshals", "Lårbenshals", 0.602, -2.6, -1.0),
            M("total_hip", "Höft total", "Höft total", 0.741, -2.1, -0.7),
        ),
        attachments=(),
        content_hash="db20d977a29daa904bdbaaea09cbffec194cbd41aece85c08fe9e1c056ec1f55",
    ),
    "02_normal_named.json": DxaAnswer(
        report_system="urn:oid:1.2.752.74.9.2",
        report_value="DXA-2026-000102",
        status="final",
        scan_date=date(2026, 11, 10),
        issued=datetime(2026, 11, 12, 9, 30, tzinfo=CET),
        conclusion="Normal bentäthet.",
        patient=PatientInfo(
            identity=PersonalIdentity("195911024171", "personnummer", date(1959, 11, 2)),
            name="Karl Erik Nyberg",
            family="Nyberg",
            given="Karl Erik",
            birth_date=date(1959, 11, 2),
            gender="male",
            protected=False,
        ),
        unit_hsa_id="SE2321000156-7TNG",
        unit_name="Tingvalla vårdcentral",
        practitioner_hsa_id="SE2321000156-L1AB",
        practitioner_name="Anna Berg",
        referral_id="R-DXA-2026-000102",
        fracture_code="S42.2",
        fracture_text="Proximal humerusfraktur",
        measurements=(
            M("lumbar_spine", "Ländrygg", "Ländrygg L1-L4", 1.102, -0.4, 0.1),
            M("femoral_neck", "Lårbenshals", "Lårbenshals", 0.911, -0.8, -0.2),
            M("total_hip", "Höft total", "Höft total", 1.012, -0.3, 0.2),
        ),
        attachments=(),
        content_hash="96fc534f36eb7d96511e197daaac3af29ea31ca15996ab5a8951bfb4465bff43",
    ),
    "03_osteopenia_jour_vc.json": DxaAnswer(
        report_system="urn:oid:1.2.752.74.9.2",
        report_value="DXA-2026-000103",
        status="final",
        scan_date=date(2026, 11, 10),
        issued=datetime(2026, 11, 12, 9, 30, tzinfo=CET),
        conclusion="Osteopeni. Ställningstagande till behandling utifrån FRAX.",
        patient=PatientInfo(
            identity=PersonalIdentity("194809075627", "personnummer", date(1948, 9, 7)),
            name="Ingrid Sjöberg",
            family="Sjöberg",
            given="Ingrid",
            birth_date=date(1948, 9, 7),
            gender="female",
            protected=False,
        ),
        unit_hsa_id="SE2321000156-7TNG",
        unit_name="Tingvalla vårdcentral",
        practitioner_hsa_id=None,
        practitioner_name=None,
        referral_id="R-DXA-2026-000103",
        fracture_code="S52.6",
        fracture_text="Fraktur på nedre delen av både ulna och radius",
        measurements=(
            M("lumbar_spine", "Ländrygg", "Ländrygg L1-L4", 0.905, -1.7, -0.2),
            M("femoral_neck", "Lårbenshals", "Lårbenshals", 0.688, -1.9, -0.3),
            M("total_hip", "Höft total", "Höft total", 0.812, -1.4, 0.1),
        ),
        attachments=(),
        content_hash="612989ec1c3cd3cadfec7ce5c10e6baebd7a9addcd6e755391e13ecac3ad1e3d",
    ),
    "04_hip_fracture_osteopenia.json": DxaAnswer(
        report_system="urn:oid:1.2.752.74.9.2",
        report_value="DXA-2026-000104",
        status="final",
        scan_date=date(2026, 11, 10),
        issued=datetime(2026, 11, 12, 9, 30, tzinfo=CET),
        conclusion="Osteopeni i lårbenshals. Efter höftfraktur bör behandling övervägas oavsett T-värde.",
        patient=PatientInfo(
            identity=PersonalIdentity("194101223065", "personnummer", date(1941, 1, 22)),
            name="Sven Holm",
            family="Holm",
            given="Sven",
            birth_date=date(1941, 1, 22),
            gender="male",
            protected=False,
        ),
        unit_hsa_id="SE2321000156-7TNG",
        unit_name="Tingvalla vårdcentral",
        practitioner_hsa_id="SE2321000156-L1AB",
        practitioner_name="Anna Berg",
        referral_id="R-DXA-2026-000104",
        fracture_code="S72.0",
        fracture_text="Lårbenshalsfraktur",
        measurements=(
            M("lumbar_spine", "Ländrygg", "Ländrygg L1-L4", 0.998, -1.2, 0.4),
            M("femoral_neck", "Lårbenshals", "Lårbenshals", 0.701, -1.8, -0.1),
        ),
        attachments=(),
        content_hash="ececebafae618337dc895537234e24ec916b1d5e664e31990868d41a8479a39e",
    ),
    "05_protected_identity.json": DxaAnswer(
        report_system="urn:oid:1.2.752.74.9.2",
        report_value="DXA-2026-000105",
        status="final",
        scan_date=date(2026, 11, 10),
        issued=datetime(2026, 11, 12, 9, 30, tzinfo=CET),
        conclusion="Uttalad osteoporos.",
        patient=PatientInfo(
            identity=PersonalIdentity("195506307247", "personnummer", date(1955, 6, 30)),
            name="Uppgift Skyddad",
            family="Skyddad",
            given="Uppgift",
            birth_date=date(1955, 6, 30),
            gender="female",
            protected=True,
        ),
        unit_hsa_id="SE2321000156-7TNG",
        unit_name="Tingvalla vårdcentral",
        practitioner_hsa_id="SE2321000156-L1AB",
        practitioner_name="Anna Berg",
        referral_id="R-DXA-2026-000105",
        fracture_code="S22.0",
        fracture_text="Kotfraktur, bröstrygg",
        measurements=(
            M("lumbar_spine", "Ländrygg", "Ländrygg L1-L4", 0.702, -3.4, -1.9),
            M("total_hip", "Höft total", "Höft total", 0.69, -2.5, -1.1),
        ),
        attachments=(),
        content_hash="fecb54586add8259aa72348b7cb5ddd4a2d1bd0c388dbcecc2313b2729cbdb92",
    ),
    "06_samordningsnummer.json": DxaAnswer(
        report_system="urn:oid:1.2.752.74.9.2",
        report_value="DXA-2026-000106",
        status="final",
        scan_date=date(2026, 11, 10),
        issued=datetime(2026, 11, 12, 9, 30, tzinfo=CET),
        conclusion="Osteopeni.",
        patient=PatientInfo(
            identity=PersonalIdentity("195803751204", "samordningsnummer", date(1958, 3, 15)),
            name="Jan Kowalski",
            family="Kowalski",
            given="Jan",
            birth_date=date(1958, 3, 15),
            gender="male",
            protected=False,
        ),
        unit_hsa_id="SE2321000156-7TNG",
        unit_name="Tingvalla vårdcentral",
        practitioner_hsa_id="SE2321000156-L1AB",
        practitioner_name="Anna Berg",
        referral_id="R-DXA-2026-000106",
        fracture_code=None,
        fracture_text=None,
        measurements=(
            M("lumbar_spine", "Ländrygg", "Ländrygg L1-L4", 0.861, -2.0, -1.1),
            M("femoral_neck", "Lårbenshals", "Lårbenshals", 0.66, -2.2, -1.2),
        ),
        attachments=(),
        content_hash="7dc807f30bc2b9c4dc836fbc114eef48cf2b5be2872cf9c9f7d06dda46bda815",
    ),
    "07_amended_01.json": DxaAnswer(
        report_system="urn:oid:1.2.752.74.9.2",
        report_value="DXA-2026-000101",
        status="amended",
        scan_date=date(2026, 11, 10),
        issued=datetime(2026, 11, 13, 10, 0, tzinfo=CET),
        conclusion="Rättat svar: T-värde lårbenshals -2,7. Osteoporos. Behandling rekommenderas.",
        patient=PatientInfo(
            identity=PersonalIdentity("195203142384", "personnummer", date(1952, 3, 14)),
            name="Margareta Lindqvist",
            family="Lindqvist",
            given="Margareta",
            birth_date=date(1952, 3, 14),
            gender="female",
            protected=False,
        ),
        unit_hsa_id="SE2321000156-7TNG",
        unit_name="Tingvalla vårdcentral",
        practitioner_hsa_id="SE2321000156-L1AB",
        practitioner_name="Anna Berg",
        referral_id="R-DXA-2026-000101",
        fracture_code="S52.5",
        fracture_text="Distal radiusfraktur",
        measurements=(
            M("lumbar_spine", "Ländrygg", "Ländrygg L1-L4", 0.781, -2.9, -1.4),
            M("femoral_neck", "Lårbenshals", "Lårbenshals", 0.602, -2.7, -1.0),
            M("total_hip", "Höft total", "Höft total", 0.741, -2.1, -0.7),
        ),
        attachments=(),
        content_hash="1a6a96c110a3bd3772d9182b96ad3314e2d0912d7f5ce60885ddd01506b6cfa5",
    ),
    "09_young_zscore.json": DxaAnswer(
        report_system="urn:oid:1.2.752.74.9.2",
        report_value="DXA-2026-000109",
        status="final",
        scan_date=date(2026, 11, 10),
        issued=datetime(2026, 11, 12, 9, 30, tzinfo=CET),
        conclusion="Premenopausal kvinna. Z-värde ländrygg -2,1: under förväntat för åldern. Utred sekundära orsaker.",
        patient=PatientInfo(
            identity=PersonalIdentity("198104194553", "personnummer", date(1981, 4, 19)),
            name="Lina Ek",
            family="Ek",
            given="Lina",
            birth_date=date(1981, 4, 19),
            gender="female",
            protected=False,
        ),
        unit_hsa_id="SE2321000156-7TNG",
        unit_name="Tingvalla vårdcentral",
        practitioner_hsa_id="SE2321000156-L1AB",
        practitioner_name="Anna Berg",
        referral_id="R-DXA-2026-000109",
        fracture_code="S82.6",
        fracture_text="Fotledsfraktur",
        measurements=(
            M("lumbar_spine", "Ländrygg", "Ländrygg L1-L4", 0.88, -2.3, -2.1),
            M("femoral_neck", "Lårbenshals", "Lårbenshals", 0.72, -1.6, -1.4),
        ),
        attachments=(),
        content_hash="ca97cafeaf2f4fe53c00ae7e044030f6aedae83c35ddd67b05a39b12a7ea4279",
    ),
}
