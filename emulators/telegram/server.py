"""The emulator's HTTP server: the Bot API at `/bot<TOKEN>/<method>` and the control API.

`TelegramEmulator` runs an aiohttp application on loopback (port 0 picks a free port).
For every Bot API call it decodes the parameters whatever their encoding, applies
injected faults and outages, dispatches to the method's handler, records the exchange and
answers with Telegram's envelope. It holds no method logic and no control logic.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from aiohttp import web

# Importing the handler modules registers their methods.
from . import api_bot, api_callbacks, api_messages, api_updates  # noqa: F401
from .control import ControlApi
from .errors import (
    NOT_FOUND,
    UNAUTHORIZED,
    BotApiError,
    bad_request,
    server_error,
    too_many_requests,
)
from .flood import FloodLimits
from .migration import upgrade_group
from .params import decode
from .registry import Answer, Call, find_method
from .state import BotState
from .users_side import inject_update, select_bot
from .world import World

_BOT_API_PATH = re.compile(r"^/bot([^/]*)/([^/]*)$")
DEFAULT_CALLBACK_ANSWER_WINDOW = 15.0


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _respond(envelope: dict[str, Any], status: int) -> web.Response:
    return web.json_response(envelope, status=status, dumps=_dumps)


def _file_part_description(part: web.FileField) -> str:
    size = len(part.file.read())
    return f"<file {part.filename} {size} bytes>"


def _chat_id_of(parameters: Any) -> int | None:
    """The call's `chat_id` parameter as a number (faults may target one chat), if it has one."""
    if not isinstance(parameters, Mapping):
        return None
    value = parameters.get("chat_id")
    if isinstance(value, bool) or value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


async def _read_parameters(request: web.Request) -> tuple[str, Any, dict[str, Any]]:
    """(encoding, parameters as received for the log, parameters to decode)."""
    query = {name: request.query.getone(name) for name in request.query}
    content_type = request.content_type
    if request.can_read_body and content_type == "application/json":
        raw = await request.read()
        if not raw.strip():
            return "json", dict(query), dict(query)
        try:
            body = json.loads(raw)
        except ValueError:
            raise bad_request("can't parse JSON object") from None
        if not isinstance(body, dict):
            raise bad_request("can't parse JSON object")
        received = {**query, **body} if query else body
        return "json", received, dict(received)
    if request.can_read_body and content_type in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        form = await request.post()
        fields: dict[str, Any] = dict(query)
        for name in form:
            value = form.getone(name)
            if isinstance(value, str):
                fields[name] = value
            elif isinstance(value, web.FileField):
                fields[name] = _file_part_description(value)
            else:
                fields[name] = bytes(value).decode("utf-8", "replace")
        encoding = "form" if content_type == "application/x-www-form-urlencoded" else "multipart"
        return encoding, fields, dict(fields)
    return "query", dict(query), dict(query)


class TelegramEmulator:
    """A Telegram Bot API server on loopback; see the package docstring for the contract."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        flood_limits: FloodLimits | None = None,
        callback_answer_window: float = DEFAULT_CALLBACK_ANSWER_WINDOW,
    ) -> None:
        self._host = host
        self._requested_port = port
        self.world = World(flood_limits or FloodLimits(), callback_answer_window)
        self._control = ControlApi(self.world)
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # -- lifecycle ----------------------------------------------------------------------
    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.add_routes(self._control.routes())
        app.router.add_route("*", "/{tail:.*}", self._bot_api)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._requested_port)
        await site.start()
        self._runner = runner
        self._port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is None:
            return
        self.world.shut_down()
        await self.world.webhooks.close()
        runner, self._runner = self._runner, None
        await runner.cleanup()

    async def __aenter__(self) -> TelegramEmulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the emulator is not running")
        return self._port

    @property
    def root_url(self) -> str:
        return f"http://{self._host}:{self.port}"

    def bot_api_url(self, token: str) -> str:
        return f"{self.root_url}/bot{token}"

    # -- in-process helpers (the HTTP control API is the contract) -----------------------
    def messages(self, chat_id: int, bot: str | int | None = None) -> list[dict[str, Any]]:
        state = select_bot(self.world, bot).chats.get(chat_id)
        return [] if state is None else [m.history_json() for m in state.messages.values()]

    def send_from_user(
        self,
        text: str,
        user: dict[str, Any],
        *,
        chat: dict[str, Any] | None = None,
        bot: str | int | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"from": user, "text": text, "bot": bot}
        if chat is not None:
            body["chat"] = chat
        return inject_update(self.world, body)

    def press_button(
        self,
        user: dict[str, Any],
        message_id: int,
        data: str,
        *,
        chat_id: int | None = None,
        bot: str | int | None = None,
    ) -> dict[str, Any]:
        press: dict[str, Any] = {"from": user, "message_id": message_id, "data": data}
        if chat_id is not None:
            press["chat_id"] = chat_id
        return inject_update(self.world, {"callback": press, "bot": bot})

    def migrate_chat(
        self,
        chat_id: int,
        *,
        to_chat_id: int | None = None,
        bot: str | int | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"bot": bot}
        if to_chat_id is not None:
            body["to_chat_id"] = to_chat_id
        return upgrade_group(self.world, chat_id, body)

    def requests(
        self, method: str | None = None, bot_id: int | None = None
    ) -> list[dict[str, Any]]:
        return self.world.requests.select(bot_id=bot_id, method=method)

    def callback_answers(self) -> list[dict[str, Any]]:
        return list(self.world.callback_answers)

    # -- the Bot API ------------------------------------------------------------------
    async def _bot_api(self, request: web.Request) -> web.StreamResponse:
        match = _BOT_API_PATH.match(request.path)
        if match is None:
            return _respond(NOT_FOUND.envelope(), NOT_FOUND.status)
        token, method_name = match.groups()
        bot = self.world.bot_for_token(token)
        if bot is None:
            return _respond(UNAUTHORIZED.envelope(), UNAUTHORIZED.status)
        self.world.note_caller(bot)
        faults = self.world.faults
        outage = faults.current_outage(self.world.monotonic())
        encoding: str = "query"
        received: Any = None
        envelope: dict[str, Any] = {}
        status = 0
        try:
            encoding, received, raw = await _read_parameters(request)
            if outage is not None and outage.mode == "error":
                raise server_error(outage.status)
            if outage is None:
                envelope, status = await self._answer(bot, method_name, raw)
        except BotApiError as error:
            envelope, status = error.envelope(), error.status
        # An outage that began while a long poll was pending loses that answer too.
        outage = outage or faults.current_outage(self.world.monotonic())
        if outage is not None and outage.mode == "disconnect":
            self._record(bot, method_name, request, encoding, received, 0, None)
            return await self._drop_connection(request)
        delay = faults.take("delay", bot.id, method_name, _chat_id_of(received))
        if delay is not None:
            await faults.hold_answer(delay.seconds)
        self._record(bot, method_name, request, encoding, received, status, envelope)
        return _respond(envelope, status)

    async def _answer(
        self, bot: BotState, method_name: str, raw: dict[str, Any]
    ) -> tuple[dict[str, Any], int]:
        world = self.world
        chat_id = _chat_id_of(raw)
        limited = world.faults.take("rate_limit", bot.id, method_name, chat_id)
        if limited is not None:
            raise too_many_requests(limited.retry_after)
        failing = world.faults.take("server_error", bot.id, method_name, chat_id)
        if failing is not None:
            raise server_error(failing.status)
        method = find_method(method_name)
        if method is None:
            raise NOT_FOUND
        params = decode(method.fields, raw)
        outcome = await method.handler(Call(world, bot, params, method.name))
        envelope: dict[str, Any] = {"ok": True}
        if isinstance(outcome, Answer):
            envelope["result"] = outcome.result
            if outcome.description:
                envelope["description"] = outcome.description
        else:
            envelope["result"] = outcome
        return envelope, 200

    def _record(
        self,
        bot: BotState,
        method_name: str,
        request: web.Request,
        encoding: str,
        received: Any,
        status: int,
        envelope: dict[str, Any] | None,
    ) -> None:
        self.world.requests.add(
            bot_id=bot.id,
            method=method_name,
            http_method=request.method,
            encoding=encoding,
            params=received if received is not None else {},
            status=status,
            answer=envelope,
        )

    @staticmethod
    async def _drop_connection(request: web.Request) -> web.StreamResponse:
        transport = request.transport
        if transport is not None:
            transport.abort()
        # Nothing more can be written: aiohttp discards a response for a closed transport.
        return web.Response(status=502)
