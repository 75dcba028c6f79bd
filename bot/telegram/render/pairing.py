"""Texts about pairing requests: the admins' cards and outcomes, and the end user's words."""

from __future__ import annotations

from bot.fleet import PairingOutcome, PairingResult, RecoveryResult
from bot.telegram.render.common import agent_label, code, done, esc, failed, when
from storage.models import Agent, PairingRequest, PairingState, StuckResolution

_OUTCOME_MARK = {
    PairingOutcome.SUCCEEDED: "✅",
    PairingOutcome.FAILED: "❌",
    PairingOutcome.REFUSED: "⛔",
    PairingOutcome.STUCK: "⏳",
    PairingOutcome.ALREADY_HANDLED: "ℹ️",
    PairingOutcome.NOT_READY: "⏸",
}


def user_pairing_words(request: PairingRequest) -> str:
    words = {
        PairingState.SUBMITTED: "your code is waiting for an operator's approval",
        PairingState.APPROVED: "approved, being applied",
        PairingState.RUNNING: "being applied right now",
        PairingState.STUCK: "taking longer than expected; an operator is on it",
        PairingState.SUCCEEDED: "paired — you can talk to your agent",
        PairingState.FAILED: "did not go through; send your agent a message for a new code",
        PairingState.REJECTED: "declined by an operator",
        PairingState.EXPIRED: "the code expired; send your agent a message for a new one",
        PairingState.SUPERSEDED: "replaced by a newer code",
    }
    return words[request.state]


# --- pairing ------------------------------------------------------------------------------------


def pairing_card(
    request: PairingRequest, agent: Agent | None, submitter: str, footer: str | None = None
) -> str:
    target = f"{code(agent.id)} ({esc(agent_label(agent))})" if agent else code(request.agent_id)
    lines = [
        "🔑 <b>Pairing request</b>",
        f"Agent: {target}",
        f"User: {esc(submitter)}",
        f"Code: {code(request.code)}",
        f"Time: {when(request.created_at)}",
        f"Request: {code(request.id)}",
    ]
    if footer:
        lines.append("")
        lines.append(footer)
    return "\n".join(lines)


def pairing_outcome(result: PairingResult, admin: str) -> str:
    mark = _OUTCOME_MARK[result.outcome]
    by = "" if result.outcome is PairingOutcome.ALREADY_HANDLED else f" (approved by {esc(admin)})"
    return f"{mark} <b>{esc(result.outcome.value)}</b>{by}\n{esc(result.message, 600)}"


def rejected(admin: str) -> str:
    return f"✖️ <b>rejected</b> by {esc(admin)}"


def already_decided(request: PairingRequest) -> str:
    by = f" by {esc(request.decided_by)}" if request.decided_by else ""
    return f"ℹ️ Already {esc(request.state.value)}{by}."


def recovery(result: RecoveryResult) -> str:
    if result.resolution is StuckResolution.APPLIED:
        return done(f"Pairing recovered: applied. {esc(result.message, 400)}")
    if result.resolution is StuckResolution.RETRY:
        return f"🔁 Pairing can be retried once. {esc(result.message, 400)}"
    if result.resolution is StuckResolution.ABANDONED:
        return failed(f"Pairing failed. {esc(result.message, 400)}")
    return f"ℹ️ {esc(result.message, 400)}"


def pending_header(waiting: int, stuck: int) -> str:
    if not waiting and not stuck:
        return "No pairing requests await a decision, and no machine is blocked."
    return f"<b>{waiting} pairing request{'s' if waiting != 1 else ''} awaiting a decision</b>" + (
        f", {stuck} blocked machine{'s' if stuck != 1 else ''}" if stuck else ""
    )


def stuck_card(request: PairingRequest, agent: Agent | None) -> str:
    target = f"{code(agent.id)} ({esc(agent_label(agent))})" if agent else code(request.agent_id)
    return (
        f"⏳ <b>Stuck pairing</b> on {target}\n"
        f"Machine {code(request.machine_id)} · request {code(request.id)} · code "
        f"{code(request.code)}\nRestart the machine; pairing is offered again once its gateway "
        "is healthy."
    )


def pending_more(hidden: int) -> str:
    """After the first cards of /pending: how many were not shown."""
    return f"…and {hidden} more: decide these, then /pending again."


# What the end user who sent a code hears, after "Pairing code CODE: " (see `pairing_news`).
USER_STUCK_WORDS = (
    "Your pairing is taking longer than expected. An operator is looking into it; "
    "I will tell you here when it is done."
)
USER_REJECTED_WORDS = (
    "An operator declined your pairing request. If you think this is a mistake, contact them."
)
USER_APPLIED_WORDS = "Paired: you can now talk to your agent."
USER_NOT_APPLIED_WORDS = (
    "Your pairing did not go through. Send your agent a message to get a new code, "
    "then send that code here."
)
USER_EXPIRED_WORDS = (
    "This code expired before it was approved. Send your agent a message to get a new code, "
    "then send that code here."
)


def pairing_news(request: PairingRequest, words: str) -> str:
    """To the end user who sent the code: what became of it (`words`, plain text)."""
    return f"Pairing code {code(request.code)}: {esc(words, 600)}"


# A pairing card's footer for a request not decided yet (see `cards`).
APPROVED_NOT_RUN = "⏸ Approved, not run yet (the agent was not ready)."
STUCK_FOOTER = "⏳ Stuck: restart the machine before pairing again."
