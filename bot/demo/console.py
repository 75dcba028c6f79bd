"""`python -m bot console`: the demo's world, typed by hand, or by a script on stdin.

Each input line is either a message to the bot from the person you act as (`/provision …`,
`/pair CODE`, or any text) or a console command starting with `:` — switch person (`:as uma`),
press a button by its number (`:press 2`), open the latest invite link (`:open`), make the
agent give you a pairing code (`:code`) and forward it (`:forward`), crash an agent's machine
(`:crash AGENT`). After each line the console waits until the bot is done and prints what it
said in every chat, the ops chat included; alerts that come later (the monitor's) are printed
as soon as the bot is idle. Input is read line by line, so a test can pipe a script in; end
of input quits like `:quit`. The console acts only as people and the platform would.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
from typing import TextIO

from bot.demo.transcript import INVITE_RE, Transcript
from bot.demo.world import (
    ADMIN,
    OPS_CHAT_ID,
    PEOPLE,
    UMA,
    WATCHED_CHATS,
    DemoWorld,
    Person,
    WorldError,
    agent_bot_token,
    intro_lines,
    show_logs,
)

EXIT_OK = 0
IDLE_FLUSH_EVERY_S = 0.3
AGENT_BOT = {"id": 7000000000, "is_bot": True, "first_name": "Your agent"}
HELP = """\
Console commands (anything else is sent to the bot as the current person's message):
  :as admin | :as uma | :as olga   act as someone else (:as user is Uma)
  :press N                         press button [N] (numbered as buttons are shown)
  :open                            open the latest invite link shown (sends /start TOKEN)
  :code                            your agent (its own Telegram bot) gives you a pairing code
  :forward                         forward that pairing message to the admin bot
  :crash AGENT                     the agent's machine dies on Fly; the monitor will alert
  :who                             who is who
  :help                            this list
  :quit                            leave (end of input does the same)"""
_COMMAND_RE = re.compile(r"^:(\w+)\s*(.*)$")


def start_hints() -> list[str]:
    return [
        "Try, as the admin:",
        f"  /secret acme/uma TELEGRAM_BOT_TOKEN={agent_bot_token(1)}",
        "  /provision tenant=acme user=uma",
        "then :as uma, :open, :code, :forward, and :as admin to approve the card (:press N).",
        "Type :help for the console commands, /help for the bot's.",
    ]


def pairing_message(person: Person, code: str) -> str:
    """What OpenClaw's own bot answers an unknown sender (as the end user sees it)."""
    return (
        "OpenClaw: access not configured.\n\n"
        f"Your Telegram user id: {person.telegram_id}\nPairing code:\n\n{code}\n\n"
        f"Ask the bot owner to approve with:\n\nopenclaw pairing approve telegram {code}"
    )


class Console:
    def __init__(self, world: DemoWorld, transcript: Transcript, out: TextIO, tty: bool) -> None:
        self.world = world
        self.t = transcript
        self.out = out
        self.tty = tty
        self.person = ADMIN
        self._pairing_messages: dict[int, str] = {}
        self._printing = asyncio.Lock()

    # --- output -------------------------------------------------------------------------------

    def prompt(self) -> None:
        if self.tty:
            self.out.write(f"{self.person.name} › ")
            self.out.flush()

    async def show_replies(self) -> None:
        if not await self.world.settled():
            self.t.problem("the bot is still working; its answer shows up when it is done")
        async with self._printing:
            await self.t.flush()

    async def flush_when_idle(self) -> None:
        """Print what arrives between inputs (the monitor's alerts) whenever the bot is idle."""
        while True:
            await asyncio.sleep(IDLE_FLUSH_EVERY_S)
            if not await self.world.settled(wait_s=1.0):
                continue
            async with self._printing:
                if await self.t.flush():
                    self.prompt()

    # --- input --------------------------------------------------------------------------------

    async def handle(self, line: str) -> bool:
        """Act on one input line; False when the console should end."""
        text = line.strip()
        if not text:
            return True
        match = _COMMAND_RE.match(text)
        if match is None or text.startswith("/"):
            await self.message(text)
            return True
        name, argument = match.group(1).lower(), match.group(2).strip()
        if name in ("quit", "exit", "q"):
            return False
        actions = {
            "as": self.switch,
            "press": self.press,
            "open": self.open_invite,
            "code": self.issue_code,
            "forward": self.forward,
            "crash": self.crash,
            "who": self.who,
            "help": self.help,
        }
        action = actions.get(name)
        if action is None:
            self.t.write(f"Unknown console command :{name} — :help lists them.")
            return True
        try:
            await action(argument)
        except WorldError as error:
            self.t.problem(str(error))
        return True

    async def message(self, text: str) -> None:
        self.t.said(self.person, text)
        await self.world.send(self.person, text)
        await self.show_replies()

    async def switch(self, argument: str) -> None:
        wanted = argument.lower()
        if wanted == "user":
            wanted = UMA.key
        for person in PEOPLE:
            if wanted in (person.key, person.name.lower(), str(person.telegram_id)):
                self.person = person
                self.t.write(f"(you are now {person.name}, {person.role})")
                return
        names = ", ".join(p.key for p in PEOPLE)
        self.t.write(f"No one called {argument!r}. Choose one of: {names} (or user).")

    async def press(self, argument: str) -> None:
        button = self.t.button(int(argument)) if argument.isdigit() else None
        if button is None:
            self.t.write(f"No button [{argument}]. Buttons are numbered as they are shown.")
            return
        self.t.pressed(self.person, button)
        try:
            await self.world.press(self.person, button.chat_id, button.message_id, button.data)
        except WorldError as error:
            self.t.problem(f"Telegram refused the press: {error}")
            return
        await self.show_replies()

    async def open_invite(self, argument: str) -> None:
        for line in reversed(self.t.lines):
            found = INVITE_RE.search(line)
            if found:
                await self.message(f"/start {found.group(1)}")
                return
        self.t.write("No invite link has been shown yet (an admin gets one from /provision).")

    async def issue_code(self, argument: str) -> None:
        agents = [a for a in await self.world.linked_agents(self.person) if a.machine_id]
        if not agents:
            self.t.write(
                f"{self.person.name} has no agent linked yet: open an invite link first (:open)."
            )
            return
        agent = agents[0]
        assert agent.machine_id is not None
        code = await self.world.issue_pairing_code(agent.machine_id, self.person)
        message = pairing_message(self.person, code)
        self._pairing_messages[self.person.telegram_id] = message
        label = f"{agent.tenant_id}/{agent.user_id}"
        self.t.narrate(
            f"{self.person.name} writes to the agent's own bot ({label}); OpenClaw answers:"
        )
        for line in message.splitlines():
            self.t.write(f"     {line}")
        self.t.write("(type the code, /pair CODE, or :forward to forward the whole message)")

    async def forward(self, argument: str) -> None:
        message = self._pairing_messages.get(self.person.telegram_id)
        if message is None:
            self.t.write("Nothing to forward: get a pairing message with :code first.")
            return
        self.t.said(self.person, message, where="bot (forwarded from the agent's bot)")
        await self.world.send(self.person, message, forwarded_from=AGENT_BOT)
        await self.show_replies()

    async def crash(self, argument: str) -> None:
        agent = await self.world.agent(argument) if argument else None
        if agent is None or agent.machine_id is None:
            self.t.write("Name a live agent with a machine: :crash acme/uma (or its ag_… id).")
            return
        await self.world.fly_fault(
            {"crash": {"machine_id": agent.machine_id, "to": "failed", "auto_restart": False}}
        )
        self.t.narrate(
            f"Machine {agent.machine_id} of {agent.tenant_id}/{agent.user_id} dies on Fly and is "
            "not restarted; the bot's monitor will notice within a sweep."
        )

    async def who(self, argument: str) -> None:
        for person in PEOPLE:
            marker = " ← you" if person is self.person else ""
            self.t.write(
                f"  {person.key:<6} {person.name}, {person.role}, "
                f"Telegram id {person.telegram_id}{marker}"
            )
        self.t.write(f"  ops    the ops chat, id {OPS_CHAT_ID} (alerts and pairing cards)")

    async def help(self, argument: str) -> None:
        self.t.write(HELP)

    # --- the loop -----------------------------------------------------------------------------

    async def run(self, stdin: TextIO) -> None:
        idle_printer = asyncio.create_task(self.flush_when_idle(), name="console-idle-printer")
        try:
            while True:
                self.prompt()
                line = await asyncio.to_thread(stdin.readline)
                if not line:
                    break
                if not await self.handle(line):
                    break
        finally:
            idle_printer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await idle_printer
        async with self._printing:
            await self.t.flush()


async def open_console(stdin: TextIO, out: TextIO) -> None:
    async with DemoWorld() as world:
        transcript = Transcript(world, out, WATCHED_CHATS, PEOPLE)
        for line in [*intro_lines("console"), "", *start_hints()]:
            transcript.write(line)
        console = Console(world, transcript, out, tty=stdin.isatty())
        await console.run(stdin)
        transcript.write("Bye.")


def main(*, verbose: bool = False, stdin: TextIO | None = None, out: TextIO | None = None) -> int:
    show_logs(verbose)
    asyncio.run(open_console(stdin or sys.stdin, out or sys.stdout))
    return EXIT_OK
