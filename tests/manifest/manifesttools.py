"""Helpers for the app package tests: the official Teams schemas, offline, and a PNG reader."""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterator
from functools import cache
from operator import methodcaller
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator, Draft7Validator, validators
from jsonschema.protocols import Validator
from referencing import Registry

from bot.manifest import SCHEMA_VERSION
from tests.cards.cardtools import walk

SCHEMAS = Path(__file__).resolve().parents[1] / "fixtures" / "teams-manifest-schema"
SCHEMA_DIR = SCHEMAS / f"v{SCHEMA_VERSION}"


def official_validator(schema: dict[str, Any]) -> Validator:
    """A validator for `schema` that checks what the Teams tooling checks, and never fetches.

    The validator class comes from the schema's `$schema`. The Teams schemas declare
    draft-04 but use `const` and `if`/`then` (draft-06/07) and keywords beside `$ref`
    (`"maxLength": 30, "$ref": "#/definitions/nonEmptyString"`). The Teams tooling
    (`@microsoft/app-manifest`) validates with Ajv's draft-04 class, which applies all
    of these; `jsonschema`'s plain Draft4Validator ignores them (a manifestVersion "1.29"
    or a 40-character English short name would pass). So draft-04 is extended with
    those keywords and with keywords beside `$ref` applied.

    References resolve only inside the schema (and the bundled meta-schemas): the registry
    has no retrieval, so a remote `$ref` raises `referencing.exceptions.Unresolvable`
    instead of going to the network. `remote_refs` lists them up front.
    """
    base = validators.validator_for(schema, default=None)
    if base is not Draft4Validator:
        raise AssertionError(
            f"the Teams schema declares {schema.get('$schema')!r}; this helper knows "
            "draft-04 (with Ajv's extra keywords) only: check the new schema and adapt it"
        )
    # Structure only: the patterns are ECMAScript (Ajv compiles them with the `u` flag, and
    # `\\p{L}` in an Office extension pattern is no Python regex), so no `regex` format check.
    base.check_schema(schema, format_checker=None)
    cls = validators.create(
        meta_schema=base.META_SCHEMA,
        validators={
            **base.VALIDATORS,
            "const": Draft7Validator.VALIDATORS["const"],
            "if": Draft7Validator.VALIDATORS["if"],
        },
        type_checker=base.TYPE_CHECKER,
        format_checker=base.FORMAT_CHECKER,
        id_of=base.ID_OF,
        applicable_validators=methodcaller("items"),  # keywords beside $ref count
    )
    return cls(schema, registry=Registry(), format_checker=base.FORMAT_CHECKER)


def remote_refs(node: Any) -> Iterator[str]:
    """Every `$ref` in `node` that does not point inside the same document."""
    for obj in walk(node):
        ref = obj.get("$ref")
        if isinstance(ref, str) and not ref.startswith("#"):
            yield ref


@cache
def schema(name: str) -> dict[str, Any]:
    """A kept official schema (`MicrosoftTeams.schema.json`, `…Localization.schema.json`)."""
    data: dict[str, Any] = json.loads((SCHEMA_DIR / name).read_text(encoding="utf-8"))
    remote = sorted(set(remote_refs(data)))
    assert not remote, f"{name} references other documents; keep them beside it: {remote}"
    return data


def errors(name: str, document: dict[str, Any]) -> list[str]:
    """Schema errors of `document` against the kept schema `name`, as 'path: message'."""
    validator = official_validator(schema(name))
    return sorted(
        f"/{'/'.join(str(p) for p in error.absolute_path)}: {error.message[:200]}"
        for error in validator.iter_errors(document)
    )


def manifest_errors(document: dict[str, Any]) -> list[str]:
    return errors("MicrosoftTeams.schema.json", document)


def localization_errors(document: dict[str, Any]) -> list[str]:
    return errors("MicrosoftTeams.Localization.schema.json", document)


def read_png(data: bytes) -> tuple[int, int, int, list[bytes]]:
    """(width, height, colour type, rows of raw pixels) of a non-interlaced 8-bit PNG.

    Checks the signature and every chunk's CRC; handles the five scanline filters.
    """
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG signature"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        length = struct.unpack(">I", data[pos : pos + 4])[0]
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, f"bad CRC in {kind!r}"
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and interlace == 0
    channels = {2: 3, 6: 4}[colour]
    raw = zlib.decompress(idat)
    stride = width * channels
    rows, previous = [], bytes(stride)
    for y in range(height):
        line = raw[y * (stride + 1) : (y + 1) * (stride + 1)]
        scan_filter, row = line[0], bytearray(line[1:])
        for x in range(stride):
            left = row[x - channels] if x >= channels else 0
            up, corner = previous[x], previous[x - channels] if x >= channels else 0
            if scan_filter == 1:
                row[x] = (row[x] + left) & 255
            elif scan_filter == 2:
                row[x] = (row[x] + up) & 255
            elif scan_filter == 3:
                row[x] = (row[x] + (left + up) // 2) & 255
            elif scan_filter == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                pred = left if pa <= pb and pa <= pc else (up if pb <= pc else corner)
                row[x] = (row[x] + pred) & 255
        rows.append(bytes(row))
        previous = bytes(row)
    return width, height, colour, rows


def pixels(rows: list[bytes], channels: int) -> list[bytes]:
    return [row[i : i + channels] for row in rows for i in range(0, len(row), channels)]
