"""Bot API methods on messages and chats: send, edit, delete, chat actions, getChat.

Each handler checks what Telegram checks, in the order Telegram reveals (markup before
the chat, the chat before flood control), and stores the result in the chat's history.
Flood control counts message sends only. Handlers never speak HTTP.
"""

from __future__ import annotations

from typing import Any

from .errors import bad_request, too_many_requests
from .formatting import FormattedText, format_text
from .keyboards import parse_edit_markup, parse_reply_markup
from .params import (
    Params,
    boolean,
    chat_id,
    coerce_chat_id,
    integer,
    json_value,
    string,
)
from .registry import Call, bot_method
from .state import BotState, ChatState, StoredMessage
from .world import World

DELETE_WINDOW_SECONDS = 48 * 3600
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "record_audio",
        "upload_audio",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
        "cancel",
    }
)
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
_MARKUP_UNPARSABLE = "can't parse reply keyboard markup JSON object"


def _formatted(call: Call) -> FormattedText:
    params = call.params
    return format_text(
        params.string("text") or "",
        params.string("parse_mode"),
        params.json("entities") if params.has("entities") else None,
        lambda user_id: call.world.known_user(call.bot, user_id),
    )


def _reply_target(params: Params) -> tuple[int, int | str | None, bool, str | None] | None:
    """(message_id, chat, allow_sending_without_reply, quote) from either reply form."""
    raw = params.json("reply_parameters")
    if raw is None:
        message_id = params.integer("reply_to_message_id")
        if message_id is None:
            return None
        return message_id, None, params.boolean("allow_sending_without_reply"), None
    if not isinstance(raw, dict):
        raise bad_request("can't parse reply parameters JSON object")
    message_id = raw.get("message_id")
    if isinstance(message_id, str) and message_id.isdigit():
        message_id = int(message_id)
    if isinstance(message_id, bool) or not isinstance(message_id, int):
        raise bad_request(
            'can\'t parse ReplyParameters: Field "message_id" must be of type Integer'
        )
    chat = coerce_chat_id(raw["chat_id"]) if raw.get("chat_id") not in (None, "") else None
    allow = raw.get("allow_sending_without_reply") in (True, "true")
    quote = raw.get("quote")
    return message_id, chat, allow, quote if isinstance(quote, str) and quote else None


def _replied_message(
    world: World, bot: BotState, state: ChatState, params: Params
) -> StoredMessage | None:
    target = _reply_target(params)
    if target is None:
        return None
    message_id, chat_reference, allow_without, quote = target
    source = state if chat_reference is None else world.chat_of(bot, chat_reference)
    replied = source.live(message_id)
    if replied is None:
        if allow_without:
            return None
        raise bad_request("message to be replied not found")
    if quote is not None and quote not in replied.text:
        raise bad_request("QUOTE_TEXT_INVALID")
    return replied


def _link_preview_options(params: Params) -> dict[str, Any] | None:
    raw = params.json("link_preview_options")
    if raw is None:
        return {"is_disabled": True} if params.boolean("disable_web_page_preview") else None
    if not isinstance(raw, dict):
        raise bad_request("can't parse link preview options JSON object")
    return dict(raw) or None


@bot_method(
    "sendMessage",
    chat_id(),
    string("text", required=True, missing="message text is empty"),
    string("parse_mode"),
    json_value("entities", unparsable="can't parse entities JSON object"),
    json_value("link_preview_options"),
    boolean("disable_web_page_preview"),
    boolean("disable_notification"),
    boolean("protect_content"),
    boolean("allow_paid_broadcast"),
    string("message_effect_id"),
    json_value("reply_parameters", unparsable="can't parse reply parameters JSON object"),
    integer("reply_to_message_id"),
    boolean("allow_sending_without_reply"),
    json_value("reply_markup", unparsable=_MARKUP_UNPARSABLE),
    integer("message_thread_id"),
    integer("direct_messages_topic_id"),
    string("business_connection_id"),
    json_value("suggested_post_parameters"),
)
async def send_message(call: Call) -> dict[str, Any]:
    world, bot, params = call.world, call.bot, call.params
    formatted = _formatted(call)
    markup = parse_reply_markup(params.json("reply_markup"))
    link_preview = _link_preview_options(params)
    if params.has("business_connection_id"):
        raise bad_request("business connection not found")
    if params.has("message_effect_id"):
        raise bad_request("EFFECT_ID_INVALID")
    state = world.chat_of(bot, params.chat_id() or 0)
    world.ensure_writable(bot, state)
    replied = _replied_message(world, bot, state, params)
    retry_after = world.flood.admit(bot.id, state.chat.id, state.chat.is_private, world.monotonic())
    if retry_after is not None:
        raise too_many_requests(retry_after)
    message = state.add(bot.user, world.unix_now(), formatted.text, formatted.entities_json())
    if markup is not None:
        message.reply_markup = markup.inline_keyboard
        message.keyboard = None if markup.kind == "inline" else markup.value
    message.reply_to = replied
    message.protected = params.boolean("protect_content")
    message.link_preview_options = link_preview
    return message.to_json()


def _message_to_edit(call: Call) -> tuple[ChatState, StoredMessage]:
    world, bot, params = call.world, call.bot, call.params
    if params.has("inline_message_id"):
        raise bad_request("MESSAGE_ID_INVALID")
    reference = params.chat_id()
    if reference is None:
        raise bad_request("chat_id is empty")
    message_id = params.integer("message_id")
    if message_id is None:
        raise bad_request("message identifier is not specified")
    state = world.chat_of(bot, reference)
    message = state.live(message_id)
    if message is None:
        raise bad_request("message to edit not found")
    if message.sender.id != bot.id:
        raise bad_request("message can't be edited")
    world.ensure_writable(bot, state)
    return state, message


@bot_method(
    "editMessageText",
    chat_id(required=False),
    integer("message_id"),
    string("inline_message_id"),
    string("text", required=True, missing="message text is empty"),
    string("parse_mode"),
    json_value("entities", unparsable="can't parse entities JSON object"),
    json_value("link_preview_options"),
    json_value("reply_markup", unparsable=_MARKUP_UNPARSABLE),
    string("business_connection_id"),
)
async def edit_message_text(call: Call) -> dict[str, Any]:
    formatted = _formatted(call)
    markup = parse_edit_markup(call.params.json("reply_markup"))
    _, message = _message_to_edit(call)
    entities = formatted.entities_json()
    text_changed = message.text != formatted.text or message.entities != entities
    if not text_changed and message.reply_markup == markup:
        raise bad_request(NOT_MODIFIED)
    if text_changed:
        message.text, message.entities = formatted.text, entities
        message.edit_date = call.world.unix_now()
    message.reply_markup = markup
    return message.to_json()


@bot_method(
    "editMessageReplyMarkup",
    chat_id(required=False),
    integer("message_id"),
    string("inline_message_id"),
    json_value("reply_markup", unparsable=_MARKUP_UNPARSABLE),
    string("business_connection_id"),
)
async def edit_message_reply_markup(call: Call) -> dict[str, Any]:
    markup = parse_edit_markup(call.params.json("reply_markup"))
    _, message = _message_to_edit(call)
    if message.reply_markup == markup:
        raise bad_request(NOT_MODIFIED)
    message.reply_markup = markup
    return message.to_json()


def _deletable(world: World, bot: BotState, state: ChatState, message: StoredMessage) -> bool:
    if world.now() - message.date >= DELETE_WINDOW_SECONDS:
        return False
    # In groups the emulated bot is never an admin: it may delete its own messages only.
    return state.chat.is_private or message.sender.id == bot.id


def _delete(world: World, message: StoredMessage) -> None:
    message.deleted = True
    message.deleted_date = world.unix_now()


@bot_method(
    "deleteMessage",
    chat_id(),
    integer("message_id", required=True, missing="message identifier is not specified"),
)
async def delete_message(call: Call) -> bool:
    world, bot, params = call.world, call.bot, call.params
    state = world.chat_of(bot, params.chat_id() or 0)
    message = state.live(params.integer("message_id") or 0)
    if message is None:
        raise bad_request("message to delete not found")
    if not _deletable(world, bot, state, message):
        raise bad_request("message can't be deleted")
    _delete(world, message)
    return True


@bot_method(
    "deleteMessages",
    chat_id(),
    json_value("message_ids", required=True, missing="message identifiers are not specified"),
)
async def delete_messages(call: Call) -> bool:
    world, bot, params = call.world, call.bot, call.params
    message_ids = params.json("message_ids")
    if (
        not isinstance(message_ids, list)
        or not message_ids
        or not all(isinstance(item, int) and not isinstance(item, bool) for item in message_ids)
    ):
        raise bad_request("message identifiers are not specified")
    if len(message_ids) > 100:
        raise bad_request("too many message identifiers specified")
    state = world.chat_of(bot, params.chat_id() or 0)
    for message_id in message_ids:
        message = state.live(message_id)
        if message is not None and _deletable(world, bot, state, message):
            _delete(world, message)
    return True


@bot_method(
    "sendChatAction",
    string("action", required=True, missing="wrong parameter action in request"),
    chat_id(),
    integer("message_thread_id"),
    string("business_connection_id"),
)
async def send_chat_action(call: Call) -> bool:
    world, bot, params = call.world, call.bot, call.params
    action = (params.string("action") or "").lower()
    if action not in CHAT_ACTIONS:
        raise bad_request("wrong parameter action in request")
    state = world.chat_of(bot, params.chat_id() or 0)
    world.ensure_writable(bot, state)
    state.actions.append({"action": action, "date": world.unix_now()})
    return True


@bot_method("getChat", chat_id())
async def get_chat(call: Call) -> dict[str, Any]:
    return call.world.chat_of(call.bot, call.params.chat_id() or 0).chat.full_info()
