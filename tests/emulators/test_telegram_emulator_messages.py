"""The Telegram emulator's message methods: formatting, keyboards, edits, deletes, callbacks,
commands and chat lookups, each with Telegram's validation, over HTTP."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from emulators.telegram import FloodLimits, TelegramEmulator

TOKEN = "2345678:" + "c" * 35
ANN = {"id": 1001, "first_name": "Ann"}
BOB = {"id": 1002, "first_name": "Bob"}
GROUP = {"id": -500, "type": "group", "title": "Ops"}
KEYBOARD = {"inline_keyboard": [[{"text": "Approve", "callback_data": "approve:7"}]]}
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)

invalid_on_purpose = pytest.mark.sends_invalid_requests


@pytest.fixture
async def client(
    telegram_emulator_factory: Callable[..., Awaitable[TelegramEmulator]],
) -> AsyncIterator[httpx.AsyncClient]:
    """An emulator's client; Ann (1001) and Bob (1002) wrote to the bot, Ann also in Ops."""
    emulator = await telegram_emulator_factory(flood_limits=FloodLimits(enabled=False))
    async with httpx.AsyncClient(base_url=emulator.root_url, timeout=10) as http:
        await call(http, "getMe")
        for user, chat in ((ANN, None), (BOB, None), (ANN, GROUP)):
            # In the group a command: privacy mode would keep a plain "hello" from the bot.
            text = "hello" if chat is None else "/hello"
            body: dict[str, Any] = {"from": user, "text": text, "bot": TOKEN}
            if chat is not None:
                body["chat"] = chat
            assert (await http.post("/_emulator/updates", json=body)).status_code == 200
        yield http


async def call(client: httpx.AsyncClient, method: str, **params: Any) -> httpx.Response:
    return await client.post(f"/bot{TOKEN}/{method}", json=params)


async def send(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    params.setdefault("chat_id", 1001)
    response = await call(client, "sendMessage", **params)
    assert response.status_code == 200, response.text
    return dict(response.json()["result"])


async def refused(client: httpx.AsyncClient, method: str, **params: Any) -> tuple[int, str]:
    response = await call(client, method, **params)
    body = response.json()
    assert body["ok"] is False
    assert body["error_code"] == response.status_code
    return response.status_code, str(body["description"])


async def history(client: httpx.AsyncClient, chat_id: int = 1001) -> list[dict[str, Any]]:
    return list((await client.get(f"/_emulator/chats/{chat_id}/messages")).json())


async def press(
    client: httpx.AsyncClient, message_id: int, data: str, user: dict[str, Any] = ANN
) -> str:
    response = await client.post(
        "/_emulator/updates",
        json={"callback": {"from": user, "message_id": message_id, "data": data}},
    )
    assert response.status_code == 200, response.text
    return str(response.json()["callback_query_id"])


# -- formatting -----------------------------------------------------------------------------


async def test_html_becomes_plain_text_with_entities_in_utf16_code_units(
    client: httpx.AsyncClient,
) -> None:
    message = await send(
        client,
        text=(
            "😀 <b>bold <i>both</i></b> &lt;tag&gt; &amp; &quot;q&quot; &#128077; "
            '<a href="example.com">link</a>'
        ),
        parse_mode="HTML",
    )

    assert message["text"] == '😀 bold both <tag> & "q" 👍 link'
    assert message["entities"] == [
        {"type": "bold", "offset": 3, "length": 9},
        {"type": "italic", "offset": 8, "length": 4},
        {"type": "text_link", "offset": 28, "length": 4, "url": "http://example.com/"},
    ]


async def test_every_html_tag_telegram_supports_maps_to_its_entity(
    client: httpx.AsyncClient,
) -> None:
    message = await send(
        client,
        text=(
            "<strong>b</strong><em>i</em><u>u</u><ins>u</ins><s>s</s><strike>s</strike>"
            "<del>s</del><code>c</code><tg-spoiler>x</tg-spoiler>"
            '<span class="tg-spoiler">y</span>'
            '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>'
            '<pre><code class="language-python">print(1)\n</code></pre>'
            "<blockquote>quote</blockquote><blockquote expandable>more</blockquote>"
        ),
        parse_mode="html",
    )

    assert message["text"] == "biuusssc" + "xy👍print(1)\nquotemore"
    assert message["entities"] == [
        {"type": "bold", "offset": 0, "length": 1},
        {"type": "italic", "offset": 1, "length": 1},
        {"type": "underline", "offset": 2, "length": 2},
        {"type": "strikethrough", "offset": 4, "length": 3},
        {"type": "code", "offset": 7, "length": 1},
        {"type": "spoiler", "offset": 8, "length": 2},
        {
            "type": "custom_emoji",
            "offset": 10,
            "length": 2,
            "custom_emoji_id": "5368324170671202286",
        },
        {"type": "pre", "offset": 12, "length": 9, "language": "python"},
        {"type": "blockquote", "offset": 21, "length": 5},
        {"type": "expandable_blockquote", "offset": 26, "length": 4},
    ]


async def test_openclaws_pairing_reply_keeps_its_code_blocks(client: httpx.AsyncClient) -> None:
    text = (
        "OpenClaw: access not configured.\n\nYour Telegram user id: 1001\nPairing code:\n\n"
        "<pre><code>F864XLAV\n</code></pre>\nAsk the bot owner to approve with:\n\n"
        "<pre><code>openclaw pairing approve telegram F864XLAV\n</code></pre>"
    )

    message = await send(client, text=text, parse_mode="HTML")

    assert message["text"].endswith("openclaw pairing approve telegram F864XLAV")
    assert [e["type"] for e in message["entities"]] == ["pre", "pre"]
    first = message["entities"][0]
    assert message["text"][first["offset"] : first["offset"] + first["length"]] == "F864XLAV\n"


@invalid_on_purpose
@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("<b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("<div>x</div>", 'Unsupported start tag "div" at byte offset 0'),
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
        ("😀<marquee>", 'Unsupported start tag "marquee" at byte offset 4'),
        ('<span class="big">x</span>', 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ("<b", "Unclosed start tag at byte offset 0"),
    ],
)
async def test_unsupported_or_unbalanced_html_is_refused(
    client: httpx.AsyncClient, text: str, problem: str
) -> None:
    assert await refused(client, "sendMessage", chat_id=1001, text=text, parse_mode="HTML") == (
        400,
        f"Bad Request: can't parse entities: {problem}",
    )


async def test_markdown_v2_entities_and_escapes(client: httpx.AsyncClient) -> None:
    message = await send(
        client,
        text="*bold* _italic_ __under__ ~strike~ ||hidden|| `code` [link](https://t.me/x) 1\\.0",
        parse_mode="MarkdownV2",
    )

    assert message["text"] == "bold italic under strike hidden code link 1.0"
    assert [(e["type"], e["offset"], e["length"]) for e in message["entities"]] == [
        ("bold", 0, 4),
        ("italic", 5, 6),
        ("underline", 12, 5),
        ("strikethrough", 18, 6),
        ("spoiler", 25, 6),
        ("code", 32, 4),
        ("text_link", 37, 4),
    ]


@invalid_on_purpose
async def test_markdown_v2_refuses_an_unescaped_reserved_character(
    client: httpx.AsyncClient,
) -> None:
    status, description = await refused(
        client, "sendMessage", chat_id=1001, text="Version 1.0", parse_mode="MarkdownV2"
    )

    assert (status, description) == (
        400,
        "Bad Request: can't parse entities: "
        "Character '.' is reserved and must be escaped with the preceding '\\'",
    )


async def test_legacy_markdown_knows_the_basic_entities(client: httpx.AsyncClient) -> None:
    message = await send(client, text="*b* _i_ `c` [l](t.me)", parse_mode="Markdown")

    assert message["text"] == "b i c l"
    assert [e["type"] for e in message["entities"]] == ["bold", "italic", "code", "text_link"]


async def test_explicit_entities_are_used_when_no_parse_mode_is_given(
    client: httpx.AsyncClient,
) -> None:
    message = await send(
        client,
        text="Tap /start now",
        entities=[
            {"type": "italic", "offset": 9, "length": 3},
            {"type": "bot_command", "offset": 0, "length": 3},
        ],
    )

    assert message["entities"] == [
        {"type": "bot_command", "offset": 4, "length": 6},
        {"type": "italic", "offset": 9, "length": 3},
    ]


async def test_surrounding_whitespace_is_trimmed_and_entities_follow(
    client: httpx.AsyncClient,
) -> None:
    message = await send(client, text="\n  <b>hi</b> there \n\n", parse_mode="HTML")

    assert message["text"] == "hi there"
    assert message["entities"] == [{"type": "bold", "offset": 0, "length": 2}]


@invalid_on_purpose
async def test_the_length_limit_counts_text_after_parsing(client: httpx.AsyncClient) -> None:
    fits = await send(client, text=f"<b>{'x' * 4096}</b>", parse_mode="HTML")
    status, description = await refused(client, "sendMessage", chat_id=1001, text="y" * 4097)

    assert len(fits["text"]) == 4096
    assert (status, description) == (400, "Bad Request: message is too long")


@invalid_on_purpose
@pytest.mark.parametrize(
    ("params", "description"),
    [
        ({"text": ""}, "Bad Request: message text is empty"),
        ({}, "Bad Request: message text is empty"),
        ({"text": "<b></b>", "parse_mode": "HTML"}, "Bad Request: message must be non-empty"),
        ({"text": " \n "}, "Bad Request: message must be non-empty"),
        ({"text": "hi", "parse_mode": "XML"}, "Bad Request: unsupported parse_mode"),
        (
            {"text": "hi", "entities": [{"type": "shiny", "offset": 0, "length": 2}]},
            "Bad Request: can't parse MessageEntity: Unsupported type specified",
        ),
    ],
)
async def test_unusable_texts_are_refused(
    client: httpx.AsyncClient, params: dict[str, Any], description: str
) -> None:
    assert await refused(client, "sendMessage", chat_id=1001, **params) == (400, description)


@invalid_on_purpose
async def test_writing_to_a_chat_that_never_talked_to_the_bot_is_chat_not_found(
    client: httpx.AsyncClient,
) -> None:
    assert await refused(client, "sendMessage", chat_id=4242, text="hi") == (
        400,
        "Bad Request: chat not found",
    )
    assert await refused(client, "sendMessage", chat_id="not-a-chat", text="hi") == (
        400,
        "Bad Request: chat not found",
    )
    assert await refused(client, "sendMessage", text="hi") == (400, "Bad Request: chat_id is empty")


# -- keyboards and replies ------------------------------------------------------------------


async def test_an_inline_keyboard_is_stored_with_the_message(client: httpx.AsyncClient) -> None:
    keyboard = {
        "inline_keyboard": [
            [{"text": "Approve", "callback_data": "a" * 64}],
            [{"text": "Docs", "url": "https://example.com/docs"}],
        ]
    }

    message = await send(client, text="Pick", reply_markup=keyboard)

    assert message["reply_markup"] == keyboard
    assert (await history(client))[-1]["reply_markup"] == keyboard


@invalid_on_purpose
@pytest.mark.parametrize(
    ("button", "description"),
    [
        ({"text": "x", "callback_data": "é" * 33}, "Bad Request: BUTTON_DATA_INVALID"),
        ({"text": "x", "callback_data": ""}, "Bad Request: BUTTON_DATA_INVALID"),
        (
            {"text": "x"},
            "Bad Request: can't parse inline keyboard button: "
            "Text buttons are unallowed in the inline keyboard",
        ),
        (
            {"text": "x", "url": "localhost"},
            "Bad Request: inline keyboard button URL 'localhost' is invalid: Wrong HTTP URL",
        ),
    ],
)
async def test_invalid_inline_buttons_are_refused(
    client: httpx.AsyncClient, button: dict[str, Any], description: str
) -> None:
    markup = {"inline_keyboard": [[button]]}

    assert await refused(client, "sendMessage", chat_id=1001, text="x", reply_markup=markup) == (
        400,
        description,
    )


async def test_reply_keyboards_are_accepted_beside_the_message(client: httpx.AsyncClient) -> None:
    keyboard = {"keyboard": [[{"text": "Status"}, {"text": "Help"}]], "resize_keyboard": True}
    with_keyboard = await send(client, text="menu", reply_markup=keyboard)
    removed = await send(client, text="bye", reply_markup={"remove_keyboard": True})
    forced = await send(client, text="name?", reply_markup={"force_reply": True})

    listed = await history(client)

    assert "reply_markup" not in with_keyboard
    assert listed[-3]["reply_keyboard"] == {
        "keyboard": [[{"text": "Status"}, {"text": "Help"}]],
        "resize_keyboard": True,
    }
    assert listed[-2]["reply_keyboard"] == {"remove_keyboard": True}
    assert listed[-1]["reply_keyboard"] == {"force_reply": True}
    assert removed["text"] == "bye"
    assert forced["text"] == "name?"


async def test_reply_parameters_attach_the_replied_message(client: httpx.AsyncClient) -> None:
    reply = await send(client, text="answer", reply_parameters={"message_id": 1})
    lenient = await send(
        client,
        text="answer anyway",
        reply_parameters={"message_id": 99, "allow_sending_without_reply": True},
    )

    assert reply["reply_to_message"]["text"] == "hello"
    assert reply["reply_to_message"]["from"]["id"] == 1001
    assert "reply_to_message" not in lenient
    assert await refused(
        client, "sendMessage", chat_id=1001, text="x", reply_parameters={"message_id": 99}
    ) == (400, "Bad Request: message to be replied not found")


async def test_link_preview_options_and_protection_are_reflected(
    client: httpx.AsyncClient,
) -> None:
    message = await send(
        client,
        text="see https://example.com",
        link_preview_options={"is_disabled": True},
        protect_content=True,
        disable_notification=True,
    )

    assert message["link_preview_options"] == {"is_disabled": True}
    assert message["has_protected_content"] is True
    assert message["entities"] == [{"type": "url", "offset": 4, "length": 19}]


# -- edits and deletes ----------------------------------------------------------------------


async def test_edit_message_text_replaces_text_and_keyboard(client: httpx.AsyncClient) -> None:
    sent = await send(client, text="Pending", reply_markup=KEYBOARD)
    new_keyboard = {"inline_keyboard": [[{"text": "Undo", "callback_data": "undo"}]]}

    edited = (
        await call(
            client,
            "editMessageText",
            chat_id=1001,
            message_id=sent["message_id"],
            text="<b>Approved</b>",
            parse_mode="HTML",
            reply_markup=new_keyboard,
        )
    ).json()["result"]
    unchanged = await refused(
        client,
        "editMessageText",
        chat_id=1001,
        message_id=sent["message_id"],
        text="<b>Approved</b>",
        parse_mode="HTML",
        reply_markup=new_keyboard,
    )
    without_keyboard = (
        await call(
            client,
            "editMessageText",
            chat_id=1001,
            message_id=sent["message_id"],
            text="<b>Approved</b>",
            parse_mode="HTML",
        )
    ).json()["result"]

    assert edited["text"] == "Approved"
    assert edited["entities"] == [{"type": "bold", "offset": 0, "length": 8}]
    assert edited["reply_markup"] == new_keyboard
    assert isinstance(edited["edit_date"], int)
    assert unchanged == (400, NOT_MODIFIED)
    assert "reply_markup" not in without_keyboard


@invalid_on_purpose
async def test_edits_need_an_existing_message_of_the_bot(client: httpx.AsyncClient) -> None:
    assert await refused(client, "editMessageText", chat_id=1001, message_id=999, text="x") == (
        400,
        "Bad Request: message to edit not found",
    )
    assert await refused(client, "editMessageText", chat_id=1001, message_id=1, text="x") == (
        400,
        "Bad Request: message can't be edited",
    )
    assert await refused(client, "editMessageText", chat_id=1001, text="x") == (
        400,
        "Bad Request: message identifier is not specified",
    )


async def test_edit_message_reply_markup_swaps_only_the_keyboard(
    client: httpx.AsyncClient,
) -> None:
    sent = await send(client, text="Pending", reply_markup=KEYBOARD)

    cleared = (
        await call(client, "editMessageReplyMarkup", chat_id=1001, message_id=sent["message_id"])
    ).json()["result"]
    again = await refused(
        client, "editMessageReplyMarkup", chat_id=1001, message_id=sent["message_id"]
    )

    assert "reply_markup" not in cleared
    assert "edit_date" not in cleared
    assert again == (400, NOT_MODIFIED)


async def test_in_a_private_chat_the_bot_deletes_any_recent_message(
    client: httpx.AsyncClient,
) -> None:
    own = await send(client, text="secret received")

    users = await call(client, "deleteMessage", chat_id=1001, message_id=1)
    bots = await call(client, "deleteMessage", chat_id=1001, message_id=own["message_id"])
    twice = await refused(client, "deleteMessage", chat_id=1001, message_id=1)

    assert users.json() == {"ok": True, "result": True}
    assert bots.json() == {"ok": True, "result": True}
    assert twice == (400, "Bad Request: message to delete not found")
    assert [m["deleted"] for m in await history(client)] == [True, True]


async def test_in_a_group_the_bot_deletes_only_its_own_messages(
    client: httpx.AsyncClient,
) -> None:
    own = await send(client, chat_id=-500, text="alert")

    users = await refused(client, "deleteMessage", chat_id=-500, message_id=1)
    bots = await call(client, "deleteMessage", chat_id=-500, message_id=own["message_id"])

    assert users == (400, "Bad Request: message can't be deleted")
    assert bots.json()["result"] is True


async def test_messages_older_than_48_hours_cannot_be_deleted(
    client: httpx.AsyncClient,
) -> None:
    await client.post("/_emulator/clock", json={"advance": 48 * 3600})

    assert await refused(client, "deleteMessage", chat_id=1001, message_id=1) == (
        400,
        "Bad Request: message can't be deleted",
    )


async def test_delete_messages_skips_what_it_cannot_delete(client: httpx.AsyncClient) -> None:
    own = await send(client, text="one")

    response = await call(
        client, "deleteMessages", chat_id=1001, message_ids=[1, own["message_id"], 77]
    )

    assert response.json()["result"] is True
    assert [m["deleted"] for m in await history(client)] == [True, True]


# -- callback queries -----------------------------------------------------------------------


async def test_a_button_press_reaches_the_bot_and_is_answered_once(
    client: httpx.AsyncClient,
) -> None:
    sent = await send(client, text="Approve?", reply_markup=KEYBOARD)
    query_id = await press(client, sent["message_id"], "approve:7")
    update = (await call(client, "getUpdates", offset=4)).json()["result"][0]

    first = await call(
        client, "answerCallbackQuery", callback_query_id=query_id, text="Done", show_alert=True
    )
    second = await refused(client, "answerCallbackQuery", callback_query_id=query_id)
    answers = (await client.get("/_emulator/callback-answers")).json()

    callback = update["callback_query"]
    assert callback["id"] == query_id
    assert callback["data"] == "approve:7"
    assert callback["from"]["id"] == 1001
    assert callback["message"]["message_id"] == sent["message_id"]
    assert callback["message"]["reply_markup"] == KEYBOARD
    assert isinstance(callback["chat_instance"], str)
    assert first.json() == {"ok": True, "result": True}
    assert second == (
        400,
        "Bad Request: query is too old and response timeout expired or query ID is invalid",
    )
    assert answers == [
        {
            "bot_id": 2345678,
            "callback_query_id": query_id,
            "chat_id": 1001,
            "message_id": sent["message_id"],
            "data": "approve:7",
            "text": "Done",
            "show_alert": True,
            "url": None,
            "cache_time": 0,
            "date": answers[0]["date"],
        }
    ]


@invalid_on_purpose
async def test_callback_answers_are_checked(client: httpx.AsyncClient) -> None:
    sent = await send(client, text="Approve?", reply_markup=KEYBOARD)
    query_id = await press(client, sent["message_id"], "approve:7")

    too_long = await refused(
        client, "answerCallbackQuery", callback_query_id=query_id, text="x" * 201
    )
    unknown = await refused(client, "answerCallbackQuery", callback_query_id="12345")
    await client.post("/_emulator/clock", json={"advance": 60})
    expired = await refused(client, "answerCallbackQuery", callback_query_id=query_id)

    assert too_long == (400, "Bad Request: MESSAGE_TOO_LONG")
    assert unknown[1].startswith("Bad Request: query is too old")
    assert expired[1].startswith("Bad Request: query is too old")


async def test_only_buttons_the_message_carries_can_be_pressed(client: httpx.AsyncClient) -> None:
    sent = await send(client, text="Approve?", reply_markup=KEYBOARD)

    wrong_data = await client.post(
        "/_emulator/updates",
        json={"callback": {"from": ANN, "message_id": sent["message_id"], "data": "nope"}},
    )
    users_message = await client.post(
        "/_emulator/updates", json={"callback": {"from": ANN, "message_id": 1, "data": "x"}}
    )

    assert wrong_data.status_code == 400
    assert users_message.status_code == 400


# -- commands, chats, bot profile -----------------------------------------------------------


async def test_commands_are_kept_per_scope_and_language(client: httpx.AsyncClient) -> None:
    everyone = [{"command": "start", "description": "Start"}]
    admins = [{"command": "fleet", "description": "Fleet status"}]
    await call(client, "setMyCommands", commands=[{"command": "/start", "description": "Start"}])
    await call(client, "setMyCommands", commands=admins, scope={"type": "chat", "chat_id": 1001})
    await call(
        client,
        "setMyCommands",
        commands=admins,
        scope={"type": "chat_member", "chat_id": -500, "user_id": 1001},
    )
    await call(
        client,
        "setMyCommands",
        commands=[{"command": "start", "description": "Los"}],
        language_code="de",
    )
    await call(client, "setMyCommands", commands=everyone, scope={"type": "all_private_chats"})

    default = (await call(client, "getMyCommands")).json()["result"]
    chat = (await call(client, "getMyCommands", scope={"type": "chat", "chat_id": 1001})).json()[
        "result"
    ]
    member = (
        await call(
            client, "getMyCommands", scope={"type": "chat_member", "chat_id": -500, "user_id": 1001}
        )
    ).json()["result"]
    german = (await call(client, "getMyCommands", language_code="de")).json()["result"]
    groups = (await call(client, "getMyCommands", scope={"type": "all_group_chats"})).json()[
        "result"
    ]
    await call(client, "deleteMyCommands", scope={"type": "chat", "chat_id": 1001})
    deleted = (await call(client, "getMyCommands", scope={"type": "chat", "chat_id": 1001})).json()[
        "result"
    ]

    assert default == everyone
    assert chat == admins
    assert member == admins
    assert german == [{"command": "start", "description": "Los"}]
    assert groups == []
    assert deleted == []


@invalid_on_purpose
@pytest.mark.parametrize(
    ("params", "description"),
    [
        (
            {"commands": [{"command": "Start", "description": "Go"}]},
            "Bad Request: BOT_COMMAND_INVALID",
        ),
        (
            {"commands": [{"command": "a-b", "description": "Go"}]},
            "Bad Request: BOT_COMMAND_INVALID",
        ),
        (
            {"commands": [{"command": "c" * 33, "description": "Go"}]},
            "Bad Request: command length must not exceed 32",
        ),
        (
            {"commands": [{"command": "start", "description": " "}]},
            "Bad Request: command description must be non-empty",
        ),
        (
            {"commands": [{"command": "start", "description": "d" * 257}]},
            "Bad Request: command description length must not exceed 256",
        ),
        (
            {"commands": [{"command": f"c{i}", "description": "d"} for i in range(101)]},
            "Bad Request: BOT_COMMANDS_TOO_MUCH",
        ),
        (
            {"commands": [], "language_code": "english"},
            "Bad Request: invalid language code specified",
        ),
        (
            {"commands": [], "scope": {"type": "everyone"}},
            "Bad Request: can't parse BotCommandScope: Unsupported type specified",
        ),
        (
            {"commands": [], "scope": {"type": "chat", "chat_id": 31337}},
            "Bad Request: chat not found",
        ),
        (
            {"commands": [], "scope": {"type": "chat_administrators", "chat_id": 1001}},
            "Bad Request: can't use specified scope in private chats",
        ),
    ],
)
async def test_invalid_command_menus_are_refused(
    client: httpx.AsyncClient, params: dict[str, Any], description: str
) -> None:
    assert await refused(client, "setMyCommands", **params) == (400, description)


async def test_a_chat_action_is_recorded_and_get_chat_describes_the_chat(
    client: httpx.AsyncClient,
) -> None:
    typing = await call(client, "sendChatAction", chat_id=1001, action="typing")
    chat = (await call(client, "getChat", chat_id=1001)).json()["result"]
    chats = (await client.get("/_emulator/chats")).json()

    assert typing.json() == {"ok": True, "result": True}
    assert chat["id"] == 1001
    assert chat["type"] == "private"
    assert chat["first_name"] == "Ann"
    assert chats[0]["chat_actions"][0]["action"] == "typing"


@invalid_on_purpose
async def test_unknown_chat_actions_and_chats_are_refused(client: httpx.AsyncClient) -> None:
    assert await refused(client, "sendChatAction", chat_id=1001, action="dancing") == (
        400,
        "Bad Request: wrong parameter action in request",
    )
    assert await refused(client, "getChat", chat_id=31337) == (400, "Bad Request: chat not found")


async def test_names_and_descriptions_are_kept_per_language(client: httpx.AsyncClient) -> None:
    await call(client, "setMyName", name="Fleet Bot")
    await call(client, "setMyName", name="Flottenbot", language_code="de")
    await call(client, "setMyDescription", description="Runs agents")
    await call(client, "setMyShortDescription", short_description="Agents")

    me = (await call(client, "getMe")).json()["result"]
    german = (await call(client, "getMyName", language_code="de")).json()["result"]
    description = (await call(client, "getMyDescription")).json()["result"]
    short = (await call(client, "getMyShortDescription", language_code="fr")).json()["result"]

    assert me["first_name"] == "Fleet Bot"
    assert german == {"name": "Flottenbot"}
    assert description == {"description": "Runs agents"}
    assert short == {"short_description": "Agents"}


async def test_close_and_log_out_answer_true(client: httpx.AsyncClient) -> None:
    assert (await call(client, "close")).json() == {"ok": True, "result": True}
    assert (await call(client, "logOut")).json() == {"ok": True, "result": True}


async def test_text_mentions_need_a_user_the_bot_knows(client: httpx.AsyncClient) -> None:
    known = await send(client, text='<a href="tg://user?id=1002">Bob</a>', parse_mode="HTML")
    unknown = await refused(
        client,
        "sendMessage",
        chat_id=1001,
        text='<a href="tg://user?id=9">x</a>',
        parse_mode="HTML",
    )

    assert known["entities"] == [
        {
            "type": "text_mention",
            "offset": 0,
            "length": 3,
            "user": {"id": 1002, "is_bot": False, "first_name": "Bob"},
        }
    ]
    assert unknown == (400, "Bad Request: user not found")


@invalid_on_purpose
async def test_form_encoded_reply_markup_must_be_json(client: httpx.AsyncClient) -> None:
    response = await client.post(
        f"/bot{TOKEN}/sendMessage",
        data={"chat_id": "1001", "text": "x", "reply_markup": json.dumps(KEYBOARD)[:-1]},
    )

    assert response.status_code == 400
    assert (
        response.json()["description"]
        == "Bad Request: can't parse reply keyboard markup JSON object"
    )
