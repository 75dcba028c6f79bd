"""A local Telegram Bot API server for tests, the offline demo and benchmarks.

It speaks the real wire protocol, so python-telegram-bot, grammY (OpenClaw's gateway) or
plain HTTP clients use it unchanged. It must never load anything from outside the package
at run time (the rules of the methods it implements are tables in its own code), never
call out to the network, and never import `bot`, `flyclient` or `storage`.

Running it
==========
In process::

    from emulators.telegram import TelegramEmulator, FloodLimits
    async with TelegramEmulator(host="127.0.0.1", port=0) as tg:
        tg.root_url            # "http://127.0.0.1:PORT"
        # Bot API base for python-telegram-bot: Bot(token, base_url=f"{tg.root_url}/bot")

Options: ``flood_limits=FloodLimits(enabled=False)`` (or other limits),
``callback_answer_window=15.0`` (seconds a callback query stays answerable).
Small helpers mirror the control API: ``tg.messages(chat_id, bot=None)``,
``tg.send_from_user(text, user, chat=None, bot=None)``,
``tg.press_button(user, message_id, data, chat_id=None, bot=None)``,
``tg.migrate_chat(chat_id, to_chat_id=None, bot=None)``, ``tg.requests()``,
``tg.callback_answers()``.

Command line: ``python -m emulators.telegram --port 0 [--host 127.0.0.1]
[--no-flood-control] [--callback-answer-window S]`` prints ``http://127.0.0.1:PORT`` as its
first stdout line (flushed) and serves until SIGINT/SIGTERM.

Bot API
=======
``POST`` or ``GET`` ``/bot<TOKEN>/<method>`` with a JSON, form-urlencoded or multipart body
and/or a query string. Method names are case-insensitive. Answers are Telegram's envelope:
``{"ok": true, "result": ...}`` (plus ``"description"`` where Telegram adds one, e.g.
setWebhook) or ``{"ok": false, "error_code": N, "description": "...", "parameters": {...}}``
(``parameters`` only with ``retry_after`` on 429, or ``migrate_to_chat_id`` for a group that
became a supergroup); the HTTP status equals ``error_code``.

* Tokens: any token matching ``^\\d+:[A-Za-z0-9_-]{30,}$`` is a bot of its own, whose id is
  the number before the colon; created on first use with ``first_name`` ``"Bot <id>"`` and
  ``username`` ``"bot<id>_bot"``. A malformed token, or a different secret for a known
  bot id, answers 401 ``Unauthorized``. An unknown method answers 404 ``Not Found``.
* Each bot has its own update queue, chats, message ids (per chat, shared by the user's
  and the bot's messages), commands, names and descriptions.
* Parameters are coerced as Telegram does: integers from decimal strings, booleans from
  ``true``/``false``/``1``/``0``, objects and arrays from JSON text (what
  python-telegram-bot sends in form bodies). Unknown parameters are ignored. A value of the
  wrong type answers 400 ``field "<name>" must be of type <Type>``.
* Implemented methods: getMe, getUpdates, setWebhook, deleteWebhook, getWebhookInfo,
  sendMessage, editMessageText, editMessageReplyMarkup, deleteMessage, deleteMessages,
  answerCallbackQuery, sendChatAction, getChat, setMyCommands, getMyCommands,
  deleteMyCommands, setMyName, getMyName, setMyDescription, getMyDescription,
  setMyShortDescription, getMyShortDescription, close, logOut.
* getUpdates: ``offset`` confirms earlier updates (negative keeps the last ``-offset``),
  ``limit`` is clamped to 1..100, ``timeout`` (0..50 s) long-polls until an update arrives.
  A newer getUpdates of the same bot ends a pending one with 409 ``Conflict: terminated by
  other getUpdates request; make sure that only one bot instance is running``; setWebhook
  ends it with 409 ``Conflict: terminated by setWebhook request``; while a webhook is set
  getUpdates answers 409. ``allowed_updates`` is remembered and filters updates created
  afterwards (by default everything but chat_member and reactions).
* Webhooks: setWebhook needs an https URL on port 80, 88, 443 or 8443, except that (in the
  emulator only) an ``http`` URL on a loopback host (127.0.0.1, ::1, localhost) may use any
  port. ``secret_token`` is 1..256 of ``A-Z a-z 0-9 _ -``. While a webhook is set, each
  update is POSTed to it as JSON, one at a time per bot and in order, with the header
  ``X-Telegram-Bot-Api-Secret-Token: <secret_token>`` when one was given. A 2xx answer
  confirms the update; anything else (another status, a refused connection, no answer
  within 30 s) keeps it queued, is reported by getWebhookInfo as ``last_error_date`` /
  ``last_error_message`` (``Wrong response from the webhook: 403 Forbidden``, ``Connection
  refused``, ``Read timeout expired``) and is retried after 0.05 s, doubling up to 2 s, or at
  once after a new setWebhook. The emulator never calls out to the network: a webhook on a
  non-loopback host fails every delivery with ``Failed to resolve host: Name or service not
  known`` and its updates wait (``pending_update_count``). deleteWebhook stops delivery;
  the queued updates are then for getUpdates.
* Texts: ``parse_mode`` HTML, MarkdownV2 or Markdown (case-insensitive, ``none`` allowed)
  or explicit ``entities``. The stored and returned Message carries plain ``text`` and
  ``entities`` (UTF-16 offsets), surrounding whitespace trimmed, bot commands, http(s)
  links, @mentions and #hashtags detected. Limits: 1..4096 characters after parsing
  (``message text is empty`` for an empty parameter, ``message must be non-empty`` when
  nothing is left after parsing and trimming, ``message is too long`` above 4096).
  Markup errors answer ``can't parse entities: <Telegram's parser message>`` with UTF-8
  byte offsets. A ``tg://user?id=N`` link needs a user the bot has seen.
* Inline keyboards: ``callback_data`` of 1..64 bytes (else ``BUTTON_DATA_INVALID``), every
  button needs an action; reply keyboards, removal and force-reply are accepted for
  sendMessage (edits take inline keyboards only). editMessageText without
  ``reply_markup`` removes the keyboard, as Telegram does; an edit that changes nothing
  answers ``message is not modified: ...``.
* answerCallbackQuery: once per query, within the answer window; otherwise ``query is too
  old and response timeout expired or query ID is invalid``; ``text`` up to 200 chars.
* Writing to a chat the bot has not seen: 400 ``Bad Request: chat not found``. A chat is
  seen once a user wrote from it (or it was registered with ``POST /_emulator/chats``).
* A group upgraded to a supergroup (``POST /_emulator/chats/{chat_id}/migrate``): every call
  naming the group's id (``chat_id``, a chat scope, a reply's chat) answers 400 ``Bad Request:
  group chat was upgraded to a supergroup chat`` with ``"parameters": {"migrate_to_chat_id":
  NEW}``.
* deleteMessage: in private chats any message younger than 48 h, in groups only the bot's
  own (the emulated bot is never a group admin).
* Flood control (on by default, per bot, sendMessage only): 1 message/s per private chat
  with a burst of 5, 20/min per group with a burst of 20, 30/s across chats (burst 30);
  over the limit
  answers 429 ``Too Many Requests: retry after N``.

Control API (JSON over HTTP, no auth, under ``/_emulator``)
=========================================================
Errors answer ``{"error": "..."}`` with 400 (bad input), 404 (unknown bot/chat/message) or
409 (no bot named and none has called the Bot API yet). ``bot`` (a body field or a query
parameter) names a bot by token (creating it when new) or by id; without it, the bot that
called the Bot API first is meant.

``POST /_emulator/updates``
    A user's message: ``{"from": {"id": 1001, "first_name": "Ann", "username"?,
    "last_name"?, "language_code"?}, "chat"?: {"id": 1001, "type": "private"} or
    {"id": -100, "type": "group"|"supergroup"|"channel", "title"?, "username"?},
    "text": "/pair ABC", "forward_origin"?: {MessageOrigin}, "reply_to_message_id"?: M,
    "date"?: unix, "bot"?: TOKEN}``. ``chat`` defaults to the private chat of ``from``
    (a private chat's id is its user's id; group ids are negative). Entities are computed
    (``/pair`` is a ``bot_command`` at offset 0). Answers ``{"update_id": N (null when the
    bot's allowed_updates excludes messages, or when privacy mode hides a group message from
    it), "message_id": M, "chat_id": C, "bot_id": B, "message": {...}}``. Bots are in
    privacy mode unless told otherwise (as on Telegram): in groups they get commands (not
    ``/cmd@other_bot``), messages mentioning ``@their_username`` and replies to their own
    messages only. A group upgraded to a supergroup refuses new messages (400).

    A button press: ``{"callback": {"from": {...}, "chat_id"?: C (default: from.id),
    "message_id": M, "data": "..."}, "bot"?: TOKEN}``. The message must be the bot's, not
    deleted, and carry an inline button with that ``callback_data``. Answers
    ``{"update_id": N, "callback_query_id": "...", "bot_id": B}``; the update's
    ``callback_query.message`` is the bot's stored message as it is now.
``GET /_emulator/chats/{chat_id}/messages[?bot=TOKEN]``
    The chat's messages in order, users' and the bot's: each a Bot API Message
    (``message_id``, ``from`` with ``is_bot``, ``chat``, ``date``, ``text``, ``entities``,
    ``reply_markup``, ``edit_date``, ``reply_to_message``...) plus ``edited`` (bool),
    ``deleted`` (bool, deleted messages stay listed), ``deleted_date`` and
    ``reply_keyboard`` (a reply keyboard, removal or force-reply sent with it). A service
    message has its service field (``migrate_to_chat_id``...) instead of ``text``.
    An unknown chat gives ``[]``.
``GET /_emulator/chats[?bot=TOKEN]`` / ``POST /_emulator/chats``
    List the bot's chats (with the chat actions received, and ``migrated_to_chat_id`` /
    ``migrated_from_chat_id`` for an upgraded group and its supergroup), or make a chat known
    without a message: ``{"chat": {"id": -100, "type": "group", "title": "Ops"}, "bot"?:
    TOKEN}``.
``POST /_emulator/chats/{chat_id}/migrate[?bot=TOKEN]``
    Upgrade the bot's group (type ``group`` only, else 400) to a supergroup, as Telegram does
    when a group gets some admin features or goes public: ``{"to_chat_id"?: -100…, "from"?:
    {user}, "bot"?: TOKEN}`` (all optional; an empty body will do). The new id defaults to
    -100 followed by the group id's digits zero-padded to ten (-4242 becomes -1000000004242);
    a given one must be -100 followed by digits and not a chat the bot knows. The supergroup
    (same title) is known to the bot and numbers its messages from 1; the group keeps its
    history, refuses users' messages and presses, and every Bot API call naming it answers
    Telegram's 400 with ``migrate_to_chat_id``. The bot gets two service message updates
    (whatever its privacy mode): in the group one with ``migrate_to_chat_id`` (from ``from``,
    else from ``GroupAnonymousBot`` on behalf of the group), then in the supergroup one with
    ``migrate_from_chat_id`` (from ``GroupAnonymousBot``, ``sender_chat`` the supergroup).
    Only the bot named (or the default one) sees the upgrade: chats are per bot here.
    Answers ``{"bot_id", "from_chat_id", "to_chat_id", "chat": {the supergroup},
    "update_ids": [N|null, N|null], "messages": [the two service messages]}``.
``GET /_emulator/requests[?bot=TOKEN|bot_id=N][&method=sendMessage][&since=SEQ]``
    Every Bot API call with a valid token, in order: ``{"seq", "bot_id", "method" (as in
    the URL), "http_method", "encoding": "json"|"form"|"multipart"|"query", "params"
    (JSON body as is; other encodings as {name: string}, file parts described as
    "<file NAME N bytes>"), "status", "answer" (the full envelope)}``. A call whose
    connection was dropped by a ``down`` fault has ``status`` 0 and ``answer`` null.
``GET /_emulator/callback-answers[?bot=TOKEN]``
    ``[{"bot_id", "callback_query_id", "chat_id", "message_id", "data", "text",
    "show_alert", "url", "cache_time", "date"}]``.
``GET /_emulator/bots`` / ``POST /_emulator/bots``
    List bots (id, names, webhook, pending updates, commands per scope, chats), or create
    or rename one: ``{"token": TOKEN, "first_name"?, "username"?, "privacy_mode"?: bool}``.
``POST /_emulator/faults`` (``GET`` shows the current ones); keys may be combined, each
    optionally limited to one bot with ``"bot": TOKEN`` (and a counted fault to the calls
    addressed to one chat with ``"chat_id": N`` inside it):
    ``{"rate_limit": {"method"?: "sendMessage", "count"?: 1, "retry_after"?: 1}}`` the
    next N matching calls answer 429; ``{"server_error": {"method"?, "count"?, "status"?:
    500}}`` they answer that 5xx; ``{"delay": {"method"?, "count"?, "seconds": S}}`` they
    are carried out but answered S seconds late (``{"release_delays": true}`` answers every
    call held back so far at once); ``{"blocked_user": {"chat_id": N}}`` /
    ``{"deactivated_user": {"chat_id": N}}`` writing there answers 403 ``Forbidden: bot was
    blocked by the user`` / ``Forbidden: user is deactivated`` until ``{"unblock_user":
    {"chat_id": N}}``; ``{"down": {"seconds"?: S, "mode"?: "error"|"disconnect",
    "status"?: 502}}`` every Bot API call fails (a 5xx answer, or the connection dropped
    without one) for S seconds or until ``{"down": false}``; ``{"flood_control":
    {"enabled"?: bool, "private_per_second"?, "private_burst"?, "group_per_minute"?,
    "group_burst"?, "global_per_second"?, "global_burst"?}}`` tunes flood control;
    ``{"clear": true}`` removes every fault (flood control settings stay).
``POST /_emulator/clock`` ``{"advance": seconds}``
    Moves Telegram's clock forward (message dates, the 48 h delete window, callback answer
    window, update retention).
``POST /_emulator/reset``
    Forgets every bot, chat, message, update, fault and recorded call.
``GET /_emulator/health``
    ``{"ok": true, "methods": [...]}``.
"""

from .flood import FloodLimits
from .server import TelegramEmulator

__all__ = ["FloodLimits", "TelegramEmulator"]
