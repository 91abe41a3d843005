"""What the Teams handlers of both runtimes say in the chat themselves, and the help list
the text commands show (their names are the manifest's command menu)."""

from __future__ import annotations

__all__ = ["HELP_COMMANDS", "PERSONAL_CHAT_ONLY"]

HELP_COMMANDS = [
    {"command": "hjälp", "description": "Visar den här hjälpen."},
    {
        "command": "mina ärenden",
        "description": (
            "Dina DXA-svar som väntar på beslut, och dina besök vars checklista du ännu inte "
            "har fyllt i."
        ),
    },
    {
        "command": "uppgifter",
        "description": (
            "Öppna uppgifter du kan bocka av (enhetens MVA-uppgifter och dina egna), "
            "tidigast förfallna först; för MVA först enhetens svar som väntar på fördelning."
        ),
    },
    {
        "command": "uppföljning",
        "description": (
            "Dina uppföljningar efter läkarbesök som är planerade till i dag eller försenade, "
            "tidigast planerade först."
        ),
    },
    {"command": "ärende <id>", "description": "Ett ärende med dess historik."},
]
PERSONAL_CHAT_ONLY = "Skriv kommandona i den personliga chatten med Frakturkedjan."
