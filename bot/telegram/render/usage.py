"""Texts that explain how to use the bot: /help, its footers, and guided mode's questions."""

from __future__ import annotations

from collections.abc import Sequence

from bot.telegram.commands import Ask, Command
from bot.telegram.render.common import code, esc


def help_text(title: str, commands: Sequence[Command], footer: str = "") -> str:
    lines = [f"<b>{esc(title)}</b>"]
    for command in commands:
        if not command.subcommands:
            lines.append(f"{code(command.usage)} — {esc(command.description)}")
            continue
        lines.append(f"<b>/{esc(command.name)}</b> — {esc(command.description)}:")
        lines.extend(f"  {code(s.usage)} — {esc(s.description)}" for s in command.subcommands)
    if footer:
        lines.extend(("", footer))
    return "\n".join(lines)


ADMIN_HELP_FOOTER = (
    "AGENT is the id shown by /list (e.g. <code>ag_…</code>) or <code>tenant/user</code>. "
    "Every command works in one line with key=value values; leave values out and I ask for "
    "them. /deprovision, /recreate, /clearsecrets, /tenant remove and the fleet-wide "
    "/stop all, /wake all and /restart all ask for confirmation. "
    "KEY of /tenant set is a fleet setting name (e.g. FLY_APP_NAME, FLY_API_TOKEN, LLM_MODEL); "
    "secret ones only in a private chat, where I delete the message at once."
)
USER_HELP_FOOTER = (
    "Your agent answers you in its own Telegram chat. The first time, it sends you a pairing "
    "code: send that code here (or forward its whole message) and an operator approves it."
)


def private_only(name: str) -> str:
    """`name` comes from the command table (never from the user), so it needs no escaping."""
    return (
        f"/{name} works only in a private chat with me. If that message held a secret, "
        "consider it exposed and rotate it."
    )


ADMIN_HELP_TITLE = "Admin commands"
USER_HELP_TITLE = "What I can do for you"
TENANT_HELP_TITLE = "Tenant profiles"


# Guided mode's question for each missing value (plain text).
QUESTIONS = {
    Ask.AGENT: "Which agent? Pick one, or type its id or tenant/user.",
    Ask.TENANT: "Which tenant? Send its id.",
    Ask.USER: "Which user (within the tenant)? Send its id.",
    Ask.MODEL: "Which model? Send it as provider/model, e.g. moonshotai/kimi-k2.5.",
    Ask.SKILLS: "Which skills? Send them comma-separated, e.g. linkhub-bridge,calendar.",
    Ask.CODE: "Which pairing code? Send the 8 characters.",
    Ask.SECRET: "Send the secret as NAME=VALUE. I delete your message as soon as I read it.",
}
CHOICE_GONE = "That choice is no longer offered."


def guided_question(command: Command, asking: Ask) -> str:
    return f"<b>/{esc(command.name)}</b>: {esc(QUESTIONS[asking])}"


def addressed(user_id: int, name: str, text: str) -> str:
    """`text` addressed to a user by a mention (which opens their reply field in a group)."""
    return f'<a href="tg://user?id={user_id}">{esc(name, 64)}</a>, {text}'
