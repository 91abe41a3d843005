"""The bot's JSON log lines (bot/logs.py), one object a line on stdin, printed for a person.

A domain event (the line's `event` key, `bot.logs.Event`) becomes one Swedish line, e.g.
"10:42:01 beslut registrerat: ärende 3 (call_in), 4 uppgifter"; an event this file does not
know, or one missing a key it needs, is printed like any other line. Any other line: local
time, level, logger, message, then the extras as key=value. Lines that are not JSON pass
through unchanged. Alembic's plugin chatter on every start is left out (FK_LOG_ALL=1 keeps
it). Standard library only: scripts/pretty-log.sh runs it with any Python 3.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, TextIO

QUIET = ("alembic.runtime.plugins",)
SHADE = {"WARNING": "\033[33m", "ERROR": "\033[31m", "CRITICAL": "\033[31m"}
PLACES = {"user": "personliga chatten", "channel": "MVA-kanalen", "fallback": "MVA-kanalen"}
ROUTED = {"physician": "till läkaren", "mva": "till MVA-kanalen för fördelning"}


def _case(e: dict[str, Any]) -> str:
    return f"ärende {e['case_id']}" if e.get("case_id") is not None else "inget ärende"


def _received(e: dict[str, Any]) -> str:
    outcome = e["outcome"]
    if outcome == "duplicate":
        return f"svar mottaget igen (dubblett, inget nytt kort): {_case(e)}"
    routed = ROUTED.get(str(e.get("routed")), str(e.get("routed")))
    if outcome == "correction":
        return (
            f"korrigerat svar mottaget: {_case(e)} ersätter ärende {e['supersedes']}, "
            f"enhet {e['unit_id']}, {routed}"
        )
    return f"svar mottaget: {_case(e)}, enhet {e['unit_id']}, {routed}"


def _routed(e: dict[str, Any]) -> str:
    verb = "fördelat om" if e.get("by") == "reassign" else "fördelat"
    return f"{_case(e)} {verb} till läkare {e['physician_id']}"


def _decided(e: dict[str, Any]) -> str:
    tasks = e.get("tasks")
    count = "" if tasks is None else f", {tasks} uppgift" + ("" if tasks == 1 else "er")
    return f"beslut registrerat: {_case(e)} ({e['decision']}){count}"


def _undone(e: dict[str, Any]) -> str:
    tasks = e.get("tasks")
    cancelled = "uppgift avbruten" if tasks == 1 else "uppgifter avbrutna"
    count = f", {tasks} {cancelled}" if tasks else ""
    return f"beslut ångrat: {_case(e)} ({e['decision']}){count}"


def _task(what: str) -> Callable[[dict[str, Any]], str]:
    def text(e: dict[str, Any]) -> str:
        kind = f" ({e['task_kind']})" if e.get("task_kind") else ""
        return f"{what}: uppgift {e['task_id']}{kind}, {_case(e)}"

    return text


def _sent(e: dict[str, Any]) -> str:
    place = PLACES.get(str(e.get("to")), str(e.get("to")))
    instead = " (mottagaren saknar personlig chatt)" if e.get("to") == "fallback" else ""
    where = f"till {place}{instead}"
    return f"kort skickat: {e['purpose']}, {_case(e)}, {where} (utkorg {e['outbox_id']})"


def _updated(e: dict[str, Any]) -> str:
    return f"kort uppdaterat: {e.get('purpose') or 'kort'}, {_case(e)} (utkorg {e['outbox_id']})"


def _gone(e: dict[str, Any]) -> str:
    return f"kortet är borttaget i Teams och uppdateras inte: {_case(e)} (utkorg {e['outbox_id']})"


def _skipped(e: dict[str, Any]) -> str:
    return f"kortuppdatering behövdes inte: utkorg {e['outbox_id']} ({e['reason']})"


def _refused(e: dict[str, Any]) -> str:
    about = [_case(e)] if e.get("case_id") is not None else []
    if e.get("task_id") is not None:
        about.append(f"uppgift {e['task_id']}")
    where = f", {', '.join(about)}" if about else ""
    return f"nekat: {e['action']}, skäl: {e['reason']}{where}"


def _rejected(e: dict[str, Any]) -> str:
    return f"svar avvisat: {e['status']}, {e['problems']} fel (via {e.get('channel', '?')})"


EVENTS: dict[str, Callable[[dict[str, Any]], str]] = {
    "answer.received": _received,
    "answer.rejected": _rejected,
    "case.routed": _routed,
    "decision.recorded": _decided,
    "decision.undone": _undone,
    "task.done": _task("uppgift klar"),
    "task.reopened": _task("uppgift ångrad"),
    "card.sent": _sent,
    "card.updated": _updated,
    "card.gone": _gone,
    "card.update_skipped": _skipped,
    "action.refused": _refused,
}


def _when(entry: dict[str, Any]) -> str:
    try:
        return datetime.fromisoformat(str(entry.pop("time"))).astimezone().strftime("%H:%M:%S")
    except (KeyError, ValueError):
        return "--:--:--"


def format_line(line: str, *, keep_all: bool = False, colour: bool = False) -> str | None:
    """The printed form of one log line (without its newline); None to leave it out."""
    try:
        entry = json.loads(line)
    except ValueError:
        return line.rstrip("\n")
    if not isinstance(entry, dict):
        return line.rstrip("\n")
    logger = str(entry.pop("logger", ""))
    if logger in QUIET and not keep_all:
        return None
    when = _when(entry)
    level = str(entry.pop("level", ""))
    event = EVENTS.get(str(entry.get("event")))
    if event is not None:
        try:
            return f"{when} {event(entry)}"
        except KeyError:
            pass  # a key missing: printed as any other line
    message = str(entry.pop("message", ""))
    trace = entry.pop("exception", None)
    if logger == "frakturkedjan.http" and message == "request":
        message = "{} {} -> {} ({} ms)".format(
            entry.pop("method", "?"),
            entry.pop("path", "?"),
            entry.pop("status", "?"),
            entry.pop("ms", "?"),
        )
    extras = " ".join(f"{k}={v}" for k, v in entry.items())
    text = f"{when} {level:<7} {logger}: {message}" + (f"  {extras}" if extras else "")
    if colour and level in SHADE:
        text = SHADE[level] + text + "\033[0m"
    return text + (f"\n{trace}" if trace else "")


def run(lines: Iterable[str], out: TextIO, *, keep_all: bool, colour: bool) -> None:
    for line in lines:
        text = format_line(line, keep_all=keep_all, colour=colour)
        if text is not None:
            print(text, file=out, flush=True)


if __name__ == "__main__":
    run(
        sys.stdin,
        sys.stdout,
        keep_all=os.environ.get("FK_LOG_ALL") == "1",
        colour=sys.stdout.isatty(),
    )
