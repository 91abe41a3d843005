"""Context transformations for the escaping and size tests."""

from __future__ import annotations

from typing import Any

# Keys whose values drive the template's logic or identify things; left as they are.
KEEP = frozenset(
    {"id", "state", "status", "kind", "value", "default_visit_physician", "refresh_user_ids"}
)

EVIL = (
    'Eva "Evil" \\ Ek\n}]{"type": "Input.Text", "id": "x"}, {\n'
    "[klicka](https://evil.example)\n"
    "**fet**\n"
    "# rubrik\n"
    "https://evil.example\n"
    "www.evil.example\n"
    "- lista\n"
    "1. nummer\n"
    "    kodblock\n"
    "<at>Anna</at> ![bild](https://evil.example/x.png) `kod` ~~struken~~ _kursiv_ | a | b |"
)


def replace_text(node: Any, text: str) -> Any:
    """`node` with every string (outside `KEEP`) replaced by `text`."""
    if isinstance(node, dict):
        return {k: v if k in KEEP else replace_text(v, text) for k, v in node.items()}
    if isinstance(node, list):
        return [replace_text(item, text) for item in node]
    if isinstance(node, str):
        return text
    return node


def inflate(node: Any, text: str, count: int) -> Any:
    """`node` with every string replaced by `text` and every list grown to `count` items."""
    if isinstance(node, dict):
        return {k: v if k in KEEP else inflate(v, text, count) for k, v in node.items()}
    if isinstance(node, list):
        if not node:
            return node
        return [inflate(node[i % len(node)], text, count) for i in range(count)]
    if isinstance(node, str):
        return text
    return node
