"""Admin commands: parse the values, ask for missing ones, call the fleet service, show the result.

Every command works in one line with `key=value` values (so it can be scripted) and falls back
to guided mode when required values are missing. Long operations show their progress in one
edited message; destructive ones wait for a confirmation button. Business rules stay in the
fleet service: a handler here never decides what is allowed on a machine. The router has
already checked that the caller is an admin.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

from pydantic import JsonValue, SecretStr
from telegram import InlineKeyboardMarkup
from telegram.error import TelegramError

from bot.fleet.progress import Progress
from bot.fleet.provisioning import PROVISION_STEPS, ProvisionRequest, ResumedProvision
from bot.fleet.recreate import RECREATE_STEPS
from bot.telegram import cards, keyboards, render
from bot.telegram.bulk_commands import BulkCommands, is_all, is_bulk_confirmation
from bot.telegram.call import Call
from bot.telegram.commands import ADMIN_BY_NAME, ADMIN_COMMANDS, BULK_COMMANDS, Ask
from bot.telegram.confirmations import PendingConfirmation
from bot.telegram.deps import BotDeps
from bot.telegram.errors import EXPECTED_ERRORS, explain
from bot.telegram.guide import Guide, missing_value
from bot.telegram.live_progress import LiveProgress
from bot.telegram.pairing_desk import PairingDesk
from bot.telegram.parsing import (
    ParseError,
    SecretAssignment,
    parse_args,
    parse_secret_command,
    parse_secret_reply,
)
from bot.telegram.tenant_commands import TENANT_REMOVE, TenantCommands
from storage.models import Agent

log = logging.getLogger("bot.telegram.admin")

Runner = Callable[[Call, dict[str, str]], Awaitable[None]]
Outcome = tuple[str, InlineKeyboardMarkup | None]

MAX_PENDING_CARDS = 4
AUDIT_ENTRIES = 100
_DESTRUCTIVE_WORDS = {
    "deprovision": ("deprovision", "This destroys its machine and volume."),
    "recreate": (
        "recreate",
        "This replaces its machine and volume with new ones from the latest snapshot.",
    ),
    "clearsecrets": ("clear secrets", "This deletes every secret stored for it."),
}


def _skills(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


class AdminCommands:
    def __init__(self, deps: BotDeps, desk: PairingDesk) -> None:
        self._deps = deps
        self._desk = desk
        self.guide = Guide(deps, self.run, self.store_secret_reply)
        self.tenants = TenantCommands(deps)
        self.bulk = BulkCommands(deps, desk)
        self._runners: dict[str, Runner] = {
            "provision": self._provision,
            "list": self._list,
            "status": self._status,
            "wake": self._one_or_all("wake", self._wake),
            "stop": self._one_or_all("stop", self._stop),
            "restart": self._one_or_all("restart", self._restart),
            "deprovision": self._confirming("deprovision"),
            "snapshot": self._snapshot,
            "recreate": self._confirming("recreate"),
            "model": self._model,
            "skills": self._set_skills,
            "secrets": self._secrets,
            "clearsecrets": self._confirming("clearsecrets"),
            "pair": self._pair,
            "pending": self._pending,
            "invite": self._invite,
            "unlink": self._unlink,
            "audit": self._audit,
            "help": self._help,
        }

    # --- entry points -------------------------------------------------------------------------

    async def handle(
        self, call: Call, name: str, rest: str, *, message_deleted: bool | None = None
    ) -> None:
        """`message_deleted`: what became of a message the router deleted for holding a secret."""
        command = ADMIN_BY_NAME[name]
        if command.private_only and not call.private:
            await self._reply(
                call,
                f"/{name} works only in a private chat with me. If that message held a secret, "
                "consider it exposed and rotate it.",
            )
            return
        if name == "secret":
            await self._secret(call, rest)
            return
        if name == "tenant":
            await self.tenants.handle(call, rest, message_deleted)
            return
        if name in BULK_COMMANDS:
            first, *after = rest.split(maxsplit=1) or [""]
            if is_all(first):
                await self.bulk.ask(call, name, " ".join(after))
                return
        try:
            values = dict(parse_args(command, rest).values)
        except ParseError as error:
            await self._reply(call, render.failed(render.esc(error, 600)))
            return
        asking = missing_value(command, values)
        if asking is not None:
            await self.guide.ask(call, command, values, asking)
            return
        await self.run(call, name, values)

    async def run(self, call: Call, name: str, values: dict[str, str]) -> None:
        """Run a command whose values are all present; expected refusals become replies."""
        try:
            await self._runners[name](call, values)
        except EXPECTED_ERRORS as error:
            await self._reply(call, render.failed(explain(error)))

    # --- helpers ------------------------------------------------------------------------------

    async def _reply(
        self, call: Call, text: str, keyboard: InlineKeyboardMarkup | None = None
    ) -> None:
        await self._deps.messenger.send(call.chat_id, text, keyboard)

    async def _working(
        self, call: Call, text: str, action: Callable[[], Awaitable[Outcome]]
    ) -> None:
        """Show "⏳ text", run `action`, then replace it with the outcome."""
        messenger = self._deps.messenger
        sent = await messenger.send(call.chat_id, render.working(render.esc(text)))
        if sent is None:
            return
        try:
            outcome, keyboard = await action()
        except EXPECTED_ERRORS as error:
            outcome, keyboard = render.failed(explain(error)), None
        except Exception:
            with contextlib.suppress(TelegramError):
                await messenger.edit(
                    call.chat_id, sent.message_id, render.failed("Something went wrong.")
                )
            raise
        await messenger.edit(call.chat_id, sent.message_id, outcome, keyboard)

    async def _with_progress(
        self,
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
        deps = self._deps
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

    async def _agent(self, ref: str) -> Agent:
        return await self._deps.service.find_agent(ref)

    def _invite_link(self, token: SecretStr) -> str:
        username = self._deps.messenger.bot.username
        return f"https://t.me/{username}?start={token.get_secret_value()}"

    async def _invite_for(self, agent: Agent, *, chat_id: int, user_id: int, actor: str) -> str:
        """A new invite, as the text for the answer in `chat_id`: the link itself in the
        admin's private chat; asked in a group, the link goes to the admin privately (in a
        group whoever clicks it first is linked) and the group reads only where it went."""
        deps = self._deps
        issued = await deps.store.invites.create(agent.id, created_by=actor)
        link = self._invite_link(issued.token)
        if chat_id == user_id:
            return render.invite_lines(link)
        sent = await deps.messenger.send(user_id, render.invite(agent, link))
        if sent is None:
            # Telegram refused (the admin never started a chat with the bot, or blocked it):
            # nobody holds this token, so it is withdrawn.
            await deps.store.invites.revoke(issued.invite.id, by=actor)
            return render.invite_not_delivered(agent, deps.messenger.bot.username)
        return render.invite_sent_privately(agent)

    async def report_resumed(self, resumed: ResumedProvision) -> None:
        """A provisioning a restart finished (or failed): its progress message shows the
        outcome instead of ⏳, and the admin who asked gets the invite link (privately)."""
        report = resumed.report or {}
        chat_id, message_id, user_id = (
            report.get("chat_id"),
            report.get("message_id"),
            report.get("user_id"),
        )
        if not (
            isinstance(chat_id, int) and isinstance(message_id, int) and isinstance(user_id, int)
        ):
            return
        result = resumed.result
        if result is not None:
            outcome = render.provisioned(result, None)
            if result.agent.telegram_user_id is None:
                outcome += "\n" + await self._invite_for(
                    result.agent, chat_id=chat_id, user_id=user_id, actor="system:resume"
                )
        else:
            error = resumed.error
            outcome = render.failed(explain(error) if error is not None else "Provisioning failed.")
        text = f"{render.progress(resumed.progress)}\n{outcome}"
        try:
            await self._deps.messenger.edit(chat_id, message_id, text)
        except TelegramError as error:
            log.warning("could not edit progress message %s: %s", message_id, error)
            await self._deps.messenger.send(chat_id, text)

    # --- provisioning -------------------------------------------------------------------------

    async def _provision(self, call: Call, values: dict[str, str]) -> None:
        service = self._deps.service
        skills = _skills(values["skills"]) if "skills" in values else None

        async def provision(progress: Progress) -> Outcome:
            request = ProvisionRequest(
                tenant_id=values["tenant"],
                user_id=values["user"],
                model=values.get("model"),
                allowed_skills=skills,
                region=values.get("region"),
                report=report,
            )
            result = await service.provision_agent_machine(
                request, actor=call.actor, progress=progress
            )
            text = render.provisioned(result, None)
            if result.agent.telegram_user_id is None:
                text += "\n" + await self._invite_for(
                    result.agent, chat_id=call.chat_id, user_id=call.user_id, actor=call.actor
                )
            return text, None

        # Where to report if a restart finishes this provisioning (see report_resumed).
        report: dict[str, JsonValue] = {"chat_id": call.chat_id, "user_id": call.user_id}

        def opened(message_id: int) -> None:
            report["message_id"] = message_id

        await self._with_progress(call, "provision", PROVISION_STEPS, provision, opened=opened)

    # --- reading ------------------------------------------------------------------------------

    async def _list(self, call: Call, values: dict[str, str]) -> None:
        tenant = values.get("tenant")
        agents = await self._deps.service.list_agent_machines_by_tenant(tenant)
        header = render.agent_list_header(len(agents), tenant)
        if not agents:
            await self._reply(call, header)
            return
        await self._deps.messenger.send_lines(
            call.chat_id,
            [render.agent_line(agent) for agent in agents],
            header=header,
            max_lines=20,
        )

    async def _status(self, call: Call, values: dict[str, str]) -> None:
        view = await self._deps.service.get_agent_machine(values["agent"])
        requests = await self._deps.store.pairing.for_agent(view.agent.id)
        stuck = any(request.state.value == "stuck" for request in requests)
        keyboard = keyboards.restart_machine(view.agent.id) if stuck else None
        await self._reply(call, render.agent_view(view, requests), keyboard)

    async def _secrets(self, call: Call, values: dict[str, str]) -> None:
        metas = await self._deps.service.get_agent_secrets_meta(values["agent"])
        await self._reply(call, render.secrets_meta(values["agent"], metas))

    async def _audit(self, call: Call, values: dict[str, str]) -> None:
        ref = values.get("agent")
        target = (await self._agent(ref)).id if ref else None
        entries = await self._deps.store.audit.entries(target=target, limit=AUDIT_ENTRIES)
        header = render.audit_header(ref, len(entries))
        if not entries:
            await self._reply(call, f"{header}\nNothing recorded yet.")
            return
        await self._deps.messenger.send_lines(
            call.chat_id,
            [render.audit_line(entry) for entry in entries],
            header=header,
            max_lines=15,
        )

    async def _pending(self, call: Call, values: dict[str, str]) -> None:
        deps = self._deps
        waiting = await deps.store.pairing.awaiting_decision()
        stuck = await deps.store.pairing.blocked_machines()
        await self._reply(call, render.pending_header(len(waiting), len(stuck)))
        # A few cards at a time: Telegram allows about one message a second in a chat.
        for request in [*waiting, *stuck][:MAX_PENDING_CARDS]:
            if request in stuck:
                text, markup = await cards.stuck_card(deps.store, request)
                await self._reply(call, text, markup)
            else:
                text, keyboard = await cards.current_card(deps.store, deps.people, request.id)
                await self._reply(call, text, keyboard)
        hidden = len(waiting) + len(stuck) - MAX_PENDING_CARDS
        if hidden > 0:
            await self._reply(call, f"…and {hidden} more: decide these, then /pending again.")

    async def _help(self, call: Call, values: dict[str, str]) -> None:
        await self._reply(
            call, render.help_text("Admin commands", ADMIN_COMMANDS, render.ADMIN_HELP_FOOTER)
        )

    # --- lifecycle ----------------------------------------------------------------------------

    def _one_or_all(self, name: str, one: Runner) -> Runner:
        """`agent=all`, or "all" typed as the guided answer, means every agent, as `/stop all`."""

        async def run(call: Call, values: dict[str, str]) -> None:
            if is_all(values["agent"]):
                await self.bulk.ask(call, name, "")
            else:
                await one(call, values)

        return run

    async def _wake(self, call: Call, values: dict[str, str]) -> None:
        service = self._deps.service

        async def wake(progress: Progress) -> Outcome:
            agent = await service.start_agent_machine(
                values["agent"], actor=call.actor, progress=progress
            )
            return render.done(f"{render.code(agent.id)} is running."), None

        await self._with_progress(call, "wake", ("start", "gateway"), wake)

    async def _stop(self, call: Call, values: dict[str, str]) -> None:
        service = self._deps.service

        async def stop() -> Outcome:
            agent = await service.stop_agent_machine(values["agent"], actor=call.actor)
            return render.done(f"{render.code(agent.id)} is stopped."), None

        await self._working(call, "Stopping…", stop)

    async def _restart(self, call: Call, values: dict[str, str]) -> None:
        agent = await self._agent(values["agent"])
        holder = self._desk.take_restart(agent.id, self._deps.people.name(call.user_id))
        if holder is not None:
            await self._reply(
                call, f"{render.code(agent.id)} is being restarted by {render.esc(holder)}."
            )
            return
        try:
            await self._desk.restart(
                chat_id=call.chat_id, admin_id=call.user_id, agent_ref=agent.id
            )
        finally:
            self._desk.release_restart(agent.id)

    async def _snapshot(self, call: Call, values: dict[str, str]) -> None:
        service = self._deps.service

        async def snapshot() -> Outcome:
            record = await service.create_agent_snapshot(values["agent"], actor=call.actor)
            return render.snapshot(record), None

        await self._working(call, "Taking a snapshot…", snapshot)

    async def _model(self, call: Call, values: dict[str, str]) -> None:
        service = self._deps.service

        async def set_model() -> Outcome:
            effective = await service.set_model(values["agent"], values["model"], actor=call.actor)
            return render.done(
                f"The model is now {render.code(effective)} (verified on the machine)."
            ), None

        await self._working(call, "Setting the model…", set_model)

    async def _set_skills(self, call: Call, values: dict[str, str]) -> None:
        service = self._deps.service

        async def update() -> Outcome:
            agent = await service.update_allowed_skills(
                values["agent"], _skills(values["skills"]), actor=call.actor
            )
            listed = render.esc(", ".join(agent.allowed_skills) or "none", 1000)
            return render.done(f"Skills of {render.code(agent.id)}: {listed}."), None

        await self._working(call, "Updating skills…", update)

    # --- pairing ------------------------------------------------------------------------------

    async def _pair(self, call: Call, values: dict[str, str]) -> None:
        service = self._deps.service

        async def approve() -> Outcome:
            result = await service.approve_telegram_pairing(
                values["agent"], values["code"], actor=call.actor
            )
            text = await cards.pairing_card(
                self._deps.store,
                self._deps.people,
                result.request,
                render.pairing_outcome(result, self._deps.people.name(call.user_id)),
            )
            await self._desk.tell_user(result)
            return text, cards.keyboard_for_outcome(result)

        await self._working(call, "Approving the pairing code…", approve)

    async def _invite(self, call: Call, values: dict[str, str]) -> None:
        agent = await self._agent(values["agent"])
        shown = await self._invite_for(
            agent, chat_id=call.chat_id, user_id=call.user_id, actor=call.actor
        )
        await self._reply(
            call,
            f"🔗 Invite for {render.code(agent.id)} ({render.esc(render.agent_label(agent))})\n"
            + shown
            if call.private
            else shown,
        )

    async def _unlink(self, call: Call, values: dict[str, str]) -> None:
        agent, previous = await self._deps.service.unlink_telegram_user(
            values["agent"], actor=call.actor
        )
        await self._reply(call, render.unlinked(agent, previous))
        if previous is not None:
            # The released user is told: access to their agent never changes behind their back.
            with contextlib.suppress(TelegramError):
                await self._deps.messenger.send(previous, render.unlinked_user(agent))

    # --- secrets ------------------------------------------------------------------------------

    async def _secret(self, call: Call, rest: str) -> None:
        """`/secret AGENT NAME=VALUE`; the router already deleted the message."""
        try:
            agent_ref, assignments = parse_secret_command(rest)
        except ParseError as error:
            await self._reply(
                call, render.failed(f"{render.esc(error, 600)} Your message was deleted.")
            )
            return
        if agent_ref is None:
            if assignments:
                await self._reply(
                    call,
                    "Name the agent first: /secret AGENT NAME=VALUE. Your message was deleted; "
                    "send it again.",
                )
                return
            await self.guide.ask(call, ADMIN_BY_NAME["secret"], {}, Ask.AGENT)
            return
        if not assignments:
            await self.guide.ask(call, ADMIN_BY_NAME["secret"], {"agent": agent_ref}, Ask.SECRET)
            return
        await self._store_secrets(call, agent_ref, assignments)

    async def store_secret_reply(self, call: Call, agent_ref: str, text: str) -> None:
        """The answer to the guided "NAME=VALUE?" question (already deleted from the chat)."""
        try:
            assignments = parse_secret_reply(text)
        except ParseError as error:
            await self._reply(
                call, render.failed(f"{render.esc(error, 600)} Your message was deleted.")
            )
            return
        await self._store_secrets(call, agent_ref, assignments)

    async def _store_secrets(
        self, call: Call, agent_ref: str, assignments: list[SecretAssignment]
    ) -> None:
        values: dict[str, str | SecretStr] = {a.name: a.value for a in assignments}
        try:
            await self._deps.service.upsert_agent_secrets(agent_ref, values, actor=call.actor)
        except EXPECTED_ERRORS as error:
            await self._reply(
                call,
                f"{render.failed(explain(error))}\nYour message was deleted; nothing was stored.",
            )
            return
        await self._reply(call, render.secrets_stored(agent_ref, [a.name for a in assignments]))

    # --- destructive --------------------------------------------------------------------------

    def _confirming(self, command: str) -> Runner:
        async def ask(call: Call, values: dict[str, str]) -> None:
            await self.ask_confirmation(call, command, values)

        return ask

    async def ask_confirmation(self, call: Call, command: str, values: dict[str, str]) -> None:
        agent = await self._agent(values["agent"])
        label, consequence = _DESTRUCTIVE_WORDS[command]
        pending = self._deps.confirmations.create(
            command=command,
            target_id=agent.id,
            target_label=render.agent_label(agent),
            admin_id=call.user_id,
            chat_id=call.chat_id,
        )
        await self._reply(
            call,
            f"⚠️ <b>/{render.esc(command)}</b> {render.code(agent.id)} "
            f"({render.esc(render.agent_label(agent))})?\n{render.esc(consequence)}",
            keyboards.confirm(pending.token, label),
        )

    async def confirmed(self, call: Call, pending: PendingConfirmation, message_id: int) -> None:
        """A confirmation button was pressed by the admin who asked: run the command."""
        if pending.command == TENANT_REMOVE:
            await self.tenants.confirmed(call, pending, message_id)
            return
        if is_bulk_confirmation(pending):
            await self.bulk.confirmed(call, pending, message_id)
            return
        service = self._deps.service
        messenger = self._deps.messenger
        agent_id = pending.target_id
        if pending.command == "recreate":

            async def recreate(progress: Progress) -> Outcome:
                result = await service.recreate_agent_from_latest_snapshot(
                    agent_id, actor=call.actor, progress=progress
                )
                agent = result.agent
                return (
                    render.done(
                        f"Recreated {render.code(agent.id)} on machine "
                        f"{render.code(agent.machine_id or '—')}."
                    ),
                    None,
                )

            await self._with_progress(
                call, "recreate", RECREATE_STEPS, recreate, message_id=message_id
            )
            return
        await messenger.edit(
            call.chat_id,
            message_id,
            render.working(f"/{render.esc(pending.command)} {render.code(agent_id)}…"),
        )
        try:
            if pending.command == "deprovision":
                removed = await service.deprovision_agent_machine(agent_id, actor=call.actor)
                text = render.done(
                    f"Deprovisioned {render.code(agent_id)} ({render.esc(pending.target_label)}). "
                    f"Removed: {render.esc(', '.join(removed) or 'nothing', 1000)}."
                )
            else:
                count = await service.clear_agent_secrets(agent_id, actor=call.actor)
                text = render.done(f"Cleared {count} secret(s) of {render.code(agent_id)}.")
        except EXPECTED_ERRORS as error:
            text = render.failed(explain(error))
        await messenger.edit(call.chat_id, message_id, text)
