"""Texts of running operations: the progress line, and many agents at once (/stop all …)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.fleet import BulkAction, Progress
from bot.telegram.render.common import code, done, esc, failed, partly_done, utf16_len

# --- progress -----------------------------------------------------------------------------------


def progress(state: Progress) -> str:
    return esc(state.render(), 1500)


# --- many agents at once (/stop all, /wake all, /restart all) -----------------------------------

# Room for the summary's failure lines in the one edited message (Telegram's limit is 4096,
# counted after parsing; raw HTML is never shorter). Lines that do not fit follow as a list.
BULK_SUMMARY_BUDGET = 3500


def _agents(count: int) -> str:
    return f"{count} agent{'s' if count != 1 else ''}"


def bulk_scope(tenant: str | None) -> str:
    return f" of tenant {code(tenant, 80)}" if tenant else ""


def bulk_title(command: str, tenant: str | None) -> str:
    """Plain text (it is escaped with the progress line): `/stop all` or `/stop all acme`."""
    return f"/{command} all" + (f" {tenant}" if tenant else "")


def bulk_target_label(count: int, tenant: str | None) -> str:
    """Plain text for the confirmation store ("Cancelled: nothing was done to …")."""
    return _agents(count) + (f" of tenant {tenant}" if tenant else "")


def bulk_question(
    command: str, count: int, tenant: str | None, qualifying: str, effect: str, concurrency: int
) -> str:
    """`command` is also the verb: stop, wake, restart."""
    return (
        f"⚠️ <b>/{esc(command)} all</b>{bulk_scope(tenant)}: {esc(command)} <b>{count}</b> "
        f"agent{'s' if count != 1 else ''} ({esc(qualifying)})?\n"
        f"{esc(effect)} Agents busy with another operation are left alone; at most "
        f"{concurrency} at a time, with the progress shown here."
    )


def bulk_nothing(verb: str, tenant: str | None, qualifying: str, *, now: bool = False) -> str:
    still = " now" if now else ""
    return (
        f"Nothing to {esc(verb)}{still}: no agent{bulk_scope(tenant)} is {esc(qualifying)}. "
        f"/list{f' tenant={esc(tenant, 80)}' if tenant else ''} shows them all."
    )


def bulk_failure_line(agent_id: str, label: str | None, reason: str) -> str:
    who = f"{code(agent_id, 40)} {esc(label, 80)}" if label else code(agent_id, 40)
    return f"✗ {who} — {esc(reason, 300)}"


def bulk_summary(
    command: str,
    tenant: str | None,
    done_word: str,
    succeeded: int,
    failure_lines: Sequence[str],
    skipped_lines: Sequence[str] = (),
    budget: int = BULK_SUMMARY_BUDGET,
) -> tuple[str, int]:
    """The outcome of a bulk action, and how many of its agent lines did not fit in it.

    Lines about agents the action did not succeed on (failed first, then left alone) are
    shown while the text stays within `budget`; the caller sends the rest as a list.
    """
    counts = f"{succeeded} {esc(done_word)}, {len(failure_lines)} failed"
    if skipped_lines:
        counts += f", {len(skipped_lines)} left alone"
    head = f"<b>/{esc(command)} all</b>{bulk_scope(tenant)}: {counts}."
    notes = [*failure_lines, *skipped_lines]
    if not notes:
        head = done(head)
    elif succeeded:
        head = partly_done(head)
    else:
        head = failed(head)
    lines = [head]
    used = utf16_len(head)
    for line in notes:
        size = utf16_len(line) + 1
        # Room is kept for the closing "…and N more" line.
        if used + size > budget - 80:
            break
        lines.append(line)
        used += size
    hidden = len(notes) - (len(lines) - 1)
    if hidden:
        lines.append(f"…and {hidden} more: the full list follows.")
    return "\n".join(lines), hidden


def bulk_full_list_header(command: str, tenant: str | None, count: int) -> str:
    return f"<b>/{esc(command)} all</b>{bulk_scope(tenant)}: {_agents(count)} not done"


# Shown in place of an operation's outcome when the bot itself failed (the error is logged
# with a ref and reported to the ops chat separately).
SOMETHING_WENT_WRONG = failed("Something went wrong.")


# Per bulk action: its past participle, which agents it picks (as the service's
# `bulk_targets` does, in the admin's words), and what it does to them.
@dataclass(frozen=True)
class BulkWords:
    done: str
    # Which agents the service's `bulk_targets` picks for the action, as the admin reads it.
    qualifying: str
    effect: str


BULK_WORDS = {
    BulkAction.STOP: BulkWords(
        "stopped",
        "running or in error",
        "Their end users get no answers until they are woken.",
    ),
    BulkAction.WAKE: BulkWords(
        "woken",
        "stopped or in error",
        "Each machine starts and its gateway is waited for.",
    ),
    BulkAction.RESTART: BulkWords(
        "restarted",
        "running or in error",
        "Each machine restarts, its gateway is waited for and a stuck pairing is settled.",
    ),
}


def restarting_by(holder: str) -> str:
    """Why an agent was left alone: another admin is restarting it (plain text)."""
    return f"being restarted by {holder}"
