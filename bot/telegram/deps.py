"""What every handler of the Telegram layer shares, bundled once when the application is built.

Handlers receive this bundle instead of reaching into `bot_data`, so each dependency is typed
and visible. It holds references only and never acts by itself; it only connects its parts
that must follow the ops chat when Telegram moves it to a supergroup.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from bot.fleet import FleetService
from bot.telegram.auth import Authorizer
from bot.telegram.confirmations import ConfirmationStore
from bot.telegram.flows import FlowStore
from bot.telegram.menus import CommandMenus
from bot.telegram.messenger import Messenger
from bot.telegram.options import BotOptions
from bot.telegram.paging import PageStore
from bot.telegram.people import People
from bot.telegram.rate_limit import OncePerWindow, PerUserLimit
from storage import Store


@dataclass
class BotDeps:
    service: FleetService
    store: Store
    options: BotOptions
    auth: Authorizer
    messenger: Messenger
    menus: CommandMenus
    people: People
    flows: FlowStore
    confirmations: ConfirmationStore
    pages: PageStore
    pairing_limit: PerUserLimit
    # Refusals (to strangers, or to end users asking for admin commands): each line once per
    # person per window, then silence. Keyed by (telegram user id, line).
    refusals: OncePerWindow
    # Set when something was queued for the ops chat, so the alert worker sends it now: the
    # worker has the outbox set it on every enqueue (`AlertOutbox.on_enqueued`).
    alerts_due: asyncio.Event

    def __post_init__(self) -> None:
        # A move of the ops chat is first seen wherever Telegram answers with it (a send, an
        # edit, a menu); the messenger follows it, then the ops menu goes to the new chat and
        # the alert worker wakes for the alert about it (and for what waited meanwhile).
        self.menus.on_chat_moved(self.messenger.follow_chat_move)
        self.messenger.on_ops_chat_moved(self._ops_chat_moved)

    async def _ops_chat_moved(self, old_chat_id: int, new_chat_id: int) -> None:
        await self.menus.move_ops_chat(new_chat_id)
        self.alerts_due.set()

    @property
    def ops_chat_id(self) -> int:
        """The ops chat as it is now: it follows the group's move to a supergroup."""
        return self.messenger.ops_chat_id

    def prune(self) -> None:
        """Forget expired conversation state (run by the housekeeping job)."""
        self.flows.prune()
        self.confirmations.prune()
        self.pages.prune()
        self.pairing_limit.prune()
        self.refusals.prune()
        self.messenger.pacer.prune()
