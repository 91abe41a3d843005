"""Bearer tokens for the intake and the case API, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac

from aiohttp import web


def bearer_sender(request: web.Request, tokens: frozenset[str]) -> str | None:
    """The sender's name (a short digest of its token) when the bearer token is valid."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    token = token.strip()
    matched = None
    for candidate in tokens:
        # compare against every token, so timing says nothing about which one matched
        if hmac.compare_digest(candidate.encode(), token.encode()):
            matched = candidate
    if matched is None:
        return None
    return "token-" + hashlib.sha256(matched.encode()).hexdigest()[:8]


def unauthorized() -> web.Response:
    return web.json_response(
        {
            "error": "unauthorized",
            "problems": [{"path": "$", "message": "missing or wrong bearer token"}],
        },
        status=401,
        headers={"WWW-Authenticate": "Bearer"},
    )
