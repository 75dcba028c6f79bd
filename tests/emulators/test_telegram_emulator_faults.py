"""Failures the Telegram emulator produces on demand: flood control, injected 429 and 5xx,
slow answers, blocked users and outages, all driven through the control API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from emulators.telegram import TelegramEmulator

TOKEN = "3456789:" + "d" * 35
OTHER_TOKEN = "9876543:" + "e" * 35
ANN = {"id": 1001, "first_name": "Ann"}
GROUP = {"id": -700, "type": "group", "title": "Ops"}


@pytest.fixture
async def client(
    telegram_emulator_factory: Callable[..., Awaitable[TelegramEmulator]],
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an emulator with default (realistic) flood control, Ann and a group known."""
    emulator = await telegram_emulator_factory()
    async with httpx.AsyncClient(base_url=emulator.root_url, timeout=10) as http:
        for token in (TOKEN, OTHER_TOKEN):
            await http.post(f"/bot{token}/getMe")
            for chat in (None, GROUP):
                body: dict[str, Any] = {"from": ANN, "text": "hello", "bot": token}
                if chat is not None:
                    body["chat"] = chat
                assert (await http.post("/_emulator/updates", json=body)).status_code == 200
        yield http


async def call(
    client: httpx.AsyncClient, method: str, token: str = TOKEN, **params: Any
) -> httpx.Response:
    return await client.post(f"/bot{token}/{method}", json=params)


async def faults(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/_emulator/faults", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def statuses(client: httpx.AsyncClient, count: int, chat_id: int = 1001) -> list[int]:
    return [
        (await call(client, "sendMessage", chat_id=chat_id, text=f"n{index}")).status_code
        for index in range(count)
    ]


async def test_flood_control_starts_with_telegrams_published_limits(
    client: httpx.AsyncClient,
) -> None:
    current = (await client.get("/_emulator/faults")).json()

    assert current["flood_control"] == {
        "enabled": True,
        "private_per_second": 1.0,
        "private_burst": 5,
        "group_per_minute": 20.0,
        "group_burst": 20,
        "global_per_second": 30.0,
        "global_burst": 30,
    }


async def test_a_private_chat_allows_a_short_burst_then_answers_429(
    client: httpx.AsyncClient,
) -> None:
    await faults(client, {"flood_control": {"private_per_second": 0.001}})

    sent = await statuses(client, 5)
    limited = await call(client, "sendMessage", chat_id=1001, text="one too many")
    other_bot = await call(client, "sendMessage", token=OTHER_TOKEN, chat_id=1001, text="mine")

    assert sent == [200] * 5
    assert limited.status_code == 429
    body = limited.json()
    retry_after = body["parameters"]["retry_after"]
    assert retry_after >= 1
    assert body["description"] == f"Too Many Requests: retry after {retry_after}"
    assert other_bot.status_code == 200


async def test_a_group_takes_twenty_messages_a_minute(client: httpx.AsyncClient) -> None:
    await faults(client, {"flood_control": {"group_per_minute": 0.01}})

    sent = await statuses(client, 21, chat_id=-700)

    assert sent == [200] * 20 + [429]


async def test_the_limit_across_chats_applies_to_the_whole_bot(
    client: httpx.AsyncClient,
) -> None:
    await faults(client, {"flood_control": {"global_burst": 3, "global_per_second": 0.001}})

    sent = await statuses(client, 2) + await statuses(client, 2, chat_id=-700)

    assert sent == [200, 200, 200, 429]


async def test_flood_control_can_be_switched_off(client: httpx.AsyncClient) -> None:
    await faults(client, {"flood_control": {"enabled": False}})

    assert await statuses(client, 12) == [200] * 12


async def test_an_injected_rate_limit_hits_the_next_matching_calls_only(
    client: httpx.AsyncClient,
) -> None:
    await faults(client, {"rate_limit": {"method": "sendMessage", "count": 2, "retry_after": 7}})

    me = await call(client, "getMe")
    first, second, third = [
        await call(client, "sendMessage", chat_id=1001, text=str(n)) for n in range(3)
    ]

    assert me.status_code == 200
    assert first.status_code == second.status_code == 429
    assert first.json() == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 7",
        "parameters": {"retry_after": 7},
    }
    assert third.status_code == 200


async def test_a_fault_can_target_one_bot(client: httpx.AsyncClient) -> None:
    await faults(client, {"server_error": {"count": 1, "status": 502}, "bot": OTHER_TOKEN})

    mine = await call(client, "getMe")
    theirs = await call(client, "getMe", token=OTHER_TOKEN)

    assert mine.status_code == 200
    assert theirs.status_code == 502
    assert theirs.json() == {"ok": False, "error_code": 502, "description": "Bad Gateway"}


async def test_an_outage_fails_every_call_until_it_is_lifted(client: httpx.AsyncClient) -> None:
    await faults(client, {"down": {"status": 503}})

    during = [(await call(client, m)).status_code for m in ("getMe", "getUpdates")]
    await faults(client, {"down": False})
    after = await call(client, "getMe")

    assert during == [503, 503]
    assert after.status_code == 200


async def test_an_outage_with_seconds_ends_by_itself(client: httpx.AsyncClient) -> None:
    await faults(client, {"down": {"seconds": 0.2}})

    during = await call(client, "getMe")
    await asyncio.sleep(0.3)
    after = await call(client, "getMe")

    assert during.status_code == 502
    assert after.status_code == 200


async def test_a_disconnecting_outage_drops_connections_without_an_answer(
    client: httpx.AsyncClient,
) -> None:
    await faults(client, {"down": {"mode": "disconnect"}})

    with pytest.raises(httpx.RemoteProtocolError):
        await call(client, "sendMessage", chat_id=1001, text="lost")
    await faults(client, {"down": False})
    records = (await client.get("/_emulator/requests", params={"method": "sendMessage"})).json()

    assert records[-1]["status"] == 0
    assert records[-1]["answer"] is None
    assert [m["text"] for m in (await client.get("/_emulator/chats/1001/messages")).json()] == [
        "hello"
    ]


async def test_a_delayed_answer_still_carries_the_call_out(client: httpx.AsyncClient) -> None:
    await faults(client, {"delay": {"method": "sendMessage", "seconds": 0.5}})

    with pytest.raises(httpx.ReadTimeout):
        await client.post(
            f"/bot{TOKEN}/sendMessage", json={"chat_id": 1001, "text": "sent anyway"}, timeout=0.05
        )
    await asyncio.sleep(0.1)

    texts = [m["text"] for m in (await client.get("/_emulator/chats/1001/messages")).json()]
    assert texts == ["hello", "sent anyway"]


async def test_held_answers_come_at_once_when_released(client: httpx.AsyncClient) -> None:
    await faults(client, {"delay": {"method": "sendMessage", "count": 2, "seconds": 600}})

    held = [
        asyncio.create_task(call(client, "sendMessage", chat_id=1001, text=f"held {n}"))
        for n in range(2)
    ]
    await asyncio.sleep(0.2)
    assert not any(task.done() for task in held)
    await faults(client, {"release_delays": True})
    answers = await asyncio.wait_for(asyncio.gather(*held), 10)

    assert [answer.status_code for answer in answers] == [200, 200]
    texts = [m["text"] for m in (await client.get("/_emulator/chats/1001/messages")).json()]
    assert sorted(texts) == ["held 0", "held 1", "hello"]


async def test_a_fault_for_one_chat_leaves_the_others_alone(client: httpx.AsyncClient) -> None:
    await faults(client, {"server_error": {"method": "sendMessage", "chat_id": 1001, "count": 1}})

    elsewhere = await call(client, "sendMessage", chat_id=-700, text="not this chat")
    there = await call(client, "sendMessage", chat_id=1001, text="this chat")
    again = await call(client, "sendMessage", chat_id=1001, text="spent")

    assert [elsewhere.status_code, there.status_code, again.status_code] == [200, 500, 200]


async def test_a_blocked_user_answers_403_until_unblocked(client: httpx.AsyncClient) -> None:
    await faults(client, {"blocked_user": {"chat_id": 1001}})

    blocked = await call(client, "sendMessage", chat_id=1001, text="hi")
    typing = await call(client, "sendChatAction", chat_id=1001, action="typing")
    group = await call(client, "sendMessage", chat_id=-700, text="still fine")
    await faults(client, {"unblock_user": {"chat_id": 1001}})
    unblocked = await call(client, "sendMessage", chat_id=1001, text="hi again")

    assert blocked.status_code == 403
    assert blocked.json()["description"] == "Forbidden: bot was blocked by the user"
    assert typing.status_code == 403
    assert group.status_code == 200
    assert unblocked.status_code == 200


async def test_a_deactivated_user_answers_403(client: httpx.AsyncClient) -> None:
    await faults(client, {"deactivated_user": {"chat_id": 1001}, "bot": TOKEN})

    mine = await call(client, "sendMessage", chat_id=1001, text="hi")
    theirs = await call(client, "sendMessage", token=OTHER_TOKEN, chat_id=1001, text="hi")

    assert mine.json()["description"] == "Forbidden: user is deactivated"
    assert theirs.status_code == 200


async def test_clear_removes_every_fault_but_keeps_flood_settings(
    client: httpx.AsyncClient,
) -> None:
    await faults(
        client,
        {
            "rate_limit": {"count": 5},
            "blocked_user": {"chat_id": 1001},
            "down": {"seconds": 60},
            "flood_control": {"enabled": False},
        },
    )

    cleared = await faults(client, {"clear": True})

    assert cleared["counted"] == []
    assert cleared["blocked"] == []
    assert cleared["down"] is None
    assert cleared["flood_control"]["enabled"] is False
    assert (await call(client, "sendMessage", chat_id=1001, text="hi")).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"meteor_strike": {}},
        {"rate_limit": {"count": 0}},
        {"server_error": {"status": 404}},
        {"blocked_user": {"chat_id": "ann"}},
        {"down": {"mode": "sideways"}},
        {"flood_control": {"private_burst": -1}},
        {"flood_control": {"turbo": True}},
    ],
)
async def test_malformed_fault_requests_are_refused(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    response = await client.post("/_emulator/faults", json=body)

    assert response.status_code == 400
    assert response.json()["error"]
