"""Command menus per scope (`setMyCommands`): admins see admin commands, end users see theirs.

End users' commands are set for all private chats; each admin's private chat and the ops chat
get the admin menu (`BotCommandScopeChat`). Telegram refuses a chat scope for a chat the bot
has not seen yet ("chat not found"), so such a menu is set again the first time that admin
writes. When Telegram answers that the ops group became a supergroup (often the first thing a
restart with the old id meets), the move is reported to `on_chat_moved`'s listener (the
messenger, which follows it) and the ops menu is set in the supergroup (`move_ops_chat`).
This module only sets menus; the command table lives in `commands`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable

from telegram import Bot, BotCommand, BotCommandScopeAllPrivateChats, BotCommandScopeChat
from telegram.error import BadRequest, ChatMigrated, Forbidden

from bot.telegram.commands import ADMIN_COMMANDS, USER_COMMANDS, Command

log = logging.getLogger("bot.telegram.menus")


def _menu(commands: Iterable[Command], *, group: bool = False) -> list[BotCommand]:
    return [
        BotCommand(command.name, command.description[:256])
        for command in commands
        if not (group and command.private_only)
    ]


ADMIN_MENU = _menu(ADMIN_COMMANDS)
OPS_CHAT_MENU = _menu(ADMIN_COMMANDS, group=True)
USER_MENU = _menu(USER_COMMANDS)


class CommandMenus:
    def __init__(self, bot: Bot, admin_ids: Iterable[int], ops_chat_id: int) -> None:
        self._bot = bot
        self._admin_ids = tuple(admin_ids)
        self._ops_chat_id = ops_chat_id
        self._set: set[int] = set()
        self._chat_moved: Callable[[int, int], Awaitable[None]] | None = None

    def on_chat_moved(self, listener: Callable[[int, int], Awaitable[None]]) -> None:
        """Who to tell (old id, new id) when Telegram answers that a group became a
        supergroup."""
        self._chat_moved = listener

    async def move_ops_chat(self, chat_id: int) -> None:
        """The ops group became the supergroup `chat_id`: its menu is set there."""
        self._ops_chat_id = chat_id
        await self._set_chat(chat_id, OPS_CHAT_MENU)

    async def install(self) -> None:
        """At start-up: every menu that Telegram accepts now."""
        await self._bot.set_my_commands(USER_MENU, scope=BotCommandScopeAllPrivateChats())
        await self._set_chat(self._ops_chat_id, OPS_CHAT_MENU)
        for admin_id in self._admin_ids:
            await self._set_chat(admin_id, ADMIN_MENU)

    async def ensure_admin(self, chat_id: int) -> None:
        """An admin wrote in their private chat: make sure their menu is set."""
        if chat_id not in self._set:
            await self._set_chat(chat_id, ADMIN_MENU)

    async def _set_chat(self, chat_id: int, menu: list[BotCommand]) -> None:
        try:
            await self._bot.set_my_commands(menu, scope=BotCommandScopeChat(chat_id))
        except ChatMigrated as error:
            if self._chat_moved is not None:
                await self._chat_moved(chat_id, error.new_chat_id)
            return
        except (BadRequest, Forbidden) as error:
            log.info("menu for chat %s not set yet: %s", chat_id, error.message)
            return
        self._set.add(chat_id)
