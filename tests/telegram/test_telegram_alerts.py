"""Alert delivery to the ops chat: persisted first, sent once, retried, coalesced, within limits."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from tg_harness import OPS_CHAT, BotFactory, BotHarness, unpaced_options, until

from storage.models import AlertSeverity, AlertStatus, AuditOutcome

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

ALERT_ID_RE = re.compile(r"#(\d+)")


async def _queue(bot: BotHarness, count: int, kind: str = "test_alert") -> list[int]:
    """`count` alerts queued at once (one transaction), as a burst would be."""
    ids = []
    async with bot.store.transaction() as tx:
        for index in range(count):
            queued = await bot.store.outbox.enqueue(
                kind,
                f"Something worth a look, number {index} <not markup> & more.",
                severity=AlertSeverity.WARNING,
                tx=tx,
            )
            ids.append(queued.alert.id)
    bot.runtime.telegram.deps.alerts_due.set()  # type: ignore[union-attr]
    return ids


async def _all_sent(bot: BotHarness, ids: list[int], timeout: float = 10.0) -> None:
    async def sent() -> bool:
        statuses = [(await bot.store.outbox.get(i)).status for i in ids]
        return all(status is AlertStatus.SENT for status in statuses)

    await until(sent, timeout, f"alerts {ids[:3]}… to be marked sent")


def _ids_named_in_ops_chat(bot: BotHarness) -> Counter[int]:
    named: Counter[int] = Counter()
    for message in bot.bot_messages(OPS_CHAT):
        named.update(int(found) for found in ALERT_ID_RE.findall(message.get("text", "")))
    return named


def _ops_sends(bot: BotHarness) -> list[dict[str, object]]:
    return [
        r for r in bot.requests("sendMessage") if str(r["params"].get("chat_id")) == str(OPS_CHAT)
    ]


@pytest.mark.parametrize("mode", ["error", "disconnect"])
async def test_while_telegram_is_down_alerts_wait_and_are_all_delivered_once(
    bot: BotHarness, mode: str
) -> None:
    await bot.tg_fault({"down": {"seconds": 1.0, "mode": mode}})
    ids = await _queue(bot, 3)
    await until(lambda: any(r["status"] != 200 for r in _ops_sends(bot)), what="a failed send")

    await _all_sent(bot, ids)

    named = _ids_named_in_ops_chat(bot)
    assert {i: named[i] for i in ids} == dict.fromkeys(ids, 1)
    for alert_id in ids:
        alert = await bot.store.outbox.get(alert_id)
        assert alert.attempts >= 2 and alert.last_error


async def test_a_burst_is_coalesced_into_a_digest_naming_every_alert(bot: BotHarness) -> None:
    ids = await _queue(bot, 45)

    await _all_sent(bot, ids)

    named = _ids_named_in_ops_chat(bot)
    assert {i: named[i] for i in ids} == dict.fromkeys(ids, 1)
    sends = _ops_sends(bot)
    # 45 alerts without a subject are named by their ids: one message holds them all.
    assert len(sends) == 1
    assert all(r["status"] == 200 for r in sends)
    assert all(len(str(r["params"]["text"])) <= 4096 for r in sends)  # type: ignore[index]
    assert any("45 alerts" in m["text"] for m in bot.bot_messages(OPS_CHAT))


async def test_the_ops_chat_message_budget_is_never_exceeded(bot_factory: BotFactory) -> None:
    bot = await bot_factory(options=unpaced_options(ops_messages_per_window=3, ops_window_s=1.0))
    # Cards are sent one per message while the budget allows.
    first = await _queue(bot, 3, kind="pairing_submitted")
    await _all_sent(bot, first)
    assert len(_ops_sends(bot)) == 3

    # The budget is spent: the next wave waits for the window, then goes out as one digest.
    second = await _queue(bot, 5, kind="pairing_submitted")
    await _all_sent(bot, second)

    sends = _ops_sends(bot)
    assert len(sends) == 4
    assert all(str(i) in str(sends[-1]["params"]["text"]) for i in second)  # type: ignore[index]
    assert all(r["status"] == 200 for r in sends)


async def test_retry_after_is_honoured_and_the_alert_sent_once(bot: BotHarness) -> None:
    await bot.tg_fault({"rate_limit": {"method": "sendMessage", "count": 2, "retry_after": 1}})
    (alert_id,) = await _queue(bot, 1)

    await _all_sent(bot, [alert_id])

    assert [r["status"] for r in _ops_sends(bot)] == [429, 429, 200]
    assert _ids_named_in_ops_chat(bot)[alert_id] == 1
    alert = await bot.store.outbox.get(alert_id)
    assert alert.attempts == 2 and "retry" in (alert.last_error or "").lower()


async def test_alerts_with_the_same_key_become_one_line(bot: BotHarness) -> None:
    async with bot.store.transaction() as tx:
        for _ in range(3):
            await bot.store.outbox.enqueue(
                "machine_gone", "Machine m1 is gone.", dedupe_key="monitor:gone:m1", tx=tx
            )
        other = await bot.store.outbox.enqueue("test_alert", "Something else.", tx=tx)
    pending = await bot.store.outbox.recent(kind="machine_gone")
    assert len(pending) == 1 and pending[0].occurrences == 3

    await _all_sent(bot, [pending[0].id, other.alert.id])

    text = "\n".join(m["text"] for m in bot.bot_messages(OPS_CHAT))
    assert text.count("Machine m1 is gone.") == 1
    assert "×3" in text


async def test_an_ops_chat_that_refuses_the_bot_is_recorded_not_retried(bot: BotHarness) -> None:
    await bot.tg_fault({"blocked_user": {"chat_id": OPS_CHAT}})
    (alert_id,) = await _queue(bot, 1)

    async def failed() -> bool:
        return (await bot.store.outbox.get(alert_id)).status is AlertStatus.FAILED

    await until(failed, what="the alert to be given up")
    blocked = await bot.store.audit.entries(action="telegram.blocked")
    assert [(e.target, e.outcome) for e in blocked] == [(f"tg:{OPS_CHAT}", AuditOutcome.FAILED)]
    assert [r["status"] for r in _ops_sends(bot)] == [403]
    assert (await bot.store.outbox.get(alert_id)).attempts == 1
