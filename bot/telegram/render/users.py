"""Texts for end users: linking with an invite, sending a pairing code, their agent's status.

An end user never reads Fly internals: statuses are said in plain words, never with the
agent's last error (which names machines).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.telegram.render.common import agent_label, code, esc, when
from bot.telegram.render.pairing import user_pairing_words
from bot.telegram.render.usage import USER_HELP_FOOTER
from storage.models import Agent, AgentStatus, PairingRequest

NO_CODE_LINE = (
    "Send me the pairing code your agent gave you: 8 characters, like <code>F864XLAV</code>. "
    "You can also forward its whole message here."
)
NOT_YOURS_LINE = "You can only see and pair your own agent."
OPEN_INVITE_IN_PRIVATE = "Open your invite link in a private chat with me."
SEND_JUST_ONE_CODE = "Send just /pair CODE."
CODE_ALREADY_APPROVED = "That code was already approved: you can talk to your agent."
# What each recorded status means to the person using the agent (never the last error's text,
# which names machines and Fly internals).
STATUS_WORDS = {
    AgentStatus.PROVISIONING: "being set up",
    AgentStatus.RUNNING: "running",
    AgentStatus.STOPPED: "stopped by an operator",
    AgentStatus.RECREATING: "being rebuilt",
    AgentStatus.DEPROVISIONING: "being removed",
    AgentStatus.ERROR: "having a problem; the operators have been alerted",
    AgentStatus.DELETED: "removed",
}
CHECKED_LINE = "<i>As of the bot's latest regular check of your agent.</i>"


def age_words(since: datetime, now: datetime) -> str:
    """How long ago, in the largest whole unit that fits: "5 min ago", "3 h ago"."""
    seconds = (now - since).total_seconds()
    if seconds < 60:
        return "less than a minute ago"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min ago"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} h ago"
    return f"{hours // 24} days ago"


def recorded_status(agent: Agent, latest: PairingRequest | None, now: datetime) -> str:
    """The end user's view of one agent: its recorded status, how old that is, its pairing."""
    # The row changes with every status change the monitor records (and with any other edit),
    # so the status has been what it says at least since then.
    since = agent.updated_at
    lines = [
        f"<b>Your agent</b> {esc(agent_label(agent))}",
        f"Status: {STATUS_WORDS[agent.status]} — unchanged since {when(since)} "
        f"({age_words(since, now)})",
    ]
    if latest is not None:
        lines.append(f"Pairing: {esc(user_pairing_words(latest))}")
    lines.append(CHECKED_LINE)
    return "\n".join(lines)


def linked(agent: Agent) -> str:
    """To an end user whose invite just linked them."""
    return f"✅ You are linked to your agent {esc(agent_label(agent))}.\n{USER_HELP_FOOTER}"


def too_many_codes(minutes: int) -> str:
    return f"That is a lot of codes in a short time. Please try again in {minutes} min."


def several_agents(agents: Sequence[Agent]) -> str:
    listed = ", ".join(esc(agent_label(a)) for a in agents) or "none"
    return f"You have several agents ({listed}): send /pair AGENT CODE."


def code_submitted(request: PairingRequest, agent: Agent) -> str:
    return (
        f"Thanks! Your code {code(request.code)} for your agent "
        f"{esc(agent_label(agent))} is waiting for an operator's approval. "
        "I will tell you here when it is done."
    )


def code_known(request: PairingRequest) -> str:
    """The user sent a code the bot already has."""
    return f"I already have that code: {esc(user_pairing_words(request))}."
