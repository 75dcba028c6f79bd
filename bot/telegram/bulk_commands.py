"""`/stop all`, `/wake all`, `/restart all` [TENANT]: one lifecycle action over many agents.

Parses `all [TENANT]`, asks the admin who typed it to confirm with the number of agents the
fleet service's `bulk_targets` finds (nothing to do: a polite line, no button), and on
confirmation runs `bulk_lifecycle` with its progress in the confirmation message itself (one
message, edited no more often than the progress interval allows), ending with a summary that
names every agent it did not succeed on. The agents are read again when the admin confirms,
so ones that changed state meanwhile are judged as they are then. A bulk restart marks each
agent as being restarted, as one `/restart` does, and leaves alone those another admin is
restarting at that moment.

Which agents qualify, how many run at once, retries and audit entries are the fleet service's
business: this module never picks agents by itself and never acts on one directly.
"""

from __future__ import annotations

from bot.fleet import BULK_STEPS, BulkAction
from bot.telegram import keyboards, render
from bot.telegram.call import Call
from bot.telegram.commands import ALL_AGENTS
from bot.telegram.confirmations import PendingConfirmation
from bot.telegram.deps import BotDeps
from bot.telegram.errors import EXPECTED_ERRORS, explain
from bot.telegram.live_progress import LiveProgress
from bot.telegram.pairing_desk import PairingDesk
from bot.telegram.parsing import ParseError, words
from storage.models import Agent

# The confirmation store's command name of a bulk action: "bulk-stop", "bulk-wake", ….
BULK_PREFIX = "bulk-"


def is_all(text: str) -> bool:
    return text.strip().lower() == ALL_AGENTS


def is_bulk_confirmation(pending: PendingConfirmation) -> bool:
    return pending.command.startswith(BULK_PREFIX)


def parse_tenant(command: str, rest: str) -> str | None:
    """What follows `all`: nothing, `TENANT` or `tenant=TENANT`."""
    found = words(rest)
    usage = f"Usage: /{command} {ALL_AGENTS} [TENANT]"
    if len(found) > 1:
        raise ParseError(f"Too many values. {usage}")
    if not found:
        return None
    key, sep, value = found[0].partition("=")
    if not sep:
        return key
    if key.lower() != "tenant" or not value:
        raise ParseError(f"Only a tenant may follow {ALL_AGENTS}. {usage}")
    return value


class BulkCommands:
    def __init__(self, deps: BotDeps, desk: PairingDesk) -> None:
        self._deps = deps
        self._desk = desk

    async def ask(self, call: Call, command: str, rest: str) -> None:
        """`/<command> all [TENANT]`: say how many agents it would touch and ask to confirm."""
        messenger = self._deps.messenger
        action = BulkAction(command)
        wording = render.BULK_WORDS[action]
        try:
            tenant = parse_tenant(command, rest)
            targets = await self._deps.service.bulk_targets(action, tenant)
        except EXPECTED_ERRORS as error:
            await messenger.send(call.chat_id, render.failed(explain(error)))
            return
        if not targets:
            await messenger.send(
                call.chat_id, render.bulk_nothing(action.value, tenant, wording.qualifying)
            )
            return
        pending = self._deps.confirmations.create(
            command=BULK_PREFIX + action.value,
            target_id=tenant or "",
            target_label=render.bulk_target_label(len(targets), tenant),
            admin_id=call.user_id,
            chat_id=call.chat_id,
        )
        await messenger.send(
            call.chat_id,
            render.bulk_question(
                action.value,
                len(targets),
                tenant,
                wording.qualifying,
                wording.effect,
                self._deps.service.defaults.bulk_concurrency,
            ),
            keyboards.confirm(pending.token, f"{action.value} {len(targets)}"),
        )

    async def confirmed(self, call: Call, pending: PendingConfirmation, message_id: int) -> None:
        """The admin who asked pressed the button: run the action, progress in that message."""
        action = BulkAction(pending.command.removeprefix(BULK_PREFIX))
        tenant = pending.target_id or None
        try:
            targets = await self._deps.service.bulk_targets(action, tenant)
        except EXPECTED_ERRORS as error:
            await self._deps.messenger.edit(call.chat_id, message_id, render.failed(explain(error)))
            return
        if action is not BulkAction.RESTART:
            await self._run(call, message_id, action, tenant, targets, [])
            return
        taken, skipped = self._take_restarts(targets, self._deps.people.name(call.user_id))
        try:
            await self._run(call, message_id, action, tenant, taken, skipped)
        finally:
            for agent in taken:
                self._desk.release_restart(agent.id)

    def _take_restarts(
        self, targets: list[Agent], admin_name: str
    ) -> tuple[list[Agent], list[tuple[Agent, str]]]:
        """Each agent marked as being restarted by this admin, as one /restart marks it; those
        someone else is restarting already are left alone, with who that is."""
        taken: list[Agent] = []
        skipped: list[tuple[Agent, str]] = []
        for agent in targets:
            holder = self._desk.take_restart(agent.id, admin_name)
            if holder is None:
                taken.append(agent)
            else:
                skipped.append((agent, holder))
        return taken, skipped

    async def _run(
        self,
        call: Call,
        message_id: int,
        action: BulkAction,
        tenant: str | None,
        targets: list[Agent],
        skipped: list[tuple[Agent, str]],
    ) -> None:
        deps = self._deps
        messenger = deps.messenger
        if not targets and not skipped:
            await messenger.edit(
                call.chat_id,
                message_id,
                render.bulk_nothing(
                    action.value, tenant, render.BULK_WORDS[action].qualifying, now=True
                ),
            )
            return
        opened = await LiveProgress.open(
            messenger,
            call.chat_id,
            render.bulk_title(action.value, tenant),
            BULK_STEPS,
            deps.options.progress_edit_interval_s,
            message_id=message_id,
        )
        if opened is None:
            return
        live, progress = opened
        report = await live.run(
            progress,
            lambda: deps.service.bulk_lifecycle(
                action, [agent.id for agent in targets], actor=call.actor, progress=progress
            ),
        )
        if report is None:
            return
        labels = {agent.id: render.agent_label(agent) for agent in targets}
        failures = [
            render.bulk_failure_line(outcome.agent_ref, labels.get(outcome.agent_ref), reason)
            for outcome in report.failed
            if (reason := outcome.error) is not None
        ]
        left_alone = [
            render.bulk_failure_line(
                agent.id, render.agent_label(agent), render.restarting_by(holder)
            )
            for agent, holder in skipped
        ]
        text, hidden = render.bulk_summary(
            action.value,
            tenant,
            render.BULK_WORDS[action].done,
            len(report.succeeded),
            failures,
            left_alone,
        )
        await live.finish(text)
        if hidden:
            notes = [*failures, *left_alone]
            await messenger.send_lines(
                call.chat_id,
                notes,
                header=render.bulk_full_list_header(action.value, tenant, len(notes)),
            )
