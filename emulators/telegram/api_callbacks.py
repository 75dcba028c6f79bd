"""answerCallbackQuery: the bot's reply to a button press.

A query can be answered once, by the bot that received it, within Telegram's answer
window; later or repeated answers get Telegram's "query is too old" error. Answers are
kept for the control API (`GET /_emulator/callback-answers`).
"""

from __future__ import annotations

from .errors import bad_request
from .links import checked_link
from .params import boolean, integer, string
from .registry import Call, bot_method

MAX_ANSWER_TEXT = 200
QUERY_INVALID = "query is too old and response timeout expired or query ID is invalid"


@bot_method(
    "answerCallbackQuery",
    string("callback_query_id", required=True, missing=QUERY_INVALID),
    string("text"),
    boolean("show_alert"),
    string("url"),
    integer("cache_time"),
)
async def answer_callback_query(call: Call) -> bool:
    world, bot, params = call.world, call.bot, call.params
    query = world.callback_queries.get(params.string("callback_query_id") or "")
    if (
        query is None
        or query.bot_id != bot.id
        or query.answered
        or world.now() - query.created_at > world.callback_answer_window
    ):
        raise bad_request(QUERY_INVALID)
    text = params.string("text") or ""
    if len(text) > MAX_ANSWER_TEXT:
        raise bad_request("MESSAGE_TOO_LONG")
    url = params.string("url")
    if url is not None:
        checked = checked_link(url)
        if checked is None or not checked.split("://", 1)[1].lower().startswith("t.me/"):
            raise bad_request("URL_INVALID")
    cache_time = params.integer("cache_time") or 0
    if cache_time < 0:
        raise bad_request("CACHE_TIME_INVALID")
    query.answered = True
    world.callback_answers.append(
        {
            "bot_id": bot.id,
            "callback_query_id": query.id,
            "chat_id": query.chat_id,
            "message_id": query.message_id,
            "data": query.data,
            "text": text or None,
            "show_alert": params.boolean("show_alert"),
            "url": url,
            "cache_time": cache_time,
            "date": world.unix_now(),
        }
    )
    return True
