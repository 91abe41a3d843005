"""`POST /api/dxa-answers`: the HTTP face of the intake contract."""

from __future__ import annotations

from typing import Protocol

from aiohttp import web

from bot.api.auth import bearer_sender, unauthorized
from bot.flows import take_in_answer
from bot.intake.fhir import Problem
from bot.state import STATE, AppState

OUTCOMES = {201: "created", 200: "duplicate", 202: "correction"}
ACCEPTED_TYPES = ("application/fhir+json", "application/json")


class ByteStream(Protocol):
    """What the body is read from: aiohttp's `request.content`."""

    async def read(self, n: int = -1) -> bytes: ...


async def read_body(stream: ByteStream, *, limit: int) -> bytes:
    """The whole body, however it is framed (Content-Length or chunked), when it is at
    most `limit` bytes; otherwise its first `limit + 1` bytes. Never more is read."""
    parts: list[bytes] = []
    wanted = limit + 1
    while wanted > 0:
        part = await stream.read(wanted)  # what has arrived, up to `wanted`; b"" at the end
        if not part:
            break
        parts.append(part)
        wanted -= len(part)
    return b"".join(parts)


async def post_dxa_answer(request: web.Request) -> web.Response:
    state = request.app[STATE]
    sender = bearer_sender(request, state.settings.intake_tokens)
    if sender is None:
        return unauthorized()
    limit = state.settings.max_body_bytes
    if request.content_type not in ACCEPTED_TYPES:
        return await _refuse(
            request,
            state,
            sender,
            status=415,
            error="unsupported media type",
            problem=Problem("$", "Content-Type must be application/fhir+json or application/json"),
            size=0,
        )
    length = request.content_length
    if length is not None and length > limit:
        return await _refuse(
            request,
            state,
            sender,
            status=413,
            error="payload too large",
            problem=Problem("$", f"body is over {limit} bytes"),
            size=length,
        )
    result = await take_in_answer.ingest(
        state.factory,
        body=await read_body(request.content, limit=limit),
        content_type=request.content_type,
        sender=sender,
        channel="http",
        secret=state.settings.patient_key_secret,
        now=state.clock(),
        max_body_bytes=limit,
    )
    if result.status in (201, 202):
        state.wake_outbox()
    state.metrics.answers.labels(OUTCOMES.get(result.status, "rejected")).inc()
    return web.json_response(result.body, status=result.status)


async def _refuse(
    request: web.Request,
    state: AppState,
    sender: str,
    *,
    status: int,
    error: str,
    problem: Problem,
    size: int,
) -> web.Response:
    """Refuse before reading the body: kept in the rejected-message log, without a body."""
    result = await take_in_answer.reject(
        state.factory,
        status=status,
        error=error,
        body=None,
        size=size,
        problems=[problem],
        channel="http",
        sender=sender,
        content_type=request.content_type,
    )
    state.metrics.answers.labels("rejected").inc()
    return web.json_response(result.body, status=result.status)
