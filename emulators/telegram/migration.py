"""A group upgraded to a supergroup, as Telegram does when a group gets some admin features or
goes public.

The group keeps its history but is dead from then on: every Bot API call naming it answers
400 with the supergroup's id (`World.chat_of`), and nobody writes or presses buttons there any
more. The supergroup is a new chat with the group's title, known to the bot, whose message ids
start again at 1. The bot gets Telegram's two service messages: `migrate_to_chat_id` in the
group, then `migrate_from_chat_id` in the supergroup. Nothing here speaks HTTP, and only the
bot named by the control call sees the upgrade (chats are per bot in this emulator).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .state import Chat, User
from .users_side import ControlError, meet, parse_user, select_bot
from .world import World

# Who Telegram names as the sender of what a group's anonymous administrators do.
ANONYMOUS_ADMIN = User(1087968824, "Group", is_bot=True, username="GroupAnonymousBot")
SUPERGROUP_PREFIX = "-100"


def supergroup_id_for(group_id: int) -> int:
    """The default new id: -100, then the group id's digits zero-padded to ten (-4242 gives
    -1000000004242), which keeps distinct groups apart and looks like Telegram's ids."""
    return -int(f"100{abs(group_id):010d}")


def _supergroup_id(raw: Any, group_id: int) -> int:
    if raw is None:
        return supergroup_id_for(group_id)
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise ControlError(400, "to_chat_id must be an integer")
    if not str(raw).startswith(SUPERGROUP_PREFIX) or raw > -1000:
        raise ControlError(400, "to_chat_id must be a supergroup id: -100 followed by digits")
    return raw


def upgrade_group(world: World, chat_id: int, body: Mapping[str, Any]) -> dict[str, Any]:
    """Upgrade the bot's group `chat_id`; the body may name `to_chat_id`, `from` and `bot`."""
    bot = select_bot(world, body.get("bot"))
    group = bot.chats.get(chat_id)
    if group is None:
        raise ControlError(404, f"bot {bot.id} has no chat {chat_id}")
    if group.migrated_to is not None:
        raise ControlError(
            400, f"chat {chat_id} was already upgraded to the supergroup {group.migrated_to}"
        )
    if group.chat.type != "group":
        raise ControlError(
            400,
            f"only a group can be upgraded to a supergroup: chat {chat_id} is a {group.chat.type}",
        )
    new_id = _supergroup_id(body.get("to_chat_id"), chat_id)
    if new_id in bot.chats:
        raise ControlError(400, f"chat {new_id} already exists: name another to_chat_id")
    # Whoever upgraded it, else the group's anonymous administrators.
    upgrader = parse_user(body["from"], bot.users) if body.get("from") is not None else None
    supergroup = meet(bot, Chat(new_id, "supergroup", title=group.chat.title), upgrader)
    supergroup.migrated_from = chat_id
    group.migrated_to = new_id
    date = world.unix_now()
    farewell = group.add_service(
        upgrader or ANONYMOUS_ADMIN,
        date,
        {"migrate_to_chat_id": new_id},
        sender_chat=None if upgrader else group.chat,
    )
    welcome = supergroup.add_service(
        ANONYMOUS_ADMIN, date, {"migrate_from_chat_id": chat_id}, sender_chat=supergroup.chat
    )
    # Service messages reach a bot whatever its privacy mode.
    update_ids = [bot.enqueue("message", m.to_json(), world.now()) for m in (farewell, welcome)]
    return {
        "bot_id": bot.id,
        "from_chat_id": chat_id,
        "to_chat_id": new_id,
        "chat": supergroup.chat.to_json(),
        "update_ids": update_ids,
        "messages": [farewell.history_json(), welcome.history_json()],
    }
