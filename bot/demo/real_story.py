"""`python -m bot demo --real-openclaw`: the pairing story against the real OpenClaw runtime.

The world is the offline demo's (`DemoWorld`, the real bot, both emulators), but the Fly
emulator runs in real-OpenClaw mode: the agent's machine is a real `openclaw.mjs gateway run`
process and every CLI command the bot execs runs the real CLI. The story: Ann provisions
acme/uma (the gateway boots, the bot reads `[gateway] ready` from its own logs, sets the owner
policy, runs `models set` and checks it with `models status --plain`) → Uma opens her invite →
Uma DMs her agent's own bot and the real gateway answers with its pairing message → she forwards
it whole to the admin bot → a card in the ops chat → Ann approves with the button → the real
`pairing approve` ran exactly once → Uma's next DM to her agent gets no pairing message →
`/status` shows the owner policy and the machine's own `commands.ownerAllowFrom` agrees → Ann
deprovisions and the gateway process is gone.

Each step checks its outcome from the outside (the Telegram emulator's chats, the Fly
emulator's machines, logs and exec log), as the offline story does. One gateway runs at a time
(each takes about 0.9 GB). When the runtime is not installed, `main` says how to install it and
exits 2. This module plays and checks; it never changes how the bot or OpenClaw behave.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from typing import Any, TextIO

from bot.demo.openclaw_install import InstalledOpenClaw, install_words, locate_openclaw
from bot.demo.story import FIRST_LABEL, StepResult, Story, check, exit_status, play
from bot.demo.transcript import AGENT_ID_RE, INVITE_RE, Transcript
from bot.demo.world import (
    ADMIN,
    FLEET_APP,
    OPS_CHAT_ID,
    REAL_OPENCLAW_MODEL,
    UMA,
    DemoWorld,
    agent_bot_token,
    intro_lines,
    show_logs,
)
from bot.fleet.openclaw import clean_line
from storage.models import AgentStatus, PairingState
from storage.pairing import PAIRING_CODE_CHAR, PAIRING_CODE_LENGTH

EXIT_UNAVAILABLE = 2

AGENT_TOKEN = agent_bot_token(1)
AGENT_BOT_ID = int(AGENT_TOKEN.split(":", 1)[0])
AGENT_NAME = "Uma's agent (its own Telegram bot, real OpenClaw)"
PAIRING_MESSAGE_START = "OpenClaw: access not configured."
PAIRING_CODE_RE = re.compile(rf"Pairing code:\s*({PAIRING_CODE_CHAR}{{{PAIRING_CODE_LENGTH}}})\b")
ADMIN_OWNER = f"telegram:{ADMIN.telegram_id}"
# Bounds on how long the real runtime may take; a step only waits as long as it needs.
PROVISION_WAIT_S = 240.0
AGENT_ANSWER_WAIT_S = 120.0
APPROVAL_WAIT_S = 180.0
BOOT_LINES = ("[gateway] agent model:", "[telegram] [default] starting provider", "[gateway] ready")
OWNERS_COMMAND = ["node", "./openclaw.mjs", "config", "get", "commands.ownerAllowFrom"]


def last_line(text: str) -> str:
    lines = [clean_line(line) for line in text.splitlines() if clean_line(line)]
    return lines[-1] if lines else ""


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RealStory(Story):
    """The pairing story on the real runtime; acting helpers and the runner are `Story`'s."""

    def __init__(self, world: DemoWorld, transcript: Transcript) -> None:
        super().__init__(world, transcript)
        self.gateway_pid = 0
        self.agent_last = 0
        self.pairing_text = ""
        self.steps = [
            ("Provision acme/uma on a real OpenClaw gateway", self.provision),
            ("Uma opens her invite link", self.link),
            ("Uma DMs her agent; the real gateway sends a pairing code", self.dm_agent),
            ("Uma forwards that whole message; a card in ops", self.forward),
            ("Ann approves with the button; the real approve runs once", self.approve),
            ("Uma writes to her agent again: no pairing message", self.paired_dm),
            ("/status shows the owner policy; the machine agrees", self.owners),
            ("Deprovision acme/uma (confirmed); the gateway is gone", self.deprovision),
        ]

    # --- helpers ------------------------------------------------------------------------------

    async def cli_runs(self, words: str) -> list[dict[str, Any]]:
        return await self.world.execs(words, self.machine_id)

    async def agent_answer(self, after: int, wait_s: float) -> dict[str, Any]:
        """The first message Uma's agent sends her after message `after`, shown."""

        async def answered() -> dict[str, Any] | None:
            found = await self.world.agent_messages(AGENT_TOKEN, UMA.telegram_id, after=after)
            return found[0] if found else None

        message = await self.world.until(answered, "an answer from Uma's agent", wait_s)
        self.agent_last = max(self.agent_last, int(message["message_id"]))
        self.t.agent_said(AGENT_NAME, UMA, str(message.get("text", "")))
        return message

    def tell_boot(self, lines: list[str]) -> None:
        """The gateway's own boot lines that matter here, once each."""
        told: set[str] = set()
        for line in lines:
            if line in told or not line.startswith(BOOT_LINES):
                continue
            told.add(line)
            note = " (OpenClaw's own default, before the bot sets one)" if "model:" in line else ""
            self.t.narrate(f"machine log: {line}{note}")

    async def uma_to_agent(self, text: str) -> int:
        self.t.said(UMA, text, where="her agent's own bot")
        return await self.world.dm_agent(UMA, AGENT_TOKEN, text)

    # --- the story ----------------------------------------------------------------------------

    async def provision(self) -> str:
        await self.talk(ADMIN, f"/secret {FIRST_LABEL} TELEGRAM_BOT_TOKEN={AGENT_TOKEN}", "Stored")
        self.t.narrate(
            "The machine's main process is a real `node openclaw.mjs gateway run`; it needs a "
            "few seconds to boot, and each CLI command the bot runs on it takes seconds too."
        )
        _, done = await self.talk(
            ADMIN, "/provision tenant=acme user=uma", "Provisioned", wait_s=PROVISION_WAIT_S
        )
        found_id = AGENT_ID_RE.search(done["text"])
        found_invite = INVITE_RE.search(done["text"])
        check(found_id and found_invite, "the reply names no agent id or invite link")
        assert found_id is not None and found_invite is not None
        self.agent_id, self.invite = found_id.group(0), found_invite.group(1)
        await self.refresh_agent()
        agent = await self.world.store.agents.get(self.agent_id)
        check(agent.status is AgentStatus.RUNNING, f"the agent is {agent.status.value}")
        check(agent.model == REAL_OPENCLAW_MODEL, f"the agent's model is {agent.model}")
        app, machine = await self.machine(self.machine_id)
        check(app == FLEET_APP, f"the machine is in app {app}, not {FLEET_APP}")
        check(machine["state"] == "started", f"the machine is {machine['state']}")
        gateway = machine["emulator"].get("real_gateway") or {}
        check(gateway.get("pid"), "no real gateway process runs on the machine")
        self.gateway_pid = int(gateway["pid"])
        lines = [clean_line(line) for line in await self.world.machine_logs(self.machine_id)]
        self.tell_boot(lines)
        check("[gateway] ready" in lines, "the gateway's own logs never said `[gateway] ready`")
        owner_sets = await self.cli_runs("config set commands.ownerAllowFrom")
        check(len(owner_sets) == 1, f"the owner policy was applied {len(owner_sets)} times")
        check(owner_sets[0]["exit_code"] == 0, f"`config set` exited {owner_sets[0]['exit_code']}")
        sets = await self.cli_runs("models set")
        check(len(sets) == 1, f"`models set` ran {len(sets)} times")
        model_set = sets[0]
        check(REAL_OPENCLAW_MODEL in model_set["argv"], "`models set` carried another model")
        said = last_line(model_set["stdout"])
        check(
            model_set["exit_code"] == 0 and said == f"Default model: {REAL_OPENCLAW_MODEL}",
            f"`models set` exited {model_set['exit_code']} saying {said!r}",
        )
        statuses = [
            run
            for run in await self.cli_runs("models status")
            if run["started_at"] >= model_set["ended_at"]
        ]
        check(statuses, "the model was not checked with `models status` after it was set")
        status = last_line(statuses[0]["stdout"])
        check(status == REAL_OPENCLAW_MODEL, f"`models status --plain` says {status!r}")
        check(
            owner_sets[0]["ended_at"] <= model_set["started_at"],
            "the owner policy was applied after the model, not before",
        )
        self.t.narrate(
            f"The real CLI on the machine: `models set {REAL_OPENCLAW_MODEL}` → “{said}”; "
            f"`models status --plain` → “{status}”."
        )
        return (
            f"{self.agent_id} on {self.machine_id} (gateway pid {self.gateway_pid}); "
            f"`[gateway] ready` in its logs; real `models set` → “{said}”, "
            f"`models status --plain` → {status}"
        )

    async def dm_agent(self) -> str:
        self.t.narrate(
            "Uma writes to her agent's own Telegram bot. Its real gateway polls the Telegram "
            "emulator; it does not know Uma yet, so OpenClaw answers with a pairing code."
        )
        before = await self.world.agent_messages(AGENT_TOKEN, UMA.telegram_id)
        sent = await self.uma_to_agent("Hi! Can you help me plan my week?")
        answer = await self.agent_answer(max([sent, *(m["message_id"] for m in before)]), 90)
        self.pairing_text = str(answer.get("text", ""))
        check(
            self.pairing_text.startswith(PAIRING_MESSAGE_START),
            f"the agent answered something else: {self.pairing_text[:200]!r}",
        )
        found = PAIRING_CODE_RE.search(self.pairing_text)
        check(found, "the agent's message holds no pairing code")
        assert found is not None
        self.code = found.group(1)
        check(
            f"Your Telegram user id: {UMA.telegram_id}" in self.pairing_text,
            "the pairing message names another Telegram user",
        )
        html = await self.world.agent_sent(AGENT_TOKEN, UMA.telegram_id)
        check(
            any(f"<pre><code>{self.code}" in text for text in html),
            "the gateway did not send the code in <pre><code> (HTML)",
        )
        check(not await self.cli_runs("pairing"), "a pairing command ran before anyone asked")
        return (
            f"code {self.code} from the real gateway, as HTML, to Telegram user {UMA.telegram_id}"
        )

    async def forward(self) -> str:
        self.t.narrate("Uma forwards the agent's whole message to the admin bot.")
        return await self.forward_pairing_message(
            self.pairing_text, AGENT_BOT_ID, lambda: self.cli_runs("pairing")
        )

    async def approve(self) -> str:
        await self.press(ADMIN, OPS_CHAT_ID, self.card_id, "pa:")
        self.t.narrate(
            "The bot first asks the machine (`pairing list telegram --json`) whether the code is "
            "pending for Uma's Telegram id, then runs `pairing approve telegram CODE` once."
        )
        await self.shows(OPS_CHAT_ID, self.card_id, "succeeded", wait_s=APPROVAL_WAIT_S)
        await self.world.reply(UMA.telegram_id, self.uma_last, "Paired", wait_s=APPROVAL_WAIT_S)
        await self.settle()
        approvals = await self.cli_runs("pairing approve")
        check(len(approvals) == 1, f"`pairing approve` ran {len(approvals)} times")
        run = approvals[0]
        check(self.code in run["argv"], "the approve did not carry the code as its own argument")
        check(run["exit_code"] == 0, f"the approve exited {run['exit_code']}: {run['stderr']}")
        stdout = "\n".join(clean_line(line) for line in run["stdout"].splitlines())
        check(
            f"Approved telegram sender {UMA.telegram_id}." in stdout,
            f"OpenClaw did not approve Uma: {last_line(run['stdout'])!r}",
        )
        check(
            "Command owner configured" not in stdout,
            "the approval made someone the command owner",
        )
        listings = await self.cli_runs("pairing list")
        check(
            listings and listings[0]["ended_at"] <= run["started_at"],
            "the code's owner was not confirmed with `pairing list` before the approve",
        )
        pending = json.loads(listings[0]["stdout"])["requests"]
        check(
            [(r["id"], r["code"]) for r in pending] == [(str(UMA.telegram_id), self.code)],
            f"`pairing list` showed {pending}",
        )
        request = await self.world.store.pairing.get(self.request_id)
        check(request.state is PairingState.SUCCEEDED, f"the request is {request.state.value}")
        self.t.narrate(f"The real CLI answered: “{last_line(run['stdout'])}”")
        return (
            f"`pairing list` confirmed the code was Uma's; exactly one real `pairing approve "
            f"telegram {self.code}` (exit 0, “Approved telegram sender {UMA.telegram_id}.”)"
        )

    async def paired_dm(self) -> str:
        sent = await self.uma_to_agent("Thanks! Are you there now?")
        answer = await self.agent_answer(max(sent, self.agent_last), AGENT_ANSWER_WAIT_S)
        text = str(answer.get("text", ""))
        check(
            not text.startswith(PAIRING_MESSAGE_START),
            "the agent still answers with a pairing message",
        )
        html = await self.world.agent_sent(AGENT_TOKEN, UMA.telegram_id)
        pairing_messages = [m for m in html if m.startswith(PAIRING_MESSAGE_START)]
        check(len(pairing_messages) == 1, f"{len(pairing_messages)} pairing messages were sent")
        self.t.narrate(
            "OpenClaw now lets Uma's messages through to the agent itself. Offline and without "
            "a real LLM key it cannot reach its model, so the agent's answer is about that."
        )
        return f"the agent answered “{' '.join(text.split())[:60]}…”, not a pairing message"

    async def owners(self) -> str:
        _, status = await self.talk(ADMIN, f"/status {FIRST_LABEL}", "Command owners:")
        shown = str(status.get("text", ""))
        check(f"Command owners: {ADMIN_OWNER}" in shown, "/status shows other command owners")
        check(f"End user: Telegram user {UMA.telegram_id}" in shown, "/status shows no end user")
        check(f"Model: {REAL_OPENCLAW_MODEL}" in shown, "/status shows another model")
        self.t.narrate(
            "The demo asks the machine itself, as an operator's `fly machine exec` would: "
            "`node ./openclaw.mjs config get commands.ownerAllowFrom`"
        )
        answer = await self.world.run_on_machine(self.machine_id, OWNERS_COMMAND)
        check(answer["exit_code"] == 0, f"`config get` exited {answer['exit_code']}")
        owners = json.loads(answer["stdout"])
        self.t.narrate(f"→ {json.dumps(owners)}")
        check(owners == [ADMIN_OWNER], f"the machine's command owners are {owners}")
        return f"policy “admins”: owners {owners} on the machine; Uma paired, not an owner"

    async def deprovision(self) -> str:
        machine_id, volume_id = self.machine_id, self.volume_id
        _, ask = await self.talk(ADMIN, f"/deprovision {FIRST_LABEL}", "destroys its machine")
        await self.press(ADMIN, ADMIN.telegram_id, int(ask["message_id"]), "cf:")
        await self.shows(
            ADMIN.telegram_id, int(ask["message_id"]), "Deprovisioned", wait_s=APPROVAL_WAIT_S
        )
        await self.settle()
        agent = await self.world.store.agents.get(self.agent_id)
        check(agent.status is AgentStatus.DELETED, f"the agent is {agent.status.value}")
        state = await self.world.machine_state(machine_id)
        check(state in (None, "destroyed"), f"the machine is {state}")
        check(volume_id not in await self.world.volume_ids(), "the volume is still there")

        async def gone() -> bool:
            return not process_alive(self.gateway_pid)

        await self.world.until(gone, f"gateway process {self.gateway_pid} to end", 60)
        return f"machine {machine_id} and volume {volume_id} removed; gateway process ended"


def real_intro(openclaw: InstalledOpenClaw) -> list[str]:
    return [
        *intro_lines("the pairing story on the real OpenClaw runtime"),
        f"The agent's machine runs the real OpenClaw {openclaw.version} "
        f"({openclaw.script.parent}) under {openclaw.node}:",
        "a real `gateway run` process polling the Telegram emulator as the agent's own bot; the",
        "bot's CLI commands run the real CLI there. Real runs take seconds: about a minute or two.",
    ]


async def play_real(
    out: TextIO, openclaw: InstalledOpenClaw, world: DemoWorld | None = None
) -> list[StepResult]:
    """The real story in `world` (by default a new one on `openclaw`); the step results."""
    return await play(
        out,
        world or DemoWorld(openclaw=openclaw),
        story=RealStory,
        intro=real_intro(openclaw),
    )


def main(*, verbose: bool = False, out: TextIO | None = None) -> int:
    found = locate_openclaw()
    if isinstance(found, str):
        print(install_words(found), file=sys.stderr)
        return EXIT_UNAVAILABLE
    show_logs(verbose)
    results = asyncio.run(play_real(out if out is not None else sys.stdout, found))
    return exit_status(results)
