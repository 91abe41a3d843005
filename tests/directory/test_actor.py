"""The Actor value: how the audit log and a case's history name who acted (stored strings,
so they never change)."""

from __future__ import annotations

import pytest

from bot.directory.actor import Actor
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
