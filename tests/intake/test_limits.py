"""The field limits of the intake contract (bot/intake/limits.py), issue 10: a value at its
limit is taken in and stored on both databases, one character more is a problem by path."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import String, func, select
from sqlalchemy.orm import InstrumentedAttribute

from bot.cases.models import Case
from bot.flows.take_in_answer import ingest
from bot.intake import limits
from bot.intake.fhir import BundleInvalid, Problem, parse_bundle
from bot.intake.models import AnswerKey
from tests.helpers import FIXTURES, fixture_bytes

TODAY = date(2026, 11, 12)
NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
PATIENT, UNIT, DOC, REFERRAL, BMD, REPORT = 0, 1, 2, 3, 4, 13

Bundle = dict[str, Any]


def sample() -> Bundle:
    bundle: Bundle = json.loads(fixture_bytes("01_osteoporosis_named.json"))
    return bundle


def resource(bundle: Bundle, index: int) -> Any:
    return bundle["entry"][index]["resource"]


def text(n: int) -> str:
    """`n` characters, each two bytes in UTF-8 (limits count characters, not bytes)."""
    return "Å" * n


def report_system(bundle: Bundle, n: int) -> str:
    resource(bundle, REPORT)["identifier"][0]["system"] = "urn:" + text(n - 4)
    return f"$.entry[{REPORT}].resource.identifier[0].system"


def report_value(bundle: Bundle, n: int) -> str:
    resource(bundle, REPORT)["identifier"][0]["value"] = text(n)
    return f"$.entry[{REPORT}].resource.identifier[0].value"


def referral_value(bundle: Bundle, n: int) -> str:
    resource(bundle, REFERRAL)["identifier"][0]["value"] = text(n)
    return f"$.entry[{REFERRAL}].resource.identifier[0].value"


def fracture_code(bundle: Bundle, n: int) -> str:
    resource(bundle, REFERRAL)["reasonCode"][0]["coding"][0]["code"] = "S52." + "5" * (n - 4)
    return f"$.entry[{REFERRAL}].resource.reasonCode[0].coding[0].code"


def fracture_text(bundle: Bundle, n: int) -> str:
    resource(bundle, REFERRAL)["reasonCode"][0]["text"] = text(n)
    return f"$.entry[{REFERRAL}].resource.reasonCode[0].text"


def fracture_display(bundle: Bundle, n: int) -> str:
    del resource(bundle, REFERRAL)["reasonCode"][0]["text"]
    resource(bundle, REFERRAL)["reasonCode"][0]["coding"][0]["display"] = text(n)
    return f"$.entry[{REFERRAL}].resource.reasonCode[0].coding[0].display"


def fracture_note(bundle: Bundle, n: int) -> str:
    referral = resource(bundle, REFERRAL)
    del referral["reasonCode"]
    referral["note"] = [{"text": "Distal radiusfraktur S52.5 " + text(n - 27)}]
    return f"$.entry[{REFERRAL}].resource.note[0].text"


def patient_name(bundle: Bundle, n: int) -> str:
    # the stored name is "Given Family": the limit is on the whole of it
    name = resource(bundle, PATIENT)["name"][0]
    name["given"] = [text(n // 2)]
    name["family"] = text(n - n // 2 - 1)
    return f"$.entry[{PATIENT}].resource.name[0]"


def practitioner_name(bundle: Bundle, n: int) -> str:
    resource(bundle, DOC)["name"][0]["text"] = text(n)
    return f"$.entry[{DOC}].resource.name[0]"


def unit_name(bundle: Bundle, n: int) -> str:
    resource(bundle, UNIT)["name"] = text(n)
    return f"$.entry[{UNIT}].resource.name"


def conclusion(bundle: Bundle, n: int) -> str:
    resource(bundle, REPORT)["conclusion"] = text(n)
    return f"$.entry[{REPORT}].resource.conclusion"


def body_site(bundle: Bundle, n: int) -> str:
    resource(bundle, BMD)["bodySite"]["text"] = text(n)
    return f"$.entry[{BMD}].resource.bodySite.text"


FIELDS: dict[str, tuple[Callable[[Bundle, int], str], int]] = {
    "answer identifier system": (report_system, limits.IDENTIFIER_SYSTEM_MAX),
    "answer identifier value": (report_value, limits.IDENTIFIER_VALUE_MAX),
    "referral identifier value": (referral_value, limits.IDENTIFIER_VALUE_MAX),
    "fracture code": (fracture_code, limits.CODE_MAX),
    "fracture text": (fracture_text, limits.TEXT_MAX),
    "fracture display": (fracture_display, limits.TEXT_MAX),
    "fracture note": (fracture_note, limits.TEXT_MAX),
    "patient name": (patient_name, limits.NAME_MAX),
    "practitioner name": (practitioner_name, limits.NAME_MAX),
    "unit name": (unit_name, limits.NAME_MAX),
    "conclusion": (conclusion, limits.CONCLUSION_MAX),
    "body site": (body_site, limits.TEXT_MAX),
}


@pytest.mark.parametrize("name", FIELDS)
def test_one_character_over_a_limit_is_a_problem_at_its_path(name: str) -> None:
    change, limit = FIELDS[name]
    at_limit, over = sample(), sample()
    change(at_limit, limit)
    path = change(over, limit + 1)
    parse_bundle(at_limit, today=TODAY)
    with pytest.raises(BundleInvalid) as refused:
        parse_bundle(over, today=TODAY)
    assert refused.value.problems == [
        Problem(path, f"is {limit + 1} characters long; at most {limit} are accepted")
    ]


def test_the_values_at_their_limits_are_the_values_stored() -> None:
    bundle = sample()
    for change, limit in FIELDS.values():
        if change not in (fracture_display, fracture_note):  # they replace fracture text
            change(bundle, limit)
    answer = parse_bundle(bundle, today=TODAY)
    assert len(answer.report_system) == limits.IDENTIFIER_SYSTEM_MAX
    assert len(answer.report_value) == limits.IDENTIFIER_VALUE_MAX
    assert answer.referral_id is not None and len(answer.referral_id) == limits.IDENTIFIER_VALUE_MAX
    assert answer.fracture_code is not None and len(answer.fracture_code) == limits.CODE_MAX
    assert answer.fracture_text is not None and len(answer.fracture_text) == limits.TEXT_MAX
    assert answer.patient.name is not None and len(answer.patient.name) == limits.NAME_MAX
    assert answer.conclusion is not None and len(answer.conclusion) == limits.CONCLUSION_MAX
    assert answer.measurements[0].body_site_text == text(limits.TEXT_MAX)


@pytest.mark.parametrize(
    ("column", "limit"),
    [
        (Case.report_system, limits.IDENTIFIER_SYSTEM_MAX),
        (Case.report_value, limits.IDENTIFIER_VALUE_MAX),
        (AnswerKey.system, limits.IDENTIFIER_SYSTEM_MAX),
        (AnswerKey.value, limits.IDENTIFIER_VALUE_MAX),
        (Case.referral_id, limits.IDENTIFIER_VALUE_MAX),
        (Case.fracture_code, limits.CODE_MAX),
        (Case.fracture_text, limits.TEXT_MAX),
        (Case.patient_name, limits.NAME_MAX),
    ],
)
def test_every_limited_column_holds_its_limit(
    column: InstrumentedAttribute[Any], limit: int
) -> None:
    kind = column.property.columns[0].type
    assert isinstance(kind, String) and kind.length is not None
    assert limit <= kind.length


async def test_a_bundle_at_every_limit_is_stored(factory: Any) -> None:
    """Two-byte characters at every limit: varchar(n) on PostgreSQL counts characters."""
    bundle = sample()
    for change, limit in FIELDS.values():
        if change not in (fracture_display, fracture_note):
            change(bundle, limit)
    result = await ingest(
        factory,
        body=json.dumps(bundle, ensure_ascii=False).encode(),
        content_type="application/fhir+json",
        sender="test",
        channel="cli",
        secret="s",
        now=NOW,
    )
    assert result.status == 201, result.body
    async with factory() as session:
        case = await session.get(Case, result.case_id)
        assert case is not None
        assert (case.fracture_code, case.patient_name) == ("S52." + "5" * 12, _name(bundle))
        assert case.report_value == text(limits.IDENTIFIER_VALUE_MAX)


def _name(bundle: Bundle) -> str:
    name = resource(bundle, PATIENT)["name"][0]
    return f"{name['given'][0]} {name['family']}"


@pytest.mark.parametrize("name", ["answer identifier value", "fracture code", "conclusion"])
async def test_a_bundle_over_a_limit_is_refused_before_the_database(
    factory: Any, name: str
) -> None:
    change, limit = FIELDS[name]
    bundle = copy.deepcopy(sample())
    path = change(bundle, 100_000)
    result = await ingest(
        factory,
        body=json.dumps(bundle).encode(),
        content_type="application/fhir+json",
        sender="test",
        channel="cli",
        secret="s",
        now=NOW,
    )
    assert (result.status, result.body["problems"]) == (
        422,
        [{"path": path, "message": f"is 100000 characters long; at most {limit} are accepted"}],
    )
    async with factory() as session:
        assert await session.scalar(select(func.count()).select_from(Case)) == 0


def test_the_readme_states_the_limits() -> None:
    readme = (FIXTURES.parent.parent / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("| what | at most |") :].split("\n\n", 1)[0]
    rows = {row.split(" | ")[0].strip("| "): row for row in table.splitlines()[2:]}
    stated = {
        "body, sent with `Content-Length` or chunked": f"{limits.MAX_BODY_BYTES:,} bytes",
        "nesting of arrays and objects": f"{limits.MAX_DEPTH} levels",
        "identifier `system`, identifier `value` (the DiagnosticReport's, the ServiceRequest's)": (
            f"{limits.IDENTIFIER_SYSTEM_MAX} characters each"
        ),
        "the index fracture's ICD-10 code": f"{limits.CODE_MAX} characters",
        "a display name (Patient, Practitioner, Organization)": f"{limits.NAME_MAX} characters",
        "DiagnosticReport `conclusion`": f"{limits.CONCLUSION_MAX:,} characters",
    }
    assert limits.IDENTIFIER_SYSTEM_MAX == limits.IDENTIFIER_VALUE_MAX  # one row states both
    for what, value in stated.items():
        assert value in rows[what], what
    assert any(f"| {limits.TEXT_MAX} characters |" in row for row in rows.values())
