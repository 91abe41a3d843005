"""Adaptive Cards (schema 1.5, Swedish, for Microsoft Teams) rendered from Jinja2 templates.

`render(name, **ctx)` renders `cards/templates/{name}.json.j2` and returns the parsed card.
Templates are JSON documents in which every `{{ expression }}` is written out as a JSON
literal (strings, numbers, booleans, null, lists and objects), never as raw text: the
`finalize` hook of the environment does it, so text from outside cannot break the JSON.
Templates therefore write `"text": {{ "Senast " ~ task.due }}`, never `"text": "{{ … }}"`.
A template sees its context and `limits` and nothing else: the environment has no Jinja2
globals (`range`, `dict`, …).

Text from outside (names, conclusions, notes, fracture and site texts) must also not turn
into markdown in a TextBlock or a FactSet, and must stay short; templates pass it through
the filters below, in this order: `oneline` (single-line fields), `cut(n)`, `md`.

- `md`: backslash-escapes the markdown characters `` \\ ` * _ ~ [ ] ( ) ! | { } < > ``
  everywhere, and `# + -` and an ordered-list marker (`1.`) at the start of a line, where
  alone they make headings and lists (in the middle of a line they are plain text in
  CommonMark, so names like "Anna-Karin" and dates stay unescaped). Line breaks become
  paragraph breaks (Adaptive Cards need two newlines for a visible break), leading
  whitespace of a line is dropped (no code blocks) and control and bidirectional-override
  characters are removed. Bare links are neutralised with an invisible ZERO WIDTH JOINER
  (U+200D): before the `:` of `scheme://` and of `mailto:`/`tel:`/…, which stops
  link detection on the scheme, and after every `.` that sits between a letter or digit and
  a letter (`evil.\\u200dexample`, `www.\\u200devil`), which stops detection of bare domains
  and e-mail addresses because the top-level domain no longer matches.
- `cut(n)`: at most n characters; a longer text is cut and ends with "…". When a card is
  rendered again with `COMPACT_LIMITS` (see `render`), lengths over `TEXT_FLOOR` shrink.
- `oneline`: all whitespace, line breaks included, collapsed to single spaces; control and
  bidirectional-override characters removed (as in `md`).

Plain-text fields (choice titles, input labels, button titles) are not markdown: they get
`oneline` and `cut`, never `md` (an escape would show as a backslash).

Context of each template (values are already formatted strings unless noted; dates
YYYY-MM-DD, times YYYY-MM-DD HH:MM; the caller applies the identity rules):

Common objects:

- `case`: `{"id": int, "version": int, "ref": "Ärende 12", "state": "awaiting_decision",
  "state_label": "Väntar på beslut"}`
- `patient`: `{"display": str, "protected": bool}`; when `protected` is true the card shows
  "Skyddad identitet" and `case.ref` only, whatever `display` says.
- `answer`: `{"scan_date", "received", "fracture_label": str | None,
  "fracture_text": str | None, "fracture_code": str | None, "conclusion": str | None,
  "performer": str | None}`
- `measurements`: `[{"site_label", "bmd": str | None, "t": str | None, "z": str | None}]`
  (the card shows at most `limits.measurements` rows and "… och N till"; `limits` is set
  by `render` and is not part of a context)
- `suggestion`: `{"text", "category_label": str | None, "use_z": bool,
  "treat_regardless": bool, "treat_text": str | None}`
- `notice`: `str | None`, shown at the top in warning style
- `refresh_user_ids`: `[str]`, Teams user ids (`29:…`) for `refresh.userIds`; left out of
  the card when empty, at most `limits.refresh_users` are used.

Templates:

- `decision_card`: `case, patient, answer, measurements, suggestion, notice,
  refresh_user_ids, physician: {"name", "id"?}, physicians: [{"id", "name"}],
  default_visit_physician: str`. `physician.id` is optional; "Fördela om" lists the
  physicians other than `physician.id`, or other than `default_visit_physician` when no
  id is given. Buttons: `case.decide` with `{"case_id", "version", "decision"}`, inputs
  `visit_physician`, `note` (call_in), `other_note` (other), `physician` (reassign).
  Refresh data `{"case_id"}`.
- `case_summary_card`: `case, patient, answer, measurements, suggestion, notice,
  refresh_user_ids, decision: {"label", "by", "at", "note": str | None,
  "visit_physician": str | None} | None, tasks: [{"title", "assignee", "due", "status_label",
  "done": bool, "done_by": str | None, "done_at": str | None, "overdue": bool}],
  history: [{"at", "text"}]` (oldest first; the latest `limits.history` are shown),
  `refresh_view: str | None, undo: {"until"} | None`. Read-only but for "Ångra beslut"
  (`case.undo` with `{"case_id", "version"}`) when `undo` is given; refresh data
  `{"case_id"}`, with `"view": refresh_view` when given.
- `confirm_decision_card`: `case, patient, answer, measurements, notice, refresh_user_ids,
  decision: {"value", "label"}, reasons: [str]`. Buttons: "Tillbaka" (`card.refresh` with
  `{"case_id"}`) and "Bekräfta: <label>" (`case.decide` with `{"case_id", "version",
  "decision", "confirmed": true}`). Refresh data `{"case_id"}`.
- `triage_card`: `case, patient, answer, suggestion, notice, refresh_user_ids,
  physicians: [{"id", "name"}], assigned: {"to", "by", "at"} | None`. Unassigned: input
  `physician` and `case.assign` with `{"case_id", "version"}`. Refresh data `{"case_id"}`.
- `task_card`: `case, patient, title, decision: {...as above} | None, tasks: [{"id": int,
  "title", "description": str | None, "due", "overdue": bool,
  "status": "open" | "done" | "cancelled", "status_label", "done_by": str | None,
  "done_at": str | None, "can_reopen": bool, "note": str | None, "kind"?: str,
  "letter"?: str | None, "referral_draft"?: str | None,
  "referral"?: {"on", "clinic": str | None} | None}], notice, refresh_user_ids`. Buttons
  `task.complete` / `task.reopen` with `{"task_id"}`; a `book_visit` task asks for
  `booked_date` and `booked_time`, a `physio` task for `referral_on` and `referral_clinic`
  first. `letter` and `referral_draft` are shown to copy; `referral` (a done physio task)
  says when the referral went, and where (the summary card's task rows too). Refresh
  data `{"task_id"}` of the first task (`{"case_id"}` when there is none).
- `notice_card`: `title, text, case: {...} | None, facts: [{"title", "value"}]`. No refresh.
- `help_card`: `commands: [{"command", "description"}]`. No refresh.

Multi-case cards (no top-level `patient`; each row carries its own, protected rows show
"Skyddad identitet"):

- `digest_card`: `unit{name}, day, horizon, counts{overdue, due, awaiting_assignment},
  tasks[{id, case_id, case_ref, patient, title, kind, due, overdue, assignee | None}],
  follow_ups[followup row]` (the unit's overdue follow-ups)
- `reminder_card`: `physician{name}, unit{name}, day, threshold_days,
  cases[{id, ref, patient, received, waiting_days}], follow_ups[followup row]` (the
  physician's overdue follow-ups; `cases` or `follow_ups` may be empty, not both)
- `followup_list_card` ("uppföljning"): `physician{name}, day, follow_ups[followup row]`
  (due today or overdue)

A followup row is `{id (the case's), ref, patient, number, due, days_overdue,
physician | None, unit}` (`bot.messaging.followup_rows.followup_row`); each is shown as a
Container with the id `followup-{case id}`, read back for the audit.
- `visit_card`: `case, patient, visit{booked_at}, treatments[{value, title}],
  refresh_user_ids` (verb `visit.record`)
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any, Final

import jinja2

from bot.core import jsonfast

__all__ = [
    "COMPACT_LIMITS",
    "CONTENT_TYPE",
    "LIMITS",
    "MAX_CARD_BYTES",
    "CardTooLarge",
    "card_attachment",
    "card_size",
    "cut",
    "md",
    "oneline",
    "render",
]

MAX_CARD_BYTES: Final = 40_000
CONTENT_TYPE: Final = "application/vnd.microsoft.card.adaptive"
TEMPLATES_DIR: Final = Path(__file__).parent / "templates"

LIMITS: Final[dict[str, int]] = {
    "measurements": 20,  # rows of the measurement table
    "tasks": 30,  # tasks on the summary card
    "task_card_tasks": 15,  # tasks on a task card (each carries its own buttons)
    "history": 20,  # latest history entries on the summary card
    "physicians": 40,  # choices in a physician list
    "facts": 20,  # facts on a notice card
    "commands": 30,  # commands on the help card
    "refresh_users": 60,  # Teams runs automatic refresh for at most 60 userIds
    "text_percent": 100,  # share of each `cut(n)` length used, for n over TEXT_FLOOR
}
# Used when a card rendered with LIMITS is over MAX_CARD_BYTES: only for hostile or
# absurd input (every text at its cut, full of characters that take 3-4 bytes escaped).
COMPACT_LIMITS: Final[dict[str, int]] = {
    "measurements": 8,
    "tasks": 8,
    "task_card_tasks": 6,
    "history": 5,
    "physicians": 20,
    "facts": 8,
    "commands": 12,
    "refresh_users": 25,
    "text_percent": 30,
}
TEXT_FLOOR: Final = 40  # cut lengths up to this (dates, labels) never shrink

ELLIPSIS: Final = "…"
ZWJ: Final = "\u200d"

_NAME = re.compile(r"[a-z][a-z0-9_]*")
_INLINE_SPECIAL = re.compile(r"([\\`*_~\[\]()!|{}<>])")
_LINE_START_SPECIAL = re.compile(r"^([#+\-])", re.MULTILINE)
_ORDERED_LIST = re.compile(r"^(\d+)([.)])", re.MULTILINE)
_URL_SCHEME = re.compile(r"(?i)([a-z][a-z0-9+\-]*)(?=://)")
_BARE_SCHEME = re.compile(r"(?i)\b(mailto|tel|sms|callto|javascript|data|file)(?=:)")
_DOMAIN_DOT = re.compile(r"(?<=[^\W_])\.(?=[^\W\d_])")
# Text that `md` leaves as it is when it is printable and does not end with a space:
# no character any rule acts on (the inline ones, ":" of links, "." of domains and
# ordered lists), and no "#", "+", "-" or whitespace at the start.
_PLAIN = re.compile(r"[^\\`*_~\[\]()!|{}<>:.#+\-\s][^\\`*_~\[\]()!|{}<>:.]*")
# Control characters (line breaks and tab kept), bidirectional controls, lone surrogates.
_DROPPED = re.compile(
    "[\x00-\x08\x0e-\x1b\x1f\x7f-\x84\x86-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)


class CardTooLarge(ValueError):
    """A rendered card is larger than Teams accepts (`MAX_CARD_BYTES`)."""

    def __init__(self, name: str, size: int) -> None:
        super().__init__(f"card {name!r} is {size} bytes, over the limit of {MAX_CARD_BYTES}")
        self.name = name
        self.size = size


def render(name: str, **ctx: object) -> dict[str, Any]:
    """Render `templates/{name}.json.j2` with `ctx` and return the card as a dict.

    Lists are capped and texts cut by `LIMITS`; a card still over `MAX_CARD_BYTES` is
    rendered again with `COMPACT_LIMITS` (fewer rows, texts over `TEXT_FLOOR` characters
    cut to 30 %), and `CardTooLarge` is raised only when that is over the limit too.
    Raises `jinja2.UndefinedError` when the context lacks a key the template uses,
    `TypeError` when a text filter gets something else than a string, and `ValueError`
    for an unknown template name or output that is not JSON.
    """
    if not _NAME.fullmatch(name):
        raise ValueError(f"not a card template name: {name!r}")
    try:
        template = _environment().get_template(f"{name}.json.j2")
    except jinja2.TemplateNotFound:
        raise ValueError(f"no card template named {name!r}") from None
    if "limits" in ctx:
        raise ValueError("'limits' is reserved in card contexts")
    card, rendered_bytes = _render_json(template, LIMITS, ctx)
    # The rendered text is the card with layout whitespace, so it bounds the compact size
    # from above: only a card near the limit is serialised again to be measured.
    if rendered_bytes + _ATTACHMENT_OVERHEAD <= MAX_CARD_BYTES:
        return card
    size = card_size(card)
    if size > MAX_CARD_BYTES:
        card, _ = _render_json(template, COMPACT_LIMITS, ctx)
        size = card_size(card)
        if size > MAX_CARD_BYTES:
            raise CardTooLarge(name, size)
    return card


_ATTACHMENT_OVERHEAD = len(
    json.dumps({"contentType": CONTENT_TYPE, "content": {}}, separators=(",", ":"))
)


def _render_json(
    template: jinja2.Template, limits: dict[str, int], ctx: dict[str, object]
) -> tuple[dict[str, Any], int]:
    # `Template.render` without its copy of the context: a card sees its context and
    # `limits`, nothing else (the environment has no globals).
    environment = template.environment
    try:
        text = environment.concat(
            template.root_render_func(template.new_context({**ctx, "limits": limits}, shared=True))
        )
    except Exception:
        environment.handle_exception()
    try:
        card = jsonfast.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"card template {template.name!r} produced invalid JSON: {exc}") from exc
    if not isinstance(card, dict):
        raise ValueError(f"card template {template.name!r} did not produce a JSON object")
    return card, len(text.encode("utf-8"))


def card_attachment(card: dict[str, Any]) -> dict[str, Any]:
    """The Bot Framework attachment carrying `card`."""
    return {"contentType": CONTENT_TYPE, "content": card}


def card_size(card: dict[str, Any]) -> int:
    """Bytes of the compact UTF-8 JSON of the attachment carrying `card`."""
    text = json.dumps(card_attachment(card), ensure_ascii=False, separators=(",", ":"))
    return len(text.encode("utf-8"))


def oneline(value: object) -> str:
    """`value` on one line: whitespace runs made one space, control characters removed."""
    text = _text(value)
    # Printable text has no character of `_DROPPED` and no whitespace but the space
    # (`str.isprintable` is false for every control, format, separator and surrogate
    # character but " "), so it is already one line unless its spaces need collapsing.
    if text.isprintable() and "  " not in text and text[:1] != " " and text[-1:] != " ":
        return text
    return " ".join(_DROPPED.sub("", text).split())


def cut(value: object, n: int) -> str:
    """`value` cut to at most `n` characters, ending with "…" when it was longer."""
    text = _text(value)
    if n < 1:
        raise ValueError("cut length must be at least 1")
    if len(text) <= n:
        return text
    return text[: n - 1].rstrip() + ELLIPSIS


def md(value: object) -> str:
    """`value` made inert as Adaptive Card markdown (see the module docstring)."""
    text = _text(value)
    if _PLAIN.fullmatch(text) and text.isprintable() and text[-1] != " ":
        return text  # nothing below would change it: most names, labels and scores
    return _escape_markdown(text)


def _escape_markdown(text: str) -> str:
    if text.isprintable():
        # No line break and nothing of `_DROPPED` (see `oneline`): one line, stripped.
        text = text.strip()
        multiline = False
    else:
        lines = [line.strip() for line in _DROPPED.sub("", text).splitlines()]
        text = "\n\n".join(line for line in lines if line)
        multiline = "\n" in text
    # Each rule runs only when the text has the character its pattern needs, the rules
    # anchored at a line start only at the start of the text when it has one line.
    text = _INLINE_SPECIAL.sub(r"\\\1", text)
    if multiline or text[:1] in ("#", "+", "-"):
        text = _LINE_START_SPECIAL.sub(r"\\\1", text)
    if multiline or text[:1].isdecimal():
        text = _ORDERED_LIST.sub(r"\1\\\2", text)
    if ":" in text:
        if "://" in text:
            text = _URL_SCHEME.sub(_add_zwj, text)
        text = _BARE_SCHEME.sub(_add_zwj, text)
    if "." in text:
        text = _DOMAIN_DOT.sub("." + ZWJ, text)
    return text


def _add_zwj(match: re.Match[str]) -> str:
    return match.group(1) + ZWJ


def _text(value: object) -> str:
    if type(value) is str:
        return value
    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()
    if not isinstance(value, str):
        raise TypeError(f"expected text, got {type(value).__name__}")
    return value


def _json_literal(value: object) -> str:
    """The `finalize` hook: every `{{ … }}` is written as one JSON value."""
    if type(value) is str:
        return _json_string(value)
    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()
    return _JSON_ENCODER.encode(value)


# What `json.dumps(value, ensure_ascii=False, allow_nan=False)` does, without building an
# encoder for every value: `encode` writes a str with `encode_basestring` (the C one).
_JSON_ENCODER: Final = json.JSONEncoder(ensure_ascii=False, allow_nan=False)
_json_string: Final = json.encoder.encode_basestring


class _CardEnvironment(jinja2.Environment):
    """Looks `a.b` up in a plain dict (every context object) as a key at once.

    Jinja2 tries the attribute first and the key on its `AttributeError`; a plain dict has
    exactly the attributes of `dict`, so for any other name the result is the same.
    """

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)


_DICT_ATTRIBUTES: Final = frozenset(dir(dict))


@cache
def _environment() -> jinja2.Environment:
    env = _CardEnvironment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        undefined=jinja2.StrictUndefined,
        # Not HTML: the output is JSON and `finalize` writes every value as a JSON literal.
        autoescape=False,
        finalize=_json_literal,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    # No Jinja2 globals (range, dict, cycler, ...): no card template uses one, and each
    # context Jinja2 makes (one per render and per include) would copy their names.
    env.globals.clear()
    env.filters["md"] = md
    env.filters["cut"] = _cut_filter
    env.filters["oneline"] = oneline
    return env


@jinja2.pass_context
def _cut_filter(context: jinja2.runtime.Context, value: object, n: int) -> str:
    """`cut` with lengths over TEXT_FLOOR scaled by the render's `limits.text_percent`."""
    if n > TEXT_FLOOR:
        percent = int(context["limits"]["text_percent"])
        n = max(TEXT_FLOOR, n * percent // 100)
    return cut(value, n)
