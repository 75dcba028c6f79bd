"""Texts that refuse or apologise: to strangers, to end users trying admin commands, for
unknown commands, for expected errors (`errors.explain` picks which) and for the bot's own
failures (each with the ref that finds it in the log).
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.telegram.render.common import esc

STRANGER_LINE = (
    "Hello! This is a private bot. If you were sent an invite link, open it to get started."
)
ADMIN_ONLY_LINE = "Sorry, only the operators of this bot can do that."
UNKNOWN_COMMAND_LINE = "I do not know that command. /help lists what you can do."
# An admin's plain message in a private chat (no question pending): not a command.
ADMIN_PLAIN_TEXT_LINE = (
    "To approve a code directly use /pair AGENT CODE; /help lists every command."
)
VAULT_NOT_CONFIGURED = "Secrets cannot be stored: AGENT_SECRETS_ENCRYPTION_KEY is not configured."
NOT_FOUND = "That was not found. /list shows the live agents."


def not_accepted(problems: Sequence[object]) -> str:
    """Every problem found in a request (at most ten listed)."""
    listed = "\n".join(f"• {esc(problem, 300)}" for problem in problems[:10])
    more = f"\n…and {len(problems) - 10} more" if len(problems) > 10 else ""
    return f"That was not accepted:\n{listed}{more}"


def invite_refused(error: object) -> str:
    return f"Sorry, {esc(error, 200)}. Ask your operator for a new invite link."


def bot_error(ref: str) -> str:
    """To whoever's update the bot failed on."""
    return f"Sorry, something went wrong (ref <code>{ref}</code>). The operators have been told."


def bot_error_button(ref: str) -> str:
    """The same, as the answer to a pressed button (plain text)."""
    return f"Something went wrong (ref {ref})."


def bot_error_alert(ref: str, where: str, kind: str) -> str:
    """Plain text for the ops alert."""
    return f"Error ref {ref} while handling {where}: {kind}. Details are in the bot's log."
