"""Summarise a `py-spy record --format raw` profile (collapsed stacks) of the bot process.

Usage: ``python bench/profile_report.py PROFILE.txt [--top N] [--focus TEXT]``

Prints, for the event-loop thread (stacks that start in the ``frakturkedjan`` command) and
for the other threads (aiosqlite's connection threads, the default executor):

- inclusive share per function: the share of samples in which the function is on the
  stack (each function counted once per sample);
- self share per function: the share of samples in which it is the innermost frame;
- shares of a few named areas (where the time goes, by what the stack passes through).

`--focus TEXT` keeps only samples whose stack contains TEXT (e.g. ``dispatch``).
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

# Areas: the first pattern found on a stack, checked innermost-first per area list order.
AREAS: list[tuple[str, str]] = [
    ("card render (cards/render.py: jinja2 + json.loads + card_size)", "render (cards/render.py"),
    (
        "activity deserialise (msrest Activity().deserialize)",
        "_read_activity (bot/teams/adapter.py",
    ),
    ("SDK turn (botbuilder pipeline, TurnContext, send_activity)", "core/"),
    ("SQLAlchemy flush (ORM unit of work)", "Session._flush"),
    ("SQLAlchemy execute/compile (queries)", "sqlalchemy/"),
    ("FHIR parse (bot/intake/fhir.py)", "parse_bundle (bot/intake/fhir.py"),
    ("pydantic (invoke data)", "model_validate"),
    ("logging (JSON log lines)", "logging/"),
    ("aiohttp server (HTTP parse/write)", "aiohttp/"),
    ("asyncio event loop", "asyncio/"),
]

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*):(?P<line>\d+)\)$")


def frame_name(frame: str) -> str:
    """`func (file)` without the line number, so a function is one entry."""
    match = _FRAME.match(frame)
    if not match:
        return frame
    return f"{match['func']} ({match['file']})"


def read(
    path: Path, focus: str | None
) -> tuple[Counter[tuple[str, ...]], Counter[tuple[str, ...]]]:
    """(event-loop stacks, other-thread stacks), each stack -> samples."""
    loop: Counter[tuple[str, ...]] = Counter()
    other: Counter[tuple[str, ...]] = Counter()
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        if not stack_text or not count_text.isdigit():
            continue
        if focus and focus not in stack_text:
            continue
        frames = tuple(stack_text.split(";"))
        target = loop if frames and "(frakturkedjan:" in frames[0] else other
        target[frames] += int(count_text)
    return loop, other


def report(title: str, stacks: Counter[tuple[str, ...]], top: int) -> None:
    total = sum(stacks.values())
    print(f"\n== {title}: {total} samples")
    if not total:
        return
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    areas: Counter[str] = Counter()
    for frames, count in stacks.items():
        names = [frame_name(f) for f in frames]
        for name in set(names):
            inclusive[name] += count
        own[names[-1]] += count
        text = ";".join(frames)
        for area, pattern in AREAS:
            if pattern in text:
                areas[area] += count
                break
        else:
            areas["other"] += count
    print(f"-- areas (first match in this order: {', '.join(a for a, _ in AREAS)})")
    for area, count in areas.most_common():
        print(f"{100 * count / total:6.1f}%  {area}")
    print("-- inclusive (on the stack)")
    for name, count in inclusive.most_common(top):
        print(f"{100 * count / total:6.1f}%  {name}")
    print("-- self (innermost frame)")
    for name, count in own.most_common(top):
        print(f"{100 * count / total:6.1f}%  {name}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--focus", default=None)
    args = parser.parse_args(argv)
    loop, other = read(args.profile, args.focus)
    report("event-loop thread", loop, args.top)
    report("other threads (aiosqlite connections, executor)", other, min(args.top, 15))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
