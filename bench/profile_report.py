"""Summarise a `py-spy record --format raw` profile (collapsed stacks) of the bot process.

Usage, from the repository root:
``python -m bench.profile_report PROFILE.txt [--top N] [--focus TEXT]``

Record with ``--gil`` (``python -m bench.run --profile DIR`` does) so that the samples are
Python CPU time. Prints, for the event-loop thread (stacks through aiohttp's ``run_app``)
and for the other threads (aiosqlite's connection threads, the default executor):

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

# Areas: each sample goes to the library of its innermost frame that belongs to one;
# frames of the standard library (json, re, copy, ...) count for their caller.
LIBRARIES: list[tuple[str, str]] = [
    ("aiosqlite/", "aiosqlite (thread hop per call)"),
    ("asyncpg/", "asyncpg"),
    ("sqlalchemy", "SQLAlchemy (ORM, Core, compile)"),
    ("jinja2/", "card render (Jinja2, cards/render.py)"),
    (".j2", "card render (Jinja2, cards/render.py)"),
    ("cards/", "card render (Jinja2, cards/render.py)"),
    ("msrest/", "botbuilder + msrest (SDK turn, Activity models)"),
    ("core/", "botbuilder + msrest (SDK turn, Activity models)"),
    ("schema/", "botbuilder + msrest (SDK turn, Activity models)"),
    ("connector/", "botbuilder + msrest (SDK turn, Activity models)"),
    ("integration/", "botbuilder + msrest (SDK turn, Activity models)"),
    ("pydantic", "pydantic"),
    ("bot/intake/fhir.py", "FHIR parser (bot/intake/fhir.py)"),
    ("bot/logs.py", "logging"),
    ("logging/", "logging"),
    ("prometheus_client/", "prometheus_client"),
    ("aiohttp/", "aiohttp (HTTP server and client)"),
    ("yarl/", "aiohttp (HTTP server and client)"),
    ("multidict/", "aiohttp (HTTP server and client)"),
    ("bot/", "bot code itself"),
    ("dialogs/", "bot code itself"),
    ("asyncio/", "asyncio event loop"),
    ("selectors.py", "asyncio event loop"),
]


def area_of(frames: tuple[str, ...]) -> str:
    for frame in reversed(frames):
        match = _FRAME.match(frame)
        path = match["file"] if match else frame
        if path.startswith("<sqlalchemy"):
            return "SQLAlchemy (ORM, Core, compile)"
        for prefix, area in LIBRARIES:
            if prefix.endswith("/") and not prefix.startswith("bot/"):
                if path.startswith(prefix) or f"/{prefix}" in path:
                    return area
            elif prefix in path:
                return area
    return "other"


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
        target = loop if "run_app (aiohttp/web.py" in stack_text else other
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
        areas[area_of(frames)] += count
    print(
        "-- areas (by the innermost frame that belongs to a library; stdlib counts for its caller)"
    )
    for area, count in areas.most_common():
        print(f"{100 * count / total:6.1f}%  {area}")
    print("-- inclusive (on the stack)")
    for name, count in inclusive.most_common(top):
        print(f"{100 * count / total:6.1f}%  {name}")
    print("-- self (innermost frame)")
    for name, count in own.most_common(top):
        print(f"{100 * count / total:6.1f}%  {name}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.profile_report", description=__doc__.split("\n\n")[0]
    )
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
