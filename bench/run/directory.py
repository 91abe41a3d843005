"""The benchmark's directory: 4 units, each with 4 physicians and 1 MVA."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Person:
    name: str
    aad: str
    user_id: str
    hsa: str | None
    unit: int


@dataclass(frozen=True)
class Unit:
    hsa: str
    name: str
    channel: str


UNITS = [
    Unit(f"SE2321000156-BNCH{u}", f"Benchvalla vårdcentral {u}", f"19:bench-mva-{u}@thread.tacv2")
    for u in range(1, 5)
]
PHYSICIANS = [
    Person(
        name=f"Läkare {u}-{p}",
        aad=f"00000000-0000-0000-0b0{u}-00000000000{p}",
        user_id=f"29:bench-u{u}-p{p}",
        hsa=f"SE2321000156-B{u}L{p}",
        unit=u,
    )
    for u in range(1, 5)
    for p in range(1, 5)
]
SECRETARIES = [
    Person(
        name=f"Sekreterare {u}",
        aad=f"00000000-0000-0000-0b0{u}-000000000009",
        user_id=f"29:bench-u{u}-mva",
        hsa=None,
        unit=u,
    )
    for u in range(1, 5)
]


def directory_yaml() -> str:
    """The benchmark's directory: 4 units, each with 4 physicians and 1 MVA."""
    lines = ["units:"]
    for unit in UNITS:
        lines += [
            f"  - hsa_id: {unit.hsa}",
            f"    name: {unit.name}",
            f'    mva_channel: "{unit.channel}"',
            "    settings: {card_identity: full, call_in_months: 2, letter_tasks_to: physician}",
        ]
    lines.append("staff:")
    for person in [*PHYSICIANS, *SECRETARIES]:
        role = "physician" if person.hsa else "mva"
        lines += [f"  - name: {person.name}", f"    aad_object_id: {person.aad}"]
        if person.hsa:
            lines.append(f"    hsa_id: {person.hsa}")
        lines.append(f"    units: {{{UNITS[person.unit - 1].hsa}: [{role}]}}")
    return "\n".join(lines) + "\n"
