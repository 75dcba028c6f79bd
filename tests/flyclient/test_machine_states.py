"""`FlyClient.list_machine_states`: the streamed, lean machine list that fleet sweeps read.

Against the Fly emulator over loopback: it must say what `list_machines` says about each
machine, filter like it, and go through the same limiter, retries and error mapping. Answers
the emulator never gives (cut short, not JSON, not an array, a connection lost mid-body) come
from a loopback server that plays Fly with scripted raw HTTP.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from emulators.fly import FlyEmulator
from flyclient.client import FlyClient
from flyclient.errors import FlyConnectionError, FlyError, NotFoundError, ServerError
from flyclient.models import Machine, MachineCheck, MachineConfig, MachineStatus
from flyclient.ratelimit import RateLimits
from flyclient.retry import RetryPolicy

CANARY = "fm2_CANARY-machine-states-t0ken-41d7"
FAST_RETRIES = RetryPolicy(max_attempts=4, base_delay_s=0.01, max_delay_s=0.05)
SETTLE_S = 30.0
# Large enough that the answer for the fleet below spans several network reads (64 KiB each).
PADDING = "p" * 2_000
LIST_PATH = "/v1/apps/agents/machines"


async def control(emu: FlyEmulator, method: str, path: str, body: Any = None) -> Any:
    async with httpx.AsyncClient(base_url=emu.root_url) as http:
        response = await http.request(method, path, json=body)
        response.raise_for_status()
        return response.json()


async def list_statuses_since(emu: FlyEmulator, since: int) -> list[int]:
    records = await control(emu, "GET", f"/_emulator/requests?since={since}")
    return [r["status"] for r in records if r["method"] == "GET" and r["path"] == LIST_PATH]


async def last_seq(emu: FlyEmulator) -> int:
    records = await control(emu, "GET", "/_emulator/requests")
    return max((record["seq"] for record in records), default=0)


def client(base_url: str, **options: Any) -> FlyClient:
    options.setdefault("retry_policy", FAST_RETRIES)
    return FlyClient(token=CANARY, app="agents", machines_url=base_url, **options)


def config(*, tenant: str, checked: bool) -> MachineConfig:
    # Nothing ever listens on port 9, so the check stays critical: stable across two reads.
    checks = {"gateway": MachineCheck(type="tcp", port=9, interval="15s")} if checked else {}
    return MachineConfig(
        image="registry.fly.io/openclaw:2026.9.6",
        # Without a gateway token the simulated gateway exits, and so does the machine.
        env={"OPENCLAW_GATEWAY_TOKEN": "gateway-secret"},
        metadata={"tenant": tenant, "padding": PADDING},
        checks=checks,
    )


def summary_of_full(machine: Machine) -> tuple[Any, ...]:
    checks = tuple((check.name, check.status) for check in machine.checks)
    return (machine.id, machine.state, machine.region, machine.instance_id, checks)


def summary_of_lean(machine: MachineStatus) -> tuple[Any, ...]:
    checks = tuple((check.name, check.status) for check in machine.checks)
    return (machine.id, machine.state, machine.region, machine.instance_id, checks)


@pytest.fixture
async def fleet(fly_emulator: FlyEmulator) -> FlyEmulator:
    """40 machines on the emulator: tenants t1 and t2, some with a check, every 5th stopped."""
    await control(fly_emulator, "POST", "/_emulator/rate-limits", {"enabled": False})
    async with client(fly_emulator.base_url, rate_limits=RateLimits.disabled()) as setup:
        machines = await asyncio.gather(
            *(
                setup.create_machine(
                    config(tenant=f"t{index % 2 + 1}", checked=index % 3 == 0),
                    region="ams" if index % 2 else "iad",
                )
                for index in range(40)
            )
        )
        await asyncio.gather(*(setup.wait_for_state(m.id, "started", SETTLE_S) for m in machines))
        for machine in machines[::5]:
            await setup.stop(machine.id)
            await setup.wait_for_state(machine.id, "stopped", SETTLE_S)
    await control(fly_emulator, "POST", "/_emulator/rate-limits", {"enabled": True})
    return fly_emulator


async def test_states_say_what_the_full_list_says_about_every_machine(fleet: FlyEmulator) -> None:
    async with client(fleet.base_url) as fly:
        full = sorted(summary_of_full(m) for m in await fly.list_machines())
        lean = sorted(summary_of_lean(m) for m in await fly.list_machine_states())
    assert len(lean) == 40
    assert lean == full
    assert {summary[1] for summary in lean} == {"started", "stopped"}
    assert {summary[4] for summary in lean} == {(), (("gateway", "critical"),)}


async def test_states_filter_by_metadata_like_the_full_list(fleet: FlyEmulator) -> None:
    async with client(fleet.base_url) as fly:
        full = {m.id for m in await fly.list_machines(metadata={"tenant": "t1"})}
        lean = [m.id for m in await fly.list_machine_states(metadata={"tenant": "t1"})]
        nobody = await fly.list_machine_states(metadata={"tenant": "t3"})
    assert len(lean) == 20
    assert set(lean) == full
    assert nobody == []


async def test_states_are_paced_by_the_client_limiter(fleet: FlyEmulator) -> None:
    since = await last_seq(fleet)
    async with client(fleet.base_url, retry_policy=RetryPolicy.never()) as fly:
        # Fly allows 3 lists at once, then 1 a second: the 4th must wait, not be refused.
        answers = await asyncio.gather(*(fly.list_machine_states() for _ in range(4)))
    assert [len(answer) for answer in answers] == [40] * 4
    assert await list_statuses_since(fleet, since) == [200] * 4


@pytest.mark.parametrize("status", [429, 503])
async def test_a_refused_list_is_sent_again_and_its_retry_read(
    fleet: FlyEmulator, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await control(
        fleet,
        "POST",
        "/_emulator/faults",
        {"route": {"method": "GET", "path_regex": "/machines$"}, "status": status, "count": 2},
    )
    since = await last_seq(fleet)
    async with client(fleet.base_url) as fly:
        machines = await fly.list_machine_states()
    assert len(machines) == 40
    assert await list_statuses_since(fleet, since) == [status, status, 200]
    assert any(f"-> {status}" in record.getMessage() for record in caplog.records)
    assert all(CANARY not in record.getMessage() for record in caplog.records)


async def test_a_list_failing_past_the_retry_budget_raises_the_mapped_error(
    fleet: FlyEmulator,
) -> None:
    await control(
        fleet,
        "POST",
        "/_emulator/faults",
        {"route": {"method": "GET", "path_regex": "/machines$"}, "status": 500},
    )
    since = await last_seq(fleet)
    async with client(fleet.base_url) as fly:
        with pytest.raises(ServerError) as raised:
            await fly.list_machine_states()
    assert raised.value.status_code == 500
    assert raised.value.path == LIST_PATH
    assert await list_statuses_since(fleet, since) == [500] * FAST_RETRIES.max_attempts


async def test_a_list_of_an_unknown_app_is_not_found(fly_emulator: FlyEmulator) -> None:
    async with client(fly_emulator.base_url) as fly:
        with pytest.raises(NotFoundError) as raised:
            await fly.with_app("no-such-app").list_machine_states()
    assert raised.value.message
    assert CANARY not in str(raised.value)


# --- answers the emulator never gives ------------------------------------------------------


@dataclass
class Reply:
    """One scripted HTTP answer: `body` sent in `parts`, announced as `length` bytes."""

    body: bytes
    parts: int = 3
    length: int | None = None

    def head(self) -> bytes:
        length = len(self.body) if self.length is None else self.length
        return (
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            f"Content-Length: {length}\r\nConnection: close\r\n\r\n"
        ).encode()


@dataclass
class ScriptedFly:
    """A loopback HTTP server answering each request with the next reply (the last repeats)."""

    replies: Sequence[Reply]
    request_lines: list[str] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        self.request_lines.append(head.split(b"\r\n", 1)[0].decode())
        reply = self.replies[min(len(self.request_lines), len(self.replies)) - 1]
        writer.write(reply.head())
        step = max(1, -(-len(reply.body) // reply.parts))
        for start in range(0, len(reply.body), step):
            writer.write(reply.body[start : start + step])
            await writer.drain()
            await asyncio.sleep(0)  # separate network reads, so the parser gets pieces
        writer.close()
        await writer.wait_closed()


@pytest.fixture
async def scripted() -> AsyncIterator[tuple[ScriptedFly, str]]:
    fly = ScriptedFly(replies=[])
    server = await asyncio.start_server(fly.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield fly, f"http://127.0.0.1:{port}/v1"


def machines_json(count: int) -> bytes:
    items = ",".join(
        f'{{"id": "m{index:04d}", "state": "started", "region": "ams", '
        f'"config": {{"env": {{"SECRET": "s3cret-{index}"}}}}, "events": [], "checks": null}}'
        for index in range(count)
    )
    return f"[{items}]".encode()


async def list_from(scripted: tuple[ScriptedFly, str], *replies: Reply) -> list[MachineStatus]:
    server, base_url = scripted
    server.replies = replies
    async with client(base_url) as fly:
        return await fly.list_machine_states()


async def test_a_whole_answer_in_pieces_reads_every_machine(
    scripted: tuple[ScriptedFly, str],
) -> None:
    machines = await list_from(scripted, Reply(machines_json(50), parts=7))
    assert [m.id for m in machines] == [f"m{index:04d}" for index in range(50)]
    assert {(m.state, m.region, m.instance_id, m.checks) for m in machines} == {
        ("started", "ams", None, ())
    }
    assert scripted[0].request_lines == ["GET /v1/apps/agents/machines HTTP/1.1"]


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (machines_json(20)[:-40], "not valid JSON"),
        (machines_json(20) + b"[]", "not valid JSON"),
        (b"<html><body>Bad gateway</body></html>", "expected a JSON array"),
        (b'{"machines": []}', "expected a JSON array"),
        (b"  ", "expected a JSON array"),
        (b'[{"id": "m1"}, {"state": "started"}]', "unexpected MachineStatus (element 1): id"),
        (b'[{"id": "m1", "checks": "critical"}]', "unexpected MachineStatus (element 0)"),
    ],
    ids=["cut-short", "trailing-garbage", "html", "object", "blank", "no-id", "bad-checks"],
)
async def test_an_unreadable_answer_is_a_fly_error_and_not_retried(
    scripted: tuple[ScriptedFly, str], body: bytes, why: str
) -> None:
    with pytest.raises(FlyError) as raised:
        await list_from(scripted, Reply(body))
    assert type(raised.value) is FlyError
    assert raised.value.message.startswith("unreadable answer from Fly: ")
    assert why in raised.value.message
    assert raised.value.status_code == 200
    assert raised.value.path == LIST_PATH
    assert "s3cret" not in str(raised.value)
    assert len(scripted[0].request_lines) == 1


async def test_a_connection_lost_mid_answer_is_retried_and_read_from_scratch(
    scripted: tuple[ScriptedFly, str],
) -> None:
    whole = machines_json(30)
    cut = Reply(whole[: len(whole) // 2], length=len(whole))
    machines = await list_from(scripted, cut, Reply(whole))
    assert [m.id for m in machines] == [f"m{index:04d}" for index in range(30)]
    assert len(scripted[0].request_lines) == 2


async def test_a_connection_lost_mid_answer_every_time_is_a_connection_error(
    scripted: tuple[ScriptedFly, str],
) -> None:
    whole = machines_json(30)
    with pytest.raises(FlyConnectionError) as raised:
        await list_from(scripted, Reply(whole[:1000], length=len(whole)))
    assert raised.value.path == LIST_PATH
    assert len(scripted[0].request_lines) == FAST_RETRIES.max_attempts
