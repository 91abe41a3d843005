"""What people type, made into commands."""

from __future__ import annotations

import pytest

from dialogs.text import MAX_CASE_ID, Command, case_number, normalize, parse


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("hjälp", Command("help")),
        ("  HJÄLP  ", Command("help")),
        ("hjalp", Command("help")),
        ("help", Command("help")),
        ("Hjälp?", Command("help")),
        ("<at>Frakturkedjan</at> hjälp", Command("help")),
        ('<at id="0">Frakturkedjan</at>&nbsp;hjälp', Command("help")),
        ("mina ärenden", Command("my_cases")),
        ("Mina  Ärenden.", Command("my_cases")),
        ("mina arenden", Command("my_cases")),
        ("<p>mina ärenden</p>", Command("my_cases")),
        ("uppgifter", Command("tasks")),
        ("Mina uppgifter", Command("tasks")),
        ("uppföljning", Command("followups")),
        ("Uppföljningar", Command("followups")),
        ("UPPFÖLJNING!", Command("followups")),
        ("uppfoljning", Command("followups")),
        ("Mina uppföljningar", Command("followups")),
        ("<at>Frakturkedjan</at> uppföljning", Command("followups")),
        ("uppföljning 12", Command("unknown")),
        ("ärende 12", Command("case", 12)),
        ("Ärende 12", Command("case", 12)),
        ("arende 12", Command("case", 12)),
        ("ärende12", Command("case", 12)),
        ("ärende #12", Command("case", 12)),
        ("ärende nr 12", Command("case", 12)),
        ("<at>Bot</at> ÄRENDE 007", Command("case", 7)),
        ("ärende", Command("case")),
        ("Ärende?", Command("case")),
        ("ärende tolv", Command("case")),
        ("avbryt", Command("cancel")),
        ("ärenden", Command("unknown")),
        ("12", Command("unknown")),
        ("hej", Command("unknown")),
        ("", Command("unknown")),
        (None, Command("unknown")),
        ("mina ärenden nu", Command("unknown")),
    ],
)
def test_parse(text: str | None, command: Command) -> None:
    assert parse(text) == command


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("12", 12),
        (" 12 ", 12),
        ("#12", 12),
        ("ärende 12", 12),
        ("Arende 12.", 12),
        ("<at>Frakturkedjan</at> 12", 12),
        ("tolv", None),
        ("12 13", None),
        ("-12", None),
        ("", None),
        (None, None),
    ],
)
def test_case_number(text: str | None, number: int | None) -> None:
    assert case_number(text) == number


def test_absurd_numbers_name_no_case_and_do_not_crash() -> None:
    # int() refuses strings over 4,300 digits
    assert parse("ärende " + "9" * 5000) == Command("case", MAX_CASE_ID + 1)
    assert case_number("1" * 5000) == MAX_CASE_ID + 1
    assert case_number("2147483647") == MAX_CASE_ID


def test_normalize() -> None:
    assert normalize("  <at>Frakturkedjan</at>  Mina   ÄRENDEN!\n") == "mina arenden"
