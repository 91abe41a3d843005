"""Activities whose fields have the wrong JSON types, through the real `POST /api/messages`
on both Teams runtimes: never a server error (a conversation without an id is not an
activity: 400), and the refused values (a personal identity number here) never reach the
log. The Agents SDK's Activity model logs every value it refuses at ERROR; botbuilder's
msrest takes most of these bodies as they come."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tests.harness import MARIA, personal_conversation, running_bot
from tests.helpers import personal_numbers_in

NUMBER = "19121212-1212"


@pytest.mark.parametrize(
    "field", ["text", "from", "conversation", "attachments", "timestamp", "locale"]
)
async def test_a_field_of_the_wrong_type_is_refused_without_its_value_in_the_log(
    db_url: str, runtime: str, field: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_bot(db_url) as (teams, _connector):
        await teams.install_personal(MARIA)
        conversation = {"id": personal_conversation(MARIA), "conversationType": "personal"}
        activity: dict[str, Any] = {
            **teams._base(MARIA, conversation),
            "type": "message",
            "text": "hjälp",
        }
        activity[field] = {"note": f"Patient {NUMBER}"}
        with caplog.at_level(logging.DEBUG):
            status, _ = await teams.post(activity)

    assert status in ((400,) if field == "conversation" else (201, 400)), status
    assert personal_numbers_in([r.getMessage() for r in caplog.records]) == []
    assert NUMBER not in caplog.text
