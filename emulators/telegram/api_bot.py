"""Bot API methods about the bot itself: getMe, command menus, names, descriptions, close.

Commands are stored per (scope, language) exactly as given (a leading "/" dropped), and
read back for the exact same key, as Telegram does. A scope naming a chat needs a chat
the bot has seen. Names and descriptions are cheap per-language strings.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import BotApiError, bad_request
from .params import coerce_chat_id, json_value, string
from .registry import Call, bot_method
from .state import BotState
from .world import World

MAX_COMMANDS = 100
MAX_COMMAND_LENGTH = 32
MAX_COMMAND_DESCRIPTION = 256
MAX_NAME = 64
MAX_DESCRIPTION = 512
MAX_SHORT_DESCRIPTION = 120
_COMMAND = re.compile(r"^[a-z0-9_]+$")
_LANGUAGE = re.compile(r"^[a-z]{2}$")
_PLAIN_SCOPES = frozenset(
    {"default", "all_private_chats", "all_group_chats", "all_chat_administrators"}
)
_CHAT_SCOPES = frozenset({"chat", "chat_administrators", "chat_member"})

ScopeKey = tuple[Any, ...]


@bot_method("getMe")
async def get_me(call: Call) -> dict[str, Any]:
    answer = call.bot.user.to_json()
    answer.update(
        {
            "can_join_groups": True,
            "can_read_all_group_messages": not call.bot.privacy_mode,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
            "has_topics_enabled": False,
            "allows_users_to_create_topics": False,
        }
    )
    return answer


def _scope_error(detail: str) -> BotApiError:
    return bad_request(f"can't parse BotCommandScope: {detail}")


def _scope_key(world: World, bot: BotState, raw: Any) -> ScopeKey:
    if raw is None:
        return ("default",)
    if not isinstance(raw, dict):
        raise _scope_error("Object expected")
    kind = raw.get("type")
    if kind in _PLAIN_SCOPES:
        return (kind,)
    if kind not in _CHAT_SCOPES:
        raise _scope_error("Unsupported type specified")
    if raw.get("chat_id") in (None, ""):
        raise _scope_error('Field "chat_id" must be of type Integer or String')
    state = world.chat_of(bot, coerce_chat_id(raw["chat_id"]))
    if kind == "chat":
        return (kind, state.chat.id)
    if state.chat.is_private:
        raise bad_request("can't use specified scope in private chats")
    if kind == "chat_administrators":
        return (kind, state.chat.id)
    user_id = raw.get("user_id")
    if isinstance(user_id, str) and user_id.isdigit():
        user_id = int(user_id)
    if isinstance(user_id, bool) or not isinstance(user_id, int) or user_id <= 0:
        raise _scope_error("Invalid user_id specified")
    return (kind, state.chat.id, user_id)


def _language(call: Call) -> str:
    language = call.params.string("language_code") or ""
    if language and not _LANGUAGE.match(language):
        raise bad_request("invalid language code specified")
    return language


def _command_field(raw: dict[str, Any], name: str) -> str:
    value = raw.get(name)
    if not isinstance(value, str):
        raise bad_request(f'can\'t parse BotCommand: Field "{name}" must be of type String')
    return value


def _command(raw: Any) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise bad_request("can't parse BotCommand: Object expected")
    command, description = _command_field(raw, "command"), _command_field(raw, "description")
    command = command.strip().removeprefix("/")
    description = description.strip()
    if not command:
        raise bad_request("command must be non-empty")
    if len(command) > MAX_COMMAND_LENGTH:
        raise bad_request(f"command length must not exceed {MAX_COMMAND_LENGTH}")
    if not _COMMAND.match(command):
        raise bad_request("BOT_COMMAND_INVALID")
    if not description:
        raise bad_request("command description must be non-empty")
    if len(description) > MAX_COMMAND_DESCRIPTION:
        raise bad_request(f"command description length must not exceed {MAX_COMMAND_DESCRIPTION}")
    return {"command": command, "description": description}


_SCOPE_FIELDS = (
    json_value("scope", unparsable="can't parse BotCommandScope JSON object"),
    string("language_code"),
)


@bot_method(
    "setMyCommands",
    json_value(
        "commands",
        required=True,
        missing='parameter "commands" is required',
        unparsable="can't parse commands JSON object",
    ),
    *_SCOPE_FIELDS,
)
async def set_my_commands(call: Call) -> bool:
    raw = call.params.json("commands")
    if not isinstance(raw, list):
        raise bad_request("can't parse commands JSON object")
    if len(raw) > MAX_COMMANDS:
        raise bad_request("BOT_COMMANDS_TOO_MUCH")
    commands = [_command(item) for item in raw]
    key = (_scope_key(call.world, call.bot, call.params.json("scope")), _language(call))
    if commands:
        call.bot.commands[key] = commands
    else:
        call.bot.commands.pop(key, None)
    return True


@bot_method("getMyCommands", *_SCOPE_FIELDS)
async def get_my_commands(call: Call) -> list[dict[str, str]]:
    key = (_scope_key(call.world, call.bot, call.params.json("scope")), _language(call))
    return [dict(command) for command in call.bot.commands.get(key, [])]


@bot_method("deleteMyCommands", *_SCOPE_FIELDS)
async def delete_my_commands(call: Call) -> bool:
    key = (_scope_key(call.world, call.bot, call.params.json("scope")), _language(call))
    call.bot.commands.pop(key, None)
    return True


def _set_text(
    store: dict[str, str], language: str, value: str | None, limit: int, what: str
) -> None:
    value = value or ""
    if len(value) > limit:
        raise bad_request(f"{what} is too long")
    if value:
        store[language] = value
    else:
        store.pop(language, None)


@bot_method("setMyName", string("name"), string("language_code"))
async def set_my_name(call: Call) -> bool:
    language = _language(call)
    _set_text(call.bot.names, language, call.params.string("name"), MAX_NAME, "bot name")
    if language == "":
        call.bot.first_name = call.bot.names.get("", f"Bot {call.bot.id}")
    return True


@bot_method("getMyName", string("language_code"))
async def get_my_name(call: Call) -> dict[str, str]:
    language = _language(call)
    return {"name": call.bot.names.get(language) or call.bot.first_name}


@bot_method("setMyDescription", string("description"), string("language_code"))
async def set_my_description(call: Call) -> bool:
    description = call.params.string("description")
    _set_text(call.bot.descriptions, _language(call), description, MAX_DESCRIPTION, "description")
    return True


@bot_method("getMyDescription", string("language_code"))
async def get_my_description(call: Call) -> dict[str, str]:
    language = _language(call)
    descriptions = call.bot.descriptions
    return {"description": descriptions.get(language) or descriptions.get("", "")}


@bot_method("setMyShortDescription", string("short_description"), string("language_code"))
async def set_my_short_description(call: Call) -> bool:
    _set_text(
        call.bot.short_descriptions,
        _language(call),
        call.params.string("short_description"),
        MAX_SHORT_DESCRIPTION,
        "short description",
    )
    return True


@bot_method("getMyShortDescription", string("language_code"))
async def get_my_short_description(call: Call) -> dict[str, str]:
    language = _language(call)
    short = call.bot.short_descriptions
    return {"short_description": short.get(language) or short.get("", "")}


@bot_method("close")
async def close(call: Call) -> bool:
    return True


@bot_method("logOut")
async def log_out(call: Call) -> bool:
    return True
