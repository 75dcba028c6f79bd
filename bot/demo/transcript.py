"""The conversation as a reader sees it: who said what, buttons pressed, what the bot answered.

`Transcript` prints people's messages as they are sent and, on `flush`, every bot message that
is new or changed since the last flush in the chats it watches (each admin's and end user's
private chat and the ops chat): the final text of an edited message, with the steps its
progress edits went through, its buttons numbered so the console can press them, and the
messages the bot deleted. Secret values people type are masked before they are printed.
What an agent's own Telegram bot says (a story reads it and hands it over) is printed with
`agent_said`. It reads the Telegram emulator only; it never sends anything on anyone's behalf.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from bot.demo.world import DemoWorld, Person

INDENT = "     "
_TAG_RE = re.compile(r"<[^>]+>")
_ASSIGNMENT_RE = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)=(\S+)")
_SECRET_NAME_RE = re.compile(r"TOKEN|KEY|SECRET|PASSWORD", re.IGNORECASE)
MASK = "•••"
AGENT_ID_RE = re.compile(r"\bag_[a-z0-9]{12}\b")
INVITE_RE = re.compile(r"https://t\.me/\S+\?start=([A-Za-z0-9_-]+)")


def mask_secrets(text: str) -> str:
    """`text` with secret values replaced: all values of `/secret`, secret-named ones elsewhere."""
    every_value = text.lstrip().lower().startswith("/secret")

    def hide(match: re.Match[str]) -> str:
        name = match.group(1)
        if every_value or _SECRET_NAME_RE.search(name):
            return f"{name}={MASK}"
        return match.group(0)

    return _ASSIGNMENT_RE.sub(hide, text)


def plain(markup: str) -> str:
    """Telegram HTML as the reader sees it (what the bot sent in an edit request)."""
    return html.unescape(_TAG_RE.sub("", markup))


@dataclass(frozen=True)
class Button:
    number: int
    chat_id: int
    message_id: int
    label: str
    data: str


@dataclass(frozen=True)
class Shown:
    """A bot message as it was last printed."""

    text: str
    buttons: tuple[tuple[str, str], ...]


def _buttons(message: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    markup = message.get("reply_markup") or {}
    return tuple(
        (str(button.get("text", "")), str(button.get("callback_data", "")))
        for row in markup.get("inline_keyboard", [])
        for button in row
        if "callback_data" in button
    )


class Transcript:
    def __init__(
        self,
        world: DemoWorld,
        out: TextIO,
        chats: Sequence[tuple[int, str]],
        people: Sequence[Person],
    ) -> None:
        self._world = world
        self._out = out
        self._chats = list(chats)
        self._people = {person.telegram_id: person for person in people}
        self._shown: dict[tuple[int, int], Shown] = {}
        self._deletions_told: set[tuple[int, int]] = set()
        self._numbers: dict[tuple[int, int, str], int] = {}
        self.buttons: dict[int, Button] = {}
        self.lines: list[str] = []
        self._answers_told = 0

    # --- writing ------------------------------------------------------------------------------

    def write(self, line: str = "") -> None:
        self.lines.append(line)
        print(line, file=self._out, flush=True)

    def _block(self, text: str) -> None:
        for line in text.splitlines() or [""]:
            self.write(f"{INDENT}{line}")

    def heading(self, text: str) -> None:
        self.write()
        self.write(f"━━ {text} " + "━" * max(3, 76 - len(text)))

    def narrate(self, text: str) -> None:
        self.write(f"  ▸ {text}")

    def said(self, person: Person, text: str, *, where: str = "bot") -> None:
        shown = mask_secrets(text)
        self.write(f"👤 {person.name} ({person.role}) → {where}:")
        self._block(shown)
        if shown != text:
            self.write(f"{INDENT}(secret values are masked in this transcript)")

    def agent_said(self, agent: str, person: Person, text: str) -> None:
        """A message from an agent's own Telegram bot (not the admin bot) to `person`."""
        self.write(f"🦞 {agent} → {person.name}:")
        self._block(text)

    def pressed(self, person: Person, button: Button) -> None:
        where = self._chat_label(button.chat_id)
        self.write(
            f"🔘 {person.name} presses [{button.number}] “{button.label}” "
            f"(message {button.message_id} in {where})"
        )

    def problem(self, text: str) -> None:
        self.write(f"  ⚠ {text}")

    # --- reading the chats --------------------------------------------------------------------

    def _chat_label(self, chat_id: int) -> str:
        for known, label in self._chats:
            if known == chat_id:
                return label
        person = self._people.get(chat_id)
        return person.name if person else f"chat {chat_id}"

    def button(self, number: int) -> Button | None:
        return self.buttons.get(number)

    def find_button(self, chat_id: int, message_id: int, data_prefix: str) -> Button | None:
        for button in self.buttons.values():
            if (
                button.chat_id == chat_id
                and button.message_id == message_id
                and button.data.startswith(data_prefix)
            ):
                return button
        return None

    def _number(self, chat_id: int, message_id: int, label: str, data: str) -> Button:
        key = (chat_id, message_id, data)
        number = self._numbers.get(key)
        if number is None:
            number = self._numbers[key] = len(self._numbers) + 1
        button = Button(number, chat_id, message_id, label, data)
        self.buttons[number] = button
        return button

    async def _flush_answers(self) -> int:
        """The short answers to button presses (Telegram shows them as a toast or an alert)."""
        answers = await self._world.callback_answers()
        fresh = answers[self._answers_told :]
        self._answers_told = len(answers)
        for answer in fresh:
            if answer.get("text"):
                kind = "an alert" if answer.get("show_alert") else "a toast"
                self.write(f"💬 the bot answers the press with {kind}: {answer['text']}")
        return len(fresh)

    async def _progress_steps(self, chat_id: int, message_id: int) -> list[str]:
        """The running steps a progress message showed (one line per step as it began)."""
        steps: list[str] = []
        for edit in await self._world.edits(chat_id, message_id):
            first = plain(edit).splitlines()[0] if edit else ""
            if first.startswith("⏳") and "…" in first and first not in steps:
                steps.append(first)
        return steps

    async def flush(self) -> int:
        """Print what is new or changed in the watched chats; the number of items printed."""
        printed = await self._flush_answers()
        for chat_id, label in self._chats:
            for message in await self._world.messages(chat_id):
                key = (chat_id, int(message["message_id"]))
                if not message["from"]["is_bot"]:
                    if message.get("deleted") and key not in self._deletions_told:
                        self._deletions_told.add(key)
                        who = self._people.get(int(message["from"]["id"]))
                        name = who.name if who else "someone"
                        self.write(
                            f"✂  the bot deleted {name}'s message {key[1]} at once "
                            "(it held a secret)"
                        )
                        printed += 1
                    continue
                if message.get("deleted"):
                    continue
                shown = Shown(str(message.get("text", "")), _buttons(message))
                before = self._shown.get(key)
                if before == shown:
                    continue
                self._shown[key] = shown
                printed += 1
                if before is None:
                    edited = " (edited as the work went on)" if message.get("edited") else ""
                    self.write(f"🤖 bot → {label}{edited}:")
                    if message.get("edited"):
                        for step in await self._progress_steps(*key):
                            self.write(f"{INDENT}⋯ {step.removeprefix('⏳').strip()}")
                else:
                    self.write(f"🤖 bot ✎ edits its message {key[1]} in {label}:")
                self._block(shown.text)
                if shown.buttons:
                    numbered = [self._number(*key, text, data) for text, data in shown.buttons]
                    self.write(
                        f"{INDENT}buttons: "
                        + "  ".join(f"[{b.number}] {b.label}" for b in numbered)
                    )
        return printed
