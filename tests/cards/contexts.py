"""Realistic contexts for the card templates, for these tests and any other test.

Each `*_context(**overrides)` returns a complete context for its template; keyword
arguments replace top-level keys. The building blocks (`case`, `patient`, …) take
overrides of their own keys. `VARIANTS` names every context the golden files cover.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.cards.followup_contexts import followup_list_context

ANNA_AAD = "00000000-0000-0000-0000-000000000101"
MARIA_AAD = "00000000-0000-0000-0000-000000000102"
ERIK_AAD = "00000000-0000-0000-0000-000000000103"
ANNA_TEAMS = "29:1aB3dE5gH7jK9mN1pQ3sT5vX7zA9cE1gI3kM5oQ7sU9wY1-anna"
MARIA_TEAMS = "29:1zY8xW6vU4tS2rQ0pO8nM6lK4jI2hG0fE8dC6bA4zY2xW0-maria"
ERIK_TEAMS = "29:1qW2eR3tY4uI5oP6aS7dF8gH9jK0lZ1xC2vB3nM4qW5eR6-erik"

PHYSICIANS = [
    {"id": ANNA_AAD, "name": "Anna Berg"},
    {"id": ERIK_AAD, "name": "Erik Lund"},
]


def case(**overrides: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "id": 12,
        "version": 1,
        "ref": "Ärende 12",
        "state": "awaiting_decision",
        "state_label": "Väntar på beslut",
    }
    return {**value, **overrides}


def patient(**overrides: Any) -> dict[str, Any]:
    value: dict[str, Any] = {"display": "Margareta Lindqvist, 19520314-2384", "protected": False}
    return {**value, **overrides}


def answer(**overrides: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "scan_date": "2026-11-10",
        "received": "2026-11-12 09:30",
        "fracture_label": "Handledsfraktur",
        "fracture_text": "Distal radiusfraktur vänster efter fall i halka",
        "fracture_code": "S52.5",
        "conclusion": (
            "Bentäthetsmätning av ländrygg (L1–L4) och vänster höft.\n"
            "Lägsta T-score −2,9 i ländryggen, förenligt med osteoporos enligt WHO.\n"
            "Rekommenderar behandlingsställningstagande och ny mätning om 2–3 år."
        ),
        "performer": "Johan Ek, överläkare, Klinisk fysiologi",
    }
    return {**value, **overrides}


def measurements() -> list[dict[str, Any]]:
    return [
        {"site_label": "Ländrygg L1–L4", "bmd": "0,781", "t": "−2,9", "z": "−1,4"},
        {"site_label": "Lårbenshals vänster", "bmd": "0,652", "t": "−2,1", "z": "−0,8"},
        {"site_label": "Höft totalt vänster", "bmd": "0,744", "t": "−1,8", "z": None},
    ]


def many_measurements(count: int) -> list[dict[str, Any]]:
    """`count` measurement rows, for the caps."""
    return [
        {"site_label": f"Lokal {i}", "bmd": "0,800", "t": "−1,0", "z": "0,1"} for i in range(count)
    ]


def suggestion(**overrides: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "text": "Lägsta T-score −2,9 (Ländrygg L1–L4): osteoporos enligt WHO (T ≤ −2,5).",
        "category_label": "Osteoporos",
        "use_z": False,
        "treat_regardless": False,
        "treat_text": None,
    }
    return {**value, **overrides}


def hip_suggestion() -> dict[str, Any]:
    return suggestion(
        text="Lägsta T-score −1,9 (Lårbenshals vänster): osteopeni enligt WHO.",
        category_label="Osteopeni",
        treat_regardless=True,
        treat_text="Höft- eller kotfraktur: behandling bör övervägas oavsett T-score.",
    )


def decision(**overrides: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "label": "Kalla till läkarbesök",
        "by": "Anna Berg",
        "at": "2026-11-21 10:02",
        "note": "Tolk behövs (finska). Helst förmiddag.",
        "visit_physician": "Anna Berg",
    }
    return {**value, **overrides}


def decision_context(**overrides: Any) -> dict[str, Any]:
    ctx: dict[str, Any] = {
        "case": case(),
        "patient": patient(),
        "answer": answer(),
        "measurements": measurements(),
        "suggestion": suggestion(),
        "notice": None,
        "refresh_user_ids": [ANNA_TEAMS],
        "physician": {"name": "Anna Berg"},
        "physicians": [dict(p) for p in PHYSICIANS],
        "default_visit_physician": ANNA_AAD,
        "earlier": None,
    }
    return {**ctx, **overrides}


def summary_tasks() -> list[dict[str, Any]]:
    return [
        {
            "title": "Sätt upp på väntelista (VL) till läkare",
            "assignee": "MVA",
            "due": "2026-11-26",
            "status_label": "Klar",
            "done": True,
            "done_by": "Maria Svensson",
            "done_at": "2026-11-21 10:15",
            "overdue": False,
        },
        {
            "title": "Skicka brev: svar på bentäthetsmätning och kallelse inom 2 månader",
            "assignee": "MVA",
            "due": "2026-11-26",
            "status_label": "Öppen",
            "done": False,
            "done_by": None,
            "done_at": None,
            "overdue": True,
        },
        {
            "title": "Boka läkartid",
            "assignee": "MVA",
            "due": "2027-01-21",
            "status_label": "Öppen",
            "done": False,
            "done_by": None,
            "done_at": None,
            "overdue": False,
        },
    ]


def case_summary_context(**overrides: Any) -> dict[str, Any]:
    ctx: dict[str, Any] = {
        "case": case(version=2, state="decided", state_label="Beslutat"),
        "patient": patient(),
        "answer": answer(),
        "measurements": measurements(),
        "suggestion": suggestion(),
        "notice": None,
        "refresh_user_ids": [ANNA_TEAMS, MARIA_TEAMS],
        "decision": decision(),
        "tasks": summary_tasks(),
        "refresh_view": None,
        "undo": None,
        "history": [
            {"at": "2026-11-12 09:30", "text": "Svar mottaget: Väntar på beslut – integration"},
            {"at": "2026-11-21 10:02", "text": "Beslut: Kalla till läkarbesök – Anna Berg"},
            {"at": "2026-11-21 10:15", "text": "Uppgift klar – Maria Svensson"},
        ],
    }
    return {**ctx, **overrides}


def confirm_decision_context(**overrides: Any) -> dict[str, Any]:
    """`confirm_decision_card`: a normal letter chosen on an answer showing osteoporosis
    and a hip fracture."""
    ctx: dict[str, Any] = {
        "case": case(),
        "patient": patient(),
        "answer": answer(
            fracture_label="Höftfraktur",
            fracture_code="S72.0",
            fracture_text="Collum femoris-fraktur höger",
        ),
        "measurements": measurements(),
        "notice": None,
        "refresh_user_ids": [],
        "decision": {"value": "normal_letter", "label": "Ingen osteoporos – brevsvar"},
        "reasons": [
            "Lägsta T-score −2,9 (Ländrygg L1–L4): osteoporos",
            "Höftfraktur: behandling bör övervägas oavsett T-score",
        ],
    }
    return {**ctx, **overrides}


def triage_context(**overrides: Any) -> dict[str, Any]:
    ctx: dict[str, Any] = {
        "case": case(
            id=14, ref="Ärende 14", state="awaiting_assignment", state_label="Väntar på fördelning"
        ),
        "patient": patient(display="Sven Andersson, 19480907-1234"),
        "answer": answer(
            fracture_label="Höftfraktur",
            fracture_code="S72.0",
            fracture_text="Collum femoris-fraktur höger",
            performer=None,
        ),
        "suggestion": hip_suggestion(),
        "notice": None,
        "refresh_user_ids": [MARIA_TEAMS, ANNA_TEAMS, ERIK_TEAMS],
        "physicians": [dict(p) for p in PHYSICIANS],
        "assigned": None,
        "meant_for": None,
    }
    return {**ctx, **overrides}


def task(**overrides: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "id": 101,
        "title": "Sätt upp på väntelista (VL) till läkare",
        "description": (
            'Bokningsunderlag: "Frakturkedjepatient – osteoporospaket ska tas före läkarbesöket"'
        ),
        "due": "2026-11-26",
        "overdue": False,
        "status": "open",
        "status_label": "Öppen",
        "done_by": None,
        "done_at": None,
        "can_reopen": False,
        "note": None,
    }
    return {**value, **overrides}


def call_in_tasks() -> list[dict[str, Any]]:
    return [
        task(
            id=101,
            status="done",
            status_label="Klar",
            done_by="Maria Svensson",
            done_at="2026-11-21 10:15",
            can_reopen=True,
            note="Uppsatt på VL hos Anna Berg",
        ),
        task(
            id=102,
            title="Skicka brev: svar på bentäthetsmätning och kallelse inom 2 månader",
            description=None,
            overdue=True,
        ),
        task(
            id=103,
            title="Beställ prover: Osteoporospaket",
            description=None,
            status="cancelled",
            status_label="Avbruten",
        ),
        task(
            id=104,
            title="Boka läkartid",
            description="Senast 2 månader efter beslutet",
            due="2027-01-21",
        ),
    ]


PHYSIO_DRAFT = """Remiss till fysioterapeut

Från: Erik Lund, läkare, Tingvalla vårdcentral
Datum: 2027-01-14

Patient: [Patientens namn]
Personnummer: [Personnummer]

Frågeställning
Bedömning av fallrisk samt träning av styrka och balans.

Bakgrund
Patienten har haft en fragilitetsfraktur (benbrott efter ett lindrigt fall eller annat lågt våld).
Fraktur: Handledsfraktur (S52.5) – Distal radiusfraktur vänster efter fall i halka

Bentäthetsmätning 2026-11-10: lägsta T-score −2,9 (Ländrygg L1–L4), osteoporos enligt WHO.
Behandling mot benskörhet har satts in: Alendronat.
Patienten följs i frakturkedjan på Tingvalla vårdcentral för att förebygga nya frakturer.

Vi ber er
- bedöma patientens risk att falla
- ge träning av styrka och balans, gärna med ett program som patienten kan fortsätta med hemma.

Läkarens anteckningar
Vid beslutet: Tolk behövs (finska). Helst förmiddag.

Med vänliga hälsningar
Erik Lund
Läkare, Tingvalla vårdcentral
"""


def physio_task(**overrides: Any) -> dict[str, Any]:
    """The task a "Ja" on physiotherapy contact creates, open, with its referral draft."""
    return task(
        **{
            "id": 401,
            "kind": "physio",
            "title": "Fysioterapikontakt",
            "description": (
                "Skicka remiss till fysioterapeut: bedömning av fallrisk samt träning av "
                "styrka och balans. Kopiera remissutkastet till regionens säkra "
                "meddelandetjänst eller journalen."
            ),
            "due": "2027-01-21",
            "referral_draft": PHYSIO_DRAFT,
            "referral": None,
            **overrides,
        }
    )


def physio_task_done() -> dict[str, Any]:
    return physio_task(
        status="done",
        status_label="Klar",
        done_by="Maria Svensson",
        done_at="2027-01-18 14:05",
        can_reopen=True,
        referral_draft=None,
        referral={"on": "2027-01-18", "clinic": "Fysioterapin Tingvalla"},
    )


def task_context(**overrides: Any) -> dict[str, Any]:
    ctx: dict[str, Any] = {
        "case": case(version=2, state="decided", state_label="Beslutat"),
        "patient": patient(),
        "title": "Uppgifter efter beslut: Kalla till läkarbesök",
        "decision": decision(),
        "tasks": call_in_tasks(),
        "notice": None,
        "refresh_user_ids": [MARIA_TEAMS],
    }
    return {**ctx, **overrides}


def notice_context(**overrides: Any) -> dict[str, Any]:
    ctx: dict[str, Any] = {
        "title": "Ärendet har ersatts av ett korrigerat svar",
        "text": "Ett korrigerat svar på bentäthetsmätningen har kommit. Beslut fattas på det nya "
        "ärendet; det här kortet gäller inte längre.",
        "case": case(
            id=3,
            ref="Ärende 3",
            version=3,
            state="superseded",
            state_label="Ersatt av korrigerat svar",
        ),
        "facts": [
            {"title": "Nytt ärende", "value": "Ärende 12"},
            {"title": "Mottaget", "value": "2026-11-20 14:05"},
        ],
    }
    return {**ctx, **overrides}


def help_context(**overrides: Any) -> dict[str, Any]:
    ctx: dict[str, Any] = {
        "commands": [
            {"command": "hjälp", "description": "Visar den här listan."},
            {"command": "mina ärenden", "description": "Dina ärenden som väntar på beslut."},
            {"command": "uppgifter", "description": "Enhetens öppna uppgifter, äldsta först."},
            {"command": "ärende <id>", "description": "Visar ett ärende, t.ex. ärende 12."},
        ],
    }
    return {**ctx, **overrides}


def case_list_context(**overrides: Any) -> dict[str, Any]:
    """`case_list_card` ("mina ärenden"): three cases, oldest first, one protected."""
    ctx: dict[str, Any] = {
        "physician": {"name": "Anna Berg"},
        "day": "2026-11-21",
        "cases": [
            {
                "id": 9,
                "ref": "Ärende 9",
                "patient": patient(display="Karl Erik Nyberg, 19591102-4171"),
                "received": "2026-11-12",
                "waiting_days": 7,
                "unit": "Tingvalla vårdcentral",
                "fracture_label": "Proximal humerusfraktur",
            },
            {
                "id": 11,
                "ref": "Ärende 11",
                "patient": patient(display="Skyddad identitet", protected=True),
                "received": "2026-11-20",
                "waiting_days": 1,
                "unit": "Tingvalla vårdcentral",
                "fracture_label": "Kotfraktur",
            },
            {
                "id": 12,
                "ref": "Ärende 12",
                "patient": patient(),
                "received": "2026-11-21",
                "waiting_days": 0,
                "unit": "Tingvalla vårdcentral",
                "fracture_label": None,
            },
        ],
        "visits": [],
    }
    return {**ctx, **overrides}


def visit_list_row(**overrides: Any) -> dict[str, Any]:
    """A visit row of `case_list_card`: its checklist is out, not recorded."""
    value: dict[str, Any] = {
        "id": 7,
        "ref": "Ärende 7",
        "patient": patient(display="Karl Erik Nyberg, 19591102-4171"),
        "booked": "2026-11-20 09:30",
        "unit": "Tingvalla vårdcentral",
    }
    return {**value, **overrides}


def triage_list_row(**overrides: Any) -> dict[str, Any]:
    """An answer awaiting assignment as a row of `task_list_card`."""
    value: dict[str, Any] = {
        "id": 14,
        "ref": "Ärende 14",
        "patient": patient(display="Ingrid Sjöberg, 19480907-5627"),
        "received": "2026-11-19",
        "waiting_days": 2,
        "unit": "Tingvalla vårdcentral",
        "fracture_label": "Handledsfraktur",
    }
    return {**value, **overrides}


def task_row(**overrides: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "id": 101,
        "kind": "waitlist",
        "case_ref": "Ärende 12",
        "patient": patient(),
        "title": "Sätt upp på väntelista (VL) till läkare",
        "due": "2026-11-26",
        "overdue": False,
        "assignee": None,
        "unit": "Tingvalla vårdcentral",
    }
    return {**value, **overrides}


def task_list_context(**overrides: Any) -> dict[str, Any]:
    """`task_list_card` ("uppgifter"): earliest due first, one overdue, one booking."""
    ctx: dict[str, Any] = {
        "scope": "MVA-uppgifter för Tingvalla vårdcentral · dina egna uppgifter",
        "day": "2026-11-21",
        "awaiting": [],
        "counts": {"open": 4, "overdue": 1},
        "tasks": [
            task_row(
                id=95,
                case_ref="Ärende 11",
                patient=patient(display="Skyddad identitet", protected=True),
                due="2026-11-18",
                overdue=True,
            ),
            task_row(),
            task_row(
                id=120,
                kind="normal_letter",
                case_ref="Ärende 9",
                patient=patient(display="Karl Erik Nyberg, 19591102-4171"),
                title="Skicka brevsvar om normal bentäthet",
                due="2026-11-27",
                assignee="Anna Berg",
            ),
            task_row(id=104, kind="book_visit", title="Boka läkartid", due="2027-01-21"),
        ],
    }
    return {**ctx, **overrides}


def _variants() -> dict[str, tuple[str, Callable[[], dict[str, Any]]]]:
    protected = patient(display="Skyddad identitet", protected=True)
    return {
        "decision_card": ("decision_card", decision_context),
        "decision_card_hip_notice": (
            "decision_card",
            lambda: decision_context(
                answer=answer(
                    fracture_label="Höftfraktur",
                    fracture_code="S72.0",
                    fracture_text="Collum femoris-fraktur höger",
                    performer=None,
                ),
                suggestion=hip_suggestion(),
                notice="Korrigerat svar – ersätter ärende 3",
            ),
        ),
        "decision_card_young": (
            "decision_card",
            lambda: decision_context(
                patient=patient(display="K. N., född 1985-06-02"),
                suggestion=suggestion(
                    text="Lägsta Z-score −2,3 (Ländrygg L1–L4): under förväntat för åldern.",
                    category_label="Under förväntat för åldern",
                    use_z=True,
                ),
                answer=answer(conclusion=None),
                notice="Kortet kunde inte levereras till Anna Berg personligen.",
                refresh_user_ids=[],
            ),
        ),
        "decision_card_earlier": (
            "decision_card",
            lambda: decision_context(
                earlier={
                    "lines": [
                        "Ärende 3 (2025-10-02): Kalla till läkarbesök, Alendronat, "
                        "senaste uppföljning 2026-04-14, behandling pågår",
                        "Ärende 9 (2026-02-11): Ingen osteoporos – brevsvar",
                    ],
                    "refracture": True,
                }
            ),
        ),
        "decision_card_protected": (
            "decision_card",
            lambda: decision_context(patient=protected, measurements=[]),
        ),
        "case_summary_card": ("case_summary_card", case_summary_context),
        "case_summary_card_undo": (
            "case_summary_card",
            lambda: case_summary_context(
                decision=decision(
                    label="Ingen osteoporos – brevsvar", note=None, visit_physician=None
                ),
                tasks=[summary_tasks()[2] | {"title": "Skicka brevsvar om normal bentäthet"}],
                undo={"until": "2026-11-21 10:32"},
                refresh_user_ids=[ANNA_TEAMS],
            ),
        ),
        "confirm_decision_card": ("confirm_decision_card", confirm_decision_context),
        "case_summary_card_superseded": (
            "case_summary_card",
            lambda: case_summary_context(
                case=case(version=3, state="superseded", state_label="Ersatt av korrigerat svar"),
                notice="Korrigerat svar har kommit – se ärende 15",
                decision=None,
                tasks=[],
                history=[],
            ),
        ),
        "triage_card": ("triage_card", triage_context),
        "triage_card_assigned": (
            "triage_card",
            lambda: triage_context(
                assigned={"to": "Erik Lund", "by": "Maria Svensson", "at": "2026-11-21 08:40"},
                case=case(id=14, ref="Ärende 14", version=2),
            ),
        ),
        "triage_card_rerouted": (
            "triage_card",
            lambda: triage_context(
                case=case(id=14, ref="Ärende 14", version=2),
                meant_for="Erik Lund",
                physicians=[dict(p) for p in PHYSICIANS if p["name"] != "Erik Lund"],
                refresh_user_ids=[ANNA_TEAMS, ERIK_TEAMS],
            ),
        ),
        "followup_card": ("followup_card", followup_context),
        "followup_card_first": (
            "followup_card",
            lambda: followup_context(
                current_treatment=None, suggested_next=None, physio=None,
                follow_up={"number": 1, "due": "2027-04-14", "visit": None},
            ),
        ),
        "task_card": ("task_card", task_context),
        "task_card_physician": (
            "task_card",
            lambda: task_context(
                title="Uppgifter efter beslut: Annan åtgärd",
                decision=decision(
                    label="Annan åtgärd", note="Remiss till reumatolog.", visit_physician=None
                ),
                tasks=[
                    task(
                        id=201,
                        title="Remiss till reumatolog.",
                        description=None,
                        due="2026-12-05",
                        status="done",
                        status_label="Klar",
                        done_by="Anna Berg",
                        done_at="2026-11-22 16:40",
                    ),
                ],
                refresh_user_ids=[ANNA_TEAMS],
            ),
        ),
        "notice_card": ("notice_card", notice_context),
        "notice_card_plain": (
            "notice_card",
            lambda: notice_context(
                title="Kortet kunde inte levereras",
                text="Anna Berg har inte appen installerad. Kortet visas här i stället.",
                case=None,
                facts=[],
            ),
        ),
        "help_card": ("help_card", help_context),
        "visit_card": ("visit_card", visit_context),
        "task_card_booking_letter": (
            "task_card",
            lambda: task_context(
                tasks=[
                    task(
                        id=301,
                        title="Skicka brev: svar på bentäthetsmätning och kallelse inom 2 månader",
                        kind="invitation_letter",
                        letter="Till [Patientens namn]\n\nSvar på din bentäthetsmätning.",
                    ),
                    task(id=302, title="Boka läkartid", kind="book_visit", due="2027-01-21"),
                ],
            ),
        ),
        "task_card_physio": (
            "task_card",
            lambda: task_context(
                case=case(version=6, state="follow_up", state_label="Uppföljning pågår"),
                tasks=[physio_task()],
            ),
        ),
        "task_card_physio_done": (
            "task_card",
            lambda: task_context(
                case=case(version=6, state="closed", state_label="Avslutat"),
                tasks=[physio_task_done()],
            ),
        ),
        "case_summary_card_physio": (
            "case_summary_card",
            lambda: case_summary_context(
                case=case(version=6, state="closed", state_label="Avslutat"),
                tasks=[
                    {
                        "title": "Fysioterapikontakt",
                        "assignee": "MVA",
                        "due": "2027-01-21",
                        "status_label": "Klar",
                        "done": True,
                        "done_by": "Maria Svensson",
                        "done_at": "2027-01-18 14:05",
                        "overdue": False,
                        "referral": {"on": "2027-01-18", "clinic": "Fysioterapin Tingvalla"},
                    },
                ],
                history=[
                    {
                        "at": "2027-01-14 10:20",
                        "text": "Besök registrerat (Alendronat) – Erik Lund",
                    },
                    {
                        "at": "2027-01-18 14:05",
                        "text": "Uppgift klar (Fysioterapikontakt: remiss skickad 2027-01-18 "
                        "till Fysioterapin Tingvalla) – Maria Svensson",
                    },
                ],
            ),
        ),
        "task_list_card_physio": (
            "task_list_card",
            lambda: task_list_context(
                counts={"open": 1, "overdue": 0},
                tasks=[task_row(id=401, kind="physio", title="Fysioterapikontakt",
                                due="2027-01-21")],
            ),
        ),
        "case_list_card": ("case_list_card", case_list_context),
        "case_list_card_empty": ("case_list_card", lambda: case_list_context(cases=[])),
        "case_list_card_visits": (
            "case_list_card",
            lambda: case_list_context(
                cases=case_list_context()["cases"][:1],
                visits=[
                    visit_list_row(),
                    visit_list_row(
                        id=10,
                        ref="Ärende 10",
                        patient=patient(display="Skyddad identitet", protected=True),
                        booked="2026-11-21 08:15",
                    ),
                ],
            ),
        ),
        "case_list_card_only_visits": (
            "case_list_card",
            lambda: case_list_context(cases=[], visits=[visit_list_row()]),
        ),
        "followup_list_card": ("followup_list_card", followup_list_context),
        "followup_list_card_empty": (
            "followup_list_card",
            lambda: followup_list_context(follow_ups=[]),
        ),
        "task_list_card": ("task_list_card", task_list_context),
        "task_list_card_triage": (
            "task_list_card",
            lambda: task_list_context(
                awaiting=[
                    triage_list_row(),
                    triage_list_row(
                        id=15,
                        ref="Ärende 15",
                        patient=patient(display="Skyddad identitet", protected=True),
                        received="2026-11-21",
                        waiting_days=0,
                        fracture_label=None,
                    ),
                ],
                counts={"open": 1, "overdue": 0},
                tasks=task_list_context()["tasks"][1:2],
            ),
        ),
        "task_list_card_only_triage": (
            "task_list_card",
            lambda: task_list_context(
                scope="MVA-uppgifter för Tingvalla vårdcentral",
                awaiting=[triage_list_row(waiting_days=1)],
                counts={"open": 0, "overdue": 0},
                tasks=[],
            ),
        ),
        "task_list_card_empty": (
            "task_list_card",
            lambda: task_list_context(
                scope="Dina egna uppgifter", counts={"open": 0, "overdue": 0}, tasks=[]
            ),
        ),
    }


def visit_context(**overrides: Any) -> dict[str, Any]:
    ctx: dict[str, Any] = {
        "case": case(state="decided", state_label="Beslutat", version=3),
        "patient": patient(),
        "visit": {"booked_at": "2027-01-14 09:30"},
        "treatments": [
            {"value": "alendronat", "title": "Alendronat"},
            {"value": "denosumab", "title": "Denosumab"},
            {"value": "none", "title": "Ingen behandling"},
        ],
        "refresh_user_ids": [ERIK_TEAMS],
    }
    return {**ctx, **overrides}


def followup_context(**overrides: Any) -> dict[str, Any]:
    ctx: dict[str, Any] = {
        "case": case(state="follow_up", state_label="Uppföljning pågår", version=7),
        "patient": patient(),
        "follow_up": {"number": 2, "due": "2027-04-14", "visit": "2027-01-14 · Alendronat"},
        "treatments": [
            {"value": "alendronat", "title": "Alendronat"},
            {"value": "denosumab", "title": "Denosumab"},
            {"value": "none", "title": "Ingen behandling"},
        ],
        "current_treatment": "alendronat",
        "stopped_reasons": [
            {"value": "side_effects", "title": "Biverkningar"},
            {"value": "patient_choice", "title": "Patientens val"},
            {"value": "other", "title": "Annat"},
        ],
        "suggested_next": "2027-11-20",
        "physio": {"referral": "skickad 2027-01-20 till Fysioterapin Tingvalla"},
        "refresh_user_ids": [ANNA_TEAMS],
    }
    return {**ctx, **overrides}


VARIANTS: dict[str, tuple[str, Callable[[], dict[str, Any]]]] = _variants()
