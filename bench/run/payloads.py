"""What the benchmark sends to the bot, and how it checks the answers.

The Teams activities (the installation in every physician's personal chat and every MVA
channel, the decision click), the FHIR bundles (sample 01 with unique identifiers, each
for a patient of its own but a few returning ones) and the intake request that carries one.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, timedelta
from typing import Any

from bench import ROOT
from bench.loadgen import Request
from bench.run.directory import PHYSICIANS, SECRETARIES, UNITS, Person
from bot.core.identifiers import luhn_check_digit

FIXTURE = ROOT / "tests" / "fixtures" / "01_osteoporosis_named.json"
INTAKE_TOKEN = "bench-intake-token"  # noqa: S105 - a local benchmark token
TENANT = "11111111-2222-3333-4444-555555555555"
BOT_ID = "28:frakturkedjan-bench"
DECISIONS = ("normal_letter", "call_in", "normal_call", "other")


def personal_conversation(person: Person) -> str:
    return f"a:bench-personal-{person.user_id[3:]}"


def activity_base(
    service_url: str,
    person: Person,
    conversation: dict[str, Any],
    channel_data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "id": "f:1",
        "channelId": "msteams",
        "serviceUrl": service_url,
        "timestamp": "2026-11-21T10:00:00Z",
        "conversation": {"tenantId": TENANT, **conversation},
        "from": {"id": person.user_id, "name": person.name, "aadObjectId": person.aad},
        "recipient": {"id": BOT_ID, "name": "Frakturkedjan"},
        "channelData": {"tenant": {"id": TENANT}, **(channel_data or {})},
    }


def install_activities(service_url: str) -> list[dict[str, Any]]:
    """installationUpdate for every physician's personal chat and every MVA channel."""
    activities = []
    conversation: dict[str, Any]
    for person in PHYSICIANS:
        conversation = {"id": personal_conversation(person), "conversationType": "personal"}
        activities.append(
            {
                **activity_base(service_url, person, conversation),
                "type": "installationUpdate",
                "action": "add",
            }
        )
    for unit, mva in zip(UNITS, SECRETARIES, strict=True):
        conversation = {
            "id": unit.channel,
            "conversationType": "channel",
            "isGroup": True,
        }
        data: dict[str, Any] = {
            "team": {"id": f"19:team-{unit.hsa}@thread.tacv2"},
            "channel": {"id": unit.channel},
        }
        activities.append(
            {
                **activity_base(service_url, mva, conversation, data),
                "type": "installationUpdate",
                "action": "add",
            }
        )
    return activities


def text_message(service_url: str, person: Person, text: str) -> dict[str, Any]:
    """A message `person` types in their personal chat with the bot (a text command)."""
    conversation = {"id": personal_conversation(person), "conversationType": "personal"}
    return {**activity_base(service_url, person, conversation), "type": "message", "text": text}


def decision_data(person: Person, case_id: int, decision: str) -> dict[str, Any]:
    """The data of a physician's `case.decide` click on a new case's decision card: each
    decision decides the case at once (a normal one is its confirmation's click)."""
    data: dict[str, Any] = {"case_id": case_id, "version": 1, "decision": decision}
    if decision == "call_in":
        data["visit_physician"] = person.aad
        data["note"] = "Tolk behövs"
    elif decision == "other":
        data["other_note"] = "Remiss till fysioterapeut för balansträning"
    else:  # sample 01 shows osteoporosis: a normal decision is its confirmation's click
        data["confirmed"] = True
    return data


def click_body(service_url: str, person: Person, case_id: int, decision: str, n: int) -> bytes:
    """The `adaptiveCard/action` invoke Teams posts when a physician clicks a decision."""
    data = decision_data(person, case_id, decision)
    conversation = {"id": personal_conversation(person), "conversationType": "personal"}
    activity = {
        **activity_base(service_url, person, conversation),
        "id": f"f:click-{n}",
        "type": "invoke",
        "name": "adaptiveCard/action",
        "value": {
            "action": {"type": "Action.Execute", "verb": "case.decide", "data": data},
            "trigger": "manual",
        },
    }
    return json.dumps(activity, ensure_ascii=False).encode()


def is_card_answer(status: int, body: bytes) -> bool:
    return status == 200 and b"application/vnd.microsoft.card.adaptive" in body[:400]


class Bundles:
    """Sample 01 with a unique DiagnosticReport identifier, routed to a unit and physician,
    for a patient of its own: what a care centre sees, not one patient's growing history.

    The patient follows from the report identifier (the same identifier, the same
    patient, whichever `Bundles` makes it): a valid personnummer with the Luhn digit
    right, born 1940-1960 (so the card judges by T-score as for sample 01's patient) and
    female as she is. One bundle in `REPEAT_EVERY` is a returning patient, one of
    `RETURNING` (their earlier cases show on the card); the others are new patients (a
    few may share a number by chance: about 3.8 million numbers).
    """

    REPEAT_EVERY = 10
    RETURNING = 500
    _FIRST_BIRTH = date(1940, 1, 1)
    _BIRTH_DAYS = (date(1960, 12, 31) - _FIRST_BIRTH).days + 1

    def __init__(self) -> None:
        data = json.loads(FIXTURE.read_text(encoding="utf-8"))
        for entry in data["entry"]:
            resource = entry["resource"]
            kind = resource["resourceType"]
            if kind == "DiagnosticReport":
                resource["identifier"][0]["value"] = "@@REPORT@@"
            elif kind == "Organization":
                resource["identifier"][0]["value"] = "@@UNIT@@"
            elif kind == "Practitioner":
                resource["identifier"][0]["value"] = "@@PHYSICIAN@@"
            elif kind == "Patient":
                resource["identifier"][0]["value"] = "@@PNR@@"
                resource["birthDate"] = "@@BIRTH@@"
        self._text = json.dumps(data, ensure_ascii=False, indent=1)

    def make(self, report_value: str, physician: Person) -> bytes:
        assert physician.hsa is not None
        number, birth = self.patient(report_value)
        text = (
            self._text.replace("@@REPORT@@", report_value)
            .replace("@@UNIT@@", UNITS[physician.unit - 1].hsa)
            .replace("@@PHYSICIAN@@", physician.hsa)
            .replace("@@PNR@@", number)
            .replace("@@BIRTH@@", birth.isoformat())
        )
        return text.encode()

    @classmethod
    def patient(cls, report_value: str) -> tuple[str, date]:
        """The patient of the bundle with this report identifier: personnummer (12
        digits) and birth date."""
        seed = int.from_bytes(hashlib.sha256(report_value.encode()).digest()[:8], "big")
        if seed % cls.REPEAT_EVERY == 0:
            seed = seed // cls.REPEAT_EVERY % cls.RETURNING  # a returning patient
        else:
            seed //= cls.REPEAT_EVERY
        birth = cls._FIRST_BIRTH + timedelta(days=seed % cls._BIRTH_DAYS)
        serial = seed // cls._BIRTH_DAYS % 500 * 2  # an even third digit: female
        nine = f"{birth:%y%m%d}{serial:03d}"
        return f"{birth:%Y}{nine[2:]}{luhn_check_digit(nine)}", birth


def intake_request(bot_url: str, bundles: Bundles, report: str, physician: Person) -> Request:
    """A bundle posted to the bot's intake; its tag is the physician's index."""
    return Request(
        url=f"{bot_url}/api/dxa-answers",
        body=bundles.make(report, physician),
        headers={
            "Authorization": f"Bearer {INTAKE_TOKEN}",
            "Content-Type": "application/fhir+json",
        },
        tag=PHYSICIANS.index(physician),
    )


def is_created(status: int, _body: bytes) -> bool:
    return status == 201


def created_cases(answers: list[tuple[Any, int, bytes]]) -> list[tuple[int, int]]:
    """(case id, physician index) of every 201 answer."""
    return [
        (int(json.loads(body)["case_id"]), physician)
        for physician, status, body in answers
        if status == 201
    ]
