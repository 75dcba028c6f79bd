"""Admin commands: parse the values, ask for missing ones, call the fleet service, show the result.

`AdminCommands` is the one entry the router and the callbacks use: it parses a command, asks for
missing values (guided mode), and runs it through its table of runners. The reading commands
(`/list`, `/status`, `/audit`, `/help`) are here; the others live by concept in
`agent_lifecycle.py`, `agent_settings.py`, `end_user_commands.py`, `tenant_commands.py` and
`bulk_commands.py`, and answer through `admin_replies.py`.

Every command works in one line with `key=value` values (so it can be scripted) and falls back
to guided mode when required values are missing. Business rules stay in the fleet service: a
handler never decides what is allowed on a machine. The router has already checked that the
caller is an admin.
"""

from __future__ import annotations

from bot.fleet import ResumedProvision
from bot.telegram import keyboards, render
from bot.telegram.admin_replies import Runner, reply
from bot.telegram.agent_lifecycle import AgentLifecycle
from bot.telegram.agent_settings import AgentSettings
from bot.telegram.bulk_commands import BulkCommands, is_all, is_bulk_confirmation
from bot.telegram.call import Call
from bot.telegram.commands import ADMIN_BY_NAME, ADMIN_COMMANDS, BULK_COMMANDS, Ask
from bot.telegram.confirmations import PendingConfirmation
from bot.telegram.deps import BotDeps
from bot.telegram.end_user_commands import EndUserCommands
from bot.telegram.errors import EXPECTED_ERRORS, explain
from bot.telegram.guide import Guide, missing_value
from bot.telegram.pairing_desk import PairingDesk
from bot.telegram.parsing import ParseError, parse_args, parse_secret_command
from bot.telegram.tenant_commands import TENANT_REMOVE, TenantCommands
from storage.models import PairingState

AUDIT_ENTRIES = 100


class AdminCommands:
    def __init__(self, deps: BotDeps, desk: PairingDesk) -> None:
        self._deps = deps
        self.settings = AgentSettings(deps)
        self.end_users = EndUserCommands(deps, desk)
        self.lifecycle = AgentLifecycle(deps, desk, self.end_users)
        self.guide = Guide(deps, self.run, self.store_secret_reply)
        self.tenants = TenantCommands(deps)
        self.bulk = BulkCommands(deps, desk)
        lifecycle, settings, end_users = self.lifecycle, self.settings, self.end_users
        self._runners: dict[str, Runner] = {
            "provision": lifecycle.provision,
            "list": self._list,
            "status": self._status,
            "wake": self._one_or_all("wake", lifecycle.wake),
            "stop": self._one_or_all("stop", lifecycle.stop),
            "restart": self._one_or_all("restart", lifecycle.restart),
            "deprovision": self._confirming("deprovision"),
            "snapshot": lifecycle.snapshot,
            "recreate": self._confirming("recreate"),
            "model": settings.model,
            "skills": settings.skills,
            "secrets": settings.secrets,
            "clearsecrets": self._confirming("clearsecrets"),
            "pair": end_users.pair,
            "pending": end_users.pending,
            "invite": end_users.invite,
            "unlink": end_users.unlink,
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
            await reply(self._deps, call, render.private_only(name))
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
            await reply(self._deps, call, render.failed(render.esc(error, 600)))
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
            await reply(self._deps, call, render.failed(explain(error)))

    async def store_secret_reply(self, call: Call, agent_ref: str, text: str) -> None:
        """The answer to the guided "NAME=VALUE?" question (already deleted from the chat)."""
        await self.settings.store_secret_reply(call, agent_ref, text)

    async def report_resumed(self, resumed: ResumedProvision) -> None:
        """A provisioning a restart finished (or failed): see `AgentLifecycle.report_resumed`."""
        await self.lifecycle.report_resumed(resumed)

    async def ask_confirmation(self, call: Call, command: str, values: dict[str, str]) -> None:
        await self.lifecycle.ask_confirmation(call, command, values)

    async def confirmed(self, call: Call, pending: PendingConfirmation, message_id: int) -> None:
        """A confirmation button was pressed by the admin who asked: run the command."""
        if pending.command == TENANT_REMOVE:
            await self.tenants.confirmed(call, pending, message_id)
            return
        if is_bulk_confirmation(pending):
            await self.bulk.confirmed(call, pending, message_id)
            return
        await self.lifecycle.confirmed(call, pending, message_id)

    # --- dispatch helpers ---------------------------------------------------------------------

    def _one_or_all(self, name: str, one: Runner) -> Runner:
        """`agent=all`, or "all" typed as the guided answer, means every agent, as `/stop all`."""

        async def run(call: Call, values: dict[str, str]) -> None:
            if is_all(values["agent"]):
                await self.bulk.ask(call, name, "")
            else:
                await one(call, values)

        return run

    def _confirming(self, command: str) -> Runner:
        async def ask(call: Call, values: dict[str, str]) -> None:
            await self.ask_confirmation(call, command, values)

        return ask

    async def _secret(self, call: Call, rest: str) -> None:
        """`/secret AGENT NAME=VALUE`; the router already deleted the message."""
        try:
            agent_ref, assignments = parse_secret_command(rest)
        except ParseError as error:
            await reply(self._deps, call, render.secret_not_parsed(error))
            return
        if agent_ref is None:
            if assignments:
                await reply(self._deps, call, render.NAME_THE_AGENT_FIRST)
                return
            await self.guide.ask(call, ADMIN_BY_NAME["secret"], {}, Ask.AGENT)
            return
        if not assignments:
            await self.guide.ask(call, ADMIN_BY_NAME["secret"], {"agent": agent_ref}, Ask.SECRET)
            return
        await self.settings.store_secrets(call, agent_ref, assignments)

    # --- reading ------------------------------------------------------------------------------

    async def _list(self, call: Call, values: dict[str, str]) -> None:
        tenant = values.get("tenant")
        agents = await self._deps.service.list_agent_machines_by_tenant(tenant)
        header = render.agent_list_header(len(agents), tenant)
        if not agents:
            await reply(self._deps, call, header)
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
        stuck = any(request.state is PairingState.STUCK for request in requests)
        keyboard = keyboards.restart_machine(view.agent.id) if stuck else None
        await reply(self._deps, call, render.agent_view(view, requests), keyboard)

    async def _audit(self, call: Call, values: dict[str, str]) -> None:
        ref = values.get("agent")
        target = (await self._deps.service.find_agent(ref)).id if ref else None
        entries = await self._deps.store.audit.entries(target=target, limit=AUDIT_ENTRIES)
        if not entries:
            await reply(self._deps, call, render.audit_empty(ref))
            return
        await self._deps.messenger.send_lines(
            call.chat_id,
            [render.audit_line(entry) for entry in entries],
            header=render.audit_header(ref, len(entries)),
            max_lines=15,
        )

    async def _help(self, call: Call, values: dict[str, str]) -> None:
        await reply(
            self._deps,
            call,
            render.help_text(render.ADMIN_HELP_TITLE, ADMIN_COMMANDS, render.ADMIN_HELP_FOOTER),
        )
