"""From what a client sends (text, parse_mode, entities) to what Telegram stores.

`format_text` runs the chosen parser, resolves mentioned users, normalises entities,
trims surrounding whitespace, enforces the length limit and adds the entities Telegram
detects itself. It raises `BotApiError` with Telegram's wording and never touches state
beyond the user lookup it is given.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .entities import (
    DETECTED_TYPES,
    ENTITY_TYPES,
    Entity,
    detect_entities,
    normalise,
    sort_entities,
    strip_surrounding_whitespace,
    utf16_len,
)
from .errors import BotApiError, bad_request
from .links import checked_link
from .markup_errors import MarkupError
from .markup_html import parse_html
from .markup_markdown import parse_markdown, parse_markdown_v2

MAX_MESSAGE_LENGTH = 4096

UserLookup = Callable[[int], dict[str, Any] | None]

_PARSERS: dict[str, Callable[[str], tuple[str, list[Entity]]]] = {
    "html": parse_html,
    "markdownv2": parse_markdown_v2,
    "markdown": parse_markdown,
}


@dataclass(frozen=True)
class FormattedText:
    text: str
    entities: tuple[Entity, ...]

    def entities_json(self) -> list[dict[str, Any]]:
        return [entity.to_json() for entity in self.entities]


def _entity_error(detail: str) -> BotApiError:
    return bad_request(f"can't parse MessageEntity: {detail}")


def _int_field(item: dict[str, Any], name: str) -> int:
    value = item.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _entity_error(f'Field "{name}" must be of type Number')
    return value


def _explicit_entity(item: Any) -> Entity | None:
    if not isinstance(item, dict):
        raise _entity_error("Object expected")
    kind = item.get("type")
    if not isinstance(kind, str) or kind not in ENTITY_TYPES:
        raise _entity_error("Unsupported type specified")
    offset, length = _int_field(item, "offset"), _int_field(item, "length")
    if kind in DETECTED_TYPES:
        return None
    if kind == "text_link":
        url = item.get("url")
        checked = checked_link(url) if isinstance(url, str) else None
        if checked is None:
            raise bad_request(f"entity URL '{url}' is invalid: Wrong HTTP URL")
        return Entity(kind, offset, length, url=checked)
    if kind == "text_mention":
        user = item.get("user")
        user_id = user.get("id") if isinstance(user, dict) else None
        if isinstance(user_id, bool) or not isinstance(user_id, int):
            raise _entity_error('Field "user" must be a valid User')
        return Entity(kind, offset, length, user={"id": user_id})
    if kind == "pre":
        language = item.get("language")
        return Entity(
            kind,
            offset,
            length,
            language=language if isinstance(language, str) and language else None,
        )
    if kind == "custom_emoji":
        emoji_id = item.get("custom_emoji_id")
        if not isinstance(emoji_id, str) or not emoji_id.isdigit():
            raise bad_request("Invalid custom emoji identifier specified")
        return Entity(kind, offset, length, custom_emoji_id=emoji_id)
    if kind == "date_time":
        time_format = item.get("date_time_format")
        return Entity(
            kind,
            offset,
            length,
            unix_time=_int_field(item, "unix_time"),
            date_time_format=time_format if isinstance(time_format, str) else None,
        )
    return Entity(kind, offset, length)


def _with_users(entities: list[Entity], users: UserLookup) -> list[Entity]:
    resolved: list[Entity] = []
    for entity in entities:
        if entity.type == "text_mention" and entity.user is not None:
            user = users(int(entity.user["id"]))
            if user is None:
                raise bad_request("user not found")
            entity = Entity(entity.type, entity.offset, entity.length, user=user)
        resolved.append(entity)
    return resolved


def format_text(
    raw: str,
    parse_mode: str | None,
    explicit_entities: Any,
    users: UserLookup,
    *,
    max_length: int = MAX_MESSAGE_LENGTH,
) -> FormattedText:
    """The stored form of a message text, or the BotApiError Telegram would answer."""
    if raw == "":
        raise bad_request("message text is empty")
    mode = (parse_mode or "").lower()
    if mode in ("", "none"):
        text = raw
        entities: list[Entity] = []
        if explicit_entities is not None:
            if not isinstance(explicit_entities, list):
                raise bad_request("can't parse entities JSON object")
            for item in explicit_entities:
                entity = _explicit_entity(item)
                if entity is not None:
                    entities.append(entity)
    else:
        parser = _PARSERS.get(mode)
        if parser is None:
            raise bad_request("unsupported parse_mode")
        try:
            text, entities = parser(raw)
        except MarkupError as error:
            raise bad_request(f"can't parse entities: {error}") from None
    entities = _with_users(entities, users)
    entities = normalise(utf16_len(text), entities)
    text, entities = strip_surrounding_whitespace(text, entities)
    if not text:
        raise bad_request("message must be non-empty")
    if len(text) > max_length:
        raise bad_request("message is too long")
    return FormattedText(text, tuple(sort_entities([*entities, *detect_entities(text, entities)])))
