"""Builds the PTB `Application` (job queue, `AIORateLimiter`) and registers every handler here.

`build_telegram` wires the handlers to the fleet service and the store and returns a
`TelegramLayer` that starts and stops it all: long polling by default, a webhook when one is
configured, the command menus, the alert delivery worker and a housekeeping job. The Bot API
server root is a setting; PTB is given `{root}/bot` and `{root}/file/bot`, and talks to it
through `AiohttpRequest` with a bounded pool. `application_builder` holds every PTB setting, so
anything that must run PTB exactly as the bot does (the benchmark's echo baseline) can use it.
This module only wires: behaviour lives in the handler modules.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    BaseUpdateProcessor,
    CallbackQueryHandler,
    ContextTypes,
    ExtBot,
    JobQueue,
    MessageHandler,
    filters,
)

from bot.fleet import FleetService, ResumedProvision
from bot.telegram import render
from bot.telegram.admin_handlers import AdminCommands
from bot.telegram.aiohttp_request import AiohttpRequest
from bot.telegram.alerts_worker import AlertWorker
from bot.telegram.auth import Authorizer
from bot.telegram.callbacks import Callbacks
from bot.telegram.confirmations import ConfirmationStore
from bot.telegram.deps import BotDeps
from bot.telegram.errors import ErrorReporter
from bot.telegram.flows import FlowStore
from bot.telegram.menus import CommandMenus
from bot.telegram.messenger import Messenger
from bot.telegram.options import BotOptions
from bot.telegram.paging import PageStore
from bot.telegram.pairing_desk import PairingDesk
from bot.telegram.people import People
from bot.telegram.rate_limit import ChatPacer, OncePerWindow, PerUserLimit, SlidingWindow
from bot.telegram.router import Router
from bot.telegram.update_order import OrderedUpdateProcessor
from bot.telegram.user_handlers import UserCommands
from bot.telegram.webhook import WebhookConfig, WebhookServer, WebhookWatch
from storage import Store

log = logging.getLogger("bot.telegram.app")

BotApplication = Application[
    ExtBot[int],  # AIORateLimiter takes int arguments
    ContextTypes.DEFAULT_TYPE,
    dict[Any, Any],
    dict[Any, Any],
    dict[Any, Any],
    JobQueue[ContextTypes.DEFAULT_TYPE],
]
BotBuilder = ApplicationBuilder[
    ExtBot[int],
    ContextTypes.DEFAULT_TYPE,
    dict[Any, Any],
    dict[Any, Any],
    dict[Any, Any],
    JobQueue[ContextTypes.DEFAULT_TYPE],
]
ALLOWED_UPDATES = ["message", "callback_query"]
# Bot API connections beyond one per update handled at once (alert worker, menus, edits).
SPARE_CONNECTIONS = 8


def quiet_library_loggers() -> None:
    """Library logs that would carry the bot token (httpx logs URLs) or message bodies (PTB at
    debug level logs whole updates, a pasted secret included) stay above those levels."""
    for name, floor in (
        ("httpx", logging.WARNING),
        ("httpcore", logging.WARNING),
        ("telegram", logging.INFO),
    ):
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < floor or logger.level == logging.NOTSET:
            logger.setLevel(floor)


@dataclass
class TelegramLayer:
    application: BotApplication
    deps: BotDeps
    worker: AlertWorker
    webhook: WebhookConfig | None = None
    requests: tuple[AiohttpRequest, ...] = ()
    admin: AdminCommands | None = None
    _webhook_server: WebhookServer | None = field(default=None, init=False)

    async def report_resumed(self, resumed: ResumedProvision) -> None:
        """Tell the admin who asked how a provisioning resumed after a restart ended."""
        if self.admin is not None:
            await self.admin.report_resumed(resumed)

    async def start(self) -> None:
        app = self.application
        await app.initialize()
        try:
            await self.deps.menus.install()
        except TelegramError as error:
            log.warning("command menus not installed: %s", error)
        await app.start()
        if self.webhook is None:
            assert app.updater is not None
            await app.updater.start_polling(
                poll_interval=0,
                timeout=int(self.deps.options.poll_timeout_s),
                allowed_updates=ALLOWED_UPDATES,
            )
        else:
            await self._start_webhook(self.webhook)
        self.worker.start()

    async def _start_webhook(self, webhook: WebhookConfig) -> None:
        """Listen first (Telegram delivers as soon as the webhook is set), register the URL
        with our secret, then check what Telegram registered, now and every few minutes."""
        app = self.application
        self._webhook_server = WebhookServer(webhook, app.bot, app.update_queue)
        await self._webhook_server.start()
        watch = WebhookWatch(webhook, app.bot, self.deps.store)
        watch.registered_at = datetime.now(UTC).replace(microsecond=0)
        await app.bot.set_webhook(
            webhook.url, secret_token=webhook.secret, allowed_updates=ALLOWED_UPDATES
        )
        await watch.check()

        async def check_webhook(context: ContextTypes.DEFAULT_TYPE) -> None:
            try:
                await watch.check()
            except TelegramError as error:
                log.warning("could not check the webhook with Telegram: %s", error)

        interval = self.deps.options.webhook_check_interval_s
        assert app.job_queue is not None
        app.job_queue.run_repeating(
            check_webhook, interval=interval, first=interval, name="webhook-check"
        )

    async def stop(self) -> None:
        app = self.application
        await self.worker.stop()
        if self._webhook_server is not None:
            await self._webhook_server.stop()
            self._webhook_server = None
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        if app.running:
            await app.stop()
        await app.shutdown()
        # PTB closes its requests only if it got initialized; a start that failed (Telegram
        # unreachable) would leave their sessions open.
        for request in self.requests:
            await request.shutdown()

    @property
    def webhook_port(self) -> int | None:
        return None if self._webhook_server is None else self._webhook_server.port


def bot_api_requests(options: BotOptions) -> tuple[AiohttpRequest, AiohttpRequest]:
    """(Bot API calls, long polling): what PTB sends its requests through."""
    # At most one call per update handled at once (both lanes), plus a few for the alert worker,
    # the menus and progress edits; the bound keeps a burst from opening hundreds of them.
    calls = AiohttpRequest(
        options.concurrent_updates + options.admin_concurrent_updates + SPARE_CONNECTIONS,
        read_timeout=options.bot_api_read_timeout_s,
    )
    # Long polling is one request at a time.
    return calls, AiohttpRequest(1)


def application_builder(
    *,
    token: str,
    api_root: str,
    options: BotOptions,
    requests: tuple[AiohttpRequest, AiohttpRequest] | None = None,
    update_processor: BaseUpdateProcessor | None = None,
) -> BotBuilder:
    """PTB's builder with every setting the bot runs with, before any handler is added.

    Without `update_processor` PTB's own runs `concurrent_updates` at once in no order (the
    benchmark's echo baseline measures that); the bot passes its `OrderedUpdateProcessor`.
    """
    root = api_root.rstrip("/")
    calls, polling = requests or bot_api_requests(options)
    return (
        Application.builder()
        .token(token)
        .base_url(f"{root}/bot")
        .base_file_url(f"{root}/file/bot")
        .request(calls)
        .get_updates_request(polling)
        .rate_limiter(
            AIORateLimiter(
                overall_max_rate=options.overall_requests_per_second,
                overall_time_period=1,
                max_retries=options.rate_limiter_max_retries,
            )
        )
        .concurrent_updates(update_processor or options.concurrent_updates)
    )


def build_telegram(
    *,
    token: str,
    api_root: str,
    admin_ids: Iterable[int],
    ops_chat_id: int,
    service: FleetService,
    store: Store,
    options: BotOptions | None = None,
    webhook: WebhookConfig | None = None,
) -> TelegramLayer:
    options = options or BotOptions()
    quiet_library_loggers()
    requests = bot_api_requests(options)
    admins = tuple(admin_ids)
    # Each person's updates in Telegram's order; admins in a lane of their own.
    processor = OrderedUpdateProcessor(
        general=options.concurrent_updates,
        admin=options.admin_concurrent_updates,
        admin_ids=admins,
    )
    application = application_builder(
        token=token,
        api_root=api_root,
        options=options,
        requests=requests,
        update_processor=processor,
    ).build()
    pages = PageStore(options.page_ttl_s)
    messenger = Messenger(
        application.bot,
        store,
        ops_chat_id,
        SlidingWindow(options.ops_messages_per_window, options.ops_window_s),
        pages,
        ChatPacer(options.private_messages_per_second, options.private_burst),
    )
    deps = BotDeps(
        service=service,
        store=store,
        options=options,
        auth=Authorizer(admins, store),
        messenger=messenger,
        menus=CommandMenus(application.bot, admins, ops_chat_id),
        people=People(),
        flows=FlowStore(options.flow_ttl_s),
        confirmations=ConfirmationStore(options.confirmation_ttl_s),
        pages=pages,
        pairing_limit=PerUserLimit(options.pairing_attempts_per_window, options.pairing_window_s),
        refusals=OncePerWindow(options.refusal_window_s),
        alerts_due=asyncio.Event(),
    )
    desk = PairingDesk(deps)
    admin = AdminCommands(deps, desk)
    users = UserCommands(deps)
    router = Router(deps, admin, users)
    callbacks = Callbacks(deps, desk, admin)

    only_messages = filters.UpdateType.MESSAGE
    application.add_handler(MessageHandler(filters.COMMAND & only_messages, router.on_command))
    application.add_handler(
        MessageHandler(filters.TEXT & ~filters.COMMAND & only_messages, router.on_text)
    )
    application.add_handler(CallbackQueryHandler(callbacks.on_press))

    async def on_chat_moved(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        # Telegram's own notice of a group becoming a supergroup; without it the bot learns
        # of the move from the first call the old id refuses (and still follows it then).
        message = update.effective_message
        if message is None:
            return
        if message.migrate_to_chat_id:
            await messenger.follow_chat_move(message.chat.id, message.migrate_to_chat_id)
        elif message.migrate_from_chat_id:
            await messenger.follow_chat_move(message.migrate_from_chat_id, message.chat.id)

    application.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, on_chat_moved))
    application.add_error_handler(ErrorReporter(messenger, store))

    async def housekeeping(context: ContextTypes.DEFAULT_TYPE) -> None:
        deps.prune()
        for request in await service.expire_stale_pairing_requests():
            await desk.tell_submitter(request, render.USER_EXPIRED_WORDS)

    assert application.job_queue is not None
    application.job_queue.run_repeating(
        housekeeping,
        interval=options.housekeeping_interval_s,
        first=options.housekeeping_interval_s,
        name="housekeeping",
    )
    return TelegramLayer(application, deps, AlertWorker(deps), webhook, requests, admin)
