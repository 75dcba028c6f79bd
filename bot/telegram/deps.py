"""What every handler of the Telegram layer shares, bundled once when the application is built.

Handlers receive this bundle instead of reaching into `bot_data`, so each dependency is typed
and visible. It holds references only; it never acts by itself.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from bot.fleet.service import FleetService
from bot.telegram.auth import Authorizer
from bot.telegram.confirmations import ConfirmationStore
from bot.telegram.flows import FlowStore
from bot.telegram.menus import CommandMenus
from bot.telegram.messenger import Messenger
from bot.telegram.options import BotOptions
from bot.telegram.paging import PageStore
from bot.telegram.people import People
from bot.telegram.rate_limit import PerUserLimit
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
    # Set when something was queued for the ops chat, so the alert worker sends it now.
    alerts_due: asyncio.Event

    @property
    def ops_chat_id(self) -> int:
        return self.messenger.ops_chat_id

    def prune(self) -> None:
        """Forget expired conversation state (run by the housekeeping job)."""
        self.flows.prune()
        self.confirmations.prune()
        self.pages.prune()
        self.pairing_limit.prune()
        self.messenger.pacer.prune()
