"""Every admin command that talks to Fly, with Fly failing under it (issue 14, defect 12).

A Fly 5xx (after the client's retries) and an exec whose outcome is unknown (the answer lost
after the command ran) are injected with the Fly emulator's fault rules. Whatever the command,
the admin gets a clear refusal naming what failed — never "Something went wrong" — the log holds
no traceback, and the failure is recorded (audit, and `agents.last_error` for the agent).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import pytest
from tg_harness import ADMIN, AGENT_BOT_TOKEN, END_USER, BotHarness

from storage.models import AuditOutcome

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

FLY_5XX: dict[str, Any] = {"status": 503}
EXEC_OUTCOME_UNKNOWN: dict[str, Any] = {
    "route": {"method": "POST", "path_regex": "/exec$"},
    "status": 502,
    "mode": "after",
}
FAULTS = {"fly-5xx": FLY_5XX, "exec-outcome-unknown": EXEC_OUTCOME_UNKNOWN}


@dataclass(frozen=True)
class Case:
    command: str  # {agent} and {code} are filled in
    confirm: bool = False
    snapshot_first: bool = False
    code: bool = False
    audited: str | None = None  # the audit action expected to record the failure
    done: str | None = None  # how the reply reads when the command copes without failing
    # Under which faults the command must fail (❌, and its audit entry when `audited`); under
    # the others it may cope (an exec fault does not touch a command that runs no exec).
    fails_under: tuple[str, ...] = ("fly-5xx",)
    # What the reply names as the way on after an unknown exec outcome.
    after_unknown_exec: str = "/restart"


CASES = {
    "model": Case(
        "/model {agent} openai/gpt-4.1-mini",
        audited="agent.model",
        fails_under=("fly-5xx", "exec-outcome-unknown"),
    ),
    "skills": Case("/skills {agent} calendar", audited="agent.skills"),
    "recreate": Case(
        "/recreate {agent}",
        confirm=True,
        snapshot_first=True,
        audited="agent.recreate",
        fails_under=("fly-5xx", "exec-outcome-unknown"),
        # The new machine is rolled back and the old one kept: retry from a new snapshot.
        after_unknown_exec="/snapshot",
    ),
    "snapshot": Case("/snapshot {agent}", audited="agent.snapshot"),
    "stop": Case("/stop {agent}", audited="agent.stop"),
    "wake": Case("/wake {agent}", audited="agent.start"),
    "restart": Case("/restart {agent}", audited="agent.restart"),
    "deprovision": Case("/deprovision {agent}", confirm=True),
    # A lost approve answer is the ledger's "stuck" (its own recorded state and alert).
    "pair": Case("/pair {agent} {code}", code=True, done="stuck"),
    # /status shows the machine as unknown with Fly's reason, and the rest from the store.
    "status": Case("/status {agent}", done="Status:", fails_under=()),
    "provision": Case("/provision tenant=acme user=bob"),
    "stop-all": Case("/stop all", confirm=True, done=" failed."),
}


def _settled(case: Case) -> Any:
    def settled(message: dict[str, Any]) -> bool:
        text = str(message.get("text", ""))
        marks = ("❌", "✅", "went wrong", "Something")
        return any(mark in text for mark in marks) or bool(case.done and case.done in text)

    return settled


@pytest.mark.parametrize("fault", FAULTS.keys())
@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
async def test_an_admin_command_under_a_fly_fault_gets_a_clear_error_and_no_traceback(
    fast_bot: BotHarness, caplog: pytest.LogCaptureFixture, case: Case, fault: str
) -> None:
    bot = fast_bot
    caplog.set_level(logging.INFO)
    agent_id, _ = await bot.provision()
    if case.snapshot_first:
        sent = await bot.send(ADMIN, f"/snapshot {agent_id}")
        await bot.reply_to(ADMIN["id"], sent, "Snapshot")
    code = ""
    if case.code:
        machine_id = (await bot.agent(agent_id)).machine_id
        assert machine_id is not None
        code = await bot.pairing_code(machine_id, END_USER["id"])
    if case.command.startswith("/provision"):
        sent = await bot.send(ADMIN, f"/secret acme/bob TELEGRAM_BOT_TOKEN={AGENT_BOT_TOKEN}")
        await bot.reply_to(ADMIN["id"], sent, "Stored")
    caplog.clear()
    await bot.fly_fault(FAULTS[fault])

    sent = await bot.send(ADMIN, case.command.format(agent=agent_id, code=code))
    if case.confirm:
        ask = await bot.reply_to(ADMIN["id"], sent, lambda m: bool(bot.buttons(m)))
        await bot.press(ADMIN, int(ask["message_id"]), bot.buttons(ask)[0])
    reply = await bot.reply_to(ADMIN["id"], sent, _settled(case), timeout=60)
    await bot.fly_fault({"clear": True})

    text = str(reply["text"])
    assert "went wrong" not in text.lower(), text
    tracebacks = [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]
    assert not tracebacks, [r.getMessage() for r in tracebacks]
    assert not [m for m in bot.bot_messages(ADMIN["id"]) if "went wrong" in m.get("text", "")]
    if fault not in case.fails_under:
        return
    assert "❌" in text, text
    if fault == "exec-outcome-unknown":
        # The state it left is named, and the way on.
        assert "unknown" in text.lower() and case.after_unknown_exec in text, text
    if case.audited is not None:
        entries = await bot.store.audit.entries(target=agent_id, limit=50)
        assert any(
            e.action == case.audited and e.outcome is AuditOutcome.FAILED for e in entries
        ), [(e.action, e.outcome) for e in entries]
