"""The Telegram emulator's transport, identities, update delivery and control API, over HTTP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from emulators.telegram import FloodLimits, TelegramEmulator

TOKEN = "1234567:" + "a" * 35
OTHER_TOKEN = "7654321:" + "b" * 35
ANN = {"id": 1001, "first_name": "Ann", "username": "ann_user"}
BOB = {"id": 1002, "first_name": "Bob"}


@pytest.fixture
async def emulator(
    telegram_emulator_factory: Callable[..., Awaitable[TelegramEmulator]],
) -> TelegramEmulator:
    """An emulator without flood control; the suite checks every call against the Bot API spec."""
    return await telegram_emulator_factory(flood_limits=FloodLimits(enabled=False))


@pytest.fixture
async def client(emulator: TelegramEmulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=emulator.root_url, timeout=10) as http:
        yield http


async def call(
    client: httpx.AsyncClient, method: str, token: str = TOKEN, **params: Any
) -> httpx.Response:
    return await client.post(f"/bot{token}/{method}", json=params)


async def user_says(
    client: httpx.AsyncClient, text: str, user: dict[str, Any] = ANN, **extra: Any
) -> dict[str, Any]:
    extra.setdefault("bot", TOKEN)
    response = await client.post("/_emulator/updates", json={"from": user, "text": text, **extra})
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_get_me_describes_the_bot_whose_id_starts_the_token(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(f"/bot{TOKEN}/getMe")

    assert response.status_code == 200
    me = response.json()["result"]
    assert response.json()["ok"] is True
    assert me["id"] == 1234567
    assert me["is_bot"] is True
    assert me["first_name"] == "Bot 1234567"
    assert me["username"] == "bot1234567_bot"
    assert me["can_join_groups"] is True


@pytest.mark.parametrize(
    "token",
    ["abc", "123:short", "123:" + "!" * 35, ":" + "a" * 35, "12a:" + "a" * 35, ""],
)
async def test_malformed_tokens_are_unauthorized(client: httpx.AsyncClient, token: str) -> None:
    response = await client.post(f"/bot{token}/getMe")

    assert response.status_code == 401
    assert response.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}


async def test_a_known_bot_id_with_another_secret_is_unauthorized(
    client: httpx.AsyncClient,
) -> None:
    assert (await call(client, "getMe")).status_code == 200

    response = await call(client, "getMe", token="1234567:" + "z" * 35)

    assert response.status_code == 401


@pytest.mark.sends_invalid_requests
async def test_an_unknown_method_answers_not_found(client: httpx.AsyncClient) -> None:
    response = await call(client, "sendTelepathy")

    assert response.status_code == 404
    assert response.json() == {"ok": False, "error_code": 404, "description": "Not Found"}


async def test_method_names_are_case_insensitive(client: httpx.AsyncClient) -> None:
    response = await call(client, "GETME")

    assert response.json()["result"]["id"] == 1234567


async def test_parameters_arrive_as_json_form_multipart_or_query(
    client: httpx.AsyncClient,
) -> None:
    await call(client, "getMe")
    await user_says(client, "hi")
    url = f"/bot{TOKEN}/sendMessage"

    by_json = await client.post(url, json={"chat_id": 1001, "text": "json"})
    by_form = await client.post(url, data={"chat_id": "1001", "text": "form"})
    by_multipart = await client.post(
        url, files={"chat_id": (None, "1001"), "text": (None, "multipart")}
    )
    by_query = await client.get(url, params={"chat_id": "1001", "text": "query"})

    texts = [r.json()["result"]["text"] for r in (by_json, by_form, by_multipart, by_query)]
    assert texts == ["json", "form", "multipart", "query"]
    records = (await client.get("/_emulator/requests", params={"method": "sendMessage"})).json()
    assert [r["encoding"] for r in records] == ["json", "form", "multipart", "query"]
    assert records[0]["params"] == {"chat_id": 1001, "text": "json"}
    assert records[1]["params"] == {"chat_id": "1001", "text": "form"}
    assert records[2]["params"] == {"chat_id": "1001", "text": "multipart"}
    assert all(r["bot_id"] == 1234567 and r["status"] == 200 for r in records)


async def test_form_values_are_coerced_the_way_python_telegram_bot_sends_them(
    client: httpx.AsyncClient,
) -> None:
    await user_says(client, "hi")
    keyboard = {"inline_keyboard": [[{"text": "Yes", "callback_data": "yes"}]]}

    response = await client.post(
        f"/bot{TOKEN}/sendMessage",
        data={
            "chat_id": "1001",
            "text": "Pick one",
            "disable_notification": "true",
            "protect_content": "True",
            "reply_markup": json.dumps(keyboard),
            "entities": json.dumps([{"type": "bold", "offset": 0, "length": 4}]),
        },
    )

    message = response.json()["result"]
    assert message["reply_markup"] == keyboard
    assert message["entities"] == [{"type": "bold", "offset": 0, "length": 4}]
    assert message["has_protected_content"] is True


@pytest.mark.sends_invalid_requests
@pytest.mark.parametrize(
    ("params", "description"),
    [
        ({"limit": "many"}, 'Bad Request: field "limit" must be of type Integer'),
        ({"timeout": [1]}, 'Bad Request: field "timeout" must be of type Integer'),
        ({"allowed_updates": "{not json"}, "Bad Request: can't parse allowed_updates JSON object"),
    ],
)
async def test_parameters_of_the_wrong_type_are_bad_requests(
    client: httpx.AsyncClient, params: dict[str, Any], description: str
) -> None:
    response = await call(client, "getUpdates", **params)

    assert response.status_code == 400
    assert response.json()["description"] == description


async def test_every_token_is_a_bot_with_its_own_queue_chats_and_message_ids(
    client: httpx.AsyncClient,
) -> None:
    await call(client, "getMe")
    await call(client, "getMe", token=OTHER_TOKEN)
    to_first = await user_says(client, "for the first bot")
    to_second = await user_says(client, "for the second bot", bot=OTHER_TOKEN)
    await user_says(client, "another for the second", user=BOB, bot=OTHER_TOKEN)

    first_updates = (await call(client, "getUpdates")).json()["result"]
    second_updates = (await call(client, "getUpdates", token=OTHER_TOKEN)).json()["result"]
    refused = await call(client, "sendMessage", token=TOKEN, chat_id=1002, text="hi Bob")

    assert [u["message"]["text"] for u in first_updates] == ["for the first bot"]
    assert [u["message"]["text"] for u in second_updates] == [
        "for the second bot",
        "another for the second",
    ]
    assert to_first["message_id"] == to_second["message_id"] == 1
    assert to_first["update_id"] == to_second["update_id"] == 1
    assert refused.json()["description"] == "Bad Request: chat not found"
    second_me = (await call(client, "getMe", token=OTHER_TOKEN)).json()["result"]
    assert second_me["id"] == 7654321


async def test_control_api_needs_a_bot_until_one_has_called(client: httpx.AsyncClient) -> None:
    before = await client.post("/_emulator/updates", json={"from": ANN, "text": "hi"})
    await call(client, "getMe", token=OTHER_TOKEN)
    await call(client, "getMe")
    after = (await client.post("/_emulator/updates", json={"from": ANN, "text": "hi"})).json()

    assert before.status_code == 409
    assert "no bot has called" in before.json()["error"]
    assert after["bot_id"] == 7654321


async def test_a_named_bot_can_receive_messages_before_it_ever_polls(
    client: httpx.AsyncClient,
) -> None:
    await user_says(client, "sent while the bot was down", bot=TOKEN)

    updates = (await call(client, "getUpdates")).json()["result"]

    assert updates[0]["message"]["text"] == "sent while the bot was down"


async def test_a_users_command_becomes_a_message_update_with_a_bot_command_entity(
    client: httpx.AsyncClient,
) -> None:
    await call(client, "getMe")
    injected = await user_says(client, "/pair ABC")

    update = (await call(client, "getUpdates")).json()["result"][0]

    assert update["update_id"] == injected["update_id"]
    message = update["message"]
    assert message["message_id"] == injected["message_id"]
    assert message["text"] == "/pair ABC"
    assert message["entities"] == [{"type": "bot_command", "offset": 0, "length": 5}]
    assert message["from"] == {
        "id": 1001,
        "is_bot": False,
        "first_name": "Ann",
        "username": "ann_user",
    }
    assert message["chat"]["id"] == 1001
    assert message["chat"]["type"] == "private"


async def test_offset_confirms_earlier_updates_and_a_negative_offset_keeps_the_last(
    client: httpx.AsyncClient,
) -> None:
    await call(client, "getMe")
    for text in ("one", "two", "three", "four"):
        await user_says(client, text)

    unconfirmed = (await call(client, "getUpdates")).json()["result"]
    after_confirming_two = (await call(client, "getUpdates", offset=3)).json()["result"]
    last_only = (await call(client, "getUpdates", offset=-1)).json()["result"]
    again = (await call(client, "getUpdates")).json()["result"]

    assert [u["update_id"] for u in unconfirmed] == [1, 2, 3, 4]
    assert [u["message"]["text"] for u in after_confirming_two] == ["three", "four"]
    assert [u["message"]["text"] for u in last_only] == ["four"]
    assert [u["message"]["text"] for u in again] == ["four"]


async def test_limit_is_clamped_to_one_through_a_hundred(client: httpx.AsyncClient) -> None:
    await call(client, "getMe")
    for index in range(3):
        await user_says(client, f"message {index}")

    one = (await call(client, "getUpdates", limit=1)).json()["result"]
    zero_means_one = (await call(client, "getUpdates", limit=0)).json()["result"]
    huge = (await call(client, "getUpdates", limit=1000)).json()["result"]

    assert len(one) == len(zero_means_one) == 1
    assert len(huge) == 3


async def test_a_long_poll_answers_as_soon_as_an_update_arrives(
    client: httpx.AsyncClient,
) -> None:
    await call(client, "getMe")
    poll = asyncio.create_task(call(client, "getUpdates", timeout=30))
    await asyncio.sleep(0.05)

    await user_says(client, "wake up")

    answer = await asyncio.wait_for(poll, timeout=10)
    assert [u["message"]["text"] for u in answer.json()["result"]] == ["wake up"]


async def test_a_newer_poll_ends_the_pending_one_with_a_conflict(
    client: httpx.AsyncClient,
) -> None:
    await call(client, "getMe")
    first = asyncio.create_task(call(client, "getUpdates", timeout=30))
    await asyncio.sleep(0.05)
    second = asyncio.create_task(call(client, "getUpdates", timeout=30))

    ended = await asyncio.wait_for(first, timeout=10)
    await user_says(client, "for the survivor")
    survivor = await asyncio.wait_for(second, timeout=10)

    assert ended.status_code == 409
    assert ended.json()["description"] == (
        "Conflict: terminated by other getUpdates request; "
        "make sure that only one bot instance is running"
    )
    assert survivor.json()["result"][0]["message"]["text"] == "for the survivor"


async def test_stopping_the_emulator_answers_pending_polls_with_no_updates() -> None:
    async with (
        TelegramEmulator() as tg,
        httpx.AsyncClient(base_url=tg.root_url, timeout=10) as http,
    ):
        poll = asyncio.create_task(call(http, "getUpdates", timeout=30))
        await asyncio.sleep(0.05)
        await tg.stop()
        answer = await asyncio.wait_for(poll, timeout=10)

    assert answer.json() == {"ok": True, "result": []}


async def test_a_webhook_excludes_polling_until_it_is_deleted(client: httpx.AsyncClient) -> None:
    pending = asyncio.create_task(call(client, "getUpdates", timeout=30))
    await asyncio.sleep(0.05)

    set_answer = await call(client, "setWebhook", url="https://example.com/hook", max_connections=7)
    ended = await asyncio.wait_for(pending, timeout=10)
    refused = await call(client, "getUpdates")
    await user_says(client, "queued for the webhook")
    info = (await call(client, "getWebhookInfo")).json()["result"]
    deleted = await call(client, "deleteWebhook")
    allowed = await call(client, "getUpdates")

    assert set_answer.json() == {"ok": True, "result": True, "description": "Webhook was set"}
    assert ended.status_code == 409
    assert ended.json()["description"] == "Conflict: terminated by setWebhook request"
    assert refused.status_code == 409
    assert refused.json()["description"] == (
        "Conflict: can't use getUpdates method while webhook is active; "
        "use deleteWebhook to delete the webhook first"
    )
    assert info["url"] == "https://example.com/hook"
    assert info["pending_update_count"] == 1
    assert info["max_connections"] == 7
    assert info["has_custom_certificate"] is False
    assert deleted.json()["description"] == "Webhook was deleted"
    assert allowed.json()["result"][0]["message"]["text"] == "queued for the webhook"


@pytest.mark.parametrize(
    ("url", "description"),
    [
        (
            "http://example.com/hook",
            "Bad Request: bad webhook: An HTTPS URL must be provided for webhook",
        ),
        (
            "https://example.com:8080/hook",
            "Bad Request: bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443",
        ),
    ],
)
async def test_a_webhook_needs_https_on_an_allowed_port(
    client: httpx.AsyncClient, url: str, description: str
) -> None:
    response = await call(client, "setWebhook", url=url)

    assert response.status_code == 400
    assert response.json()["description"] == description


async def test_a_webhook_certificate_upload_is_recorded_as_a_file(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        f"/bot{TOKEN}/setWebhook",
        data={"url": "https://example.com:8443/hook"},
        files={"certificate": ("cert.pem", b"-----BEGIN CERTIFICATE-----")},
    )

    info = (await call(client, "getWebhookInfo")).json()["result"]
    record = (await client.get("/_emulator/requests", params={"method": "setWebhook"})).json()[0]
    assert response.json()["ok"] is True
    assert info["has_custom_certificate"] is True
    assert record["encoding"] == "multipart"
    assert record["params"]["certificate"] == "<file cert.pem 27 bytes>"


async def test_webhook_calls_can_drop_pending_updates(client: httpx.AsyncClient) -> None:
    await call(client, "getMe")
    await user_says(client, "old news")

    already = await call(client, "deleteWebhook", drop_pending_updates=True)
    info = (await call(client, "getWebhookInfo")).json()["result"]

    assert already.json()["description"] == "Webhook is already deleted"
    assert info == {"url": "", "has_custom_certificate": False, "pending_update_count": 0}


async def test_allowed_updates_filter_only_updates_created_afterwards(
    client: httpx.AsyncClient,
) -> None:
    await call(client, "getMe")
    await user_says(client, "queued before")

    before = (await call(client, "getUpdates", allowed_updates=["callback_query"])).json()
    skipped = await user_says(client, "sent while unsubscribed")
    during = (await call(client, "getUpdates", offset=2)).json()
    await call(client, "getUpdates", allowed_updates=[])
    await user_says(client, "sent after restoring")
    after = (await call(client, "getUpdates")).json()

    assert [u["message"]["text"] for u in before["result"]] == ["queued before"]
    assert skipped["update_id"] is None
    assert during["result"] == []
    assert [u["message"]["text"] for u in after["result"]] == ["sent after restoring"]
    history = (await client.get("/_emulator/chats/1001/messages")).json()
    assert [m["text"] for m in history] == [
        "queued before",
        "sent while unsubscribed",
        "sent after restoring",
    ]


async def test_chat_history_lists_both_sides_and_keeps_edited_and_deleted_messages(
    client: httpx.AsyncClient,
) -> None:
    await call(client, "getMe")
    await user_says(client, "my password is hunter2")
    keyboard = {"inline_keyboard": [[{"text": "Open", "url": "https://example.com"}]]}
    sent = (
        await call(client, "sendMessage", chat_id=1001, text="Noted", reply_markup=keyboard)
    ).json()["result"]
    await call(client, "deleteMessage", chat_id=1001, message_id=1)
    await call(client, "editMessageText", chat_id=1001, message_id=sent["message_id"], text="Done")

    history = (await client.get("/_emulator/chats/1001/messages")).json()

    assert [(m["message_id"], m["from"]["is_bot"]) for m in history] == [(1, False), (2, True)]
    assert history[0]["deleted"] is True
    assert history[0]["text"] == "my password is hunter2"
    assert history[1]["edited"] is True
    assert history[1]["deleted"] is False
    assert history[1]["text"] == "Done"
    assert isinstance(history[1]["edit_date"], int)
    assert "reply_markup" not in history[1]
    assert (await client.get("/_emulator/chats/999/messages")).json() == []


async def test_the_request_log_records_each_call_with_its_answer(
    client: httpx.AsyncClient,
) -> None:
    await call(client, "getMe")
    await call(client, "sendMessage", chat_id=1001, text="nobody")
    await call(client, "getMe", token=OTHER_TOKEN)

    everything = (await client.get("/_emulator/requests")).json()
    failures = (await client.get("/_emulator/requests", params={"method": "sendmessage"})).json()
    second_bot = (await client.get("/_emulator/requests", params={"bot_id": 7654321})).json()
    since = (await client.get("/_emulator/requests", params={"since": 2})).json()

    assert [r["seq"] for r in everything] == [1, 2, 3]
    assert failures[0]["status"] == 400
    assert failures[0]["answer"] == {
        "ok": False,
        "error_code": 400,
        "description": "Bad Request: chat not found",
    }
    assert failures[0]["params"] == {"chat_id": 1001, "text": "nobody"}
    assert [r["bot_id"] for r in second_bot] == [7654321]
    assert [r["seq"] for r in since] == [3]
    assert TOKEN not in json.dumps(everything)


async def test_a_group_chat_gets_negative_ids_and_shared_history(
    client: httpx.AsyncClient,
) -> None:
    await call(client, "getMe")
    group = {"id": -100200, "type": "group", "title": "Ops"}
    await user_says(client, "/status@bot1234567_bot", chat=group)
    await user_says(client, "me too", user=BOB, chat=group)

    sent = (await call(client, "sendMessage", chat_id=-100200, text="All good")).json()["result"]
    chat = (await call(client, "getChat", chat_id=-100200)).json()["result"]
    updates = (await call(client, "getUpdates")).json()["result"]

    assert sent["chat"] == {"id": -100200, "type": "group", "title": "Ops"}
    assert sent["message_id"] == 3
    assert chat["title"] == "Ops"
    assert updates[0]["message"]["entities"] == [{"type": "bot_command", "offset": 0, "length": 22}]
    # Bob's plain message is in the group's history, but privacy mode keeps it from the bot.
    assert [u["message"]["from"]["id"] for u in updates] == [1001]


async def test_privacy_mode_shows_the_bot_only_commands_mentions_and_replies_in_groups(
    client: httpx.AsyncClient,
) -> None:
    me = (await call(client, "getMe")).json()["result"]
    assert me["can_read_all_group_messages"] is False
    group = {"id": -100300, "type": "supergroup", "title": "Ops"}
    bobs = await user_says(client, "hello all", user=BOB, chat=group)
    asked = (await call(client, "sendMessage", chat_id=-100300, text="Which model?")).json()

    seen = {
        "command": await user_says(client, "/status", chat=group),
        "command for us": await user_says(client, "/status@bot1234567_bot", chat=group),
        "mention": await user_says(client, "ping 🙂 @bot1234567_bot", chat=group),
        "reply to the bot": await user_says(
            client, "openai/gpt-5", chat=group, reply_to_message_id=asked["result"]["message_id"]
        ),
        "private": await user_says(client, "plain text in private"),
    }
    hidden = {
        "plain": await user_says(client, "just chatting", chat=group),
        "command for another bot": await user_says(client, "/status@other_bot", chat=group),
        "reply to a user": await user_says(
            client, "hi Bob", chat=group, reply_to_message_id=bobs["message_id"]
        ),
    }

    assert all(answer["update_id"] is not None for answer in seen.values()), seen
    assert all(answer["update_id"] is None for answer in hidden.values()), hidden
    delivered = [u["message"]["text"] for u in (await call(client, "getUpdates")).json()["result"]]
    assert delivered == [answer["message"]["text"] for answer in seen.values()]


async def test_a_bot_without_privacy_mode_sees_every_group_message(
    client: httpx.AsyncClient,
) -> None:
    await call(client, "getMe")
    answer = await client.post("/_emulator/bots", json={"token": TOKEN, "privacy_mode": False})
    assert answer.json()["privacy_mode"] is False
    assert (await call(client, "getMe")).json()["result"]["can_read_all_group_messages"] is True
    said = await user_says(client, "just chatting", chat={"id": -100400, "type": "group"})
    assert said["update_id"] is not None
    refused = await client.post("/_emulator/bots", json={"token": TOKEN, "privacy_mode": "no"})
    assert refused.status_code == 400


async def test_a_registered_chat_can_be_written_to_without_a_message(
    client: httpx.AsyncClient,
) -> None:
    await call(client, "getMe")
    registered = await client.post(
        "/_emulator/chats", json={"chat": {"id": -300, "type": "supergroup", "title": "Alerts"}}
    )

    sent = await call(client, "sendMessage", chat_id=-300, text="alert")

    assert registered.json()["chat"]["type"] == "supergroup"
    assert sent.json()["ok"] is True


async def test_invalid_control_requests_explain_themselves(client: httpx.AsyncClient) -> None:
    await call(client, "getMe")

    private_mismatch = await client.post(
        "/_emulator/updates", json={"from": ANN, "chat": {"id": 5, "type": "private"}, "text": "x"}
    )
    positive_group = await client.post(
        "/_emulator/updates", json={"from": ANN, "chat": {"id": 5, "type": "group"}, "text": "x"}
    )
    no_text = await client.post("/_emulator/updates", json={"from": ANN})
    unknown_bot = await client.post(
        "/_emulator/updates", json={"from": ANN, "text": "x", "bot": 999}
    )

    assert private_mismatch.status_code == 400
    assert positive_group.status_code == 400
    assert no_text.status_code == 400
    assert unknown_bot.status_code == 404


async def test_a_forwarded_message_keeps_its_origin_and_a_reply_its_target(
    client: httpx.AsyncClient,
) -> None:
    await call(client, "getMe")
    origin = {
        "type": "user",
        "date": 1700000000,
        "sender_user": {"id": 5, "is_bot": True, "first_name": "agent"},
    }
    await user_says(client, "Pairing code: ABCD2345", forward_origin=origin)
    await user_says(client, "and this", reply_to_message_id=1)

    updates = (await call(client, "getUpdates")).json()["result"]

    assert updates[0]["message"]["forward_origin"] == origin
    assert updates[1]["message"]["reply_to_message"]["message_id"] == 1


async def test_bots_can_be_named_and_listed(client: httpx.AsyncClient) -> None:
    renamed = await client.post(
        "/_emulator/bots", json={"token": TOKEN, "first_name": "Agent", "username": "agent_bot"}
    )
    await user_says(client, "hello", bot=TOKEN)

    me = (await call(client, "getMe")).json()["result"]
    listing = (await client.get("/_emulator/bots")).json()

    assert renamed.json()["username"] == "agent_bot"
    assert (me["first_name"], me["username"]) == ("Agent", "agent_bot")
    assert listing["default_bot_id"] == 1234567
    assert listing["bots"][0]["pending_update_count"] == 1
    assert listing["bots"][0]["chat_ids"] == [1001]


async def test_reset_forgets_bots_messages_and_the_request_log(
    client: httpx.AsyncClient,
) -> None:
    await call(client, "getMe")
    await user_says(client, "hello")

    await client.post("/_emulator/reset")

    assert (await client.get("/_emulator/requests")).json() == []
    assert (await client.get("/_emulator/bots")).json() == {"default_bot_id": None, "bots": []}
    refused = await call(client, "sendMessage", chat_id=1001, text="still there?")
    assert refused.json()["description"] == "Bad Request: chat not found"


async def test_in_process_helpers_mirror_the_control_api(emulator: TelegramEmulator) -> None:
    async with httpx.AsyncClient(base_url=emulator.root_url) as http:
        await call(http, "getMe")
        emulator.send_from_user("hi", ANN)
        keyboard = {"inline_keyboard": [[{"text": "Go", "callback_data": "go"}]]}
        sent = (
            await call(http, "sendMessage", chat_id=1001, text="Menu", reply_markup=keyboard)
        ).json()["result"]
        pressed = emulator.press_button(ANN, sent["message_id"], "go")
        await call(http, "answerCallbackQuery", callback_query_id=pressed["callback_query_id"])

    assert [m["text"] for m in emulator.messages(1001)] == ["hi", "Menu"]
    assert emulator.callback_answers()[0]["callback_query_id"] == pressed["callback_query_id"]
    assert [r["method"] for r in emulator.requests()] == [
        "getMe",
        "sendMessage",
        "answerCallbackQuery",
    ]


async def test_a_loopback_webhook_gets_each_update_in_order_with_the_secret_and_retries(
    client: httpx.AsyncClient,
) -> None:
    from aiohttp import web

    received: list[tuple[str | None, dict[str, Any]]] = []
    refuse_first = [True]

    async def hook(request: web.Request) -> web.Response:
        received.append(
            (request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json())
        )
        if refuse_first[0]:
            refuse_first[0] = False
            return web.Response(status=503)
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        answer = await call(
            client, "setWebhook", url=f"http://127.0.0.1:{port}/hook", secret_token="s3cr-et_X"
        )
        assert answer.json()["ok"] is True, answer.text
        for text in ("first", "second", "third"):
            await user_says(client, text)

        async def delivered() -> dict[str, Any] | None:
            info = (await call(client, "getWebhookInfo")).json()["result"]
            return info if info["pending_update_count"] == 0 else None

        info = None
        async with asyncio.timeout(10):
            while info is None:
                info = await delivered()
                await asyncio.sleep(0.01)
    finally:
        await runner.cleanup()

    texts = [update["message"]["text"] for _, update in received]
    assert texts == ["first", "first", "second", "third"]  # the refused one came again, first
    assert {secret for secret, _ in received} == {"s3cr-et_X"}
    assert info["last_error_message"] == "Wrong response from the webhook: 503 Service Unavailable"
    assert isinstance(info["last_error_date"], int)
    polled = await call(client, "getUpdates")
    assert polled.status_code == 409  # still a webhook: nothing left for polling either


async def test_a_webhook_outside_loopback_is_never_called_and_its_updates_wait(
    client: httpx.AsyncClient,
) -> None:
    await call(client, "setWebhook", url="https://bot.example.com/hook")
    await user_says(client, "kept for later")

    async def failed() -> dict[str, Any] | None:
        info = (await call(client, "getWebhookInfo")).json()["result"]
        return info if "last_error_message" in info else None

    info = None
    async with asyncio.timeout(10):
        while info is None:
            info = await failed()
            await asyncio.sleep(0.01)
    assert info["last_error_message"] == "Failed to resolve host: Name or service not known"
    assert info["pending_update_count"] == 1
