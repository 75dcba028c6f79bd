"""Admin commands that create, run and remove one agent's machine: `/provision`, `/wake`,
`/stop`, `/restart`, `/snapshot`, and the confirmed `/recreate`, `/deprovision`,
`/clearsecrets`; and the report of a provisioning that a restart of the bot finished.

Long operations show their progress in one edited message; destructive ones first ask for a
confirmation button and run in `confirmed`. What is allowed is the fleet service's call.
"""

from __future__ import annotations

import logging

from pydantic import JsonValue
from telegram.error import TelegramError

from bot.fleet import PROVISION_STEPS, RECREATE_STEPS, Progress, ProvisionRequest, ResumedProvision
from bot.telegram import keyboards, render
from bot.telegram.admin_replies import Outcome, reply, with_progress, working
from bot.telegram.agent_settings import skill_names
from bot.telegram.call import Call
from bot.telegram.confirmations import PendingConfirmation
from bot.telegram.deps import BotDeps
from bot.telegram.end_user_commands import EndUserCommands
from bot.telegram.errors import EXPECTED_ERRORS, explain
from bot.telegram.pairing_desk import PairingDesk
from storage.models import Actor

log = logging.getLogger("bot.telegram.admin")


class AgentLifecycle:
    def __init__(self, deps: BotDeps, desk: PairingDesk, end_users: EndUserCommands) -> None:
        self._deps = deps
        self._desk = desk
        self._end_users = end_users

    # --- provisioning -------------------------------------------------------------------------

    async def provision(self, call: Call, values: dict[str, str]) -> None:
        service = self._deps.service
        skills = skill_names(values["skills"]) if "skills" in values else None

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
                text += "\n" + await self._end_users.invite_for(
                    result.agent, chat_id=call.chat_id, user_id=call.user_id, actor=call.actor
                )
            return text, None

        # Where to report if a restart finishes this provisioning (see report_resumed).
        report: dict[str, JsonValue] = {"chat_id": call.chat_id, "user_id": call.user_id}

        def opened(message_id: int) -> None:
            report["message_id"] = message_id

        await with_progress(
            self._deps, call, "provision", PROVISION_STEPS, provision, opened=opened
        )

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
                outcome += "\n" + await self._end_users.invite_for(
                    result.agent, chat_id=chat_id, user_id=user_id, actor=Actor.system("resume")
                )
        else:
            error = resumed.error
            outcome = render.failed(
                explain(error) if error is not None else render.PROVISIONING_FAILED
            )
        text = f"{render.progress(resumed.progress)}\n{outcome}"
        try:
            await self._deps.messenger.edit(chat_id, message_id, text)
        except TelegramError as error:
            log.warning("could not edit progress message %s: %s", message_id, error)
            await self._deps.messenger.send(chat_id, text)

    # --- running ------------------------------------------------------------------------------

    async def wake(self, call: Call, values: dict[str, str]) -> None:
        service = self._deps.service

        async def wake(progress: Progress) -> Outcome:
            agent = await service.start_agent_machine(
                values["agent"], actor=call.actor, progress=progress
            )
            return render.agent_running(agent), None

        await with_progress(self._deps, call, "wake", ("start", "gateway"), wake)

    async def stop(self, call: Call, values: dict[str, str]) -> None:
        service = self._deps.service

        async def stop() -> Outcome:
            agent = await service.stop_agent_machine(values["agent"], actor=call.actor)
            return render.agent_stopped(agent), None

        await working(self._deps, call, render.STOPPING, stop)

    async def restart(self, call: Call, values: dict[str, str]) -> None:
        agent = await self._deps.service.find_agent(values["agent"])
        holder = self._desk.take_restart(agent.id, self._deps.people.name(call.user_id))
        if holder is not None:
            await reply(self._deps, call, render.restart_taken(agent, holder))
            return
        try:
            await self._desk.restart(
                chat_id=call.chat_id, admin_id=call.user_id, agent_ref=agent.id
            )
        finally:
            self._desk.release_restart(agent.id)

    async def snapshot(self, call: Call, values: dict[str, str]) -> None:
        service = self._deps.service

        async def snapshot() -> Outcome:
            record = await service.create_agent_snapshot(values["agent"], actor=call.actor)
            return render.snapshot(record), None

        await working(self._deps, call, render.TAKING_SNAPSHOT, snapshot)

    # --- destructive --------------------------------------------------------------------------

    async def ask_confirmation(self, call: Call, command: str, values: dict[str, str]) -> None:
        agent = await self._deps.service.find_agent(values["agent"])
        label, consequence = render.DESTRUCTIVE_WORDS[command]
        pending = self._deps.confirmations.create(
            command=command,
            target_id=agent.id,
            target_label=render.agent_label(agent),
            admin_id=call.user_id,
            chat_id=call.chat_id,
        )
        await reply(
            self._deps,
            call,
            render.destructive_question(command, agent, consequence),
            keyboards.confirm(pending.token, label),
        )

    async def confirmed(self, call: Call, pending: PendingConfirmation, message_id: int) -> None:
        """The admin who asked confirmed /recreate, /deprovision or /clearsecrets: run it."""
        service = self._deps.service
        messenger = self._deps.messenger
        agent_id = pending.target_id
        if pending.command == "recreate":

            async def recreate(progress: Progress) -> Outcome:
                result = await service.recreate_agent_from_latest_snapshot(
                    agent_id, actor=call.actor, progress=progress
                )
                return render.recreated(result.agent), None

            await with_progress(
                self._deps, call, "recreate", RECREATE_STEPS, recreate, message_id=message_id
            )
            return
        await messenger.edit(
            call.chat_id, message_id, render.confirmed_working(pending.command, agent_id)
        )
        try:
            if pending.command == "deprovision":
                removed = await service.deprovision_agent_machine(agent_id, actor=call.actor)
                text = render.deprovisioned(agent_id, pending.target_label, removed)
            else:
                count = await service.clear_agent_secrets(agent_id, actor=call.actor)
                text = render.secrets_cleared(agent_id, count)
        except EXPECTED_ERRORS as error:
            text = render.failed(explain(error))
        await messenger.edit(call.chat_id, message_id, text)
