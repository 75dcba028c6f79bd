"""`python -m bot demo`: the whole job, played by an admin and end users, checked step by step.

The story: Ann (admin) provisions an agent for acme/uma with live progress → Uma opens the
invite link → her agent gives her a pairing code, which she forwards to the bot → a card in
the ops chat → Ann approves → the pairing command runs exactly once → Ann forces the model
and checks it → snapshot → recreate from the snapshot → stop → wake → the gateway dies and
the monitor raises an ops alert → a second tenant in its own Fly app → deprovision.

Every step checks its outcome from the outside: what the bot replied (read from the Telegram
emulator) and what happened on the platform (the Fly emulator's machines, volumes, snapshots
and exec log). The first step that fails ends the story; the summary marks it ✗ and the exit
status is 1. `play` runs any story built like this one in a world (`bot.demo.real_story` tells
the pairing story against the real OpenClaw runtime with it). This module plays and checks; it
never changes how the bot behaves.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from bot.demo.transcript import AGENT_ID_RE, INVITE_RE, Transcript
from bot.demo.world import (
    ADMIN,
    FAILED_MARK,
    FLEET_APP,
    OPS_CHAT_ID,
    PEOPLE,
    SECOND_APP,
    SECOND_FLY_TOKEN,
    UMA,
    WATCHED_CHATS,
    DemoWorld,
    Person,
    WorldError,
    agent_bot_token,
    intro_lines,
    show_logs,
)
from storage.models import AgentStatus, PairingState

EXIT_OK = 0
EXIT_FAILED = 1

FIRST_LABEL = "acme/uma"
SECOND_LABEL = "globex/olga"
FORCED_MODEL = "moonshotai/kimi-k2.5"
SECOND_TENANT_MODEL = "openai/gpt-4.1"


class StepFailed(Exception):
    """A step's outcome was not what it should be."""


def check(condition: object, what: str) -> None:
    if not condition:
        raise StepFailed(what)


@dataclass
class StepResult:
    number: int
    title: str
    ok: bool | None  # None: not run, because an earlier step failed
    detail: str = ""
    seconds: float = 0.0


class Story:
    """The scripted story; each step is one method that acts, then checks what happened."""

    def __init__(self, world: DemoWorld, transcript: Transcript) -> None:
        self.world = world
        self.t = transcript
        self.agent_id = ""
        self.machine_id = ""
        self.volume_id = ""
        self.invite = ""
        self.code = ""
        self.request_id = ""
        self.card_id = 0
        self.uma_last = 0
        self.steps: list[tuple[str, Callable[[], Awaitable[str]]]] = [
            ("Provision acme/uma, with live progress", self.provision),
            ("Uma opens her invite link", self.link),
            ("The agent issues a pairing code; Uma sends it", self.submit_code),
            ("Ann approves in the ops chat; pairing runs once", self.approve),
            ("Force the model and verify it (/model, /status)", self.force_model),
            ("Snapshot the agent's volume", self.snapshot),
            ("Recreate from the snapshot (confirmed)", self.recreate),
            ("Stop the agent", self.stop),
            ("Wake the agent", self.wake),
            ("Gateway dies → monitor alert → wake", self.gateway_failure),
            ("A second tenant in its own Fly app", self.second_tenant),
            ("Deprovision acme/uma (confirmed)", self.deprovision),
        ]

    # --- acting -------------------------------------------------------------------------------

    async def say(self, person: Person, text: str) -> int:
        self.t.said(person, text)
        sent = await self.world.send(person, text)
        if person is UMA:
            self.uma_last = sent
        return sent

    async def talk(
        self, person: Person, text: str, expect: str, *, wait_s: float = 30.0
    ) -> tuple[int, dict[str, Any]]:
        """`person` writes `text`; waits for the bot's reply containing `expect`, then shows it.

        Returns the id of the message sent and the reply (as it reads once settled).
        """
        sent = await self.say(person, text)
        reply = await self.world.reply(person.telegram_id, sent, expect, wait_s=wait_s)
        await self.settle()
        return sent, await self.current(person.telegram_id, int(reply["message_id"]))

    async def settle(self) -> None:
        if not await self.world.settled():
            self.t.problem("the bot was still busy after 60 s")
        await self.t.flush()

    async def press(self, person: Person, chat_id: int, message_id: int, prefix: str) -> None:
        """Press the button (shown in the transcript) whose data starts with `prefix`."""
        await self.settle()
        button = self.t.find_button(chat_id, message_id, prefix)
        if button is None:
            raise StepFailed(f"message {message_id} shows no {prefix!r} button")
        self.t.pressed(person, button)
        await self.world.press(person, chat_id, message_id, button.data)

    async def current(self, chat_id: int, message_id: int) -> dict[str, Any]:
        for message in await self.world.messages(chat_id):
            if message["message_id"] == message_id:
                return message
        raise StepFailed(f"message {message_id} is gone from chat {chat_id}")

    async def shows(
        self, chat_id: int, message_id: int, text: str, *, wait_s: float = 30.0
    ) -> dict[str, Any]:
        """Wait until the message (as edited now) contains `text`; a failure mark ends it."""

        async def now() -> dict[str, Any] | None:
            message = await self.current(chat_id, message_id)
            current = str(message.get("text", ""))
            if text in current:
                return message
            if FAILED_MARK in current:
                raise StepFailed(f"the bot answered: {' '.join(current.split())[:400]}")
            return None

        return await self.world.until(now, f"message {message_id} to show {text!r}", wait_s)

    async def machine(self, machine_id: str) -> tuple[str, dict[str, Any]]:
        found = await self.world.machine(machine_id)
        if found is None:
            raise StepFailed(f"machine {machine_id} is not on Fly")
        return found

    async def openclaw(self, machine_id: str) -> dict[str, Any]:
        _, machine = await self.machine(machine_id)
        return dict(machine["emulator"]["openclaw"])

    async def refresh_agent(self) -> None:
        agent = await self.world.store.agents.get(self.agent_id)
        self.machine_id = agent.machine_id or ""
        self.volume_id = agent.volume_id or ""

    # --- the story ----------------------------------------------------------------------------

    async def provision(self) -> str:
        secret, _ = await self.talk(
            ADMIN, f"/secret {FIRST_LABEL} TELEGRAM_BOT_TOKEN={agent_bot_token(1)}", "Stored"
        )
        _, done = await self.talk(
            ADMIN, "/provision tenant=acme user=uma", "Provisioned", wait_s=60
        )
        deleted = [
            m for m in await self.world.messages(ADMIN.telegram_id) if m["message_id"] == secret
        ]
        check(deleted and deleted[0].get("deleted"), "the /secret message was not deleted")
        edits = await self.world.edits(ADMIN.telegram_id, done["message_id"])
        check(len(set(edits)) >= 5, f"only {len(set(edits))} progress edits were shown")
        found_id = AGENT_ID_RE.search(done["text"])
        found_invite = INVITE_RE.search(done["text"])
        check(found_id and found_invite, "the reply names no agent id or invite link")
        assert found_id is not None and found_invite is not None
        self.agent_id, self.invite = found_id.group(0), found_invite.group(1)
        await self.refresh_agent()
        agent = await self.world.store.agents.get(self.agent_id)
        check(agent.status is AgentStatus.RUNNING, f"the agent is {agent.status.value}")
        app, machine = await self.machine(self.machine_id)
        check(app == FLEET_APP, f"the machine is in app {app}, not {FLEET_APP}")
        check(machine["state"] == "started", f"the machine is {machine['state']}")
        openclaw = machine["emulator"]["openclaw"]
        check(
            openclaw["model"] == agent.model,
            f"OpenClaw's model is {openclaw['model']}, not {agent.model}",
        )
        owners = [f"telegram:{ADMIN.telegram_id}"]
        check(openclaw["owner_allow_from"] == owners, "the command owners were not set")
        return (
            f"{self.agent_id} on {self.machine_id} in app {app}; {len(edits)} progress edits; "
            f"model {agent.model} set and verified"
        )

    async def link(self) -> str:
        self.t.narrate(
            "Ann sends Uma the invite link; Uma opens it, so Telegram sends the bot /start <token>."
        )
        await self.talk(UMA, f"/start {self.invite}", "linked")
        await self.world.reply(OPS_CHAT_ID, 0, f"linked to agent {self.agent_id}")
        await self.settle()
        agent = await self.world.store.agents.get(self.agent_id)
        check(agent.telegram_user_id == UMA.telegram_id, "the agent is not linked to Uma")
        return f"{FIRST_LABEL} linked to Telegram user {UMA.telegram_id}; ops chat told"

    async def submit_code(self) -> str:
        self.code = await self.world.issue_pairing_code(self.machine_id, UMA)
        agent_bot_id = int(agent_bot_token(1).split(":", 1)[0])
        message = (
            "OpenClaw: access not configured.\n\n"
            f"Your Telegram user id: {UMA.telegram_id}\nPairing code:\n\n{self.code}\n\n"
            "Ask the bot owner to approve with:\n\n"
            f"openclaw pairing approve telegram {self.code}"
        )
        self.t.narrate(
            "Uma writes to her agent's own Telegram bot. OpenClaw does not know her yet, so it "
            "answers with a pairing code (Fly emulator: the agent issues a code to sender "
            f"{UMA.telegram_id}). Uma forwards that whole message to the admin bot:"
        )
        return await self.forward_pairing_message(
            message, agent_bot_id, lambda: self.world.execs("pairing approve")
        )

    async def forward_pairing_message(
        self,
        text: str,
        agent_bot_id: int,
        runs_so_far: Callable[[], Awaitable[list[dict[str, Any]]]],
    ) -> str:
        """Uma forwards her agent's pairing message; one request is recorded, its card offers
        Approve, and nothing ran on the machine yet (`runs_so_far`: the pairing commands)."""
        self.t.said(UMA, text, where="bot (forwarded from her agent's bot)")
        sent = await self.world.send(
            UMA,
            text,
            forwarded_from={"id": agent_bot_id, "is_bot": True, "first_name": "Uma's agent"},
        )
        self.uma_last = sent
        await self.world.reply(UMA.telegram_id, sent, "waiting for an operator")
        card = await self.world.reply(OPS_CHAT_ID, 0, self.code)
        self.card_id = int(card["message_id"])
        await self.settle()
        requests = await self.world.store.pairing.for_agent(self.agent_id)
        check(len(requests) == 1, f"{len(requests)} pairing requests were recorded")
        request = requests[0]
        self.request_id = request.id
        check(request.code == self.code, "the recorded code differs from the agent's")
        check(request.state is PairingState.SUBMITTED, f"the request is {request.state.value}")
        check(
            self.t.find_button(OPS_CHAT_ID, self.card_id, "pa:") is not None,
            "the ops card has no Approve button",
        )
        check(not await runs_so_far(), "a pairing command ran before approval")
        return f"code {self.code} read from the forwarded message; card {request.id} in ops chat"

    async def approve(self) -> str:
        await self.press(ADMIN, OPS_CHAT_ID, self.card_id, "pa:")
        await self.shows(OPS_CHAT_ID, self.card_id, "succeeded")
        await self.world.reply(UMA.telegram_id, self.uma_last, "Paired")
        await self.settle()
        runs = await self.world.execs("pairing approve")
        check(len(runs) == 1, f"`pairing approve` ran {len(runs)} times")
        run = runs[0]
        check(run["machine_id"] == self.machine_id, "the approve ran on another machine")
        check(self.code in run["argv"], "the approve did not carry the code as its own argument")
        check(run["exit_code"] == 0, f"the approve exited {run['exit_code']}")
        request = await self.world.store.pairing.get(self.request_id)
        check(request.state is PairingState.SUCCEEDED, f"the request is {request.state.value}")
        openclaw = await self.openclaw(self.machine_id)
        check(str(UMA.telegram_id) in openclaw["allow_from"], "OpenClaw did not approve Uma")
        check(
            openclaw["owner_allow_from"] == [f"telegram:{ADMIN.telegram_id}"],
            "the approval changed the agent's command owners",
        )
        return f"exactly one `pairing approve telegram {self.code}` (exit 0); Uma told; owner kept"

    async def force_model(self) -> str:
        await self.talk(ADMIN, f"/model {FIRST_LABEL} {FORCED_MODEL}", "verified on the machine")
        _, status = await self.talk(ADMIN, f"/status {FIRST_LABEL}", "Model:")
        check(f"Model: {FORCED_MODEL}" in status["text"], "/status shows another model")
        check(f"{self.machine_id} · started" in status["text"], "/status shows no started machine")
        openclaw = await self.openclaw(self.machine_id)
        check(openclaw["model"] == FORCED_MODEL, f"OpenClaw's model is {openclaw['model']}")
        sets = [
            run
            for run in await self.world.execs("models set", self.machine_id)
            if FORCED_MODEL in run["argv"]
        ]
        checks = await self.world.execs("models status", self.machine_id)
        check(len(sets) == 1, f"`models set` ran {len(sets)} times")
        check(
            any(c["started_at"] >= sets[0]["ended_at"] for c in checks),
            "the model was not verified with `models status` after it was set",
        )
        return f"`models set {FORCED_MODEL}` then `models status --plain` agree; /status shows it"

    async def snapshot(self) -> str:
        await self.talk(ADMIN, f"/snapshot {FIRST_LABEL}", "Snapshot")

        async def finished() -> list[dict[str, Any]]:
            snapshots = await self.world.snapshots_of(self.volume_id)
            return [s for s in snapshots if s.get("status") == "created"]

        # Fly takes the snapshot in the background (waiting → running → created).
        created = await self.world.until(finished, f"a finished snapshot of {self.volume_id}")
        recorded = await self.world.store.snapshots.latest_usable(self.agent_id)
        check(recorded is not None, "the bot recorded no snapshot")
        assert recorded is not None
        check(
            recorded.fly_snapshot_id in {s["id"] for s in created},
            "the recorded snapshot is not the one on Fly",
        )
        return f"snapshot {recorded.fly_snapshot_id} of {self.volume_id} recorded"

    async def recreate(self) -> str:
        old_machine, old_volume = self.machine_id, self.volume_id
        _, ask = await self.talk(ADMIN, f"/recreate {FIRST_LABEL}", "latest snapshot")
        await self.press(ADMIN, ADMIN.telegram_id, int(ask["message_id"]), "cf:")
        await self.shows(ADMIN.telegram_id, int(ask["message_id"]), "Recreated")
        await self.settle()
        await self.refresh_agent()
        check(self.machine_id and self.machine_id != old_machine, "no new machine")
        check(self.volume_id and self.volume_id != old_volume, "no new volume")
        _, machine = await self.machine(self.machine_id)
        check(machine["state"] == "started", f"the new machine is {machine['state']}")
        check(
            await self.world.machine_state(old_machine) in (None, "destroyed"),
            f"the old machine {old_machine} is still there",
        )
        check(old_volume not in await self.world.volume_ids(), "the old volume is still there")
        openclaw = machine["emulator"]["openclaw"]
        check(openclaw["model"] == FORCED_MODEL, "the restored state lost the model")
        check(str(UMA.telegram_id) in openclaw["allow_from"], "the restored state lost the pairing")
        return (
            f"{old_machine} → {self.machine_id}, volume restored from the snapshot (pairing and "
            "model kept); old machine and volume removed"
        )

    async def stop(self) -> str:
        await self.talk(ADMIN, f"/stop {FIRST_LABEL}", "is stopped")
        state = await self.world.machine_state(self.machine_id)
        check(state == "stopped", f"the machine is {state}")
        agent = await self.world.store.agents.get(self.agent_id)
        check(agent.status is AgentStatus.STOPPED, f"the agent is {agent.status.value}")
        return f"machine {self.machine_id} stopped"

    async def wake(self) -> str:
        await self.talk(ADMIN, f"/wake {FIRST_LABEL}", "is running")
        _, machine = await self.machine(self.machine_id)
        check(machine["state"] == "started", f"the machine is {machine['state']}")
        check(machine["emulator"]["gateway_listening"], "the gateway is not listening")
        agent = await self.world.store.agents.get(self.agent_id)
        check(agent.status is AgentStatus.RUNNING, f"the agent is {agent.status.value}")
        return f"machine {self.machine_id} started, gateway ready"

    async def gateway_failure(self) -> str:
        self.t.narrate(
            "The agent's gateway process dies on Fly and is not restarted (Fly emulator fault: "
            "crash → failed). Nobody tells the bot; its monitor sweeps Fly every 0.5 s."
        )
        await self.world.fly_fault(
            {"crash": {"machine_id": self.machine_id, "to": "failed", "auto_restart": False}}
        )
        await self.world.reply(OPS_CHAT_ID, 0, f"Machine {self.machine_id} of agent")
        await self.settle()
        agent = await self.world.store.agents.get(self.agent_id)
        check(agent.status is AgentStatus.ERROR, f"the agent is {agent.status.value}, not error")
        await self.talk(ADMIN, f"/wake {FIRST_LABEL}", "is running")
        state = await self.world.machine_state(self.machine_id)
        check(state == "started", f"the machine is {state} after /wake")
        agent = await self.world.store.agents.get(self.agent_id)
        check(agent.status is AgentStatus.RUNNING, f"the agent is {agent.status.value}")
        return "🚨 alert in the ops chat within one sweep; /wake brought it back"

    async def second_tenant(self) -> str:
        await self.talk(ADMIN, "/tenant add globex Globex Inc", "globex")
        _, shown = await self.talk(
            ADMIN,
            f"/tenant set globex FLY_APP_NAME={SECOND_APP} FLY_API_TOKEN={SECOND_FLY_TOKEN} "
            f"LLM_MODEL={SECOND_TENANT_MODEL}",
            "FLY_API_TOKEN",
        )
        check(SECOND_FLY_TOKEN not in shown["text"], "the tenant's token was shown")
        await self.talk(
            ADMIN, f"/secret {SECOND_LABEL} TELEGRAM_BOT_TOKEN={agent_bot_token(2)}", "Stored"
        )
        _, done = await self.talk(
            ADMIN, "/provision tenant=globex user=olga", "Provisioned", wait_s=60
        )
        _, listed = await self.talk(ADMIN, "/list", "live agents")
        check(
            FIRST_LABEL in listed["text"] and SECOND_LABEL in listed["text"],
            "/list does not show both tenants' agents",
        )
        found = AGENT_ID_RE.search(done["text"])
        check(found, "the reply names no agent id")
        assert found is not None
        second = await self.world.store.agents.get(found.group(0))
        app, machine = await self.machine(second.machine_id or "")
        check(app == SECOND_APP, f"globex's machine is in app {app}, not {SECOND_APP}")
        check(machine["state"] == "started", f"globex's machine is {machine['state']}")
        model = machine["emulator"]["openclaw"]["model"]
        check(model == SECOND_TENANT_MODEL, f"globex's agent runs {model}, not the tenant's")
        requests = await self.world.fly_requests()
        tokens = {r["token"] for r in requests if f"/apps/{SECOND_APP}/" in r["path"]}
        expected = f"{SECOND_FLY_TOKEN[:4]}…"
        check(tokens == {expected}, f"globex's app was called with tokens {tokens}")
        fleet = {r["token"] for r in requests if f"/apps/{FLEET_APP}/" in r["path"]}
        check(expected not in fleet, "globex's token was used on the fleet's app")
        return (
            f"{SECOND_LABEL} on {second.machine_id} in app {app}, called with globex's own token "
            f"only; model {model} from the tenant profile"
        )

    async def deprovision(self) -> str:
        machine_id, volume_id = self.machine_id, self.volume_id
        _, ask = await self.talk(ADMIN, f"/deprovision {FIRST_LABEL}", "destroys its machine")
        await self.press(ADMIN, ADMIN.telegram_id, int(ask["message_id"]), "cf:")
        await self.shows(ADMIN.telegram_id, int(ask["message_id"]), "Deprovisioned")
        await self.settle()
        agent = await self.world.store.agents.get(self.agent_id)
        check(agent.status is AgentStatus.DELETED, f"the agent is {agent.status.value}")
        state = await self.world.machine_state(machine_id)
        check(state in (None, "destroyed"), f"the machine is {state}")
        check(volume_id not in await self.world.volume_ids(), "the volume is still there")
        others = await self.world.store.agents.live()
        check(
            [f"{a.tenant_id}/{a.user_id}" for a in others] == [SECOND_LABEL],
            "other agents were touched",
        )
        return f"machine {machine_id} and volume {volume_id} removed; globex/olga untouched"

    # --- running ------------------------------------------------------------------------------

    async def run(self) -> list[StepResult]:
        results: list[StepResult] = []
        failed = False
        for number, (title, step) in enumerate(self.steps, start=1):
            if failed:
                results.append(StepResult(number, title, None, "not run"))
                continue
            self.t.heading(f"{number}. {title}")
            began = time.monotonic()
            try:
                detail = await step()
                ok = True
            except (StepFailed, WorldError) as error:
                detail, ok = str(error), False
            except Exception as error:
                logging.getLogger("bot.demo").exception("step %d crashed", number)
                detail, ok = f"unexpected {type(error).__name__}: {error}", False
            if not ok:
                failed = True
                await self.t.flush()
                self.t.problem(f"step {number} failed: {detail}")
            results.append(StepResult(number, title, ok, detail, time.monotonic() - began))
        return results


def summary_lines(results: list[StepResult]) -> list[str]:
    width = max(len(r.title) for r in results)
    lines = ["", "Summary", "-------"]
    for r in results:
        mark = {True: "✓", False: "✗", None: "–"}[r.ok]
        took = f"{r.seconds:5.1f}s" if r.ok is not None else "     "
        lines.append(f" {mark} {r.number:2d}. {r.title:<{width}}  {took}  {r.detail}")
    passed = sum(1 for r in results if r.ok)
    if passed == len(results):
        lines.append(f"Demo passed: {passed} of {len(results)} steps did what they should.")
    else:
        lines.append(f"Demo FAILED: {passed} of {len(results)} steps did what they should.")
    return lines


def exit_status(results: list[StepResult]) -> int:
    return EXIT_OK if results and all(r.ok for r in results) else EXIT_FAILED


async def play(
    out: TextIO,
    world: DemoWorld | None = None,
    *,
    story: Callable[[DemoWorld, Transcript], Story] = Story,
    intro: Sequence[str] | None = None,
) -> list[StepResult]:
    """Start the world, tell `story` into `out`, print the summary; the step results."""
    started = time.monotonic()
    async with world or DemoWorld() as running:
        transcript = Transcript(running, out, WATCHED_CHATS, PEOPLE)
        for line in intro if intro is not None else intro_lines("offline demo"):
            transcript.write(line)
        results = await story(running, transcript).run()
    for line in summary_lines(results):
        print(line, file=out, flush=True)
    print(f"(the whole demo took {time.monotonic() - started:.1f}s)", file=out, flush=True)
    return results


def main(*, verbose: bool = False, out: TextIO | None = None) -> int:
    stream = out if out is not None else sys.stdout
    show_logs(verbose)
    results = asyncio.run(play(stream))
    return exit_status(results)
