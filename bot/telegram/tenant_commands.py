"""`/tenant add|set|unset|show|list|remove`: tenant profiles, as admins manage them in the chat.

Parses the text, enforces the chat rules for secret values (private chat only; the router has
already deleted a message that may carry one, and its outcome is passed in so the reply can say
so), calls `FleetService.tenants` and formats the answer. Which keys and values are acceptable,
and when an app may change or a tenant be removed, is the fleet service's call, never this
module's. A value is never echoed, logged or kept here beyond the call that stores it.
"""

from __future__ import annotations

from telegram import InlineKeyboardMarkup

from bot.telegram import keyboards, render
from bot.telegram.call import Call
from bot.telegram.commands import ADMIN_BY_NAME
from bot.telegram.confirmations import PendingConfirmation
from bot.telegram.deps import BotDeps
from bot.telegram.errors import EXPECTED_ERRORS, explain
from bot.telegram.parsing import ParseError, TenantRequest, parse_tenant_command

TENANT_REMOVE = "tenant-remove"


class TenantCommands:
    def __init__(self, deps: BotDeps) -> None:
        self._deps = deps

    async def _reply(
        self, call: Call, text: str, keyboard: InlineKeyboardMarkup | None = None
    ) -> None:
        await self._deps.messenger.send(call.chat_id, text, keyboard)

    async def handle(self, call: Call, rest: str, message_deleted: bool | None) -> None:
        """One `/tenant …` from an admin; `message_deleted` is None when nothing was deleted."""
        note = render.deleted_note(message_deleted)
        if not rest.strip():
            command = ADMIN_BY_NAME["tenant"]
            await self._reply(call, render.help_text(render.TENANT_HELP_TITLE, (command,)))
            return
        try:
            request = parse_tenant_command(rest)
        except ParseError as error:
            nothing = f" {render.NOTHING_STORED}" if message_deleted is not None else ""
            await self._reply(call, render.failed(render.esc(error, 600) + nothing + note))
            return
        if request.action != "set" and message_deleted is not None:
            await self._reply(
                call,
                render.failed(render.LOOKED_LIKE_A_HIDDEN_VALUE + note),
            )
            return
        if request.action == "set" and message_deleted is not None and not call.private:
            # A value that may be secret was posted where others can read it.
            await self._reply(
                call,
                render.failed(
                    render.HIDDEN_VALUES_PRIVATE_ONLY
                    + note
                    + (render.OTHERS_MAY_HAVE_SEEN if message_deleted else "")
                ),
            )
            return
        try:
            await self._run(call, request, message_deleted)
        except EXPECTED_ERRORS as error:
            stored = f"\n{render.NOTHING_STORED}" if request.action == "set" else ""
            await self._reply(call, render.failed(explain(error) + stored + note))

    async def _run(self, call: Call, request: TenantRequest, message_deleted: bool | None) -> None:
        tenants = self._deps.service.tenants
        if request.action == "add":
            profile = await tenants.add(request.tenant_id, request.name, actor=call.actor)
            await self._reply(call, render.tenant_added(profile))
        elif request.action == "set":
            values = {a.key: a.value.get_secret_value() for a in request.assignments}
            view = await tenants.set_values(request.tenant_id, values, actor=call.actor)
            keys = [a.key for a in request.assignments]
            await self._reply(
                call,
                f"{render.tenant_stored(view.profile.tenant_id, keys, message_deleted)}\n\n"
                f"{render.tenant_view(view)}",
            )
        elif request.action == "unset":
            view = await tenants.unset(request.tenant_id, request.key or "", actor=call.actor)
            unset = render.tenant_unset(request.key, view.profile.tenant_id)
            await self._reply(call, f"{unset}\n\n{render.tenant_view(view)}")
        elif request.action == "show":
            await self._reply(call, render.tenant_view(await tenants.show(request.tenant_id)))
        elif request.action == "list":
            await self._list(call)
        else:
            await self._ask_remove(call, request.tenant_id)

    async def _list(self, call: Call) -> None:
        tenants = self._deps.service.tenants
        profiles = await tenants.list()
        header = render.tenant_list_header(len(profiles))
        if not profiles:
            await self._reply(call, render.no_tenants(header))
            return
        views = [await tenants.show(profile.tenant_id) for profile in profiles]
        await self._deps.messenger.send_lines(
            call.chat_id, [render.tenant_line(view) for view in views], header=header, max_lines=20
        )

    async def _ask_remove(self, call: Call, tenant_id: str) -> None:
        view = await self._deps.service.tenants.show(tenant_id)
        tenant = view.profile.tenant_id
        if view.live_agents:
            # The service refuses too (it rechecks on confirmation); saying so now saves a tap.
            await self._reply(
                call,
                render.tenant_still_has_agents(tenant, view.live_agents),
            )
            return
        pending = self._deps.confirmations.create(
            command=TENANT_REMOVE,
            target_id=tenant,
            target_label=render.tenant_target_label(tenant),
            admin_id=call.user_id,
            chat_id=call.chat_id,
        )
        await self._reply(
            call,
            render.tenant_remove_question(view.profile),
            keyboards.confirm(pending.token, "remove"),
        )

    async def confirmed(self, call: Call, pending: PendingConfirmation, message_id: int) -> None:
        """The confirmation button of `/tenant remove` was pressed by the admin who asked."""
        messenger = self._deps.messenger
        tenant = pending.target_id
        await messenger.edit(call.chat_id, message_id, render.tenant_removing(tenant))
        try:
            await self._deps.service.tenants.remove(tenant, actor=call.actor)
            text = render.tenant_removed(tenant)
        except EXPECTED_ERRORS as error:
            text = render.failed(explain(error))
        await messenger.edit(call.chat_id, message_id, text)
