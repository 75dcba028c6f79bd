"""The whole emulated Telegram: every bot, the clock, faults, flood control and the call log.

`World` owns the state shared by the Bot API handlers and the control API, and answers
the questions both ask (which bot a token is, which chat an id names, may the bot write
there). It never parses HTTP requests and never formats HTTP answers.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from .errors import bad_request, forbidden, group_upgraded
from .faults import Faults
from .flood import FloodControl, FloodLimits
from .recorder import RequestLog
from .state import BotState, ChatState, User
from .webhook_delivery import WebhookDelivery

TOKEN_PATTERN = re.compile(r"^(\d{1,15}):([A-Za-z0-9_-]{30,})$")
SHUTDOWN = "shutdown"


def bot_id_of_token(token: str) -> int | None:
    match = TOKEN_PATTERN.match(token)
    return int(match.group(1)) if match else None


@dataclass
class CallbackQuery:
    id: str
    bot_id: int
    user: User
    chat_id: int
    message_id: int
    data: str
    created_at: float
    answered: bool = False


class World:
    def __init__(self, flood_limits: FloodLimits, callback_answer_window: float) -> None:
        self.initial_flood_limits = flood_limits
        self.callback_answer_window = callback_answer_window
        self.flood = FloodControl(flood_limits)
        self.faults = Faults()
        self.requests = RequestLog()
        self.bots: dict[int, BotState] = {}
        self.first_caller: int | None = None
        self.clock_offset = 0.0
        self.callback_queries: dict[str, CallbackQuery] = {}
        self.callback_answers: list[dict[str, Any]] = []
        self._callback_counter = 0
        self.webhooks = WebhookDelivery(self)

    # -- time -------------------------------------------------------------------------
    def now(self) -> float:
        """Telegram's wall clock (Unix seconds), movable forward by the control API."""
        return time.time() + self.clock_offset

    def unix_now(self) -> int:
        return int(self.now())

    @staticmethod
    def monotonic() -> float:
        return time.monotonic()

    # -- bots -------------------------------------------------------------------------
    def bot_for_token(self, token: str) -> BotState | None:
        """The bot a well-formed token names (created on first sight); None means 401."""
        match = TOKEN_PATTERN.match(token)
        if match is None:
            return None
        bot_id, secret = int(match.group(1)), match.group(2)
        bot = self.bots.get(bot_id)
        if bot is None:
            bot = self.bots[bot_id] = BotState(
                id=bot_id, secret=secret, first_name=f"Bot {bot_id}", username=f"bot{bot_id}_bot"
            )
        elif bot.secret != secret:
            return None
        return bot

    def note_caller(self, bot: BotState) -> None:
        bot.has_called = True
        if self.first_caller is None:
            self.first_caller = bot.id

    def reset(self) -> None:
        for bot in self.bots.values():
            bot.kick_poll(SHUTDOWN)
        self.webhooks.cancel_all()
        self.bots.clear()
        self.first_caller = None
        self.clock_offset = 0.0
        self.callback_queries.clear()
        self.callback_answers.clear()
        self.faults.clear()
        self.flood.configure(self.initial_flood_limits)
        self.requests.clear()

    def shut_down(self) -> None:
        for bot in self.bots.values():
            bot.kick_poll(SHUTDOWN)
        self.webhooks.cancel_all()

    # -- chats ------------------------------------------------------------------------
    @staticmethod
    def chat_of(bot: BotState, reference: int | str) -> ChatState:
        """The chat a chat_id names, if the bot has seen it; else Telegram's 400.

        A group upgraded to a supergroup answers every call with the supergroup's id instead.
        """
        state = (
            bot.chat_by_username(reference)
            if isinstance(reference, str)
            else bot.chats.get(reference)
        )
        if state is None:
            raise bad_request("chat not found")
        if state.migrated_to is not None:
            raise group_upgraded(state.migrated_to)
        return state

    def ensure_writable(self, bot: BotState, state: ChatState) -> None:
        reason = self.faults.block_reason(bot.id, state.chat.id)
        if reason == "blocked":
            raise forbidden("bot was blocked by the user")
        if reason == "deactivated":
            raise forbidden("user is deactivated")

    @staticmethod
    def known_user(bot: BotState, user_id: int) -> dict[str, Any] | None:
        user = bot.users.get(user_id)
        return user.to_json() if user is not None else None

    # -- callback queries -------------------------------------------------------------
    def new_callback_id(self, bot_id: int) -> str:
        self._callback_counter += 1
        return str((bot_id % 1_000_000_000) * 1_000_000_000 + 4_000_000 + self._callback_counter)
