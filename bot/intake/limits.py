"""The intake contract's limits (SPEC section 3), checked before the database sees a value.

These are part of the contract: the OpenAPI document (`bot/api/openapi.json`) and the
README state the same numbers, and a test holds them together. A bundle over any of them
gets 413 (the body) or 422 (a field, with its JSON path), never a 5xx.
"""

from __future__ import annotations

MAX_BODY_BYTES = 5 * 1024 * 1024
"""The largest body read; one byte more is 413, whether framed by Content-Length or chunked."""

MAX_DEPTH = 32
"""The deepest nesting of JSON arrays and objects in a bundle (a FHIR DXA bundle needs ~10)."""

IDENTIFIER_SYSTEM_MAX = 200
"""Characters of an identifier `system` (the answer's, the referral's)."""

IDENTIFIER_VALUE_MAX = 200
"""Characters of an identifier `value` (the answer's, the referral's)."""

CODE_MAX = 16
"""Characters of a code that is stored: the index fracture's ICD-10 code."""

NAME_MAX = 300
"""Characters of a person's or an organisation's display name."""

TEXT_MAX = 500
"""Characters of a short text that is stored: the index fracture's text (its reasonCode
text or coding display, or the note naming it) and an Observation's bodySite text."""

CONCLUSION_MAX = 20_000
"""Characters of the DXA physician's conclusion."""
