"""The harness's fake connector, plus the Bot Connector route that replies in a turn use.

A reply to a message is `POST /v3/conversations/{id}/activities/{replyToId}` (the SDK's
`reply_to_activity`); the harness connector serves only the proactive
`POST …/activities` and `PUT …/activities/{id}`, so a turn's reply failed with 405 and
the turn with 500. Until `tests/harness.py` serves the route itself, this swaps in a
connector that records replies like any other send (harmless once it does: the first
matching route answers).
"""

from __future__ import annotations

import pytest
from aiohttp import web

from tests import harness


class ReplyingConnector(harness.FakeConnector):
    def app(self) -> web.Application:
        app = super().app()
        # `reply_to`, not `activity`: a reply gets an activity id of its own, as in Teams
        app.router.add_post("/v3/conversations/{conversation}/activities/{reply_to}", self._handle)
        return app


@pytest.fixture(autouse=True)
def _replies_reach_the_connector(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(harness, "FakeConnector", ReplyingConnector)
