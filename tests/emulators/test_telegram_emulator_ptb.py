"""python-telegram-bot 22 against the Telegram emulator: the real library, unmodified, over
loopback HTTP (`base_url=f"{root}/bot"`), polling, replying, pressing buttons, retrying 429s."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden
from telegram.ext import (
    AIORateLimiter,
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ExtBot,
)

from emulators.telegram import TelegramEmulator

TOKEN = "4567890:" + "f" * 35
ANN = {"id": 1001, "first_name": "Ann"}

EmulatorFactory = Callable[..., Awaitable[TelegramEmulator]]


async def control(emulator: TelegramEmulator, path: str, body: dict[str, Any]) -> Any:
    async with httpx.AsyncClient(base_url=emulator.root_url) as http:
        response = await http.post(path, json=body)
        assert response.status_code == 200, response.text
        return response.json()


async def wait_for(condition: Callable[[], bool]) -> None:
    """Wait (bounded) for something the bot does in the background."""
    async with asyncio.timeout(10):
        while not condition():
            await asyncio.sleep(0.02)


async def test_a_bot_sends_edits_and_deletes_html_messages_with_keyboards(
    telegram_emulator_factory: EmulatorFactory,
) -> None:
    emulator = await telegram_emulator_factory()
    await control(emulator, "/_emulator/updates", {"from": ANN, "text": "hi", "bot": TOKEN})
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Approve", callback_data="approve:1")]])

    async with Bot(TOKEN, base_url=f"{emulator.root_url}/bot") as bot:
        me = await bot.get_me()
        sent = await bot.send_message(
            1001,
            "<b>Pairing</b> for 😀 <code>ABCD2345</code>",
            parse_mode=ParseMode.HTML,
            reply_markup=keyboard,
        )
        edited = await bot.edit_message_text("Approved ✓", chat_id=1001, message_id=sent.message_id)
        assert isinstance(edited, Message)
        with pytest.raises(BadRequest, match="not modified"):
            await bot.edit_message_text("Approved ✓", chat_id=1001, message_id=sent.message_id)
        deleted_user_message = await bot.delete_message(1001, 1)

    assert (me.id, me.is_bot, me.username) == (4567890, True, "bot4567890_bot")
    assert sent.text == "Pairing for 😀 ABCD2345"
    assert [(e.type, e.offset, e.length) for e in sent.entities] == [
        ("bold", 0, 7),
        ("code", 15, 8),
    ]
    assert sent.reply_markup == keyboard
    assert edited.text == "Approved ✓"
    assert edited.edit_date is not None
    assert deleted_user_message is True
    history = emulator.messages(1001)
    assert [(m["text"], m["deleted"], m["edited"]) for m in history] == [
        ("hi", True, False),
        ("Approved ✓", False, True),
    ]
    encodings = {r["encoding"] for r in emulator.requests() if r["method"] != "getMe"}
    assert encodings == {"form"}


async def test_command_menus_are_set_per_scope_through_the_library(
    telegram_emulator_factory: EmulatorFactory,
) -> None:
    emulator = await telegram_emulator_factory()
    await control(emulator, "/_emulator/updates", {"from": ANN, "text": "hi", "bot": TOKEN})

    async with Bot(TOKEN, base_url=f"{emulator.root_url}/bot") as bot:
        await bot.set_my_commands([BotCommand("start", "Start"), BotCommand("pair", "Pair")])
        await bot.set_my_commands(
            [BotCommand("fleet", "Fleet")], scope=BotCommandScopeChat(1001), language_code="en"
        )
        await bot.set_my_commands(
            [BotCommand("help", "Help")], scope=BotCommandScopeAllPrivateChats()
        )
        default = await bot.get_my_commands()
        chat = await bot.get_my_commands(scope=BotCommandScopeChat(1001), language_code="en")
        await bot.delete_my_commands(scope=BotCommandScopeAllPrivateChats())
        private = await bot.get_my_commands(scope=BotCommandScopeAllPrivateChats())

    assert [c.command for c in default] == ["start", "pair"]
    assert [c.command for c in chat] == ["fleet"]
    assert private == ()


async def test_telegram_errors_reach_the_library_as_its_exceptions(
    telegram_emulator_factory: EmulatorFactory,
) -> None:
    emulator = await telegram_emulator_factory()
    await control(emulator, "/_emulator/updates", {"from": ANN, "text": "hi", "bot": TOKEN})
    await control(emulator, "/_emulator/faults", {"blocked_user": {"chat_id": 1001}})

    async with Bot(TOKEN, base_url=f"{emulator.root_url}/bot") as bot:
        with pytest.raises(BadRequest, match=r"[Cc]hat not found"):
            await bot.send_message(999, "nobody")
        with pytest.raises(Forbidden, match="blocked by the user"):
            await bot.send_message(1001, "blocked")


# PTB's own rate limiter reads RetryAfter.retry_after, which PTB itself flags as deprecated.
@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_the_rate_limiter_waits_out_a_429_and_retries(
    telegram_emulator_factory: EmulatorFactory,
) -> None:
    emulator = await telegram_emulator_factory()
    await control(emulator, "/_emulator/updates", {"from": ANN, "text": "hi", "bot": TOKEN})
    await control(
        emulator,
        "/_emulator/faults",
        {"rate_limit": {"method": "sendMessage", "count": 1, "retry_after": 1}},
    )

    bot = ExtBot(
        TOKEN,
        base_url=f"{emulator.root_url}/bot",
        rate_limiter=AIORateLimiter(max_retries=2),
    )
    async with bot:
        sent = await bot.send_message(1001, "delivered after the wait")

    assert sent.text == "delivered after the wait"
    attempts = [r["status"] for r in emulator.requests(method="sendMessage")]
    assert attempts == [429, 200]


async def test_an_application_polls_replies_and_answers_button_presses(
    telegram_emulator_factory: EmulatorFactory,
) -> None:
    emulator = await telegram_emulator_factory()
    pressed = asyncio.Event()

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_html(
            "<b>Welcome</b>, pick one:",
            reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("Go", callback_data="go")]]),
        )

    async def on_press(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        await query.answer("Going")
        await query.edit_message_text(f"Chose {query.data}")
        pressed.set()

    application = (
        Application.builder()
        .token(TOKEN)
        .base_url(f"{emulator.root_url}/bot")
        .rate_limiter(AIORateLimiter(max_retries=1))
        .build()
    )
    application.add_handler(CommandHandler("start", start))
    application.add_handler(CallbackQueryHandler(on_press))

    async with application:
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(poll_interval=0, timeout=5)
        await control(emulator, "/_emulator/updates", {"from": ANN, "text": "/start"})
        await wait_for(lambda: len(emulator.messages(1001)) == 2)
        menu = emulator.messages(1001)[1]
        await control(
            emulator,
            "/_emulator/updates",
            {"callback": {"from": ANN, "message_id": menu["message_id"], "data": "go"}},
        )
        async with asyncio.timeout(10):
            await pressed.wait()
        await application.updater.stop()
        await application.stop()

    assert menu["text"] == "Welcome, pick one:"
    assert menu["entities"] == [{"type": "bold", "offset": 0, "length": 7}]
    assert menu["reply_markup"] == {"inline_keyboard": [[{"text": "Go", "callback_data": "go"}]]}
    assert emulator.messages(1001)[1]["text"] == "Chose go"
    answers = emulator.callback_answers()
    assert [(a["text"], a["data"]) for a in answers] == [("Going", "go")]
    polls = [r for r in emulator.requests(method="getUpdates") if r["status"] == 200]
    assert any(r["answer"]["result"] for r in polls)
    assert {r["encoding"] for r in polls} == {"form"}
