"""The Telegram emulator upgrading a group to a supergroup: Telegram's 400 with
`migrate_to_chat_id` for every call naming the group, the two service messages, the new chat,
and python-telegram-bot's `ChatMigrated` for it, over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from telegram import Bot
from telegram.error import ChatMigrated

from emulators.telegram import FloodLimits, TelegramEmulator

TOKEN = "3456789:" + "m" * 35
ANN: dict[str, Any] = {"id": 1001, "first_name": "Ann"}
GROUP_ID = -4242
GROUP = {"id": GROUP_ID, "type": "group", "title": "Ops"}
DEFAULT_SUPERGROUP_ID = -1000000004242
UPGRADED = {
    "ok": False,
    "error_code": 400,
    "description": "Bad Request: group chat was upgraded to a supergroup chat",
}
KEYBOARD = {"inline_keyboard": [[{"text": "Approve", "callback_data": "approve:7"}]]}


@pytest.fixture
async def emulator(
    telegram_emulator_factory: Callable[..., Awaitable[TelegramEmulator]],
) -> TelegramEmulator:
    return await telegram_emulator_factory(flood_limits=FloodLimits(enabled=False))


@pytest.fixture
async def client(emulator: TelegramEmulator) -> AsyncIterator[httpx.AsyncClient]:
    """The bot knows Ann (private) and the Ops group, where it has sent a card with a button."""
    async with httpx.AsyncClient(base_url=emulator.root_url, timeout=10) as http:
        assert (await call(http, "getMe")).status_code == 200
        for chat in (None, GROUP):
            body: dict[str, Any] = {"from": ANN, "text": "/hello", "bot": TOKEN}
            if chat is not None:
                body["chat"] = chat
            assert (await http.post("/_emulator/updates", json=body)).status_code == 200
        card = await call(http, "sendMessage", chat_id=GROUP_ID, text="card", reply_markup=KEYBOARD)
        assert card.status_code == 200, card.text
        await confirm_all(http)
        yield http


async def call(client: httpx.AsyncClient, method: str, **params: Any) -> httpx.Response:
    return await client.post(f"/bot{TOKEN}/{method}", json=params)


async def confirm_all(client: httpx.AsyncClient) -> None:
    pending = (await call(client, "getUpdates")).json()["result"]
    if pending:
        await call(client, "getUpdates", offset=pending[-1]["update_id"] + 1, timeout=0)


async def migrate(
    client: httpx.AsyncClient, chat_id: int = GROUP_ID, **body: Any
) -> httpx.Response:
    return await client.post(f"/_emulator/chats/{chat_id}/migrate", json=body)


async def history(client: httpx.AsyncClient, chat_id: int) -> list[dict[str, Any]]:
    return list((await client.get(f"/_emulator/chats/{chat_id}/messages")).json())


async def test_an_upgrade_answers_the_supergroup_the_bot_now_knows_with_the_same_title(
    client: httpx.AsyncClient,
) -> None:
    answer = await migrate(client)
    assert answer.status_code == 200, answer.text
    upgraded = answer.json()
    assert upgraded["from_chat_id"] == GROUP_ID
    assert upgraded["to_chat_id"] == DEFAULT_SUPERGROUP_ID
    assert upgraded["chat"] == {"id": DEFAULT_SUPERGROUP_ID, "type": "supergroup", "title": "Ops"}
    chat = (await call(client, "getChat", chat_id=DEFAULT_SUPERGROUP_ID)).json()["result"]
    assert (chat["id"], chat["type"], chat["title"]) == (DEFAULT_SUPERGROUP_ID, "supergroup", "Ops")
    chats = {c["chat"]["id"]: c for c in (await client.get("/_emulator/chats")).json()}
    assert chats[GROUP_ID]["migrated_to_chat_id"] == DEFAULT_SUPERGROUP_ID
    assert chats[DEFAULT_SUPERGROUP_ID]["migrated_from_chat_id"] == GROUP_ID


async def test_the_default_supergroup_id_is_minus_100_then_the_group_digits_padded_to_ten(
    client: httpx.AsyncClient,
) -> None:
    other = {"id": -4518810793, "type": "group", "title": "Big"}
    body = {"from": ANN, "text": "/hello", "chat": other, "bot": TOKEN}
    assert (await client.post("/_emulator/updates", json=body)).status_code == 200
    assert (await migrate(client)).json()["to_chat_id"] == -1000000004242
    assert (await migrate(client, -4518810793)).json()["to_chat_id"] == -1004518810793


async def test_a_named_supergroup_id_is_used(client: httpx.AsyncClient) -> None:
    answer = await migrate(client, to_chat_id=-1001234567890, bot=TOKEN)
    assert answer.status_code == 200, answer.text
    assert answer.json()["to_chat_id"] == -1001234567890
    sent = await call(client, "sendMessage", chat_id=-1001234567890, text="here")
    assert sent.json()["result"]["chat"]["type"] == "supergroup"


async def test_every_call_naming_the_old_group_answers_telegrams_400_with_the_new_id(
    client: httpx.AsyncClient,
) -> None:
    await migrate(client)
    expected = {**UPGRADED, "parameters": {"migrate_to_chat_id": DEFAULT_SUPERGROUP_ID}}
    scope = {"type": "chat", "chat_id": GROUP_ID}
    calls: list[tuple[str, dict[str, Any]]] = [
        ("sendMessage", {"chat_id": GROUP_ID, "text": "alert"}),
        ("editMessageText", {"chat_id": GROUP_ID, "message_id": 2, "text": "edited"}),
        ("editMessageReplyMarkup", {"chat_id": GROUP_ID, "message_id": 2}),
        ("deleteMessage", {"chat_id": GROUP_ID, "message_id": 2}),
        ("sendChatAction", {"chat_id": GROUP_ID, "action": "typing"}),
        ("getChat", {"chat_id": GROUP_ID}),
        ("setMyCommands", {"commands": [{"command": "list", "description": "x"}], "scope": scope}),
        ("getMyCommands", {"scope": scope}),
        (
            "sendMessage",
            {
                "chat_id": 1001,
                "text": "quote",
                "reply_parameters": {"message_id": 2, "chat_id": GROUP_ID},
            },
        ),
    ]
    for method, params in calls:
        answer = await call(client, method, **params)
        assert answer.status_code == 400, (method, answer.text)
        assert answer.json() == expected, method
    # The refusals changed nothing in the group's history.
    assert [m.get("text") for m in await history(client, GROUP_ID)][:2] == ["/hello", "card"]


async def test_the_bot_gets_the_service_messages_of_both_chats_in_order(
    client: httpx.AsyncClient,
) -> None:
    sender: dict[str, Any] = {"from": ANN}  # `from` is a keyword: passed as **
    answer = (await migrate(client, **sender)).json()
    assert all(isinstance(update_id, int) for update_id in answer["update_ids"])
    updates = (await call(client, "getUpdates")).json()["result"]
    assert [u["update_id"] for u in updates] == answer["update_ids"]
    farewell, welcome = (u["message"] for u in updates)
    assert farewell["chat"] == GROUP
    assert farewell["from"]["id"] == ANN["id"]
    assert farewell["migrate_to_chat_id"] == DEFAULT_SUPERGROUP_ID
    assert "text" not in farewell and "sender_chat" not in farewell
    assert welcome["chat"]["id"] == DEFAULT_SUPERGROUP_ID
    assert welcome["message_id"] == 1
    assert welcome["migrate_from_chat_id"] == GROUP_ID
    assert welcome["from"]["username"] == "GroupAnonymousBot"
    assert welcome["sender_chat"] == welcome["chat"]
    assert "text" not in welcome


async def test_without_an_upgrader_the_groups_anonymous_admins_upgrade_it(
    client: httpx.AsyncClient,
) -> None:
    await migrate(client)
    farewell = (await history(client, GROUP_ID))[-1]
    assert farewell["migrate_to_chat_id"] == DEFAULT_SUPERGROUP_ID
    assert farewell["from"]["username"] == "GroupAnonymousBot"
    assert farewell["sender_chat"] == GROUP


async def test_the_service_messages_stay_in_both_histories_and_cannot_be_edited(
    client: httpx.AsyncClient,
) -> None:
    await migrate(client)
    old = await history(client, GROUP_ID)
    assert [m.get("text") for m in old] == ["/hello", "card", None]
    assert old[-1]["deleted"] is False
    new = await history(client, DEFAULT_SUPERGROUP_ID)
    assert [m["migrate_from_chat_id"] for m in new] == [GROUP_ID]
    edit = await call(
        client, "editMessageText", chat_id=DEFAULT_SUPERGROUP_ID, message_id=1, text="x"
    )
    assert edit.json()["description"] == "Bad Request: message can't be edited"
    sent = await call(client, "sendMessage", chat_id=DEFAULT_SUPERGROUP_ID, text="first alert")
    assert sent.json()["result"]["message_id"] == 2


async def test_a_bot_in_privacy_mode_still_gets_the_service_messages(
    client: httpx.AsyncClient,
) -> None:
    bots = (await client.get("/_emulator/bots")).json()["bots"]
    assert bots[0]["privacy_mode"] is True
    assert None not in (await migrate(client)).json()["update_ids"]


async def test_nobody_writes_or_presses_buttons_in_the_old_group_any_more(
    client: httpx.AsyncClient,
) -> None:
    await migrate(client)
    said = await client.post(
        "/_emulator/updates", json={"from": ANN, "text": "/list", "chat": GROUP, "bot": TOKEN}
    )
    assert said.status_code == 400
    assert "upgraded to the supergroup -1000000004242" in said.json()["error"]
    press = {"from": ANN, "chat_id": GROUP_ID, "message_id": 2, "data": "approve:7"}
    pressed = await client.post("/_emulator/updates", json={"callback": press, "bot": TOKEN})
    assert pressed.status_code == 400
    new_chat = {"id": DEFAULT_SUPERGROUP_ID, "type": "supergroup", "title": "Ops"}
    moved = await client.post(
        "/_emulator/updates", json={"from": ANN, "text": "/list", "chat": new_chat, "bot": TOKEN}
    )
    assert moved.status_code == 200, moved.text
    assert isinstance(moved.json()["update_id"], int)


@pytest.mark.parametrize(
    ("chat", "error"),
    [
        (
            {"id": -1009999, "type": "supergroup", "title": "S"},
            "only a group can be upgraded to a supergroup: chat -1009999 is a supergroup",
        ),
        (
            {"id": -1007777, "type": "channel", "title": "C"},
            "only a group can be upgraded to a supergroup: chat -1007777 is a channel",
        ),
    ],
)
async def test_only_a_group_can_be_upgraded(
    client: httpx.AsyncClient, chat: dict[str, Any], error: str
) -> None:
    registered = await client.post("/_emulator/chats", json={"chat": chat, "bot": TOKEN})
    assert registered.status_code == 200
    answer = await migrate(client, chat["id"])
    assert (answer.status_code, answer.json()) == (400, {"error": error})
    private = await migrate(client, ANN["id"])
    assert private.status_code == 400
    assert "chat 1001 is a private" in private.json()["error"]


async def test_invalid_upgrades_explain_themselves(client: httpx.AsyncClient) -> None:
    unknown = await migrate(client, -777)
    assert (unknown.status_code, unknown.json()["error"]) == (404, "bot 3456789 has no chat -777")
    for bad in ("x", True, -42, 1001234):
        answer = await migrate(client, to_chat_id=bad)
        assert answer.status_code == 400, bad
    taken = await migrate(client, to_chat_id=-1009999)
    assert taken.status_code == 200
    twice = await migrate(client)
    assert twice.status_code == 400
    assert twice.json()["error"] == "chat -4242 was already upgraded to the supergroup -1009999"
    not_a_number = await client.post("/_emulator/chats/abc/migrate", json={})
    assert not_a_number.status_code == 400


async def test_a_supergroup_id_the_bot_already_knows_is_refused(
    client: httpx.AsyncClient,
) -> None:
    other = {"id": -1005555, "type": "supergroup", "title": "Other"}
    assert (await client.post("/_emulator/chats", json={"chat": other})).status_code == 200
    answer = await migrate(client, to_chat_id=-1005555)
    assert answer.status_code == 400
    assert answer.json()["error"] == "chat -1005555 already exists: name another to_chat_id"


async def test_the_in_process_helper_mirrors_the_route(
    emulator: TelegramEmulator, client: httpx.AsyncClient
) -> None:
    upgraded = emulator.migrate_chat(GROUP_ID, to_chat_id=-1003333, bot=TOKEN)
    assert upgraded["to_chat_id"] == -1003333
    assert emulator.messages(-1003333, bot=TOKEN)[0]["migrate_from_chat_id"] == GROUP_ID


async def test_python_telegram_bot_raises_chat_migrated_with_the_new_id(
    emulator: TelegramEmulator, client: httpx.AsyncClient
) -> None:
    await migrate(client)
    async with Bot(TOKEN, base_url=f"{emulator.root_url}/bot") as bot:
        with pytest.raises(ChatMigrated) as raised:
            await bot.send_message(GROUP_ID, "alert")
        assert raised.value.new_chat_id == DEFAULT_SUPERGROUP_ID
        sent = await bot.send_message(raised.value.new_chat_id, "alert")
        assert sent.chat.type == "supergroup"
