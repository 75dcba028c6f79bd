"""Drive a running bot the way people would, through the emulators: the one copy of each move.

`BotDriver` is what the demo's world (`bot.demo.world.DemoWorld`) and the Telegram tests'
harness (`tests/telegram/tg_harness.py`) both use: a person's message or button press goes in
as an update through the Telegram emulator's control API, a Fly fault or a pairing code goes
through the Fly emulator's, and what the bot said is read back from the emulated chats.
Waiting is bounded polling (`until`); `handled` waits until the bot has taken and handled
every update (and, if asked, delivered every queued alert).

Where the demo and the tests want different things the choice is a parameter, never a second
copy: how long to wait and how often to look, what a timeout does (`on_timeout`: the demo
raises `DriverError`, the tests fail the test), whether chats are read over HTTP or from the
in-process emulator (`telegram`). It never touches the bot's internals beyond what the waits
need (PTB's update queue and the alert outbox of the runtime it is given).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, TypeVar

import httpx

from bot.runtime import Runtime
from emulators.telegram import TelegramEmulator

T = TypeVar("T")

# A reply is found by a text it contains or by a predicate over the whole message.
MessageMatch = str | Callable[[dict[str, Any]], bool]


class DriverError(Exception):
    """Something the driver was asked to do did not happen (a timeout, a refused request)."""


def raise_driver_error(message: str) -> NoReturn:
    """The default `on_timeout`: a timeout is a `DriverError` the caller may catch."""
    raise DriverError(message)


async def poll_until(
    predicate: Callable[[], T | Awaitable[T | None] | None],
    what: str,
    wait_s: float = 30.0,
    *,
    poll_s: float = 0.02,
    on_timeout: Callable[[str], NoReturn] = raise_driver_error,
) -> T:
    """Poll `predicate` (sync or async) until it gives a truthy value; `on_timeout` after
    `wait_s` seconds with a message naming `what`."""
    try:
        async with asyncio.timeout(wait_s):
            while True:
                value = predicate()
                if inspect.isawaitable(value):
                    value = await value
                if value:
                    return value
                await asyncio.sleep(poll_s)
    except TimeoutError:
        on_timeout(f"timed out after {wait_s:g}s waiting for {what}")


def group_chat(chat_id: int, title: str) -> dict[str, Any]:
    """A Bot API chat for a group `chat_id` (the ops chat is a supergroup the bot is in)."""
    return {"id": chat_id, "type": "supergroup", "title": title}


class BotDriver:
    """People's side of one bot: its token, the emulators' control clients, optional runtime.

    `runtime` gives the bot's current runtime (a test restarts it, so it is looked up on each
    wait); without it (a bot in another process) `handled` cannot be asked. `telegram`, the
    in-process Telegram emulator, makes chat reads direct instead of over HTTP.
    """

    def __init__(
        self,
        *,
        bot_token: str,
        tg_http: httpx.AsyncClient,
        fly_http: httpx.AsyncClient,
        runtime: Callable[[], Runtime | None] | None = None,
        telegram: TelegramEmulator | None = None,
        poll_s: float = 0.02,
        on_timeout: Callable[[str], NoReturn] = raise_driver_error,
    ) -> None:
        self.bot_token = bot_token
        self.tg_http = tg_http
        self.fly_http = fly_http
        self._runtime = runtime
        self._telegram = telegram
        self.poll_s = poll_s
        self.on_timeout = on_timeout

    # --- the control APIs ---------------------------------------------------------------------

    @staticmethod
    async def control(client: httpx.AsyncClient, path: str, body: Any) -> Any:
        """POST to an emulator's control API; the decoded answer, `DriverError` unless 200."""
        answer = await client.post(path, json=body)
        if answer.status_code != 200:
            raise DriverError(f"{path} answered {answer.status_code}: {answer.text[:300]}")
        return answer.json()

    @staticmethod
    async def read(client: httpx.AsyncClient, path: str, **params: Any) -> Any:
        """GET from an emulator's control API; the decoded answer, `DriverError` unless 200."""
        answer = await client.get(path, params=params)
        if answer.status_code != 200:
            raise DriverError(f"{path} answered {answer.status_code}: {answer.text[:300]}")
        return answer.json()

    async def until(
        self,
        predicate: Callable[[], T | Awaitable[T | None] | None],
        what: str,
        wait_s: float = 30.0,
    ) -> T:
        """`poll_until` with this driver's poll interval and timeout behaviour."""
        return await poll_until(
            predicate, what, wait_s, poll_s=self.poll_s, on_timeout=self.on_timeout
        )

    # --- Telegram: what people do -------------------------------------------------------------

    async def open_chat(self, chat: dict[str, Any]) -> None:
        """A group the bot was added to (before it starts, as the ops chat is)."""
        await self.control(self.tg_http, "/_emulator/chats", {"chat": chat, "bot": self.bot_token})

    async def send(
        self,
        sender: dict[str, Any],
        text: str,
        *,
        chat: dict[str, Any] | None = None,
        forward_from: dict[str, Any] | None = None,
        bot_token: str | None = None,
    ) -> int:
        """`sender` writes `text` to the bot (or to `bot_token`'s bot), privately unless `chat`
        is given; `forward_from` makes it a message forwarded from that user. The message id."""
        body: dict[str, Any] = {"from": sender, "text": text, "bot": bot_token or self.bot_token}
        if chat is not None:
            body["chat"] = chat
        if forward_from is not None:
            body["forward_origin"] = {"type": "user", "date": 1, "sender_user": forward_from}
        answer = await self.control(self.tg_http, "/_emulator/updates", body)
        return int(answer["message_id"])

    async def press(
        self, sender: dict[str, Any], message_id: int, data: str, chat_id: int | None = None
    ) -> None:
        """`sender` presses the button with callback `data` under message `message_id`."""
        press: dict[str, Any] = {"from": sender, "message_id": message_id, "data": data}
        if chat_id is not None:
            press["chat_id"] = chat_id
        await self.control(
            self.tg_http, "/_emulator/updates", {"callback": press, "bot": self.bot_token}
        )

    async def tg_fault(self, rule: dict[str, Any]) -> None:
        await self.control(self.tg_http, "/_emulator/faults", rule)

    # --- Telegram: what the bot said ----------------------------------------------------------

    async def messages(self, chat_id: int, bot_token: str | None = None) -> list[dict[str, Any]]:
        """Every message of the chat as it is now (edited text, deleted ones flagged)."""
        token = bot_token or self.bot_token
        if self._telegram is not None:
            return self._telegram.messages(chat_id, bot=token)
        return list(
            await self.read(self.tg_http, f"/_emulator/chats/{chat_id}/messages", bot=token)
        )

    async def bot_messages(
        self,
        chat_id: int,
        *,
        after: int = 0,
        with_deleted: bool = True,
        bot_token: str | None = None,
    ) -> list[dict[str, Any]]:
        """The bot's messages in the chat after message `after` (deleted ones unless told not)."""
        return [
            m
            for m in await self.messages(chat_id, bot_token)
            if m["from"]["is_bot"]
            and m["message_id"] > after
            and (with_deleted or not m.get("deleted"))
        ]

    async def reply_to(
        self,
        chat_id: int,
        after: int,
        match: MessageMatch = "",
        wait_s: float = 30.0,
        *,
        failed_mark: str | None = None,
        with_deleted: bool = True,
    ) -> dict[str, Any]:
        """The first bot message after message `after` whose current text contains `match` (or
        that `match` accepts). With `failed_mark`, a reply showing it ends the wait at once:
        `DriverError` with the bot's own words."""

        async def found() -> dict[str, Any] | None:
            for message in await self.bot_messages(chat_id, after=after, with_deleted=with_deleted):
                text = str(message.get("text", ""))
                if match(message) if callable(match) else match in text:
                    return message
                if failed_mark is not None and failed_mark in text:
                    said = " ".join(text.split())
                    raise DriverError(f"the bot answered: {said[:400]}")
            return None

        what = f"a bot message in chat {chat_id} matching {match!r}"
        return await self.until(found, what, wait_s)

    async def sent_texts(
        self,
        method: str,
        chat_id: int,
        *,
        message_id: int | None = None,
        bot_token: str | None = None,
    ) -> list[str]:
        """The texts (HTML as sent) of every accepted `method` call to a chat, in order."""
        calls = await self.read(
            self.tg_http, "/_emulator/requests", bot=bot_token or self.bot_token, method=method
        )
        return [
            str(call["params"].get("text", ""))
            for call in calls
            if call["status"] == 200
            and str(call["params"].get("chat_id")) == str(chat_id)
            and (message_id is None or str(call["params"].get("message_id")) == str(message_id))
        ]

    # --- waiting for the bot ------------------------------------------------------------------

    async def idle(self, *, alerts_too: bool) -> bool:
        """Nothing waits for the bot now: no update pending at Telegram or in PTB, and (with
        `alerts_too`) no alert queued for delivery."""
        runtime = self._runtime() if self._runtime is not None else None
        if runtime is None:
            raise DriverError("the bot is not running in this process")
        telegram = runtime.telegram
        if telegram is None:
            return True
        application = telegram.application
        if not application.update_queue.empty():
            return False
        if application.update_processor.current_concurrent_updates:
            return False
        bots = await self.read(self.tg_http, "/_emulator/bots")
        bot_id = int(self.bot_token.split(":", 1)[0])
        if any(b["id"] == bot_id and b["pending_update_count"] for b in bots["bots"]):
            return False
        if alerts_too and runtime.store is not None:
            return await runtime.store.outbox.pending_count() == 0
        return True

    async def handled(self, wait_s: float, *, alerts_too: bool) -> bool:
        """Wait until `idle` holds; False after `wait_s` seconds.

        Idle must hold on a few polls in a row: an update taken from PTB's queue is handed to
        its processor one event-loop turn later.
        """
        deadline = time.monotonic() + wait_s
        calm = 0
        while calm < 3:
            calm = calm + 1 if await self.idle(alerts_too=alerts_too) else 0
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(self.poll_s)
        return True

    # --- Fly ----------------------------------------------------------------------------------

    async def fly_state(self) -> dict[str, Any]:
        return dict(await self.read(self.fly_http, "/_emulator/state"))

    async def execs(self, match: str = "", machine_id: str | None = None) -> list[dict[str, Any]]:
        """Commands run on machines (the emulator's exec log), filtered by argv text."""
        return [
            dict(e)
            for e in await self.read(self.fly_http, "/_emulator/exec")
            if match in " ".join(e["argv"]) and machine_id in (None, e["machine_id"])
        ]

    async def fly_requests(self) -> list[dict[str, Any]]:
        return list(await self.read(self.fly_http, "/_emulator/requests"))

    async def fly_fault(self, rule: dict[str, Any]) -> None:
        await self.control(self.fly_http, "/_emulator/faults", rule)

    async def fly_rate_limits(self, *, enabled: bool) -> None:
        await self.control(self.fly_http, "/_emulator/rate-limits", {"enabled": enabled})

    async def pairing_code(
        self, machine_id: str, sender_id: int, first_name: str | None = None
    ) -> str:
        """The agent's OpenClaw on `machine_id` gives the sender a DM pairing code."""
        sender: dict[str, Any] = {"sender_id": sender_id}
        if first_name is not None:
            sender["first_name"] = first_name
        path = f"/_emulator/machines/{machine_id}/pairing-codes"
        return str((await self.control(self.fly_http, path, sender))["code"])
