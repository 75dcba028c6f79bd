"""The ops group upgraded to a supergroup: the bot follows it by itself.

Telegram answers every call naming the old group with 400 and the supergroup's id. The bot
then writes to the supergroup: what failed is sent again there, every alert arrives once, the
ops menu is set there, and one critical alert tells operators the new id. It never keeps
calling the old id, also after a restart that still names it. Real PTB over HTTP against the
Telegram emulator, whose `POST /_emulator/chats/{id}/migrate` does what Telegram does.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from tg_harness import ADMIN, BOT_TOKEN, BotFactory, BotHarness, start_bot, until

from emulators.fly import FlyEmulator
from emulators.telegram import TelegramEmulator
from storage.models import Alert, AlertSeverity, AlertStatus

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

BOT_ID = int(BOT_TOKEN.split(":")[0])
OPS_GROUP_ID = -9000
OPS_GROUP = {"id": OPS_GROUP_ID, "type": "group", "title": "Ops"}
# The emulator's default: -100, then the group id's digits padded to ten.
SUPERGROUP_ID = -1000000009000
SUPERGROUP = {"id": SUPERGROUP_ID, "type": "supergroup", "title": "Ops"}
MOVED_ALERT = (
    f"The ops chat became a supergroup (new id {SUPERGROUP_ID}). Set "
    f"FLYAGENTS_OPS_CHAT_ID={SUPERGROUP_ID} before the next restart; until then the bot "
    "follows the move by itself."
)


def _wake_alert_worker(bot: BotHarness) -> None:
    bot.runtime.telegram.deps.alerts_due.set()  # type: ignore[union-attr]


async def _upgrade_ops_group(http: httpx.AsyncClient) -> None:
    answer = await http.post(f"/_emulator/chats/{OPS_GROUP_ID}/migrate", json={"bot": BOT_TOKEN})
    assert answer.status_code == 200, answer.text
    assert answer.json()["to_chat_id"] == SUPERGROUP_ID


def _texts_by_the_bot(bot: BotHarness, chat_id: int) -> list[str]:
    return [str(m.get("text", "")) for m in bot.messages(chat_id) if m["from"]["id"] == BOT_ID]


def _messages_naming(texts: list[str], pattern: str) -> int:
    return sum(1 for text in texts if re.search(pattern, text))


def _last_seq(bot: BotHarness) -> int:
    return max((int(r["seq"]) for r in bot.requests()), default=0)


def _chat_named_by(params: dict[str, Any]) -> int | None:
    """The chat a Bot API call is about: its `chat_id`, or its command scope's."""
    if "chat_id" in params:
        return int(params["chat_id"])
    scope = params.get("scope")
    if isinstance(scope, str):
        scope = json.loads(scope)
    if isinstance(scope, dict) and "chat_id" in scope:
        return int(scope["chat_id"])
    return None


def _calls_naming(bot: BotHarness, chat_id: int, since: int = 0) -> list[dict[str, Any]]:
    return [
        r
        for r in bot.requests()
        if int(r["seq"]) > since and _chat_named_by(r["params"]) == chat_id
    ]


async def _every_alert_sent(bot: BotHarness, at_least: int) -> list[Alert]:
    async def all_sent() -> list[Alert] | None:
        alerts = await bot.store.outbox.recent(limit=1000)
        done = len(alerts) >= at_least and all(a.status is AlertStatus.SENT for a in alerts)
        return alerts if done else None

    return await until(all_sent, 30, f"at least {at_least} alerts, all sent")


async def _ops_menu_chats(bot: BotHarness) -> set[int]:
    answer = await bot.tg_http.get("/_emulator/bots")
    ours = next(b for b in answer.json()["bots"] if b["id"] == BOT_ID)
    return {
        int(entry["scope"][1])
        for entry in ours["commands"]
        if entry["scope"][0] == "chat" and int(entry["scope"][1]) < 0
    }


async def test_alerts_follow_the_ops_group_to_its_supergroup_none_lost_none_twice(
    bot_factory: BotFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.telegram")
    bot = await bot_factory(ops_chat=OPS_GROUP)
    before = await bot.store.outbox.enqueue("test_alert", "Before the move.")
    _wake_alert_worker(bot)
    await until(
        lambda: _messages_naming(_texts_by_the_bot(bot, OPS_GROUP_ID), "Before the move"),
        what="the first alert in the ops group",
    )

    await _upgrade_ops_group(bot.tg_http)
    since = _last_seq(bot)
    agent_id, _ = await bot.provision()  # queues an "agent_provisioned" alert
    after = [
        (await bot.store.outbox.enqueue("test_alert", f"After the move, number {n}.")).alert.id
        for n in range(3)
    ]
    _wake_alert_worker(bot)

    alerts = await _every_alert_sent(bot, at_least=6)
    kinds = Counter(alert.kind for alert in alerts)
    assert kinds == {"test_alert": 4, "agent_provisioned": 1, "ops_chat_migrated": 1}
    moved = next(alert for alert in alerts if alert.kind == "ops_chat_migrated")
    assert moved.severity is AlertSeverity.CRITICAL
    assert moved.text == MOVED_ALERT

    texts = _texts_by_the_bot(bot, SUPERGROUP_ID)
    assert _messages_naming(texts, re.escape(MOVED_ALERT)) == 1
    assert _messages_naming(texts, agent_id) == 1
    for alert_id in after:
        assert _messages_naming(texts, rf"#{alert_id}\b") == 1, texts
    assert _messages_naming(texts, rf"#{before.alert.id}\b") == 0
    old_texts = _texts_by_the_bot(bot, OPS_GROUP_ID)
    assert len(old_texts) == 1 and "Before the move" in old_texts[0]

    # The bot learns of the move from Telegram's service message or from the first call the
    # old group refuses, whichever comes first; either way at most one call meets the 400.
    refused = _calls_naming(bot, OPS_GROUP_ID, since)
    assert [(r["method"], r["status"]) for r in refused] in ([], [("sendMessage", 400)])
    assert bot.runtime.telegram.deps.ops_chat_id == SUPERGROUP_ID  # type: ignore[union-attr]
    assert await _ops_menu_chats(bot) == {OPS_GROUP_ID, SUPERGROUP_ID}

    moves_logged = [r for r in caplog.records if "became the supergroup" in r.getMessage()]
    assert [r.levelno for r in moves_logged] == [logging.WARNING]
    assert not [r for r in caplog.records if r.levelno >= logging.CRITICAL]


async def _model_question_answered_in_the_supergroup(bot: BotHarness) -> None:
    """An admin's /model in the supergroup, then a press of its first button."""
    command = await bot.send(ADMIN, "/model", chat=SUPERGROUP)
    which_agent = await bot.reply_to(SUPERGROUP_ID, command, "Which agent?")
    data = bot.buttons(which_agent)[0]
    await bot.press(ADMIN, which_agent["message_id"], data, SUPERGROUP_ID)
    await bot.reply_to(SUPERGROUP_ID, which_agent["message_id"], "Which model?")


async def test_admins_command_and_press_buttons_in_the_supergroup(
    bot_factory: BotFactory,
) -> None:
    bot = await bot_factory(ops_chat=OPS_GROUP)
    await bot.provision()
    await _upgrade_ops_group(bot.tg_http)

    # Before the bot met the move...
    await _model_question_answered_in_the_supergroup(bot)
    queued = await bot.store.outbox.enqueue("test_alert", "After the move.")
    _wake_alert_worker(bot)
    await until(
        lambda: _messages_naming(_texts_by_the_bot(bot, SUPERGROUP_ID), rf"#{queued.alert.id}\b"),
        what="the alert in the supergroup",
    )
    assert bot.runtime.telegram.deps.ops_chat_id == SUPERGROUP_ID  # type: ignore[union-attr]
    # ...and after it followed it.
    await _model_question_answered_in_the_supergroup(bot)


async def test_an_edit_of_a_message_left_in_the_old_group_arrives_in_the_supergroup_once(
    bot_factory: BotFactory,
) -> None:
    bot = await bot_factory(ops_chat=OPS_GROUP)
    assert bot.runtime.telegram is not None
    messenger = bot.runtime.telegram.deps.messenger
    sent = await messenger.send(OPS_GROUP_ID, "Restarting ag_1…")
    assert sent is not None
    await _upgrade_ops_group(bot.tg_http)
    since = _last_seq(bot)

    await messenger.edit(OPS_GROUP_ID, sent.message_id, "Restarting ag_1: stopped")
    await messenger.edit(OPS_GROUP_ID, sent.message_id, "Restarted ag_1.")
    reply = await messenger.send(OPS_GROUP_ID, "Anything else?", reply_to=sent.message_id)

    assert reply is not None and reply.chat.id == SUPERGROUP_ID
    progress = [m for m in bot.messages(SUPERGROUP_ID) if "ag_1" in m.get("text", "")]
    assert [(m["text"], m["edited"]) for m in progress] == [("Restarted ag_1.", True)]
    assert reply.reply_to_message is not None
    assert reply.reply_to_message.message_id == progress[0]["message_id"]
    assert _texts_by_the_bot(bot, OPS_GROUP_ID) == ["Restarting ag_1…"]
    assert [r["method"] for r in _calls_naming(bot, OPS_GROUP_ID, since)] == ["editMessageText"]
    await _every_alert_sent(bot, at_least=1)
    assert _messages_naming(_texts_by_the_bot(bot, SUPERGROUP_ID), re.escape(MOVED_ALERT)) == 1


async def test_a_restart_still_naming_the_old_group_follows_the_move_at_its_first_call(
    telegram_emulator_factory: Callable[..., Awaitable[TelegramEmulator]],
    fly_emulator: FlyEmulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    tg = await telegram_emulator_factory()
    async with httpx.AsyncClient(base_url=tg.root_url, timeout=10) as http:
        known = await http.post("/_emulator/chats", json={"chat": OPS_GROUP, "bot": BOT_TOKEN})
        assert known.status_code == 200, known.text
        await _upgrade_ops_group(http)

    bot = await start_bot(tg, fly_emulator, tmp_path, ops_chat=OPS_GROUP)
    try:
        queued = await bot.store.outbox.enqueue("test_alert", "After the restart.")
        _wake_alert_worker(bot)
        await _every_alert_sent(bot, at_least=2)

        texts = _texts_by_the_bot(bot, SUPERGROUP_ID)
        assert _messages_naming(texts, re.escape(MOVED_ALERT)) == 1
        assert _messages_naming(texts, rf"#{queued.alert.id}\b") == 1
        # The start-up menu met the 400 and nothing named the old group again.
        refused = _calls_naming(bot, OPS_GROUP_ID)
        assert [(r["method"], r["status"]) for r in refused] == [("setMyCommands", 400)]
        assert await _ops_menu_chats(bot) == {SUPERGROUP_ID}
        assert _texts_by_the_bot(bot, OPS_GROUP_ID) == []
    finally:
        await bot.close()


async def test_the_service_message_alone_moves_the_bot_before_anything_is_refused(
    bot_factory: BotFactory,
) -> None:
    bot = await bot_factory(ops_chat=OPS_GROUP)
    await until(lambda: bot.requests("getUpdates"), what="the bot to poll")
    since = _last_seq(bot)
    await _upgrade_ops_group(bot.tg_http)

    alerts = await _every_alert_sent(bot, at_least=1)
    assert [alert.kind for alert in alerts] == ["ops_chat_migrated"]
    assert _messages_naming(_texts_by_the_bot(bot, SUPERGROUP_ID), re.escape(MOVED_ALERT)) == 1
    assert bot.runtime.telegram.deps.ops_chat_id == SUPERGROUP_ID  # type: ignore[union-attr]
    assert [r for r in _calls_naming(bot, OPS_GROUP_ID, since) if r["status"] != 200] == []
