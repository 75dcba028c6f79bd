"""Pins what the Telegram contract validator accepts and rejects, on hand-written calls.

Accepted calls are shaped like what python-telegram-bot sends (form-encoded, complex values as
JSON text) or a JSON client sends; each rejected call breaks the contract in exactly one way.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from contracts.telegram_spec import TelegramSpec

Record = dict[str, Any]

BOT_ID = 7000000001
CHAT_ID = 42


def call(
    method: str,
    params: dict[str, Any],
    *,
    encoding: str = "json",
    result: Any = True,
    status: int = 200,
    answer: dict[str, Any] | None = None,
) -> Record:
    return {
        "seq": 1,
        "bot_id": BOT_ID,
        "method": method,
        "encoding": encoding,
        "params": params,
        "status": status,
        "answer": answer if answer is not None else {"ok": True, "result": result},
    }


def bot_user() -> dict[str, Any]:
    return {
        "id": BOT_ID,
        "is_bot": True,
        "first_name": "Fleet Admin",
        "username": "fleet_admin_bot",
        "can_join_groups": True,
        "can_read_all_group_messages": False,
        "supports_inline_queries": False,
    }


def sent_message(text: str = "Agent a-1 is running") -> dict[str, Any]:
    return {
        "message_id": 17,
        "date": 1_780_000_000,
        "chat": {"id": CHAT_ID, "type": "private", "first_name": "Ann", "username": "ann"},
        "from": bot_user(),
        "text": text,
        "entities": [{"type": "bold", "offset": 0, "length": 5}],
        "reply_markup": keyboard(),
    }


def document_message() -> dict[str, Any]:
    message = sent_message()
    del message["text"], message["entities"]
    message["caption"] = "logs"
    message["document"] = {"file_id": "BQACAgI", "file_unique_id": "AgAD", "file_name": "a.txt"}
    return message


def keyboard(callback_data: Any = "agent:a-1:restart") -> dict[str, Any]:
    return {
        "inline_keyboard": [
            [{"text": "Restart", "callback_data": callback_data}],
            [{"text": "Docs", "url": "https://example.com/docs"}],
        ]
    }


def form_send_message(**overrides: str) -> Record:
    params = {
        "chat_id": str(CHAT_ID),
        "text": "<b>Agent</b> a-1 is running",
        "parse_mode": "HTML",
        "reply_markup": json.dumps(keyboard()),
        "disable_notification": "true",
    }
    params.update(overrides)
    return call("sendMessage", params, encoding="form", result=sent_message())


# -- calls that honour the contract --------------------------------------------------------------


def accepted_calls() -> list[tuple[str, Record]]:
    callback_query = {
        "id": "4382bfdwdsb323b2d9",
        "from": {"id": CHAT_ID, "is_bot": False, "first_name": "Ann", "language_code": "en"},
        "message": sent_message(),
        "chat_instance": "-1234",
        "data": "agent:a-1:restart",
    }
    return [
        ("sendMessage form-encoded with a keyboard", form_send_message()),
        ("sendMessage booleans as Python writes them", form_send_message(protect_content="True")),
        (
            "sendMessage as JSON with an inline keyboard",
            call(
                "sendMessage",
                {"chat_id": CHAT_ID, "text": "hi", "reply_markup": keyboard()},
                result=sent_message("hi"),
            ),
        ),
        (
            "sendMessage as JSON with the keyboard serialized",
            call(
                "sendMessage",
                {"chat_id": "@fleet_ops", "text": "hi", "reply_markup": json.dumps(keyboard())},
                result=sent_message("hi"),
            ),
        ),
        ("getMe", call("getMe", {}, result=bot_user())),
        ("method names are case-insensitive", call("getme", {}, result=bot_user())),
        (
            "setMyCommands for one chat, form-encoded",
            call(
                "setMyCommands",
                {
                    "commands": json.dumps([{"command": "agents", "description": "List agents"}]),
                    "scope": json.dumps({"type": "chat", "chat_id": CHAT_ID}),
                },
                encoding="form",
            ),
        ),
        (
            "getUpdates answers a callback query",
            call(
                "getUpdates",
                {"offset": "101", "timeout": "10", "allowed_updates": '["message"]'},
                encoding="query",
                result=[{"update_id": 101, "callback_query": callback_query}],
            ),
        ),
        (
            "answerCallbackQuery",
            call(
                "answerCallbackQuery",
                {"callback_query_id": "4382bfdwdsb323b2d9", "text": "Restarting…"},
                encoding="form",
            ),
        ),
        (
            "sendDocument uploads a file",
            call(
                "sendDocument",
                {"chat_id": str(CHAT_ID), "document": "report.txt", "caption": "logs"},
                encoding="multipart",
                result=document_message(),
            ),
        ),
        (
            "sendMediaGroup refers to uploaded parts with attach://",
            call(
                "sendMediaGroup",
                {
                    "chat_id": str(CHAT_ID),
                    "media": json.dumps([{"type": "document", "media": "attach://logs0"}]),
                    "logs0": "a-1.log",
                },
                encoding="multipart",
                result=[sent_message()],
            ),
        ),
        (
            "flood control error with retry_after",
            call(
                "sendMessage",
                {"chat_id": CHAT_ID, "text": "hi"},
                status=429,
                answer={
                    "ok": False,
                    "error_code": 429,
                    "description": "Too Many Requests: retry after 3",
                    "parameters": {"retry_after": 3},
                },
            ),
        ),
        (
            "deleteWebhook answers with a description",
            call(
                "deleteWebhook",
                {},
                answer={"ok": True, "result": True, "description": "Webhook is already deleted"},
            ),
        ),
    ]


@pytest.mark.parametrize(
    "record", [r for _, r in accepted_calls()], ids=[n for n, _ in accepted_calls()]
)
def test_call_shaped_like_real_bot_traffic_passes(
    telegram_spec: TelegramSpec, record: Record
) -> None:
    assert telegram_spec.check_call(record) == []


# -- calls that break it -------------------------------------------------------------------------


def test_missing_required_field_is_caught(telegram_spec: TelegramSpec) -> None:
    record = call("sendMessage", {"chat_id": CHAT_ID}, result=sent_message())
    assert telegram_spec.check_call(record) == [
        "#1 sendMessage (json) -> 200: request: required field 'text' is missing"
    ]


def test_callback_data_of_the_wrong_type_is_caught(telegram_spec: TelegramSpec) -> None:
    record = form_send_message(reply_markup=json.dumps(keyboard(callback_data=5)))
    problems = telegram_spec.check_call(record)
    assert len(problems) == 1
    assert (
        "reply_markup.inline_keyboard[0][0].callback_data: expected String, got int 5"
        in (problems[0])
    )


def test_callback_data_over_64_bytes_is_caught(telegram_spec: TelegramSpec) -> None:
    record = form_send_message(reply_markup=json.dumps(keyboard(callback_data="é" * 33)))
    problems = telegram_spec.check_call(record)
    assert len(problems) == 1
    assert "callback_data: 66 bytes, must be 1-64" in problems[0]


def test_unknown_method_is_caught(telegram_spec: TelegramSpec) -> None:
    record = call(
        "sendMessages",
        {"chat_id": CHAT_ID, "text": "hi"},
        status=404,
        answer={"ok": False, "error_code": 404, "description": "Not Found"},
    )
    assert telegram_spec.check_call(record) == [
        "#1 sendMessages (json) -> 404: request: unknown method 'sendMessages'"
    ]


def test_unknown_field_is_caught(telegram_spec: TelegramSpec) -> None:
    problems = telegram_spec.check_call(form_send_message(silent="true"))
    assert len(problems) == 1
    assert "request: unknown field 'silent'" in problems[0]


def test_unknown_member_of_a_nested_object_is_caught(telegram_spec: TelegramSpec) -> None:
    markup = keyboard()
    markup["inline_keyboard"][0][0]["data"] = "x"
    problems = telegram_spec.check_call(form_send_message(reply_markup=json.dumps(markup)))
    assert len(problems) == 1
    assert "InlineKeyboardButton has no field 'data'" in problems[0]


def test_form_boolean_that_the_api_cannot_read_is_caught(telegram_spec: TelegramSpec) -> None:
    problems = telegram_spec.check_call(form_send_message(disable_notification="yes"))
    assert problems == [
        "#1 sendMessage (form) -> 200: request: disable_notification: expected Boolean, "
        'got str "yes"'
    ]


def test_form_integer_that_is_not_decimal_is_caught(telegram_spec: TelegramSpec) -> None:
    record = call("deleteMessage", {"chat_id": "42", "message_id": "17.0"}, encoding="form")
    problems = telegram_spec.check_call(record)
    assert len(problems) == 1
    assert "message_id: expected Integer" in problems[0]


def test_form_value_that_is_not_json_for_an_object_is_caught(telegram_spec: TelegramSpec) -> None:
    problems = telegram_spec.check_call(form_send_message(reply_markup="inline_keyboard=[]"))
    assert len(problems) == 1
    assert "reply_markup: expected" in problems[0]


def test_json_number_sent_as_text_is_caught(telegram_spec: TelegramSpec) -> None:
    record = call("deleteMessage", {"chat_id": CHAT_ID, "message_id": "17"})
    problems = telegram_spec.check_call(record)
    assert problems == [
        '#1 deleteMessage (json) -> 200: request: message_id: expected Integer, got str "17"'
    ]


def test_null_value_is_caught(telegram_spec: TelegramSpec) -> None:
    record = call(
        "sendMessage",
        {"chat_id": CHAT_ID, "text": "hi", "reply_markup": None},
        result=sent_message("hi"),
    )
    assert "reply_markup: null is not a value" in telegram_spec.check_call(record)[0]


def test_abstract_type_variant_is_picked_by_its_tag(telegram_spec: TelegramSpec) -> None:
    record = call(
        "setMyCommands",
        {
            "commands": [{"command": "agents", "description": "List agents"}],
            "scope": {"type": "chat"},
        },
    )
    problems = telegram_spec.check_call(record)
    assert problems == [
        "#1 setMyCommands (json) -> 200: request: scope: BotCommandScopeChat lacks required "
        "field 'chat_id'"
    ]


def test_abstract_type_with_an_unknown_tag_is_caught(telegram_spec: TelegramSpec) -> None:
    record = call(
        "setMyCommands",
        {"commands": [{"command": "agents", "description": "x"}], "scope": {"type": "admins"}},
    )
    problems = telegram_spec.check_call(record)
    assert len(problems) == 1
    assert "no BotCommandScope variant is tagged so" in problems[0]


def test_result_missing_a_required_message_field_is_caught(telegram_spec: TelegramSpec) -> None:
    message = sent_message()
    del message["chat"]
    record = call("sendMessage", {"chat_id": CHAT_ID, "text": "hi"}, result=message)
    assert telegram_spec.check_call(record) == [
        "#1 sendMessage (json) -> 200: response: result: Message lacks required field 'chat'"
    ]


def test_result_with_a_member_the_api_does_not_define_is_caught(
    telegram_spec: TelegramSpec,
) -> None:
    user = bot_user()
    user["token"] = "123:abc"
    problems = telegram_spec.check_call(call("getMe", {}, result=user))
    assert problems == ["#1 getMe (json) -> 200: response: result.token: User has no field 'token'"]


def test_result_of_the_wrong_return_type_is_caught(telegram_spec: TelegramSpec) -> None:
    problems = telegram_spec.check_call(
        call("deleteMessage", {"chat_id": 1, "message_id": 2}, result=sent_message())
    )
    assert len(problems) == 1
    assert "result: expected Boolean" in problems[0]


def test_error_code_that_differs_from_the_http_status_is_caught(
    telegram_spec: TelegramSpec,
) -> None:
    record = call(
        "sendMessage",
        {"chat_id": CHAT_ID, "text": "hi"},
        status=200,
        answer={"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked"},
    )
    assert "error_code 403 differs from the HTTP status 200" in telegram_spec.check_call(record)[0]


def test_answer_without_an_ok_flag_is_caught(telegram_spec: TelegramSpec) -> None:
    record = call("getMe", {}, answer={"result": bot_user()})
    assert "ok: expected Boolean" in telegram_spec.check_call(record)[0]


def test_violations_say_which_side_broke_the_contract(telegram_spec: TelegramSpec) -> None:
    user = bot_user()
    del user["is_bot"]
    record = call("getMe", {"verbose": True}, result=user)
    assert sorted(v.side for v in telegram_spec.call_violations(record)) == [
        "request",
        "response",
    ]


def test_union_mismatch_names_every_accepted_type(telegram_spec: TelegramSpec) -> None:
    errors = telegram_spec.value_errors(1.5, ["Integer", "String"], "chat_id")
    assert errors == ["chat_id: expected Integer or String, got float 1.5"]
