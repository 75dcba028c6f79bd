"""Reply markup as Telegram validates it: inline keyboards, reply keyboards, removal, force reply.

Only an inline keyboard becomes part of the stored Message (`Message.reply_markup`); the
other kinds are accepted, validated and remembered beside the message. This module never
decides which methods accept which kind: callers do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from .errors import BotApiError, bad_request
from .links import checked_link

MAX_CALLBACK_DATA_BYTES = 64

_INLINE_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
_INLINE_DECORATIONS = ("style", "icon_custom_emoji_id")
_REPLY_BUTTON_FIELDS = (
    "style",
    "icon_custom_emoji_id",
    "request_users",
    "request_chat",
    "request_managed_bot",
    "request_contact",
    "request_location",
    "request_poll",
    "web_app",
)
_REPLY_KEYBOARD_OPTIONS = (
    "is_persistent",
    "resize_keyboard",
    "one_time_keyboard",
    "input_field_placeholder",
    "selective",
)

MarkupKind = Literal["inline", "reply_keyboard", "remove_keyboard", "force_reply"]


@dataclass(frozen=True)
class ReplyMarkup:
    kind: MarkupKind
    value: dict[str, Any] | None  # None: an inline keyboard without buttons

    @property
    def inline_keyboard(self) -> dict[str, Any] | None:
        return self.value if self.kind == "inline" else None


def _markup_error() -> BotApiError:
    return bad_request("can't parse reply keyboard markup JSON object")


def _button_error(detail: str) -> BotApiError:
    return bad_request(f"can't parse inline keyboard button: {detail}")


def _rows(value: Any, field: str, owner: str) -> list[list[Any]]:
    if not isinstance(value, list) or any(not isinstance(row, list) for row in value):
        raise bad_request(f'field "{field}" of the {owner} should be an Array of Arrays')
    return value


def _inline_button(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise _button_error("InlineKeyboardButton must be an Object")
    text = raw.get("text")
    if not isinstance(text, str):
        raise _button_error('Field "text" must be of type String')
    if not any(raw.get(action) is not None for action in _INLINE_ACTIONS):
        raise _button_error("Text buttons are unallowed in the inline keyboard")
    button: dict[str, Any] = {"text": text}
    for name in (*_INLINE_DECORATIONS, *_INLINE_ACTIONS):
        if raw.get(name) is not None:
            button[name] = raw[name]
    if "callback_data" in button:
        data = button["callback_data"]
        if not isinstance(data, str):
            raise _button_error('Field "callback_data" must be of type String')
        if not 1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_DATA_BYTES:
            raise bad_request("BUTTON_DATA_INVALID")
    if "url" in button:
        url = button["url"]
        if not isinstance(url, str):
            raise _button_error('Field "url" must be of type String')
        if checked_link(url) is None:
            raise bad_request(f"inline keyboard button URL '{url}' is invalid: Wrong HTTP URL")
    return button


def parse_inline_keyboard(raw: dict[str, Any]) -> dict[str, Any] | None:
    rows: list[list[dict[str, Any]]] = []
    for row in _rows(raw.get("inline_keyboard"), "inline_keyboard", "InlineKeyboardMarkup"):
        buttons = [_inline_button(button) for button in row]
        if buttons:
            rows.append(buttons)
    return {"inline_keyboard": rows} if rows else None


def _reply_button(raw: Any) -> dict[str, Any]:
    if isinstance(raw, str):
        return {"text": raw}
    if not isinstance(raw, dict) or not isinstance(raw.get("text"), str):
        raise bad_request('can\'t parse keyboard button: Field "text" must be of type String')
    button: dict[str, Any] = {"text": raw["text"]}
    for name in _REPLY_BUTTON_FIELDS:
        if raw.get(name) is not None:
            button[name] = raw[name]
    return button


def _reply_keyboard(raw: dict[str, Any]) -> dict[str, Any]:
    rows = [
        [_reply_button(button) for button in row]
        for row in _rows(raw.get("keyboard"), "keyboard", "ReplyKeyboardMarkup")
    ]
    keyboard: dict[str, Any] = {"keyboard": [row for row in rows if row]}
    for name in _REPLY_KEYBOARD_OPTIONS:
        if raw.get(name) is not None:
            keyboard[name] = raw[name]
    return keyboard


def _flag_markup(raw: dict[str, Any], flag: str, options: tuple[str, ...]) -> dict[str, Any]:
    if raw.get(flag) is not True:
        raise _markup_error()
    markup: dict[str, Any] = {flag: True}
    for name in options:
        if raw.get(name) is not None:
            markup[name] = raw[name]
    return markup


def parse_reply_markup(raw: Any) -> ReplyMarkup | None:
    """The validated markup of a send call, or the BotApiError Telegram would answer."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise _markup_error()
    if "inline_keyboard" in raw:
        return ReplyMarkup("inline", parse_inline_keyboard(raw))
    if "keyboard" in raw:
        return ReplyMarkup("reply_keyboard", _reply_keyboard(raw))
    if "remove_keyboard" in raw:
        return ReplyMarkup("remove_keyboard", _flag_markup(raw, "remove_keyboard", ("selective",)))
    if "force_reply" in raw:
        return ReplyMarkup(
            "force_reply",
            _flag_markup(raw, "force_reply", ("input_field_placeholder", "selective")),
        )
    raise _markup_error()


def parse_edit_markup(raw: Any) -> dict[str, Any] | None:
    """An edit accepts only an inline keyboard; None removes the keyboard."""
    markup = parse_reply_markup(raw)
    if markup is None:
        return None
    if markup.kind != "inline":
        raise bad_request("inline keyboard expected")
    return markup.inline_keyboard


def callback_data_of(keyboard: dict[str, Any] | None) -> set[str]:
    if keyboard is None:
        return set()
    return {
        button["callback_data"]
        for row in keyboard.get("inline_keyboard", [])
        for button in row
        if isinstance(button.get("callback_data"), str)
    }
