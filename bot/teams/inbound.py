"""What both runtimes' `POST /api/messages` do before any SDK sees the request: read the
body as a JSON activity (400/413, never 500), answer errors as small JSON bodies, and
read the tenant of `channelData` for the `ALLOWED_TENANTS` gate; and log a failed turn
without exception messages. Imports no Teams SDK.
"""

from __future__ import annotations

import traceback
from http import HTTPStatus
from typing import Any

from aiohttp import web

from bot.core import jsonfast

__all__ = [
    "error_response",
    "read_activity_body",
    "tenant_of_channel_data",
    "traceback_without_messages",
]


def error_response(status: HTTPStatus, code: str) -> web.Response:
    """A refusal: `status` with the JSON body `{"error": code}`."""
    return web.json_response({"error": code}, status=int(status))


async def read_activity_body(request: web.Request) -> dict[str, Any] | web.Response:
    """The request body as a JSON object with a non-empty string `type`, or the answer to
    give instead: 413 for a body over the application's `client_max_size`, 400 for one
    that is not JSON (whatever its Content-Type) or not such an object.

    botbuilder's adapter reads `request.headers["Content-Type"]` (KeyError → 500 when it
    is missing) and lets JSON and msrest errors escape as 500; the Agents SDK's answers
    400 for bad JSON but 500 for JSON that is not an activity (pydantic's
    ValidationError).
    """
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return error_response(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "too_large")
    try:
        body = jsonfast.loads(raw)
    except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError, nesting
        return error_response(HTTPStatus.BAD_REQUEST, "body_not_json")
    if not isinstance(body, dict) or not isinstance(body.get("type"), str) or not body["type"]:
        return error_response(HTTPStatus.BAD_REQUEST, "body_not_activity")
    return body


def tenant_of_channel_data(channel_data: Any) -> str | None:
    """`channelData.tenant.id` of an activity (raw JSON or an SDK's field), else None."""
    if not isinstance(channel_data, dict):
        return None
    tenant = channel_data.get("tenant")
    if not isinstance(tenant, dict):
        return None
    tenant_id = tenant.get("id")
    return tenant_id if isinstance(tenant_id, str) else None


def traceback_without_messages(exc: BaseException) -> str:
    """Exception types and code locations, without exception messages (which may carry
    patient data or user text)."""
    parts: list[str] = []
    current: BaseException | None = exc
    while current is not None and len(parts) < 5:
        frames = "".join(traceback.format_tb(current.__traceback__))
        parts.append(f"{type(current).__qualname__}\n{frames}")
        current = current.__cause__ or current.__context__
    return "caused by ".join(parts)
