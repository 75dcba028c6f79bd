"""The control API under `/_emulator/`: what tests use to play users and inject failures.

Plain JSON over HTTP, no authentication. Every route is documented in the package
docstring (`emulators/telegram/__init__.py`), which is the contract. Errors answer
`{"error": "..."}` with 400 (bad input), 404 (unknown bot, chat or message) or 409 (no bot
to default to). This module never implements Bot API methods.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from .migration import upgrade_group
from .registry import method_names
from .users_side import ControlError, inject_update, register_chat, select_bot
from .world import World

ControlHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(
        data, status=status, dumps=lambda value: json.dumps(value, ensure_ascii=False)
    )


async def _body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        raise ControlError(400, "the body must be JSON") from None


def _object(body: Any) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise ControlError(400, "expected a JSON object")
    return body


def _chat_id_of(request: web.Request) -> int:
    try:
        return int(request.match_info["chat_id"])
    except ValueError:
        raise ControlError(400, "chat_id must be an integer") from None


def _guarded(handler: ControlHandler) -> ControlHandler:
    async def guarded(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except ControlError as error:
            return _json({"error": error.message}, error.status)

    return guarded


class ControlApi:
    def __init__(self, world: World) -> None:
        self.world = world

    def routes(self) -> list[web.RouteDef]:
        prefix = "/_emulator"
        return [
            web.get(f"{prefix}/health", _guarded(self.health)),
            web.post(f"{prefix}/updates", _guarded(self.post_update)),
            web.get(f"{prefix}/bots", _guarded(self.get_bots)),
            web.post(f"{prefix}/bots", _guarded(self.post_bot)),
            web.get(f"{prefix}/chats", _guarded(self.get_chats)),
            web.post(f"{prefix}/chats", _guarded(self.post_chat)),
            web.get(f"{prefix}/chats/{{chat_id}}/messages", _guarded(self.get_messages)),
            web.post(f"{prefix}/chats/{{chat_id}}/migrate", _guarded(self.post_migrate)),
            web.get(f"{prefix}/requests", _guarded(self.get_requests)),
            web.get(f"{prefix}/callback-answers", _guarded(self.get_callback_answers)),
            web.get(f"{prefix}/faults", _guarded(self.get_faults)),
            web.post(f"{prefix}/faults", _guarded(self.post_faults)),
            web.post(f"{prefix}/clock", _guarded(self.post_clock)),
            web.post(f"{prefix}/reset", _guarded(self.post_reset)),
        ]

    async def health(self, request: web.Request) -> web.Response:
        return _json({"ok": True, "methods": method_names()})

    async def post_update(self, request: web.Request) -> web.Response:
        return _json(inject_update(self.world, await _body(request)))

    def _bot_json(self, bot_id: int) -> dict[str, Any]:
        bot = self.world.bots[bot_id]
        return {
            "id": bot.id,
            "first_name": bot.first_name,
            "username": bot.username,
            "has_called": bot.has_called,
            "privacy_mode": bot.privacy_mode,
            "webhook_url": bot.webhook.url if bot.webhook else None,
            "pending_update_count": len(bot.updates),
            "polling": bot.poll is not None,
            "allowed_updates": sorted(bot.allowed_updates) if bot.allowed_updates else None,
            "commands": [
                {"scope": list(scope), "language_code": language, "commands": commands}
                for (scope, language), commands in bot.commands.items()
            ],
            "descriptions": dict(bot.descriptions),
            "short_descriptions": dict(bot.short_descriptions),
            "chat_ids": list(bot.chats),
        }

    async def get_bots(self, request: web.Request) -> web.Response:
        return _json(
            {
                "default_bot_id": self.world.first_caller,
                "bots": [self._bot_json(i) for i in self.world.bots],
            }
        )

    async def post_bot(self, request: web.Request) -> web.Response:
        body = _object(await _body(request))
        token = body.get("token")
        if not isinstance(token, str):
            raise ControlError(400, "token is required")
        bot = select_bot(self.world, token)
        for name in ("first_name", "username"):
            value = body.get(name)
            if value is not None:
                if not isinstance(value, str) or not value:
                    raise ControlError(400, f"{name} must be a non-empty string")
                setattr(bot, name, value)
        privacy = body.get("privacy_mode")
        if privacy is not None:
            if not isinstance(privacy, bool):
                raise ControlError(400, "privacy_mode must be true or false")
            bot.privacy_mode = privacy
        return _json(self._bot_json(bot.id))

    async def get_chats(self, request: web.Request) -> web.Response:
        bot = select_bot(self.world, request.query.get("bot"))
        chats = []
        for state in bot.chats.values():
            entry: dict[str, Any] = {
                "chat": state.chat.to_json(),
                "message_count": len(state.messages),
                "chat_actions": list(state.actions),
            }
            if state.migrated_to is not None:
                entry["migrated_to_chat_id"] = state.migrated_to
            if state.migrated_from is not None:
                entry["migrated_from_chat_id"] = state.migrated_from
            chats.append(entry)
        return _json(chats)

    async def post_chat(self, request: web.Request) -> web.Response:
        return _json(register_chat(self.world, _object(await _body(request))))

    async def post_migrate(self, request: web.Request) -> web.Response:
        body = dict(_object(await _body(request)))
        body.setdefault("bot", request.query.get("bot"))
        return _json(upgrade_group(self.world, _chat_id_of(request), body))

    async def get_messages(self, request: web.Request) -> web.Response:
        bot = select_bot(self.world, request.query.get("bot"))
        chat_id = _chat_id_of(request)
        state = bot.chats.get(chat_id)
        messages = [] if state is None else [m.history_json() for m in state.messages.values()]
        return _json(messages)

    async def get_requests(self, request: web.Request) -> web.Response:
        query = request.query
        bot_id: int | None = None
        if "bot" in query:
            bot_id = select_bot(self.world, query["bot"]).id
        elif "bot_id" in query:
            try:
                bot_id = int(query["bot_id"])
            except ValueError:
                raise ControlError(400, "bot_id must be an integer") from None
        try:
            since = int(query.get("since", "0"))
        except ValueError:
            raise ControlError(400, "since must be an integer") from None
        return _json(
            self.world.requests.select(bot_id=bot_id, method=query.get("method"), since=since)
        )

    async def get_callback_answers(self, request: web.Request) -> web.Response:
        answers = self.world.callback_answers
        if "bot" in request.query:
            bot_id = select_bot(self.world, request.query["bot"]).id
            answers = [answer for answer in answers if answer["bot_id"] == bot_id]
        return _json(answers)

    async def get_faults(self, request: web.Request) -> web.Response:
        return _json(self._faults_json())

    def _faults_json(self) -> dict[str, Any]:
        answer = self.world.faults.to_json(self.world.monotonic())
        answer["flood_control"] = self.world.flood.limits.to_json()
        return answer

    async def post_faults(self, request: web.Request) -> web.Response:
        body = _object(await _body(request))
        world = self.world
        bot_id = select_bot(world, body["bot"]).id if body.get("bot") is not None else None
        known = {
            "bot",
            "clear",
            "rate_limit",
            "server_error",
            "delay",
            "release_delays",
            "blocked_user",
            "deactivated_user",
            "unblock_user",
            "down",
            "flood_control",
        }
        unknown = sorted(set(body) - known)
        if unknown:
            raise ControlError(400, f"unknown fault kinds: {unknown}")
        try:
            _apply_faults(world, body, bot_id)
        except ValueError as error:
            raise ControlError(400, str(error)) from None
        return _json(self._faults_json())

    async def post_clock(self, request: web.Request) -> web.Response:
        body = _object(await _body(request))
        advance = body.get("advance", 0)
        if isinstance(advance, bool) or not isinstance(advance, int | float) or advance < 0:
            raise ControlError(400, "advance must be a non-negative number of seconds")
        self.world.clock_offset += float(advance)
        return _json({"now": self.world.now(), "offset": self.world.clock_offset})

    async def post_reset(self, request: web.Request) -> web.Response:
        self.world.reset()
        return _json({"ok": True})


def _apply_faults(world: World, body: Mapping[str, Any], bot_id: int | None) -> None:
    """Carry out a faults request (ValueError for a malformed one)."""
    if body.get("clear") is True:
        world.faults.clear()
    if body.get("release_delays") is True:
        world.faults.release_delays()
    for kind in ("rate_limit", "server_error", "delay"):
        if kind in body:
            world.faults.add_counted(kind, body[kind], bot_id)
    if "blocked_user" in body:
        world.faults.set_block(body["blocked_user"], bot_id, "blocked")
    if "deactivated_user" in body:
        world.faults.set_block(body["deactivated_user"], bot_id, "deactivated")
    if "unblock_user" in body:
        world.faults.set_block(body["unblock_user"], bot_id, None)
    if "down" in body:
        world.faults.set_outage(body["down"], world.monotonic())
    if "flood_control" in body:
        settings = body["flood_control"]
        if not isinstance(settings, Mapping):
            raise ValueError("flood_control must be an object")
        world.flood.configure(world.flood.limits.updated(settings))
