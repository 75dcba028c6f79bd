"""The users' side of Telegram: people writing to bots and pressing their buttons.

The control API and the in-process helpers call these functions to turn "Ann sends
/start" or "Ann presses the Approve button" into stored messages and queued updates, and
to pick which bot a control call is about. Invalid requests raise `ControlError` (an HTTP
status and a readable message); nothing here speaks HTTP itself.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from .errors import BotApiError
from .formatting import format_text
from .keyboards import callback_data_of
from .state import BotState, Chat, ChatState, StoredMessage, User
from .world import TOKEN_PATTERN, CallbackQuery, World

CHAT_TYPES = frozenset({"private", "group", "supergroup", "channel"})


class ControlError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ControlError(400, f"{what} must be an integer")
    return value


def _optional_str(raw: Mapping[str, Any], name: str) -> str | None:
    value = raw.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ControlError(400, f"{name} must be a string")
    return value


def select_bot(world: World, reference: Any) -> BotState:
    """The bot a control call names (token or id), or the first bot that called the API."""
    if reference is None:
        if world.first_caller is None:
            raise ControlError(
                409,
                'no bot has called the Bot API yet: name one with "bot": "<token>"',
            )
        return world.bots[world.first_caller]
    if isinstance(reference, str) and TOKEN_PATTERN.match(reference):
        bot = world.bot_for_token(reference)
        if bot is None:
            raise ControlError(400, "this token's secret differs from the one the bot uses")
        return bot
    if isinstance(reference, str) and reference.isdigit():
        reference = int(reference)
    if isinstance(reference, int) and not isinstance(reference, bool):
        bot = world.bots.get(reference)
        if bot is None:
            raise ControlError(404, f"unknown bot {reference}: name it by its token first")
        return bot
    raise ControlError(400, "bot must be a bot token or a bot id")


def parse_user(raw: Any, known: Mapping[int, User] | None = None) -> User:
    """The user a control call describes; omitted names fall back to what the bot knows."""
    if not isinstance(raw, Mapping):
        raise ControlError(400, '"from" must be a user object with an "id"')
    user_id = _int(raw.get("id"), "from.id")
    if user_id <= 0:
        raise ControlError(400, "from.id must be a positive user id")
    previous = (known or {}).get(user_id)
    if previous is not None and "first_name" not in raw:
        return previous
    first_name = _optional_str(raw, "first_name") or f"User {user_id}"
    return User(
        id=user_id,
        first_name=first_name,
        last_name=_optional_str(raw, "last_name"),
        username=_optional_str(raw, "username"),
        language_code=_optional_str(raw, "language_code"),
    )


def parse_chat(raw: Any, sender: User | None) -> Chat:
    if raw is None:
        if sender is None:
            raise ControlError(400, "chat is required")
        return Chat(
            sender.id,
            "private",
            username=sender.username,
            first_name=sender.first_name,
            last_name=sender.last_name,
        )
    if not isinstance(raw, Mapping):
        raise ControlError(400, "chat must be an object")
    chat_id = _int(raw.get("id"), "chat.id")
    kind = raw.get("type", "private" if chat_id > 0 else "group")
    if kind not in CHAT_TYPES:
        raise ControlError(400, f"chat.type must be one of {sorted(CHAT_TYPES)}")
    if kind == "private":
        if sender is not None and chat_id != sender.id:
            raise ControlError(400, "a private chat's id is the id of its user")
        if chat_id <= 0:
            raise ControlError(400, "a private chat's id is a positive user id")
        first_name = _optional_str(raw, "first_name") or (
            sender.first_name if sender else f"User {chat_id}"
        )
        return Chat(
            chat_id,
            kind,
            username=_optional_str(raw, "username") or (sender.username if sender else None),
            first_name=first_name,
            last_name=_optional_str(raw, "last_name") or (sender.last_name if sender else None),
        )
    if chat_id >= 0:
        raise ControlError(400, "group, supergroup and channel ids are negative")
    return Chat(
        chat_id,
        kind,
        title=_optional_str(raw, "title") or f"Chat {chat_id}",
        username=_optional_str(raw, "username"),
    )


def meet(bot: BotState, chat: Chat, user: User | None = None) -> ChatState:
    """Make the bot know a chat (and a user), refreshing what it knew about them."""
    if user is not None:
        bot.users[user.id] = user
    if chat.is_private:
        bot.users.setdefault(
            chat.id, User(chat.id, chat.first_name or f"User {chat.id}", username=chat.username)
        )
    state = bot.chats.get(chat.id)
    if state is None:
        state = bot.chats[chat.id] = ChatState(chat)
    else:
        for name in ("title", "username", "first_name", "last_name"):
            setattr(state.chat, name, getattr(chat, name))
        state.chat.type = chat.type
    return state


def ensure_not_migrated(state: ChatState | None) -> None:
    """Nobody writes or presses buttons in a group once it became a supergroup."""
    if state is not None and state.migrated_to is not None:
        raise ControlError(
            400,
            f"chat {state.chat.id} was upgraded to the supergroup {state.migrated_to}: "
            "its members write there now",
        )


def register_chat(world: World, body: Mapping[str, Any]) -> dict[str, Any]:
    bot = select_bot(world, body.get("bot"))
    state = meet(bot, parse_chat(body.get("chat"), None))
    return {"bot_id": bot.id, "chat": state.chat.to_json()}


def send_user_message(world: World, body: Mapping[str, Any]) -> dict[str, Any]:
    bot = select_bot(world, body.get("bot"))
    sender = parse_user(body.get("from"), bot.users)
    text = body.get("text")
    if not isinstance(text, str) or not text:
        raise ControlError(400, "text must be a non-empty string")
    chat = parse_chat(body.get("chat"), sender)
    ensure_not_migrated(bot.chats.get(chat.id))
    state = meet(bot, chat, sender)
    try:
        formatted = format_text(text, None, None, lambda user_id: world.known_user(bot, user_id))
    except BotApiError as error:
        raise ControlError(400, error.description) from None
    date = body.get("date", world.unix_now())
    message = state.add(sender, _int(date, "date"), formatted.text, formatted.entities_json())
    forward_origin = body.get("forward_origin")
    if forward_origin is not None:
        if not isinstance(forward_origin, Mapping):
            raise ControlError(400, "forward_origin must be a MessageOrigin object")
        message.forward_origin = dict(forward_origin)
    reply_to = body.get("reply_to_message_id")
    if reply_to is not None:
        replied = state.live(_int(reply_to, "reply_to_message_id"))
        if replied is None:
            raise ControlError(404, f"message {reply_to} not found in chat {state.chat.id}")
        message.reply_to = replied
    update_id = (
        bot.enqueue("message", message.to_json(), world.now())
        if _bot_sees(bot, state.chat, message)
        else None
    )
    return {
        "bot_id": bot.id,
        "update_id": update_id,
        "chat_id": state.chat.id,
        "message_id": message.message_id,
        "message": message.to_json(),
    }


def _bot_sees(bot: BotState, chat: Chat, message: StoredMessage) -> bool:
    """Privacy mode: in a group the bot gets only commands (not those addressed to another
    bot), messages that mention it, and replies to its own messages."""
    if chat.is_private or not bot.privacy_mode:
        return True
    if message.reply_to is not None and message.reply_to.sender.id == bot.id:
        return True
    mention = f"@{bot.username}".lower()
    units = message.text.encode("utf-16-le")  # entity offsets count UTF-16 code units
    for entity in message.entities:
        start, end = 2 * entity["offset"], 2 * (entity["offset"] + entity["length"])
        part = units[start:end].decode("utf-16-le").lower()
        if entity["type"] == "bot_command" and entity["offset"] == 0:
            addressed = part.partition("@")[2]
            return not addressed or addressed == bot.username.lower()
        if entity["type"] == "mention" and part == mention:
            return True
    return False


def _chat_instance(bot_id: int, chat_id: int) -> str:
    digest = hashlib.sha256(f"{bot_id}:{chat_id}".encode()).digest()
    return str(int.from_bytes(digest[:8], "big", signed=True))


def press_button(world: World, body: Mapping[str, Any]) -> dict[str, Any]:
    bot = select_bot(world, body.get("bot"))
    press = body.get("callback")
    if not isinstance(press, Mapping):
        raise ControlError(400, "callback must be an object")
    presser = parse_user(press.get("from"), bot.users)
    chat_id = _int(press.get("chat_id", presser.id), "callback.chat_id")
    state = bot.chats.get(chat_id)
    if state is None:
        raise ControlError(404, f"bot {bot.id} has no chat {chat_id}")
    ensure_not_migrated(state)
    if state.chat.is_private and chat_id != presser.id:
        raise ControlError(400, "only the chat's user can press buttons in a private chat")
    message_id = _int(press.get("message_id"), "callback.message_id")
    message = state.live(message_id)
    if message is None:
        raise ControlError(404, f"message {message_id} not found in chat {chat_id}")
    data = press.get("data")
    if not isinstance(data, str) or data not in callback_data_of(message.reply_markup):
        raise ControlError(400, f"message {message_id} has no button with callback_data {data!r}")
    meet(bot, state.chat, presser)
    query_id = world.new_callback_id(bot.id)
    world.callback_queries[query_id] = CallbackQuery(
        query_id, bot.id, presser, chat_id, message_id, data, world.now()
    )
    payload = {
        "id": query_id,
        "from": presser.to_json(),
        "message": message.to_json(),
        "chat_instance": _chat_instance(bot.id, chat_id),
        "data": data,
    }
    update_id = bot.enqueue("callback_query", payload, world.now())
    return {"bot_id": bot.id, "update_id": update_id, "callback_query_id": query_id}


def inject_update(world: World, body: Any) -> dict[str, Any]:
    if not isinstance(body, Mapping):
        raise ControlError(400, "expected a JSON object")
    if "callback" in body:
        return press_button(world, body)
    return send_user_message(world, body)
