"""Guided mode: asks an admin for each value a command still needs, then runs the command.

States are the `Ask` constants; the pending flow lives in `FlowStore`. Agents are offered as
buttons (the buttons carry an index, the ids stay here); everything else is typed. In a group
the question forces a reply, because a bot in privacy mode only sees replies to itself. An
answer to "which secret?" is deleted before it is read, and never kept in the flow.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from telegram import ForceReply, InlineKeyboardMarkup, Message

from bot.telegram import keyboards, render
from bot.telegram.call import Call
from bot.telegram.commands import ADMIN_BY_NAME, Ask, Command
from bot.telegram.deps import BotDeps
from bot.telegram.flows import Flow

RunCommand = Callable[[Call, str, dict[str, str]], Awaitable[None]]
StoreSecret = Callable[[Call, str, str], Awaitable[None]]

# The secret question's sentence marks the bot's message as a secret question for as long as
# the message exists: a reply to it holds a secret, whatever became of the flow.
SECRET_QUESTION = render.QUESTIONS[Ask.SECRET]


def is_secret_question(message: Message | None, bot_id: int) -> bool:
    """True when `message` is this bot's own guided question for a secret."""
    return (
        message is not None
        and message.from_user is not None
        and message.from_user.id == bot_id
        and SECRET_QUESTION in (message.text or "")
    )


def missing_value(command: Command, values: dict[str, str]) -> Ask | None:
    for param in command.params:
        if param.required and param.name not in values and param.ask is not None:
            return param.ask
    return None


class Guide:
    def __init__(self, deps: BotDeps, run: RunCommand, store_secret: StoreSecret) -> None:
        self._deps = deps
        self._run = run
        self._store_secret = store_secret

    async def ask(self, call: Call, command: Command, values: dict[str, str], asking: Ask) -> None:
        deps = self._deps
        choices: tuple[str, ...] = ()
        labels: list[str] = []
        if asking is Ask.AGENT:
            agents = await deps.store.agents.live()
            shown = agents[: keyboards.MAX_PICK_BUTTONS]
            choices = tuple(agent.id for agent in shown)
            labels = [f"{render.agent_label(agent)} · {agent.status.value}"[:60] for agent in shown]
        flow = deps.flows.start(
            command=command.name,
            chat_id=call.chat_id,
            user_id=call.user_id,
            values=values,
            asking=asking,
            choices=choices,
        )
        markup: InlineKeyboardMarkup | ForceReply
        if labels:
            markup = keyboards.pick(flow.token, labels)
        elif call.private:
            markup = keyboards.cancel_guide(flow.token)
        else:
            markup = ForceReply(selective=True, input_field_placeholder=asking.value)
        question = render.guided_question(command, asking)
        if not call.private:
            # A selective force-reply opens the reply field of the users the message mentions
            # (or of the author of the message it answers, which after a button press is the
            # bot itself): name the asking admin so it opens for them, and only them.
            question = render.addressed(call.user_id, deps.people.name(call.user_id), question)
        sent = await deps.messenger.send(call.chat_id, question, markup, reply_to=call.message_id)
        # Remembered in the store, not only in the flow: the answer must be recognised (and
        # deleted) after the flow expired, after a restart or after another command too.
        if asking is Ask.SECRET and sent is not None:
            await deps.store.secret_questions.asked(call.chat_id, sent.message_id)
        else:
            await deps.store.secret_questions.forget(call.chat_id)

    async def answer_text(self, call: Call, flow: Flow, text: str) -> None:
        """A typed answer to the pending question."""
        deps = self._deps
        if flow.asking is Ask.SECRET:
            if call.message_id is not None:
                await deps.messenger.delete(call.chat_id, call.message_id)
            deps.flows.finish(flow)
            await deps.store.secret_questions.forget(call.chat_id)
            await self._store_secret(call, flow.values["agent"], text)
            return
        await self._continue(call, flow, text.strip())

    async def answer_expired_secret(self, chat_id: int, message_id: int) -> None:
        """A secret answer with no live question: deleted first, nothing stored, admin told."""
        deps = self._deps
        deleted = await deps.messenger.delete(chat_id, message_id)
        await deps.store.secret_questions.forget(chat_id)
        await deps.messenger.send(chat_id, render.secret_question_expired(deleted=deleted))

    async def pick(self, call: Call, flow: Flow, index: int) -> None:
        """A pressed button: the value offered at `index`."""
        if not 0 <= index < len(flow.choices):
            await self._deps.messenger.send(call.chat_id, render.CHOICE_GONE)
            return
        await self._continue(call, flow, flow.choices[index])

    async def cancel(self, flow: Flow) -> bool:
        return self._deps.flows.finish(flow)

    async def _continue(self, call: Call, flow: Flow, value: str) -> None:
        deps = self._deps
        if not deps.flows.finish(flow):
            return
        values = {**flow.values, flow.asking.value: value}
        command = ADMIN_BY_NAME[flow.command]
        next_ask = missing_value(command, values)
        if next_ask is not None:
            await self.ask(call, command, values, next_ask)
            return
        await self._run(call, command.name, values)
