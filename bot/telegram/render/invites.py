"""Texts about invite links and the link between an agent and its end user."""

from __future__ import annotations

from bot.telegram.render.common import agent_label, code, done, esc
from storage.models import Agent


def invite_lines(link: str) -> str:
    return (
        f"One-time invite for the end user (valid 7 days):\n{esc(link, 300)}\n"
        "<i>Send it to them privately; it links their Telegram account to this agent.</i>"
    )


def _invite_heading(agent: Agent) -> str:
    return f"🔗 Invite for {code(agent.id)} ({esc(agent_label(agent))})"


def invite(agent: Agent, link: str) -> str:
    return f"{_invite_heading(agent)}\n{invite_lines(link)}"


def invite_sent_privately(agent: Agent) -> str:
    return (
        f"🔗 The one-time invite for {code(agent.id)} was sent to you in our private chat "
        "(never shown here: in a group whoever clicks a link first is linked)."
    )


def invite_not_delivered(agent: Agent, bot_username: str) -> str:
    return (
        f"⚠️ I could not send you the invite for {code(agent.id)} privately: Telegram lets me "
        f"write to you only once you have started a chat with me. Open a private chat with "
        f"@{esc(bot_username)}, press Start, then run /invite {code(agent.id)} there."
    )


# --- end users' links ---------------------------------------------------------------------------


def unlinked(agent: Agent, previous: int | None) -> str:
    if previous is None:
        return f"ℹ️ {code(agent.id)} had no linked end user. /invite {esc(agent.id)} makes a link."
    return done(
        f"Telegram user {code(str(previous))} is no longer linked to {code(agent.id)} "
        f"({esc(agent_label(agent))}) and was told. /invite {esc(agent.id)} makes a new link; "
        "someone whose invite was refused because the agent was taken can open it again now."
    )


def unlinked_user(agent: Agent) -> str:
    return (
        f"An operator released your link to the agent {esc(agent_label(agent))}: you can no "
        "longer pair or check it from here. Ask your operator if this is unexpected."
    )


def invite_taken(agent: Agent) -> str:
    """To the redeemer: polite, and without naming who holds the agent."""
    return (
        f"Sorry, the agent {esc(agent_label(agent))} is already linked to another Telegram "
        "account, so this invite did not link you. The operators have been told; once they "
        "release it, open the same invite link again."
    )


def invite_taken_holder(agent: Agent) -> str:
    """To the user who stays linked."""
    return (
        f"Someone else opened an invite link for your agent {esc(agent_label(agent))}. You are "
        "still linked to it; the operators have been told and decide."
    )


def invite_in_private(agent: Agent, shown: str) -> str:
    """/invite's answer in the admin's private chat: which agent, then `shown` (the link)."""
    return f"{_invite_heading(agent)}\n{shown}"
