"""Alert storms in the ops chat: every failure named in few messages, the budget spent evenly.

Alerts are queued in the outbox the way the monitor raises them (one transaction per sweep,
the monitor's kinds, sentences and payloads) and delivered by the real bot over HTTP to the
Telegram emulator, whose flood control is on. What the ops chat received is read back from the
emulator; a failure counts as named only if its agent id is in a message Telegram accepted.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest
from tg_harness import AGENT_ID_RE, OPS_CHAT, BotFactory, BotHarness, unpaced_options, until

from bot.telegram import BotOptions
from storage.ids import new_id
from storage.models import AlertSeverity, AlertStatus

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

FAILED = "machine_unexpected_failed"


@dataclass(frozen=True)
class Failure:
    agent_id: str
    machine_id: str
    alert_id: int


# The worker looks for due alerts when told (`alerts_due`, set after each sweep's transaction)
# and otherwise rarely, so that the tests can count messages. Each test starts with one failure
# that goes out alone: a round claims what is due when its claim begins, so a round that began
# while a sweep was being written would split that sweep over two messages; while the worker
# waits out the pacing after the first message, every sweep is written whole before it looks.
POLL_S = 30.0


def paced(messages_per_window: int, window_s: float) -> BotOptions:
    """Test options whose ops budget spaces messages `window_s / messages_per_window` apart."""
    return unpaced_options(
        ops_messages_per_window=messages_per_window,
        ops_window_s=window_s,
        alert_poll_interval_s=POLL_S,
    )


def sentence(kind: str, agent_id: str, machine_id: str) -> str:
    if kind == FAILED:
        return (
            f"Machine {machine_id} of agent {agent_id} is failed although nobody stopped it. "
            f"It was not restarted automatically: /wake {agent_id} or /restart {agent_id}."
        )
    return f"Machine {machine_id} of agent {agent_id}: {kind}."


async def fail(
    bot: BotHarness,
    count: int,
    kind: str = FAILED,
    severity: AlertSeverity = AlertSeverity.CRITICAL,
) -> list[Failure]:
    """`count` machines fail in one sweep: alerts as the monitor raises them, in one transaction."""
    return await sweep(bot, [(kind, severity)] * count)


async def sweep(bot: BotHarness, raised: list[tuple[str, AlertSeverity]]) -> list[Failure]:
    """One alert per (kind, severity), each about a machine of its own, in one transaction."""
    failures = []
    async with bot.store.transaction() as tx:
        for kind, severity in raised:
            agent_id, machine_id = new_id("ag"), secrets.token_hex(7)
            queued = await bot.store.outbox.enqueue(
                kind,
                sentence(kind, agent_id, machine_id),
                severity=severity,
                dedupe_key=f"monitor:{kind}:{machine_id}",
                payload={"agent_id": agent_id, "machine_id": machine_id, "condition": kind},
                tx=tx,
            )
            failures.append(Failure(agent_id, machine_id, queued.alert.id))
    bot.runtime.telegram.deps.alerts_due.set()  # type: ignore[union-attr]
    return failures


async def all_sent(bot: BotHarness, failures: list[Failure], timeout: float = 20.0) -> None:
    async def sent() -> bool:
        for failure in failures:
            if (await bot.store.outbox.get(failure.alert_id)).status is not AlertStatus.SENT:
                return False
        return True

    await until(sent, timeout, f"{len(failures)} alerts to be marked sent")


def ops_texts(bot: BotHarness) -> list[str]:
    """What the ops chat shows: only messages Telegram accepted are in it."""
    return [m.get("text", "") for m in bot.bot_messages(OPS_CHAT)]


def agents_named(bot: BotHarness) -> Counter[str]:
    return Counter(found for text in ops_texts(bot) for found in AGENT_ID_RE.findall(text))


def ops_sends(bot: BotHarness) -> list[dict[str, Any]]:
    """Every sendMessage to the ops chat, refused ones too, in the order they arrived."""
    return [
        r for r in bot.requests("sendMessage") if str(r["params"].get("chat_id")) == str(OPS_CHAT)
    ]


async def test_a_storm_of_one_kind_names_every_agent_once_in_two_messages(
    bot_factory: BotFactory,
) -> None:
    # Telegram's group limit as the budget: 20 messages a minute, so 3 s apart.
    bot = await bot_factory(options=paced(20, 60.0))
    (first,) = await fail(bot, 1)
    await all_sent(bot, [first])
    storm = await fail(bot, 300)

    await all_sent(bot, storm)

    sends = ops_sends(bot)
    assert [r["status"] for r in sends] == [200, 200, 200]
    alone, page_1, page_2 = ops_texts(bot)
    assert sentence(FAILED, first.agent_id, first.machine_id) in alone
    named = Counter(AGENT_ID_RE.findall(page_1 + page_2))
    assert named == {failure.agent_id: 1 for failure in storm}
    # What happened and what to do, once, with the ids as placeholders; then the agents.
    assert page_1.startswith("🔔 300 alerts in one digest")
    assert f"🚨 {FAILED} ×300: Machine MACHINE of agent AGENT is failed" in page_1
    assert "/wake AGENT or /restart AGENT." in page_1
    assert (page_1 + page_2).count("/wake") == 1
    # The second page says which kind its ids belong to.
    assert page_2.split("\n")[1] == f"🚨 {FAILED} (continued)"
    assert not any(f.machine_id in page_1 + page_2 for f in storm)


async def test_alerts_of_different_kinds_get_their_own_title_and_lines(
    bot_factory: BotFactory,
) -> None:
    bot = await bot_factory(options=paced(20, 60.0))
    await all_sent(bot, await fail(bot, 1))
    critical, warning, info = AlertSeverity.CRITICAL, AlertSeverity.WARNING, AlertSeverity.INFO
    raised = await sweep(
        bot,
        [
            (FAILED, warning),
            ("machine_gone", warning),
            (FAILED, critical),
            ("agent_provisioned", info),
            (FAILED, warning),
            ("machine_gone", warning),
        ],
    )
    failed, gone, (provisioned,) = raised[0:5:2], raised[1:6:4], raised[3:4]

    await all_sent(bot, raised)

    _, text = ops_texts(bot)
    assert text.startswith("🔔 6 alerts in one digest")
    lines = text.split("\n")
    titles = {
        kind: next(i for i, line in enumerate(lines) if f" {kind} ×" in line)
        for kind in (FAILED, "machine_gone", "agent_provisioned")
    }
    assert lines[titles[FAILED]].startswith(f"🚨 {FAILED} ×3: ")  # the worst of its alerts
    assert lines[titles["machine_gone"]].startswith("⚠️ machine_gone ×2: ")
    # A kind with one alert shows its sentence as it is, then names the agent like the others.
    assert lines[titles["agent_provisioned"]] == (
        "ℹ️ agent_provisioned ×1: "
        + sentence("agent_provisioned", provisioned.agent_id, provisioned.machine_id)
    )
    for kind, members in (
        (FAILED, failed),
        ("machine_gone", gone),
        ("agent_provisioned", [provisioned]),
    ):
        listed = lines[titles[kind] + 1]
        assert listed.startswith("AGENT: ")
        assert AGENT_ID_RE.findall(listed) == [f.agent_id for f in members]


async def test_a_lone_alert_after_a_quiet_spell_goes_alone_with_its_whole_sentence(
    bot_factory: BotFactory,
) -> None:
    bot = await bot_factory(options=paced(20, 10.0))  # messages at least 0.5 s apart
    (first,) = await fail(bot, 1)
    await all_sent(bot, [first])
    storm = await fail(bot, 40)
    await all_sent(bot, storm)
    await asyncio.sleep(1.0)  # quiet for longer than the spacing

    (last,) = await fail(bot, 1)
    await all_sent(bot, [last])

    texts = ops_texts(bot)
    assert len(texts) == 3
    for lone, text in ((first, texts[0]), (last, texts[2])):
        assert sentence(FAILED, lone.agent_id, lone.machine_id) in text
        assert "digest" not in text
    assert "40 alerts" in texts[1]


async def test_alerts_that_pile_up_after_a_message_wait_and_go_out_together(
    bot_factory: BotFactory,
) -> None:
    bot = await bot_factory(options=paced(5, 10.0))  # messages at least 2 s apart
    (lone,) = await fail(bot, 1)
    await all_sent(bot, [lone])

    # Three sweeps right after it, each of which would have been a message of its own.
    waves = []
    for _ in range(3):
        waves += await fail(bot, 10)
        await asyncio.sleep(0.05)
    await all_sent(bot, waves)

    assert [r["status"] for r in ops_sends(bot)] == [200, 200]
    texts = ops_texts(bot)
    assert sentence(FAILED, lone.agent_id, lone.machine_id) in texts[0]
    assert f"{FAILED} ×30" in texts[1]
    # The lone alert's whole sentence names its agent three times (/wake, /restart).
    assert agents_named(bot) == {lone.agent_id: 3, **{f.agent_id: 1 for f in waves}}


@pytest.mark.parametrize(
    ("fault", "refusals"),
    [
        ({"server_error": {"method": "sendMessage", "count": 1}}, [500]),
        ({"rate_limit": {"method": "sendMessage", "count": 2, "retry_after": 1}}, [429, 429]),
    ],
    ids=["server_error", "retry_after"],
)
async def test_a_digest_page_that_fails_is_resent_and_no_alert_is_lost_or_named_twice(
    bot_factory: BotFactory, fault: dict[str, object], refusals: list[int]
) -> None:
    bot = await bot_factory(options=paced(20, 20.0))  # messages at least 1 s apart
    await all_sent(bot, await fail(bot, 1))
    # The storm's first page is accepted but answered late, so the fault meets the second.
    await bot.tg_fault({"delay": {"method": "sendMessage", "count": 1, "seconds": 1.0}})
    failures = await fail(bot, 300)
    await until(lambda: len(ops_texts(bot)) == 2, 10, "the first page in the ops chat")
    await bot.tg_fault(fault)

    await all_sent(bot, failures)

    texts = ops_texts(bot)[1:]
    assert Counter(AGENT_ID_RE.findall("\n".join(texts))) == {f.agent_id: 1 for f in failures}
    statuses = [r["status"] for r in ops_sends(bot)]
    assert statuses == [200, 200, *refusals, 200]
    on_first_page = set(AGENT_ID_RE.findall(texts[0]))
    assert 0 < len(on_first_page) < len(failures)
    for failure in failures:
        alert = await bot.store.outbox.get(failure.alert_id)
        if failure.agent_id in on_first_page:
            assert (alert.attempts, alert.last_error) == (1, None)
        else:
            assert alert.attempts == 2 and alert.last_error
