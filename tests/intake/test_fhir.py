import copy
import hashlib
import json
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from bot.core.identifiers import PersonalIdentity
from bot.core.measurements import SITE_LABELS, Measurement
from bot.intake.fhir import (
    LOINC_MEASURES,
    Attachment,
    BundleInvalid,
    DxaAnswer,
    PatientInfo,
    Problem,
    content_hash,
    parse_bundle,
)

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
        conclusion=(
            "Osteopeni i lårbenshals. Efter höftfraktur bör behandling övervägas oavsett T-värde."
        ),
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
        conclusion=(
            "Premenopausal kvinna. Z-värde ländrygg -2,1: under förväntat för åldern. "
            "Utred sekundära orsaker."
        ),
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


# -- the samples ------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample(name):
    assert parse(load(name[:2])) == EXPECTED[name]


def test_every_valid_sample_is_covered():
    names = {p.name for p in FIXTURES.glob("0*.json")}
    assert names == {*EXPECTED, "08_invalid_check_digit.json"}
    assert len(names) == 9


def test_sample_08_invalid_check_digit():
    assert problems(load("08")) == [
        Problem(
            "$.entry[0].resource.identifier[0].value",
            "the personnummer has an invalid check digit",
        )
    ]


def test_sample_03_receiving_unit_is_the_performer_not_the_requester():
    answer = parse(load("03"))
    assert (answer.unit_hsa_id, answer.unit_name) == ("SE2321000156-7TNG", "Tingvalla vårdcentral")
    assert (answer.practitioner_hsa_id, answer.practitioner_name) == (None, None)


def test_sample_07_is_the_amended_01():
    first, amended = parse(load("01")), parse(load("07"))
    assert (amended.report_system, amended.report_value) == (
        first.report_system,
        first.report_value,
    )
    assert (first.status, amended.status) == ("final", "amended")
    assert first.content_hash != amended.content_hash
    assert amended.measurements[1].t_score == -2.7


def test_bundle_error_message_lists_problems():
    with pytest.raises(BundleInvalid) as info:
        parse(load("08"))
    assert str(info.value) == (
        "invalid DXA bundle (1 problem(s)): $.entry[0].resource.identifier[0].value: "
        "the personnummer has an invalid check digit"
    )


def test_parse_does_not_modify_the_input():
    bundle = load("01")
    before = copy.deepcopy(bundle)
    parse(bundle)
    assert bundle == before


# -- content hash -------------------------------------------------------------------


def test_content_hash_is_sha256_of_canonical_json_without_id_timestamp_meta():
    bundle = load("01")
    stripped = {k: v for k, v in bundle.items() if k not in ("id", "timestamp", "meta")}
    canonical = json.dumps(stripped, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    expected = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    assert expected == "db20d977a29daa904bdbaaea09cbffec194cbd41aece85c08fe9e1c056ec1f55"
    assert content_hash(bundle) == expected
    assert parse(bundle).content_hash == expected


def test_content_hash_ignores_id_timestamp_and_meta():
    bundle = load("01")
    bundle["id"] = "another-id"
    bundle["timestamp"] = "2026-11-12T10:00:00+01:00"
    bundle["meta"] = {"lastUpdated": "2026-11-12T10:00:00+01:00"}
    assert parse(bundle).content_hash == EXPECTED["01_osteoporosis_named.json"].content_hash


def test_content_hash_ignores_key_order():
    bundle = load("01")
    reordered = dict(reversed(list(bundle.items())))
    assert content_hash(reordered) == content_hash(bundle)


def test_content_hash_changes_with_content():
    bundle = load("01")
    res(bundle, REPORT)["conclusion"] = "Osteoporos."
    assert parse(bundle).content_hash == (
        "aca039469b7064fb6efcade52073810485720122f6ee840f48c9d545d6a1d7b2"
    )


# -- the bundle envelope ------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "expected a FHIR Bundle object, got array"),
        ("Bundle", "expected a FHIR Bundle object, got string"),
        (None, "expected a FHIR Bundle object, got null"),
        (42, "expected a FHIR Bundle object, got number"),
        (True, "expected a FHIR Bundle object, got boolean"),
    ],
)
def test_not_an_object(data, message):
    assert problems(data) == [Problem("$", message)]


def test_wrong_resource_type():
    bundle = load("01")
    bundle["resourceType"] = "Patient"
    assert problems(bundle) == [Problem("$.resourceType", "expected 'Bundle', got 'Patient'")]


def test_missing_resource_type():
    bundle = load("01")
    del bundle["resourceType"]
    assert problems(bundle) == [Problem("$.resourceType", "expected 'Bundle', got nothing")]


@pytest.mark.parametrize("bundle_type", ["collection", "message", "transaction"])
def test_accepted_bundle_types(bundle_type):
    bundle = load("01")
    bundle["type"] = bundle_type
    assert parse(bundle).report_value == "DXA-2026-000101"


def test_wrong_bundle_type():
    bundle = load("01")
    bundle["type"] = "searchset"
    assert problems(bundle) == [
        Problem("$.type", "expected collection, message or transaction, got 'searchset'")
    ]


def test_missing_bundle_type():
    bundle = load("01")
    del bundle["type"]
    assert problems(bundle) == [
        Problem("$.type", "expected collection, message or transaction, got nothing")
    ]


def test_entry_missing():
    bundle = load("01")
    del bundle["entry"]
    assert problems(bundle) == [Problem("$.entry", "required array is missing")]


@pytest.mark.parametrize(
    ("entry", "kind"), [({}, "object"), ("x", "string"), (None, "null"), (3, "number")]
)
def test_entry_not_a_list(entry, kind):
    bundle = load("01")
    bundle["entry"] = entry
    assert problems(bundle) == [Problem("$.entry", f"expected an array, got {kind}")]


def test_entry_item_not_an_object():
    bundle = load("01")
    bundle["entry"].append("Observation/x")
    assert only_problem(bundle) == ("$.entry[14]", "expected an object, got string")


def test_entry_without_resource():
    bundle = load("01")
    bundle["entry"].append({"fullUrl": "urn:uuid:00000000-0000-0000-0000-000000000000"})
    assert only_problem(bundle) == ("$.entry[14].resource", "required object is missing")


def test_entry_resource_not_an_object():
    bundle = load("01")
    bundle["entry"].append({"resource": ["Patient"]})
    assert only_problem(bundle) == ("$.entry[14].resource", "expected an object, got array")


def test_resource_without_resource_type():
    bundle = load("01")
    bundle["entry"].append({"resource": {"id": "x"}})
    assert only_problem(bundle) == (
        "$.entry[14].resource.resourceType",
        "required string is missing",
    )


def test_resource_type_not_a_string():
    bundle = load("01")
    res(bundle, DOC)["resourceType"] = 7
    assert problems(bundle) == [
        Problem("$.entry[2].resource.resourceType", "expected a string, got number")
    ]


def test_full_url_not_a_string():
    bundle = load("01")
    bundle["entry"][DOC]["fullUrl"] = 5
    assert only_problem(bundle) == ("$.entry[2].fullUrl", "expected a string, got number")


def test_duplicate_full_url():
    bundle = load("01")
    bundle["entry"][DOC]["fullUrl"] = bundle["entry"][UNIT]["fullUrl"]
    assert only_problem(bundle) == ("$.entry[2].fullUrl", "duplicate of $.entry[1].fullUrl")


def test_duplicate_resource_id():
    bundle = load("01")
    res(bundle, O0Z)["id"] = "o0t"
    assert problems(bundle) == [
        Problem("$.entry[6].resource.id", "duplicate of $.entry[5].resource.id"),
        Problem(
            "$.entry[13].resource.result[2].reference",
            "does not resolve to a resource in the bundle (expected Observation)",
        ),
    ]


def test_other_resource_types_are_ignored():
    bundle = load("01")
    bundle["entry"].insert(0, {"resource": {"resourceType": "MessageHeader", "id": "h"}})
    bundle["entry"].append({"resource": {"resourceType": "Encounter", "status": 5}})
    bundle["entry"].append({"resource": {"resourceType": "ImagingStudy", "id": "img"}})
    answer = parse(bundle)
    assert answer.measurements == EXPECTED["01_osteoporosis_named.json"].measurements


def test_references_by_full_url():
    bundle = load("01")
    full_urls = {
        f"{e['resource']['resourceType']}/{e['resource']['id']}": e["fullUrl"]
        for e in bundle["entry"]
    }
    text = json.dumps(bundle)
    for reference, full_url in full_urls.items():
        text = text.replace(f'"reference": "{reference}"', f'"reference": "{full_url}"')
    assert '"reference": "Patient/p"' not in text
    answer = parse(json.loads(text))
    expected = EXPECTED["01_osteoporosis_named.json"]
    assert answer.patient == expected.patient
    assert answer.unit_hsa_id == expected.unit_hsa_id
    assert answer.practitioner_hsa_id == expected.practitioner_hsa_id
    assert answer.measurements == expected.measurements
    assert answer.fracture_code == expected.fracture_code


def test_resources_without_full_url():
    bundle = load("01")
    for entry in bundle["entry"]:
        del entry["fullUrl"]
    assert parse(bundle).measurements == EXPECTED["01_osteoporosis_named.json"].measurements


# -- DiagnosticReport -------------------------------------------------------------


def test_missing_diagnostic_report():
    bundle = load("01")
    del bundle["entry"][REPORT]
    assert problems(bundle) == [Problem("$.entry", "no DiagnosticReport; exactly one is required")]


def test_two_diagnostic_reports():
    bundle = load("01")
    second = copy.deepcopy(bundle["entry"][REPORT])
    second["fullUrl"] = "urn:uuid:11111111-1111-1111-1111-111111111111"
    second["resource"]["id"] = "dr2"
    bundle["entry"].append(second)
    assert problems(bundle) == [
        Problem(
            "$.entry[14].resource",
            "a second DiagnosticReport; exactly one is allowed ($.entry[13].resource)",
        )
    ]


def test_three_diagnostic_reports_name_each_extra_one():
    bundle = load("01")
    for index in (2, 3):
        extra = copy.deepcopy(bundle["entry"][REPORT])
        del extra["fullUrl"]
        extra["resource"]["id"] = f"dr{index}"
        bundle["entry"].append(extra)
    assert [p.path for p in problems(bundle)] == ["$.entry[14].resource", "$.entry[15].resource"]


def test_report_identifier_missing():
    bundle = load("01")
    del res(bundle, REPORT)["identifier"]
    assert only_problem(bundle) == (
        "$.entry[13].resource.identifier",
        "an identifier with system and value is required",
    )


def test_report_identifier_without_system():
    bundle = load("01")
    del res(bundle, REPORT)["identifier"][0]["system"]
    assert only_problem(bundle) == (
        "$.entry[13].resource.identifier",
        "an identifier with system and value is required",
    )


def test_report_identifier_not_a_list():
    bundle = load("01")
    res(bundle, REPORT)["identifier"] = {"system": "urn:oid:1.2.752.74.9.2", "value": "X"}
    assert only_problem(bundle) == (
        "$.entry[13].resource.identifier",
        "expected an array, got object",
    )


def test_report_identifier_value_not_a_string():
    bundle = load("01")
    res(bundle, REPORT)["identifier"][0]["value"] = 101
    assert problems(bundle) == [
        Problem("$.entry[13].resource.identifier[0].value", "expected a string, got number"),
        Problem(
            "$.entry[13].resource.identifier",
            "an identifier with system and value is required",
        ),
    ]


def test_report_identifier_value_empty():
    bundle = load("01")
    res(bundle, REPORT)["identifier"][0]["value"] = "  "
    assert problems(bundle)[0] == Problem(
        "$.entry[13].resource.identifier[0].value", "must not be empty"
    )


def test_report_second_identifier_is_used_when_first_incomplete():
    bundle = load("01")
    res(bundle, REPORT)["identifier"].insert(0, {"use": "secondary"})
    answer = parse(bundle)
    assert (answer.report_system, answer.report_value) == (
        "urn:oid:1.2.752.74.9.2",
        "DXA-2026-000101",
    )


@pytest.mark.parametrize("status", ["final", "amended", "corrected"])
def test_report_statuses(status):
    bundle = load("01")
    res(bundle, REPORT)["status"] = status
    assert parse(bundle).status == status


@pytest.mark.parametrize("status", ["preliminary", "registered", "cancelled", "FINAL"])
def test_report_wrong_status(status):
    bundle = load("01")
    res(bundle, REPORT)["status"] = status
    assert only_problem(bundle) == (
        "$.entry[13].resource.status",
        f"expected final, amended or corrected, got {status!r}",
    )


def test_report_status_missing():
    bundle = load("01")
    del res(bundle, REPORT)["status"]
    assert only_problem(bundle) == ("$.entry[13].resource.status", "required string is missing")


def test_report_code_unknown_system():
    bundle = load("01")
    res(bundle, REPORT)["code"]["coding"][0]["system"] = "http://snomed.info/sct"
    assert only_problem(bundle) == (
        "$.entry[13].resource.code",
        "must have the LOINC coding 83311-1",
    )


def test_report_code_wrong_loinc_code():
    bundle = load("01")
    res(bundle, REPORT)["code"]["coding"][0]["code"] = "24966-4"
    assert only_problem(bundle) == (
        "$.entry[13].resource.code",
        "must have the LOINC coding 83311-1",
    )


def test_report_code_loinc_oid_is_accepted():
    bundle = load("01")
    res(bundle, REPORT)["code"]["coding"][0]["system"] = "urn:oid:2.16.840.1.113883.6.1"
    assert parse(bundle).status == "final"


def test_report_code_among_other_codings():
    bundle = load("01")
    coding = res(bundle, REPORT)["code"]["coding"]
    coding.insert(0, {"system": "http://snomed.info/sct", "code": "312681000"})
    assert parse(bundle).status == "final"


def test_report_code_missing():
    bundle = load("01")
    del res(bundle, REPORT)["code"]
    assert only_problem(bundle) == ("$.entry[13].resource.code", "required object is missing")


def test_report_code_not_an_object():
    bundle = load("01")
    res(bundle, REPORT)["code"] = "83311-1"
    assert only_problem(bundle) == (
        "$.entry[13].resource.code",
        "expected an object, got string",
    )


def test_report_coding_not_a_list():
    bundle = load("01")
    res(bundle, REPORT)["code"]["coding"] = {"system": "http://loinc.org", "code": "83311-1"}
    assert problems(bundle) == [
        Problem("$.entry[13].resource.code.coding", "expected an array, got object"),
        Problem("$.entry[13].resource.code", "must have the LOINC coding 83311-1"),
    ]


def test_report_subject_missing():
    bundle = load("01")
    del res(bundle, REPORT)["subject"]
    assert only_problem(bundle) == (
        "$.entry[13].resource.subject",
        "required object is missing",
    )


def test_report_subject_unresolved():
    bundle = load("01")
    res(bundle, REPORT)["subject"]["reference"] = "Patient/nobody"
    assert only_problem(bundle) == (
        "$.entry[13].resource.subject.reference",
        "does not resolve to a resource in the bundle (expected Patient)",
    )


def test_report_subject_wrong_type():
    bundle = load("01")
    res(bundle, REPORT)["subject"]["reference"] = "Organization/unit"
    assert only_problem(bundle) == (
        "$.entry[13].resource.subject.reference",
        "refers to Organization, expected Patient",
    )


def test_report_subject_reference_not_a_string():
    bundle = load("01")
    res(bundle, REPORT)["subject"] = {"reference": ["Patient/p"]}
    assert only_problem(bundle) == (
        "$.entry[13].resource.subject.reference",
        "expected a string, got array",
    )


def test_no_patient_at_all():
    bundle = load("01")
    del bundle["entry"][PATIENT]
    assert problems(bundle) == [
        Problem(
            "$.entry[12].resource.subject.reference",
            "does not resolve to a resource in the bundle (expected Patient)",
        )
    ]


@pytest.mark.parametrize(
    ("effective", "scan_date"),
    [
        ("2026-11-10", date(2026, 11, 10)),
        ("2026-11-10T08:15:00+01:00", date(2026, 11, 10)),
        ("2026-11-10T23:59:59.123Z", date(2026, 11, 10)),
        ("2026-11-12", date(2026, 11, 12)),
    ],
)
def test_scan_date(effective, scan_date):
    bundle = load("01")
    res(bundle, REPORT)["effectiveDateTime"] = effective
    assert parse(bundle).scan_date == scan_date


def test_scan_date_absent():
    bundle = load("01")
    del res(bundle, REPORT)["effectiveDateTime"]
    assert parse(bundle).scan_date is None


@pytest.mark.parametrize(
    "effective",
    [
        "2026-11",
        "2026",
        "2026-13-01",
        "2026-02-30",
        "10/11/2026",
        "2026-11-10T08:15+01:00",
        "2026-11-10T08:15:00",
        "2026-11-10T24:00:00Z",
        "2026-11-10T08:15:00+15:00",
        "2026-11-10 08:15:00+01:00",
        "",
    ],
)
def test_scan_date_invalid(effective):
    bundle = load("01")
    res(bundle, REPORT)["effectiveDateTime"] = effective
    path, message = only_problem(bundle)
    assert path == "$.entry[13].resource.effectiveDateTime"
    assert message in (
        "expected a date (YYYY-MM-DD) or a date-time with seconds and time zone",
        "must not be empty",
    )


def test_scan_date_in_the_future():
    bundle = load("01")
    res(bundle, REPORT)["effectiveDateTime"] = "2026-11-13"
    assert only_problem(bundle) == (
        "$.entry[13].resource.effectiveDateTime",
        "the scan date is in the future",
    )


@pytest.mark.parametrize(
    ("issued", "expected"),
    [
        ("2026-11-12T09:30:00+01:00", datetime(2026, 11, 12, 9, 30, tzinfo=CET)),
        ("2026-11-12T08:30:00Z", datetime(2026, 11, 12, 8, 30, tzinfo=UTC)),
        (
            "2026-11-12T09:30:00.123456789+01:00",
            datetime(2026, 11, 12, 9, 30, 0, 123456, tzinfo=CET),
        ),
        (
            "2026-07-01T09:30:05.5+02:00",
            datetime(2026, 7, 1, 9, 30, 5, 500000, tzinfo=timezone(timedelta(hours=2))),
        ),
        (
            "2026-11-12T01:00:00-05:30",
            datetime(2026, 11, 12, 1, 0, tzinfo=timezone(-timedelta(hours=5, minutes=30))),
        ),
    ],
)
def test_issued(issued, expected):
    bundle = load("01")
    res(bundle, REPORT)["issued"] = issued
    answer = parse(bundle)
    assert answer.issued == expected
    assert answer.issued is not None and answer.issued.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize(
    "issued",
    ["2026-11-12", "2026-11-12T09:30+01:00", "2026-11-12T09:30:00", "2026-11-31T09:30:00Z"],
)
def test_issued_invalid(issued):
    bundle = load("01")
    res(bundle, REPORT)["issued"] = issued
    assert only_problem(bundle) == (
        "$.entry[13].resource.issued",
        "expected an instant such as 2026-11-12T09:30:00+01:00",
    )


def test_issued_absent_and_conclusion_absent():
    bundle = load("01")
    del res(bundle, REPORT)["issued"]
    del res(bundle, REPORT)["conclusion"]
    answer = parse(bundle)
    assert (answer.issued, answer.conclusion) == (None, None)


def test_conclusion_not_a_string():
    bundle = load("01")
    res(bundle, REPORT)["conclusion"] = ["Osteoporos"]
    assert only_problem(bundle) == (
        "$.entry[13].resource.conclusion",
        "expected a string, got array",
    )


def test_presented_form_is_kept():
    bundle = load("01")
    res(bundle, REPORT)["presentedForm"] = [
        {"contentType": "application/pdf", "title": "DXA-svar", "data": "JVBERi0xLjQK"},
        {"contentType": "application/pdf", "url": "https://example.org/report.pdf"},
        {"contentType": "text/plain", "data": "SGVq"},
    ]
    assert parse(bundle).attachments == (
        Attachment("application/pdf", "DXA-svar", "JVBERi0xLjQK"),
        Attachment("text/plain", None, "SGVq"),
    )


def test_presented_form_bad_base64():
    bundle = load("01")
    res(bundle, REPORT)["presentedForm"] = [{"contentType": "application/pdf", "data": "%%%"}]
    assert only_problem(bundle) == (
        "$.entry[13].resource.presentedForm[0].data",
        "is not valid base64",
    )


def test_presented_form_without_content_type():
    bundle = load("01")
    res(bundle, REPORT)["presentedForm"] = [{"data": "JVBERi0xLjQK"}]
    assert only_problem(bundle) == (
        "$.entry[13].resource.presentedForm[0].contentType",
        "required string is missing",
    )


def test_presented_form_not_a_list():
    bundle = load("01")
    res(bundle, REPORT)["presentedForm"] = {"contentType": "application/pdf", "data": "SGVq"}
    assert only_problem(bundle) == (
        "$.entry[13].resource.presentedForm",
        "expected an array, got object",
    )


# -- Patient --------------------------------------------------------------------


def test_patient_identifier_unknown_system():
    bundle = load("01")
    res(bundle, PATIENT)["identifier"][0]["system"] = "urn:oid:1.2.752.129.2.1.3.2"
    assert only_problem(bundle) == (
        "$.entry[0].resource.identifier",
        "a personnummer or samordningsnummer identifier is required",
    )


def test_patient_identifier_missing():
    bundle = load("01")
    del res(bundle, PATIENT)["identifier"]
    assert only_problem(bundle) == (
        "$.entry[0].resource.identifier",
        "a personnummer or samordningsnummer identifier is required",
    )


def test_patient_identifier_not_a_list():
    bundle = load("01")
    res(bundle, PATIENT)["identifier"] = "195203142384"
    assert only_problem(bundle) == (
        "$.entry[0].resource.identifier",
        "expected an array, got string",
    )


def test_patient_identifier_item_not_an_object():
    bundle = load("01")
    res(bundle, PATIENT)["identifier"].insert(0, "195203142384")
    assert only_problem(bundle) == (
        "$.entry[0].resource.identifier[0]",
        "expected an object, got string",
    )


def test_patient_identifier_value_missing():
    bundle = load("01")
    del res(bundle, PATIENT)["identifier"][0]["value"]
    assert only_problem(bundle) == (
        "$.entry[0].resource.identifier[0].value",
        "required string is missing",
    )


def test_patient_identifier_value_not_a_string():
    bundle = load("01")
    res(bundle, PATIENT)["identifier"][0]["value"] = 195203142384
    assert only_problem(bundle) == (
        "$.entry[0].resource.identifier[0].value",
        "expected a string, got number",
    )


def test_patient_identifier_oid_and_ten_digit_form():
    bundle = load("01")
    res(bundle, PATIENT)["identifier"] = [
        {"system": "urn:oid:1.2.752.129.2.1.3.1", "value": "520314-2384"}
    ]
    assert parse(bundle).patient.identity == PersonalIdentity(
        "195203142384", "personnummer", date(1952, 3, 14)
    )


def test_patient_samordningsnummer_under_personnummer_system():
    bundle = load("06")
    res(bundle, PATIENT)["identifier"][0]["system"] = (
        "http://electronichealth.se/identifier/personnummer"
    )
    assert only_problem(bundle) == (
        "$.entry[0].resource.identifier[0].value",
        "a personnummer cannot have a day above 60 (that is a samordningsnummer)",
    )


def test_patient_personnummer_preferred_over_samordningsnummer():
    bundle = load("01")
    res(bundle, PATIENT)["identifier"].insert(
        0,
        {
            "system": "http://electronichealth.se/identifier/samordningsnummer",
            "value": "195803751204",
        },
    )
    assert parse(bundle).patient.identity.number == "195203142384"


def test_patient_other_identifiers_are_ignored():
    bundle = load("01")
    res(bundle, PATIENT)["identifier"].insert(0, {"system": "urn:oid:1.2.3", "value": 5})
    assert parse(bundle).patient.identity.number == "195203142384"


def test_patient_future_birth_in_identifier():
    bundle = load("01")
    res(bundle, PATIENT)["identifier"][0]["value"] = "20261201-1235"
    assert only_problem(bundle) == (
        "$.entry[0].resource.identifier[0].value",
        "the personnummer has a date of birth in the future",
    )


def test_patient_name_text_only():
    bundle = load("01")
    res(bundle, PATIENT)["name"] = [{"text": "Margareta Lindqvist"}]
    patient = parse(bundle).patient
    assert (patient.name, patient.family, patient.given) == ("Margareta Lindqvist", None, None)


def test_patient_official_name_wins():
    bundle = load("01")
    res(bundle, PATIENT)["name"] = [
        {"use": "nickname", "given": ["Maggan"]},
        {"use": "official", "family": "Lindqvist", "given": ["Margareta", "Elisabet"]},
    ]
    patient = parse(bundle).patient
    assert (patient.name, patient.family, patient.given) == (
        "Margareta Elisabet Lindqvist",
        "Lindqvist",
        "Margareta Elisabet",
    )


def test_patient_first_name_without_official():
    bundle = load("01")
    res(bundle, PATIENT)["name"] = [{"family": "Lindqvist"}, {"family": "Andersson"}]
    patient = parse(bundle).patient
    assert (patient.name, patient.family, patient.given) == ("Lindqvist", "Lindqvist", None)


def test_patient_without_name_birth_date_gender():
    bundle = load("01")
    for key in ("name", "birthDate", "gender"):
        del res(bundle, PATIENT)[key]
    patient = parse(bundle).patient
    assert (patient.name, patient.family, patient.given) == (None, None, None)
    assert (patient.birth_date, patient.gender) == (None, None)
    assert patient.identity.birth_date == date(1952, 3, 14)


def test_patient_name_wrong_types():
    bundle = load("01")
    res(bundle, PATIENT)["name"] = [{"family": ["Lindqvist"], "given": "Margareta"}, "x"]
    assert problems(bundle) == [
        Problem("$.entry[0].resource.name[0].family", "expected a string, got array"),
        Problem("$.entry[0].resource.name[0].given", "expected an array, got string"),
        Problem("$.entry[0].resource.name[1]", "expected an object, got string"),
    ]


def test_patient_given_item_not_a_string():
    bundle = load("01")
    res(bundle, PATIENT)["name"][0]["given"] = ["Margareta", 2]
    assert only_problem(bundle) == (
        "$.entry[0].resource.name[0].given[1]",
        "expected a string, got number",
    )


def test_patient_partial_birth_date_is_unknown():
    bundle = load("01")
    res(bundle, PATIENT)["birthDate"] = "1952-03"
    assert parse(bundle).patient.birth_date is None


@pytest.mark.parametrize("birth_date", ["1952-02-30", "14/03/1952", "1952-3-14"])
def test_patient_invalid_birth_date(birth_date):
    bundle = load("01")
    res(bundle, PATIENT)["birthDate"] = birth_date
    path, message = only_problem(bundle)
    assert path == "$.entry[0].resource.birthDate"
    assert message in ("expected a date such as 1952-03-14", "is not a valid date")


def test_patient_invalid_gender():
    bundle = load("01")
    res(bundle, PATIENT)["gender"] = "F"
    assert only_problem(bundle) == (
        "$.entry[0].resource.gender",
        "expected male, female, other or unknown",
    )


def test_protected_identity_needs_the_code():
    bundle = load("05")
    res(bundle, PATIENT)["meta"]["security"][0]["code"] = "N"
    assert parse(bundle).patient.protected is False


def test_protected_identity_meta_security_not_a_list():
    bundle = load("05")
    res(bundle, PATIENT)["meta"]["security"] = {"code": "skyddadFolkbokforing"}
    assert only_problem(bundle) == (
        "$.entry[0].resource.meta.security",
        "expected an array, got object",
    )


def test_protected_identity_meta_not_an_object():
    bundle = load("05")
    res(bundle, PATIENT)["meta"] = "skyddadFolkbokforing"
    assert only_problem(bundle) == ("$.entry[0].resource.meta", "expected an object, got string")


def test_problem_messages_do_not_contain_patient_data():
    bundle = load("08")
    res(bundle, PATIENT)["gender"] = "kvinna"
    for problem in problems(bundle):
        assert "195001012345" not in problem.message
        assert "Siffra" not in problem.message
        assert "kvinna" not in problem.message


# -- unit and practitioner -----------------------------------------------------------


def test_missing_unit_organization():
    bundle = load("01")
    del bundle["entry"][UNIT]
    assert problems(bundle) == [
        Problem(
            "$.entry",
            "no receiving unit: an Organization with an HSA-id (urn:oid:1.2.752.29.4.19) "
            "is required",
        )
    ]


def test_unit_without_hsa_id():
    bundle = load("01")
    res(bundle, UNIT)["identifier"][0]["system"] = "urn:oid:2.5.4.97"
    assert only_problem(bundle) == (
        "$.entry[1].resource.identifier",
        "the receiving unit (ServiceRequest.performer) has no HSA-id (urn:oid:1.2.752.29.4.19)",
    )


@pytest.mark.parametrize("value", ["7TNG", "SE2321000156", "SE2321000156-", "se2321000156-7TNG"])
def test_unit_invalid_hsa_id(value):
    bundle = load("01")
    res(bundle, UNIT)["identifier"][0]["value"] = value
    assert only_problem(bundle) == (
        "$.entry[1].resource.identifier[0].value",
        "is not a valid HSA-id",
    )


def test_unit_without_performer_is_the_only_hsa_organization():
    bundle = load("01")
    del res(bundle, REFERRAL)["performer"]
    assert parse(bundle).unit_hsa_id == "SE2321000156-7TNG"


def test_unit_without_referral():
    bundle = load("01")
    del bundle["entry"][REFERRAL]
    del res(bundle, REPORT - 1)["basedOn"]
    answer = parse(bundle)
    assert answer.unit_hsa_id == "SE2321000156-7TNG"
    assert (answer.practitioner_hsa_id, answer.referral_id, answer.fracture_code) == (
        None,
        None,
        None,
    )


def test_unit_without_performer_excludes_the_requesting_organization():
    bundle = load("03")
    del res(bundle, REFERRAL)["performer"]
    assert parse(bundle).unit_hsa_id == "SE2321000156-7TNG"


def test_unit_ambiguous_without_performer():
    bundle = load("03")
    del res(bundle, REFERRAL)["performer"]
    del res(bundle, REFERRAL)["requester"]
    assert only_problem(bundle) == (
        "$.entry",
        "2 Organizations with an HSA-id and no ServiceRequest.performer naming the receiving unit",
    )


def test_unit_performer_chosen_over_listing_order():
    bundle = load("03")
    res(bundle, REFERRAL)["performer"] = [{"reference": "Organization/req"}]
    res(bundle, REFERRAL)["requester"] = {"reference": "Organization/unit"}
    assert parse(bundle).unit_hsa_id == "SE2321000156-7TNJ"


def test_unit_two_performers_with_hsa_id():
    bundle = load("03")
    res(bundle, REFERRAL)["performer"].append({"reference": "Organization/req"})
    assert only_problem(bundle) == (
        "$.entry[3].resource.performer",
        "refers to several Organizations with an HSA-id; exactly one receiving unit is allowed",
    )


def test_unit_performer_by_full_url():
    bundle = load("03")
    res(bundle, REFERRAL)["performer"] = [{"reference": bundle["entry"][2]["fullUrl"]}]
    assert parse(bundle).unit_hsa_id == "SE2321000156-7TNJ"


def test_unit_name_absent():
    bundle = load("01")
    del res(bundle, UNIT)["name"]
    assert parse(bundle).unit_name is None


def test_practitioner_without_hsa_id():
    bundle = load("01")
    del res(bundle, DOC)["identifier"]
    answer = parse(bundle)
    assert (answer.practitioner_hsa_id, answer.practitioner_name) == (None, "Anna Berg")


def test_practitioner_with_invalid_hsa_id():
    bundle = load("01")
    res(bundle, DOC)["identifier"][0]["value"] = "Anna"
    assert only_problem(bundle) == (
        "$.entry[2].resource.identifier[0].value",
        "is not a valid HSA-id",
    )


def test_practitioner_name_from_parts():
    bundle = load("01")
    res(bundle, DOC)["name"] = [{"family": "Berg", "given": ["Anna"]}]
    assert parse(bundle).practitioner_name == "Anna Berg"


def test_no_requester():
    bundle = load("01")
    del res(bundle, REFERRAL)["requester"]
    answer = parse(bundle)
    assert (answer.practitioner_hsa_id, answer.practitioner_name) == (None, None)


def test_requester_outside_the_bundle():
    bundle = load("01")
    res(bundle, REFERRAL)["requester"] = {"reference": "Practitioner/elsewhere"}
    assert parse(bundle).practitioner_hsa_id is None


def test_requester_display_only():
    bundle = load("01")
    res(bundle, REFERRAL)["requester"] = {"display": "Jour VC"}
    assert parse(bundle).practitioner_hsa_id is None


def test_requester_wrong_type():
    bundle = load("01")
    res(bundle, REFERRAL)["requester"] = {"reference": "Observation/o0b"}
    assert only_problem(bundle) == (
        "$.entry[3].resource.requester.reference",
        "refers to Observation, expected Device or Organization or Patient or Practitioner "
        "or PractitionerRole or RelatedPerson",
    )


def test_requester_practitioner_role():
    bundle = load("01")
    bundle["entry"].append(
        {
            "resource": {
                "resourceType": "PractitionerRole",
                "id": "role",
                "practitioner": {"reference": "Practitioner/doc"},
                "organization": {"reference": "Organization/unit"},
            }
        }
    )
    res(bundle, REFERRAL)["requester"] = {"reference": "PractitionerRole/role"}
    answer = parse(bundle)
    assert (answer.practitioner_hsa_id, answer.practitioner_name) == (
        "SE2321000156-L1AB",
        "Anna Berg",
    )


# -- referral and index fracture -------------------------------------------------------


def test_referral_identifier_absent():
    bundle = load("01")
    del res(bundle, REFERRAL)["identifier"]
    assert parse(bundle).referral_id is None


def test_referral_only_one_in_bundle_without_based_on():
    bundle = load("01")
    del res(bundle, REPORT)["basedOn"]
    assert parse(bundle).referral_id == "R-DXA-2026-000101"


def test_referral_based_on_outside_the_bundle_falls_back_to_the_only_one():
    bundle = load("01")
    res(bundle, REPORT)["basedOn"] = [{"reference": "ServiceRequest/elsewhere"}]
    assert parse(bundle).referral_id == "R-DXA-2026-000101"


def test_referral_ambiguous():
    bundle = load("01")
    del res(bundle, REPORT)["basedOn"]
    other = copy.deepcopy(bundle["entry"][REFERRAL])
    del other["fullUrl"]
    other["resource"]["id"] = "ref2"
    bundle["entry"].append(other)
    assert only_problem(bundle) == (
        "$.entry",
        "several ServiceRequests and none referenced by DiagnosticReport.basedOn",
    )


def test_referral_chosen_by_based_on():
    bundle = load("01")
    other = copy.deepcopy(bundle["entry"][REFERRAL])
    del other["fullUrl"]
    other["resource"]["id"] = "ref2"
    other["resource"]["identifier"][0]["value"] = "R-OTHER"
    bundle["entry"].append(other)
    res(bundle, REPORT)["basedOn"] = [{"reference": "ServiceRequest/ref2"}]
    assert parse(bundle).referral_id == "R-OTHER"


def test_fracture_display_when_no_text():
    bundle = load("01")
    del res(bundle, REFERRAL)["reasonCode"][0]["text"]
    answer = parse(bundle)
    assert (answer.fracture_code, answer.fracture_text) == ("S52.5", "Distal radiusfraktur")


def test_fracture_from_note():
    bundle = load("06")
    res(bundle, REFERRAL)["note"] = [
        {"text": "Fallolycka i hemmet."},
        {"text": "Kotkompression L1 (s320) enligt ortoped."},
    ]
    answer = parse(bundle)
    assert (answer.fracture_code, answer.fracture_text) == (
        "S32.0",
        "Kotkompression L1 (s320) enligt ortoped.",
    )


def test_fracture_note_without_code():
    bundle = load("06")
    res(bundle, REFERRAL)["note"] = [{"text": "Handledsfraktur vänster, T12 opåverkad."}]
    answer = parse(bundle)
    assert (answer.fracture_code, answer.fracture_text) == (
        None,
        "Handledsfraktur vänster, T12 opåverkad.",
    )


def test_fracture_reason_text_without_icd10_coding():
    bundle = load("06")
    res(bundle, REFERRAL)["reasonCode"] = [
        {
            "coding": [{"system": "http://snomed.info/sct", "code": "263225007"}],
            "text": "Lårbenshalsfraktur S72.0",
        }
    ]
    answer = parse(bundle)
    assert (answer.fracture_code, answer.fracture_text) == ("S72.0", "Lårbenshalsfraktur S72.0")


def test_fracture_icd10_coding_wins_over_note():
    bundle = load("01")
    res(bundle, REFERRAL)["note"] = [{"text": "S72.0"}]
    assert parse(bundle).fracture_code == "S52.5"


def test_fracture_reason_code_not_a_list():
    bundle = load("01")
    res(bundle, REFERRAL)["reasonCode"] = {"text": "S52.5"}
    assert only_problem(bundle) == (
        "$.entry[3].resource.reasonCode",
        "expected an array, got object",
    )


def test_fracture_note_text_not_a_string():
    bundle = load("06")
    res(bundle, REFERRAL)["note"] = [{"text": 5}]
    assert only_problem(bundle) == (
        "$.entry[3].resource.note[0].text",
        "expected a string, got number",
    )


# -- observations ----------------------------------------------------------------


def test_loinc_table():
    assert len(LOINC_MEASURES) == 30
    assert LOINC_MEASURES["24966-4"] == ("lumbar_spine", "bmd")
    assert LOINC_MEASURES["38263-0"] == ("femoral_neck", "t")
    assert LOINC_MEASURES["80939-2"] == ("femur_right", "z")
    assert LOINC_MEASURES["46278-8"] == ("hip_left", "bmd")
    assert LOINC_MEASURES["80945-9"] == ("hip_right", "t")
    assert LOINC_MEASURES["80932-7"] == ("forearm", "z")
    assert LOINC_MEASURES["80944-2"] == ("forearm_left", "t")
    assert LOINC_MEASURES["80951-7"] == ("forearm_right", "bmd")
    assert {site for site, _ in LOINC_MEASURES.values()} == set(SITE_LABELS)
    assert SITE_LABELS == {
        "lumbar_spine": "Ländrygg",
        "femoral_neck": "Lårbenshals",
        "femur_left": "Lårben vänster",
        "femur_right": "Lårben höger",
        "total_hip": "Höft total",
        "hip_left": "Höft vänster",
        "hip_right": "Höft höger",
        "forearm": "Underarm",
        "forearm_left": "Underarm vänster",
        "forearm_right": "Underarm höger",
    }


def observation(obs_id: str, code: str, value: object, body_site: str | None = None) -> dict:
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": obs_id,
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "subject": {"reference": "Patient/p"},
        "valueQuantity": {"value": value},
    }
    if body_site is not None:
        resource["bodySite"] = {"text": body_site}
    return {"resource": resource}


def with_observations(bundle: dict[str, Any], *entries: dict) -> dict[str, Any]:
    for entry in entries:
        bundle["entry"].append(entry)
        res(bundle, REPORT)["result"].append(
            {"reference": f"Observation/{entry['resource']['id']}"}
        )
    return bundle


def test_all_sites_group_and_keep_first_appearance_order():
    bundle = load("01")
    with_observations(
        bundle,
        observation("fr", "80943-4", -1.5, "Radius 33% höger"),
        observation("fl_t", "80944-2", -1.1),
        observation("fl_b", "80952-5", 0.65),
        observation("hl", "80938-4", 0.2),
        observation("hr", "46279-6", 0.9),
        observation("ftl", "80948-3", -1.3),
        observation("ftr", "80940-0", -0.6),
        observation("f", "38265-5", -2.0),
        observation("ftr2", "80953-3", 0.8),
        observation("hr2", "80945-9", -1.0),
    )
    measurements = parse(bundle).measurements
    assert measurements[3:] == (
        M("forearm_right", "Underarm höger", "Radius 33% höger", None, -1.5, None),
        M("forearm_left", "Underarm vänster", None, 0.65, -1.1, None),
        M("hip_left", "Höft vänster", None, None, None, 0.2),
        M("hip_right", "Höft höger", None, 0.9, -1.0, None),
        M("femur_left", "Lårben vänster", None, None, -1.3, -0.6),
        M("forearm", "Underarm", None, None, -2.0, None),
        M("femur_right", "Lårben höger", None, 0.8, None, None),
    )


def test_unknown_loinc_code_is_ignored():
    bundle = load("01")
    with_observations(bundle, observation("x", "2345-7", 6.1))
    assert parse(bundle).measurements == EXPECTED["01_osteoporosis_named.json"].measurements


def test_unknown_code_system_is_ignored():
    bundle = load("01")
    res(bundle, O0T)["code"]["coding"][0]["system"] = "http://snomed.info/sct"
    assert parse(bundle).measurements[0] == M(
        "lumbar_spine", "Ländrygg", "Ländrygg L1-L4", 0.781, None, -1.4
    )


def test_observations_not_in_result_are_ignored():
    bundle = load("01")
    bundle["entry"].append(observation("loose", "38267-1", -4.0))
    assert parse(bundle).measurements[0].t_score == -2.9


def test_without_result_all_observations_are_read():
    bundle = load("01")
    del res(bundle, REPORT)["result"]
    assert parse(bundle).measurements == EXPECTED["01_osteoporosis_named.json"].measurements


def test_empty_result():
    bundle = load("01")
    res(bundle, REPORT)["result"] = []
    assert parse(bundle).measurements == ()


def test_result_unresolved():
    bundle = load("01")
    res(bundle, REPORT)["result"][0]["reference"] = "Observation/missing"
    assert only_problem(bundle) == (
        "$.entry[13].resource.result[0].reference",
        "does not resolve to a resource in the bundle (expected Observation)",
    )


def test_result_wrong_type():
    bundle = load("01")
    res(bundle, REPORT)["result"][0]["reference"] = "Patient/p"
    assert only_problem(bundle) == (
        "$.entry[13].resource.result[0].reference",
        "refers to Patient, expected Observation",
    )


def test_result_not_a_list():
    bundle = load("01")
    res(bundle, REPORT)["result"] = {"reference": "Observation/o0t"}
    assert only_problem(bundle) == (
        "$.entry[13].resource.result",
        "expected an array, got object",
    )


OUT_OF_RANGE = "number out of range: JSON numbers here must be finite, at most ±1.8e308"


@pytest.mark.parametrize(
    ("index", "value", "message"),
    [
        (O0T, -10.1, "T-score -10.1 is outside -10..10"),
        (O0T, 12, "T-score 12 is outside -10..10"),
        (O0Z, 10.5, "Z-score 10.5 is outside -10..10"),
        (O0B, 3.2, "BMD 3.2 is outside 0..3 g/cm²"),
        (O0B, -0.1, "BMD -0.1 is outside 0..3 g/cm²"),
        # not numbers of JSON at all: the walk over the whole body reports them
        (O0T, float("nan"), "NaN is not a JSON number"),
        (O0Z, float("-inf"), OUT_OF_RANGE),
        (O0T, -(10**400), OUT_OF_RANGE),
        (O0T, 10**20, "T-score with more than 15 digits is outside -10..10"),
    ],
)
def test_value_out_of_range(index, value, message):
    bundle = load("01")
    res(bundle, index)["valueQuantity"]["value"] = value
    assert only_problem(bundle) == (f"$.entry[{index}].resource.valueQuantity.value", message)


def test_values_at_the_range_limits():
    bundle = load("01")
    res(bundle, O0T)["valueQuantity"]["value"] = -10
    res(bundle, O0Z)["valueQuantity"]["value"] = 10.0
    res(bundle, O0B)["valueQuantity"]["value"] = 3
    res(bundle, O1B)["valueQuantity"]["value"] = 0
    measurements = parse(bundle).measurements
    assert measurements[0] == M("lumbar_spine", "Ländrygg", "Ländrygg L1-L4", 3.0, -10.0, 10.0)
    assert measurements[1].bmd == 0.0
    assert isinstance(measurements[0].t_score, float)


@pytest.mark.parametrize(
    ("value", "kind"),
    [(True, "boolean"), ("-2.9", "string"), (None, "null"), ([-2.9], "array"), ({}, "object")],
)
def test_value_not_a_number(value, kind):
    bundle = load("01")
    res(bundle, O0T)["valueQuantity"]["value"] = value
    assert only_problem(bundle) == (
        "$.entry[5].resource.valueQuantity.value",
        f"expected a number, got {kind}",
    )


def test_value_missing():
    bundle = load("01")
    del res(bundle, O0T)["valueQuantity"]["value"]
    assert only_problem(bundle) == (
        "$.entry[5].resource.valueQuantity.value",
        "required number is missing",
    )


def test_value_quantity_missing():
    bundle = load("01")
    del res(bundle, O0T)["valueQuantity"]
    assert only_problem(bundle) == (
        "$.entry[5].resource.valueQuantity",
        "required for a DXA measurement",
    )


def test_value_quantity_not_an_object():
    bundle = load("01")
    res(bundle, O0T)["valueQuantity"] = -2.9
    assert only_problem(bundle) == (
        "$.entry[5].resource.valueQuantity",
        "expected an object, got number",
    )


def test_data_absent_reason_leaves_the_value_out():
    bundle = load("01")
    del res(bundle, O0T)["valueQuantity"]
    res(bundle, O0T)["dataAbsentReason"] = {"text": "Artefakt"}
    assert parse(bundle).measurements[0].t_score is None


@pytest.mark.parametrize("status", ["entered-in-error", "cancelled"])
def test_withdrawn_observations_are_skipped(status):
    bundle = load("01")
    res(bundle, O0T)["status"] = status
    res(bundle, O0T)["valueQuantity"]["value"] = 99
    assert parse(bundle).measurements[0].t_score is None


def test_duplicate_score_for_a_site():
    bundle = load("01")
    with_observations(bundle, observation("again", "38267-1", -3.1))
    assert only_problem(bundle) == (
        "$.entry[14].resource.code",
        "a second T-score for lumbar_spine (first at $.entry[5].resource)",
    )


def test_same_observation_referenced_twice_counts_once():
    bundle = load("01")
    res(bundle, REPORT)["result"].append({"reference": "Observation/o0t"})
    assert parse(bundle).measurements[0].t_score == -2.9


def test_observation_of_another_patient():
    bundle = load("01")
    other = copy.deepcopy(bundle["entry"][PATIENT])
    del other["fullUrl"]
    other["resource"]["id"] = "p2"
    bundle["entry"].append(other)
    res(bundle, O1T)["subject"]["reference"] = "Patient/p2"
    assert only_problem(bundle) == (
        "$.entry[8].resource.subject",
        "refers to another patient than the report",
    )


def test_observation_code_missing():
    bundle = load("01")
    del res(bundle, O0T)["code"]
    assert only_problem(bundle) == ("$.entry[5].resource.code", "required object is missing")


def test_body_site_from_coding_display():
    bundle = load("01")
    res(bundle, O0B)["bodySite"] = {"coding": [{"code": "122496007", "display": "Lumbar spine"}]}
    res(bundle, O0T)["bodySite"] = {"text": "L1-L4"}
    assert parse(bundle).measurements[0].body_site_text == "Lumbar spine"


def test_body_site_absent():
    bundle = load("01")
    for index in (O0B, O0T, O0Z):
        del res(bundle, index)["bodySite"]
    assert parse(bundle).measurements[0].body_site_text is None


# -- many problems at once -------------------------------------------------------


def test_every_problem_is_reported():
    bundle = load("08")
    res(bundle, 5)["valueQuantity"]["value"] = -11.0
    res(bundle, 7)["status"] = "preliminary"
    res(bundle, 1)["identifier"][0]["value"] = "bad"
    bundle["type"] = "batch"
    assert problems(bundle) == [
        Problem("$.type", "expected collection, message or transaction, got 'batch'"),
        Problem(
            "$.entry[7].resource.status", "expected final, amended or corrected, got 'preliminary'"
        ),
        Problem(
            "$.entry[0].resource.identifier[0].value",
            "the personnummer has an invalid check digit",
        ),
        Problem("$.entry[1].resource.identifier[0].value", "is not a valid HSA-id"),
        Problem("$.entry[5].resource.valueQuantity.value", "T-score -11.0 is outside -10..10"),
    ]


def test_wrong_types_never_raise_other_exceptions():
    base = load("01")
    junk: list[object] = [None, True, 1, 1.5, "x", [], {}, [None], [{}], {"x": 1}]
    for index in range(len(base["entry"])):
        for key in list(base["entry"][index]["resource"]):
            for value in junk:
                bundle = copy.deepcopy(base)
                bundle["entry"][index]["resource"][key] = value
                try:
                    parse(bundle)
                except BundleInvalid as error:
                    assert error.problems
                    assert all(p.path.startswith("$") for p in error.problems)


def _node_paths(node: object, prefix: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    paths = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            paths += _node_paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            paths += _node_paths(value, (*prefix, index))
    return paths


@pytest.mark.parametrize("name", ["01", "03", "05"])
def test_any_node_replaced_by_junk_gives_problems_or_an_answer(name):
    base = load(name)
    junk: list[object] = [None, False, 0, -99.5, "", "x", [], {}, ["x"], [{}]]
    for path in _node_paths(base):
        for value in junk:
            bundle = copy.deepcopy(base)
            parent: Any = bundle
            for step in path[:-1]:
                parent = parent[step]
            parent[path[-1]] = value
            try:
                answer = parse(bundle)
            except BundleInvalid as error:
                assert error.problems, path
                assert all(p.path.startswith("$") for p in error.problems), path
            else:
                assert isinstance(answer, DxaAnswer)


def test_control_characters_in_strings_are_problems() -> None:
    bundle = json.loads((FIXTURES / "01_osteoporosis_named.json").read_text(encoding="utf-8"))
    bundle["entry"][0]["resource"]["name"][0]["family"] = "Lind\x00qvist"
    bundle["entry"][0]["resource"]["name"][0]["given"] = ["Marga\x07reta"]
    bundle["entry"][-1]["resource"]["conclusion"] = "Rad ett\nrad två\tmed tabb"  # allowed
    with pytest.raises(BundleInvalid) as caught:
        parse_bundle(bundle, today=date(2026, 11, 21))
    assert sorted(p.path for p in caught.value.problems) == [
        "$.entry[0].resource.name[0].family",
        "$.entry[0].resource.name[0].given[0]",
    ]
