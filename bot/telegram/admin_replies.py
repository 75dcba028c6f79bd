"""How an admin command answers: a reply, a "⏳ …" replaced by the outcome, or a live progress.

Shared by the admin command modules (`admin_handlers`, `agent_lifecycle`, `agent_settings`,
`end_user_commands`) so that each answers the same way; texts come from `render`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Sequence

from telegram import InlineKeyboardMarkup
from telegram.error import TelegramError

from bot.fleet import Progress
from bot.telegram import render
from bot.telegram.call import Call
from bot.telegram.deps import BotDeps
from bot.telegram.errors import EXPECTED_ERRORS, explain
from bot.telegram.live_progress import LiveProgress

# One admin command with all its values present.
Runner = Callable[[Call, dict[str, str]], Awaitable[None]]
# What an operation ends with: the text shown, and its buttons.
Outcome = tuple[str, InlineKeyboardMarkup | None]


async def reply(
    deps: BotDeps, call: Call, text: str, keyboard: InlineKeyboardMarkup | None = None
) -> None:
    await deps.messenger.send(call.chat_id, text, keyboard)


async def working(
    deps: BotDeps, call: Call, text: str, action: Callable[[], Awaitable[Outcome]]
) -> None:
    """Show "⏳ text", run `action`, then replace it with the outcome."""
    messenger = deps.messenger
    sent = await messenger.send(call.chat_id, render.working(render.esc(text)))
    if sent is None:
        return
    try:
        outcome, keyboard = await action()
    except EXPECTED_ERRORS as error:
        outcome, keyboard = render.failed(explain(error)), None
    except Exception:
        with contextlib.suppress(TelegramError):
            await messenger.edit(call.chat_id, sent.message_id, render.SOMETHING_WENT_WRONG)
        raise
    await messenger.edit(call.chat_id, sent.message_id, outcome, keyboard)


async def with_progress(
    deps: BotDeps,
    call: Call,
    title: str,
    steps: Sequence[str],
    action: Callable[[Progress], Awaitable[Outcome]],
    *,
    message_id: int | None = None,
    opened: Callable[[int], None] | None = None,
) -> None:
    """Run `action` with a `Progress` shown in one edited message, then its outcome;
    `opened` learns that message's id before `action` runs."""
    opened_live = await LiveProgress.open(
        deps.messenger,
        call.chat_id,
        title,
        steps,
        deps.options.progress_edit_interval_s,
        message_id=message_id,
    )
    if opened_live is None:
        return
    live, progress = opened_live
    if opened is not None:
        opened(live.message_id)
    result = await live.run(progress, lambda: action(progress))
    if result is None:
        return
    outcome, keyboard = result
    await live.finish(f"{render.progress(progress)}\n{outcome}", keyboard)
