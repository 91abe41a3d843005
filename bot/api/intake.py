"""`POST /api/dxa-answers`: the HTTP face of the intake contract."""

from __future__ import annotations

from aiohttp import web

from bot.api.auth import bearer_sender, unauthorized
from bot.intake import service as intake
from bot.intake.fhir import Problem
from bot.state import STATE

OUTCOMES = {201: "created", 200: "duplicate", 202: "correction"}
ACCEPTED_TYPES = ("application/fhir+json", "application/json")


async def post_dxa_answer(request: web.Request) -> web.Response:
    state = request.app[STATE]
    sender = bearer_sender(request, state.settings.intake_tokens)
    if sender is None:
        return unauthorized()
    common = {"channel": "http", "sender": sender, "content_type": request.content_type}
    if request.content_type not in ACCEPTED_TYPES:
        result = await intake.reject(
            state.factory,
            status=415,
            error="unsupported media type",
            body=None,
            size=0,
            problems=[
                Problem("$", "Content-Type must be application/fhir+json or application/json")
            ],
            **common,
        )
        state.metrics.answers.labels("rejected").inc()
        return web.json_response(result.body, status=result.status)
    length = request.content_length
    if length is not None and length > intake.MAX_BODY_BYTES:
        result = await intake.reject(
            state.factory,
            status=413,
            error="payload too large",
            body=None,
            size=length,
            problems=[Problem("$", f"body is over {intake.MAX_BODY_BYTES} bytes")],
            **common,
        )
        state.metrics.answers.labels("rejected").inc()
        return web.json_response(result.body, status=result.status)
    body = await request.content.read(intake.MAX_BODY_BYTES + 1)
    result = await intake.ingest(
        state.factory,
        body=body,
        content_type=request.content_type,
        sender=sender,
        channel="http",
        secret=state.settings.patient_key_secret,
        now=state.clock(),
    )
    if result.status in (201, 202):
        state.wake_outbox()
    state.metrics.answers.labels(OUTCOMES.get(result.status, "rejected")).inc()
    return web.json_response(result.body, status=result.status)
