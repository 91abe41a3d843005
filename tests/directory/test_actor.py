"""The Actor value: how the audit log and a case's history name who acted (stored strings,
so they never change)."""

from __future__ import annotations

import pytest

from bot.directory.actor import UNKNOWN_PERSON, Actor, shown_name
from bot.directory.models import Staff

ANNA = Staff(name="Anna Berg", aad_object_id="00000000-0000-0000-0000-000000000101")


@pytest.mark.parametrize(
    ("actor", "audit_id", "display_name"),
    [
        (Actor.of(ANNA), "staff:00000000-0000-0000-0000-000000000101", "Anna Berg"),
        (
            Actor.clicker(ANNA, "00000000-0000-0000-0000-000000000101"),
            "staff:00000000-0000-0000-0000-000000000101",
            "Anna Berg",
        ),
        (Actor.clicker(None, "aad-1"), "aad:aad-1", "aad:aad-1"),
        (Actor.clicker(None, None), "aad:unknown", "aad:unknown"),
        (Actor.intake("regionen"), "intake:regionen", "intake:regionen"),
        (Actor.cli("purge"), "cli:purge", "cli:purge"),
        (Actor.job("daily"), "system:daily", "system:daily"),
        (Actor.reader("rapport"), "api:rapport", "api:rapport"),
        (Actor.named("test"), "test", "test"),
    ],
)
def test_audit_id_and_display_name(actor: Actor, audit_id: str, display_name: str) -> None:
    assert (actor.audit_id, actor.display_name) == (audit_id, display_name)


def test_only_a_person_is_staff() -> None:
    assert Actor.of(ANNA).staff is ANNA
    with pytest.raises(RuntimeError, match="aad:aad-1 is not a person of the directory"):
        _ = Actor.clicker(None, "aad-1").staff


@pytest.mark.parametrize(
    ("actor", "shown"),
    [
        (Actor.of(ANNA), "Anna Berg"),
        (Actor.intake("token-0edec55e"), "Integrationsmotorn"),
        (Actor.cli("purge"), "systemet"),
        (Actor.job("daily"), "systemet"),
        (Actor.reader("rapport"), "systemet"),
        (Actor.clicker(None, "00000000-0000-0000-0000-000000000199"), UNKNOWN_PERSON),
        (Actor.clicker(None, None), UNKNOWN_PERSON),
    ],
)
def test_shown_name_is_never_an_internal_id(actor: Actor, shown: str) -> None:
    assert shown_name(actor.display_name) == shown
    assert shown_name(actor.audit_id) in (shown, UNKNOWN_PERSON)  # staff:<id> has no name


@pytest.mark.parametrize(
    "stored",
    [
        "staff:00000000-0000-0000-0000-000000000101",
        "x:y",
        "00000000-0000-0000-0000-0000000001AB",
        " ",
    ],
)
def test_shown_name_hides_ids_and_unknown_spellings(stored: str) -> None:
    assert shown_name(stored) == UNKNOWN_PERSON
