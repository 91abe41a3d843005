"""What people type, made into commands.

Matching ignores case, surrounding whitespace, trailing punctuation, Swedish diacritics
("hjalp", "mina arenden", "uppfoljning", "arende 12" work) and the `<at>…</at>` mention
Teams puts in front of a message addressed to the bot.
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

__all__ = ["MAX_CASE_ID", "Command", "CommandName", "case_number", "normalize", "parse"]

CommandName = Literal["help", "my_cases", "tasks", "followups", "case", "cancel", "unknown"]

MAX_CASE_ID = 2**31 - 1
"""Case ids are PostgreSQL `integer`s: a larger number names no case."""

_MENTION = re.compile(r"<at\b[^>]*>.*?</at>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")
_NUMBER = re.compile(r"(?:arende\s*)?(?:nr\.?\s*)?#?\s*(\d+)")
_CASE = re.compile(r"arende(?:\s*(?:nr\.?\s*)?#?\s*(?P<number>\d+)|\s+(?P<rest>.+))?")
_WORDS: dict[str, CommandName] = {
    "hjalp": "help",
    "help": "help",
    "mina arenden": "my_cases",
    "uppgifter": "tasks",
    "mina uppgifter": "tasks",
    "uppfoljning": "followups",
    "uppfoljningar": "followups",
    "mina uppfoljningar": "followups",
    "avbryt": "cancel",
}


@dataclass(frozen=True)
class Command:
    """A parsed message. `case_id` is set for "ärende <id>" with a number."""

    name: CommandName
    case_id: int | None = None


def normalize(text: str | None) -> str:
    """Lower case without diacritics, mentions or markup; single spaces; no end punctuation."""
    plain = _TAG.sub(" ", _MENTION.sub(" ", text or ""))
    folded = unicodedata.normalize("NFKD", html.unescape(plain).casefold())
    bare = "".join(char for char in folded if not unicodedata.combining(char))
    return " ".join(bare.split()).rstrip(".!?").strip()


def parse(text: str | None) -> Command:
    """The command in a message; `unknown` for anything else (bare numbers included)."""
    words = normalize(text)
    name = _WORDS.get(words)
    if name is not None:
        return Command(name)
    match = _CASE.fullmatch(words)
    if match is None:
        return Command("unknown")
    number = match.group("number")
    return Command("case", _case_id(number) if number else None)


def case_number(text: str | None) -> int | None:
    """The case id in an answer to "Vilket ärende?" ("12", "#12", "ärende 12"), or None."""
    match = _NUMBER.fullmatch(normalize(text))
    return _case_id(match.group(1)) if match else None


def _case_id(digits: str) -> int:
    # int() refuses over 4,300 digits; any number past MAX_CASE_ID names no case anyway
    return int(digits) if len(digits) <= 20 else MAX_CASE_ID + 1
