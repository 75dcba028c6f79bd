"""The bot's Bot API transport (`AiohttpRequest`) under real PTB against the Telegram emulator.

Each test drives a real `telegram.Bot` over loopback HTTP: what reaches the server (form fields,
multipart files), and how a dead server, a slow answer and a closed session surface to PTB.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from telegram import Bot
from telegram.error import NetworkError, TimedOut

from bot.telegram.aiohttp_request import AiohttpRequest
from emulators.telegram import TelegramEmulator

TOKEN = "5550002:AAtransportTokenForTheRequestTests_xyz"
USER: dict[str, Any] = {"id": 2101, "first_name": "Ria"}


def ptb_bot(root_url: str, request: AiohttpRequest | None = None) -> Bot:
    return Bot(
        TOKEN,
        base_url=f"{root_url}/bot",
        base_file_url=f"{root_url}/file/bot",
        request=request or AiohttpRequest(4),
        get_updates_request=AiohttpRequest(1),
    )


@pytest.fixture
async def tg(
    telegram_emulator_factory: Callable[..., Awaitable[TelegramEmulator]],
) -> TelegramEmulator:
    return await telegram_emulator_factory()


async def test_calls_go_out_as_form_fields_and_files_as_multipart(tg: TelegramEmulator) -> None:
    tg.send_from_user("hello", USER, bot=TOKEN)
    async with ptb_bot(tg.root_url) as bot:
        updates = await bot.get_updates(timeout=0)
        sent = await bot.send_message(USER["id"], "<b>hi</b> there", parse_mode="HTML")
        await bot.set_webhook(
            "https://bot.example.com/hook", certificate=b"-----BEGIN CERTIFICATE-----\n"
        )

    assert [u.message.text for u in updates if u.message] == ["hello"]
    assert sent.text == "hi there" and sent.chat.id == USER["id"]
    calls = {r["method"].lower(): r for r in tg.requests()}
    assert calls["sendmessage"]["encoding"] == "form"
    assert calls["sendmessage"]["params"]["text"] == "<b>hi</b> there"
    assert calls["setwebhook"]["encoding"] == "multipart"
    assert calls["setwebhook"]["params"]["certificate"].startswith("<file ")
    assert calls["setwebhook"]["status"] == 200


async def test_a_server_that_cannot_be_reached_is_a_network_error_without_the_token() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    # Nothing listens there any more: the connection is refused.
    calls, polling = AiohttpRequest(1), AiohttpRequest(1)
    bot = Bot(
        TOKEN, base_url=f"http://127.0.0.1:{port}/bot", request=calls, get_updates_request=polling
    )
    try:
        with pytest.raises(NetworkError) as raised:
            await bot.initialize()
    finally:
        # PTB shuts a bot's requests down only once it got initialized.
        await calls.shutdown()
        await polling.shutdown()

    assert not isinstance(raised.value, TimedOut)
    assert "aiohttp.ClientConnectorError" in str(raised.value)
    assert TOKEN.split(":")[1] not in str(raised.value)


async def test_an_answer_later_than_the_read_timeout_is_timed_out(tg: TelegramEmulator) -> None:
    fault = {"delay": {"method": "getMe", "count": 1, "seconds": 1.0}}
    async with ptb_bot(tg.root_url, AiohttpRequest(2, read_timeout=0.1)) as bot:
        async with httpx.AsyncClient(base_url=tg.root_url) as control:
            answer = await control.post("/_emulator/faults", json={**fault, "bot": TOKEN})
            assert answer.status_code == 200, answer.text
        with pytest.raises(TimedOut):
            await bot.get_me()
        # The next call is answered at once and goes through.
        assert (await bot.get_me()).id == 5550002


async def test_a_request_after_shutdown_is_refused_and_shutdown_twice_is_harmless(
    tg: TelegramEmulator,
) -> None:
    request = AiohttpRequest(1)
    await request.initialize()
    await request.shutdown()
    await request.shutdown()
    with pytest.raises(NetworkError, match="not initialized"):
        await request.post(f"{tg.root_url}/bot{TOKEN}/getMe")
    # Initialized again, it works again (PTB may initialize a shut-down bot anew).
    async with request:
        answer = await request.post(f"{tg.root_url}/bot{TOKEN}/getMe")
    assert isinstance(answer, dict) and answer["id"] == 5550002


async def test_more_calls_at_once_than_connections_wait_their_turn_and_all_succeed(
    tg: TelegramEmulator,
) -> None:
    async with ptb_bot(tg.root_url, AiohttpRequest(2)) as bot:
        names = await asyncio.gather(*(bot.get_my_name() for _ in range(12)))

    assert len(names) == 12 and len({name.name for name in names}) == 1
    assert len(tg.requests("getMyName")) == 12
