"""`GET /openapi.json`: the OpenAPI 3.1 document of the HTTP API, as shipped with the package.

The document is the static file `bot/api/openapi.json`; it is read once, on first use, and
served byte for byte. `tests/api/test_openapi.py` holds it to the app's routes and to the
intake limits of `bot.intake.limits`.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from aiohttp import web

__all__ = ["DOCUMENT_PATH", "document_bytes", "openapi_document"]

DOCUMENT_PATH = Path(__file__).with_name("openapi.json")


@cache
def document_bytes() -> bytes:
    """The document's bytes (read from the package once per process)."""
    return DOCUMENT_PATH.read_bytes()


async def openapi_document(_request: web.Request) -> web.Response:
    """The OpenAPI document as `application/json`; no authentication."""
    return web.Response(body=document_bytes(), content_type="application/json", charset="utf-8")
