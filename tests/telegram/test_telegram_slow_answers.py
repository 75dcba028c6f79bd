"""Telegram carried out a sendMessage but answered late: a slow answer is not a failure, and an
answer that was lost (outcome unknown) is followed by at most one resend, marked as such."""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest
from tg_harness import OPS_CHAT, BotFactory, BotHarness, unpaced_options, until

from storage.models import AlertSeverity, AlertStatus

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

# The bot's read timeout before this was fixed: Telegram answers slower than this happen.
OLD_READ_TIMEOUT_S = 5.0


async def _queue_alert(bot: BotHarness, text: str) -> int:
    queued = await bot.store.outbox.enqueue("test_alert", text, severity=AlertSeverity.WARNING)
    bot.runtime.telegram.deps.alerts_due.set()  # type: ignore[union-attr]
    return queued.alert.id


def _copies_in_ops_chat(bot: BotHarness, text: str) -> int:
    return Counter(text in m.get("text", "") for m in bot.bot_messages(OPS_CHAT))[True]


async def _settled(bot: BotHarness, alert_id: int) -> AlertStatus:
    async def done() -> AlertStatus | None:
        alert = await bot.store.outbox.get(alert_id)
        return alert.status if alert.status is not AlertStatus.PENDING else None

    status = await until(done, 60, f"alert {alert_id} to be settled")
    assert status is not None
    return status


async def test_an_alert_answered_slower_than_the_old_read_timeout_is_delivered_once(
    bot_factory: BotFactory,
) -> None:
    bot = await bot_factory(flood=False, options=unpaced_options())
    # Telegram carries out each of the next two sendMessage calls, then answers 6 s late.
    await bot.tg_fault(
        {"delay": {"method": "sendMessage", "seconds": OLD_READ_TIMEOUT_S + 1, "count": 2}}
    )

    alert_id = await _queue_alert(bot, "Disk almost full on the slow day")

    assert await _settled(bot, alert_id) is AlertStatus.SENT
    assert _copies_in_ops_chat(bot, "Disk almost full on the slow day") == 1
    assert len([r for r in bot.requests("sendMessage") if r["status"] == 200]) == 1


@pytest.mark.parametrize(
    ("lost_answers", "status"), [(1, AlertStatus.SENT), (2, AlertStatus.FAILED)]
)
async def test_an_alert_whose_answer_was_lost_is_resent_once_and_says_it_may_be_a_duplicate(
    bot_factory: BotFactory, lost_answers: int, status: AlertStatus
) -> None:
    # A read timeout shorter than Telegram's answer: the answer is lost, the send was carried
    # out (outcome unknown to the bot).
    options = dataclasses.replace(unpaced_options(), bot_api_read_timeout_s=0.5)
    bot = await bot_factory(flood=False, options=options)
    await bot.tg_fault({"delay": {"method": "sendMessage", "seconds": 1.5, "count": lost_answers}})

    alert_id = await _queue_alert(bot, "Machine restarted twice")

    assert await _settled(bot, alert_id) is status
    copies = [m for m in bot.bot_messages(OPS_CHAT) if "Machine restarted twice" in m["text"]]
    # The first send and exactly one resend, whatever became of the resend.
    assert len(copies) == 2
    assert "may be a duplicate" not in copies[0]["text"]
    assert "may be a duplicate" in copies[1]["text"]
    alert = await bot.store.outbox.get(alert_id)
    if status is AlertStatus.FAILED:
        assert alert.last_error is not None and "not resent" in alert.last_error
