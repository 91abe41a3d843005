"""The baseline: a stock botbuilder 4.17.1 bot that answers every invoke with a static card.

Usage, from the repository root: ``python -m bench.echo_bot --port P`` (binds 127.0.0.1;
no authentication, as the SDK allows with no app id). Nothing here is patched: the SDK's
own ``CloudAdapter`` from ``botbuilder.integration.aiohttp`` with
``ConfigurationBotFrameworkAuthentication``, the aiohttp wiring of the Bot Framework
samples, and an ``ActivityHandler``.

Which stock path answers an ``adaptiveCard/action`` invoke with HTTP 200 and a card
(tried on 4.17.1, see bench/README.md):

- ``on_invoke_activity`` returning ``InvokeResponse(status=200, body={...dict...})``:
  HTTP 500. ``CloudAdapter.process`` (cloud_adapter.py:108) passes the body to msrest's
  ``serializer_helper``, which calls ``is_xml_model()`` on the dict (AttributeError).
- ``on_adaptive_card_invoke`` returning ``AdaptiveCardInvokeResponse``: HTTP 500, the same
  way: ``ActivityHandler._create_invoke_response`` (activity_handler.py:541) has already
  turned the model into a dict before the adapter serialises it again.
- ``on_invoke_activity`` returning ``InvokeResponse(status=200,
  body=AdaptiveCardInvokeResponse(...))``, the body left as an msrest model: HTTP 200
  with the card. This is the path used here; it needs no workaround.
"""

from __future__ import annotations

import argparse
from http import HTTPStatus

from aiohttp import web
from botbuilder.core import ActivityHandler, InvokeResponse, TurnContext
from botbuilder.core.integration import aiohttp_error_middleware
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication
from botbuilder.schema import AdaptiveCardInvokeResponse

CARD = {
    "type": "AdaptiveCard",
    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
    "version": "1.5",
    "body": [
        {"type": "TextBlock", "text": "Beslut registrerat", "weight": "Bolder", "size": "Medium"},
        {"type": "TextBlock", "text": "Tack! Ärendet är uppdaterat.", "wrap": True},
    ],
}


class DefaultConfig:
    """The configuration object of the Bot Framework samples (config.py), no app id."""

    PORT = 3978
    APP_ID = ""
    APP_PASSWORD = ""
    APP_TYPE = "MultiTenant"
    APP_TENANTID = ""


class EchoBot(ActivityHandler):  # type: ignore[misc]
    """Answers every invoke with the same static card."""

    async def on_invoke_activity(self, turn_context: TurnContext) -> InvokeResponse:
        return InvokeResponse(
            status=int(HTTPStatus.OK),
            body=AdaptiveCardInvokeResponse(
                status_code=200, type="application/vnd.microsoft.card.adaptive", value=CARD
            ),
        )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.echo_bot", description=__doc__)
    parser.add_argument("--port", type=int, default=DefaultConfig.PORT)
    args = parser.parse_args()
    adapter = CloudAdapter(ConfigurationBotFrameworkAuthentication(DefaultConfig()))
    bot = EchoBot()

    async def messages(request: web.Request) -> web.Response:
        response: web.Response = await adapter.process(request, bot)
        return response

    app = web.Application(middlewares=[aiohttp_error_middleware])
    app.router.add_post("/api/messages", messages)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()
