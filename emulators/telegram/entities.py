"""Message entities the way Telegram stores them: UTF-16 offsets, normalisation, detection.

A parsed or client-supplied list of entities goes through the same steps Telegram applies
before it stores a message: clipping to the text, dropping what code/pre may not contain,
merging touching style entities, trimming surrounding whitespace and detecting commands,
links, mentions and hashtags. This module never parses markup and never touches HTTP.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

# Style entities may be cut in pieces (around code, for instance); the others are atomic.
SPLITTABLE_TYPES = frozenset({"bold", "italic", "underline", "strikethrough", "spoiler"})
CODE_TYPES = frozenset({"code", "pre"})
QUOTE_TYPES = frozenset({"blockquote", "expandable_blockquote"})
# Types Telegram finds in the text itself; a client cannot impose them.
DETECTED_TYPES = frozenset(
    {"mention", "hashtag", "cashtag", "bot_command", "url", "email", "phone_number"}
)
ENTITY_TYPES = frozenset(
    DETECTED_TYPES
    | SPLITTABLE_TYPES
    | CODE_TYPES
    | QUOTE_TYPES
    | {"text_link", "text_mention", "custom_emoji", "date_time", "bank_card"}
)

# Telegram's ordering among entities that share offset and length (lower first).
_TYPE_PRIORITY = {
    "blockquote": 0,
    "expandable_blockquote": 0,
    "pre": 11,
    "code": 20,
    "text_link": 49,
    "text_mention": 49,
    "bold": 90,
    "italic": 91,
    "underline": 92,
    "strikethrough": 93,
    "spoiler": 94,
    "custom_emoji": 99,
}
_DEFAULT_PRIORITY = 50


@dataclass(frozen=True)
class Entity:
    """One MessageEntity; offsets and lengths count UTF-16 code units."""

    type: str
    offset: int
    length: int
    url: str | None = None
    language: str | None = None
    user: dict[str, Any] | None = None
    custom_emoji_id: str | None = None
    unix_time: int | None = None
    date_time_format: str | None = None

    @property
    def end(self) -> int:
        return self.offset + self.length

    def at(self, offset: int, length: int) -> Entity:
        return dataclasses.replace(self, offset=offset, length=length)

    def to_json(self) -> dict[str, Any]:
        answer: dict[str, Any] = {"type": self.type, "offset": self.offset, "length": self.length}
        if self.url is not None:
            answer["url"] = self.url
        if self.user is not None:
            answer["user"] = dict(self.user)
        if self.language is not None:
            answer["language"] = self.language
        if self.custom_emoji_id is not None:
            answer["custom_emoji_id"] = self.custom_emoji_id
        if self.unix_time is not None:
            answer["unix_time"] = self.unix_time
        if self.date_time_format is not None:
            answer["date_time_format"] = self.date_time_format
        return answer


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def utf16_units(char: str) -> int:
    return 2 if ord(char) > 0xFFFF else 1


def utf16_prefix(text: str) -> list[int]:
    """`prefix[i]` is the UTF-16 offset of `text[i]`; `prefix[len(text)]` the total length."""
    prefix = [0] * (len(text) + 1)
    for index, char in enumerate(text):
        prefix[index + 1] = prefix[index] + utf16_units(char)
    return prefix


def _sort_key(entity: Entity) -> tuple[int, int, int]:
    priority = _TYPE_PRIORITY.get(entity.type, _DEFAULT_PRIORITY)
    if entity.type == "pre" and entity.language:
        priority = 10
    return (entity.offset, -entity.length, priority)


def sort_entities(entities: Iterable[Entity]) -> list[Entity]:
    return sorted(entities, key=_sort_key)


def _overlaps(entity: Entity, start: int, end: int) -> bool:
    return entity.offset < end and start < entity.end


def _subtract(entity: Entity, holes: Sequence[tuple[int, int]]) -> list[Entity]:
    pieces = [(entity.offset, entity.end)]
    for hole_start, hole_end in holes:
        next_pieces: list[tuple[int, int]] = []
        for start, end in pieces:
            if hole_end <= start or end <= hole_start:
                next_pieces.append((start, end))
                continue
            if start < hole_start:
                next_pieces.append((start, hole_start))
            if hole_end < end:
                next_pieces.append((hole_end, end))
        pieces = next_pieces
    return [entity.at(start, end - start) for start, end in pieces if end > start]


def _merge_touching(entities: list[Entity]) -> list[Entity]:
    by_type: dict[str, list[Entity]] = {}
    for entity in entities:
        by_type.setdefault(entity.type, []).append(entity)
    merged: list[Entity] = []
    for same_type in by_type.values():
        same_type.sort(key=lambda entity: entity.offset)
        current = same_type[0]
        for entity in same_type[1:]:
            if entity.offset <= current.end:
                current = current.at(current.offset, max(current.end, entity.end) - current.offset)
            else:
                merged.append(current)
                current = entity
        merged.append(current)
    return merged


def normalise(text_length: int, entities: Iterable[Entity]) -> list[Entity]:
    """Clip, drop what code/pre cannot contain, merge touching styles and sort."""
    clipped: list[Entity] = []
    for entity in entities:
        if entity.offset < 0 or entity.offset >= text_length:
            continue
        length = min(entity.length, text_length - entity.offset)
        if length > 0:
            clipped.append(entity.at(entity.offset, length))

    code_blocks: list[Entity] = []
    for entity in sort_entities(e for e in clipped if e.type in CODE_TYPES):
        if not any(_overlaps(entity, kept.offset, kept.end) for kept in code_blocks):
            code_blocks.append(entity)
    holes = [(block.offset, block.end) for block in code_blocks]

    styles: list[Entity] = []
    others: list[Entity] = list(code_blocks)
    for entity in clipped:
        if entity.type in CODE_TYPES:
            continue
        if entity.type in QUOTE_TYPES:
            others.append(entity)
        elif entity.type in SPLITTABLE_TYPES:
            styles.extend(_subtract(entity, holes))
        elif not any(_overlaps(entity, start, end) for start, end in holes):
            others.append(entity)
    if styles:
        styles = _merge_touching(styles)
    return sort_entities([*others, *styles])


def strip_surrounding_whitespace(text: str, entities: list[Entity]) -> tuple[str, list[Entity]]:
    """Drop leading and trailing whitespace as Telegram does, moving entities with the text."""
    stripped = text.strip()
    if stripped == text:
        return text, entities
    if not stripped:
        return "", []
    lead = utf16_len(text[: len(text) - len(text.lstrip())])
    new_length = utf16_len(stripped)
    moved: list[Entity] = []
    for entity in entities:
        start = max(entity.offset - lead, 0)
        end = min(entity.end - lead, new_length)
        if end > start:
            moved.append(entity.at(start, end - start))
    return stripped, moved


_BOT_COMMAND = re.compile(r"(?<![\w/<>])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w/<>@])")
_URL = re.compile(r"(?<![\w/])https?://[^\s<>\"]+", re.IGNORECASE)
_MENTION = re.compile(r"(?<![\w@])@[A-Za-z0-9_]{5,32}(?![\w@])")
_HASHTAG = re.compile(r"(?<![\w#])#\w{1,256}")
_URL_TRAILING_PUNCTUATION = ".,:;!?'\")]}"


def _candidates(text: str) -> Iterable[tuple[str, int, int]]:
    for match in _BOT_COMMAND.finditer(text):
        yield "bot_command", match.start(), match.end()
    for match in _URL.finditer(text):
        end = match.start() + len(match.group().rstrip(_URL_TRAILING_PUNCTUATION))
        if "." in text[match.start() : end]:
            yield "url", match.start(), end
    for match in _MENTION.finditer(text):
        yield "mention", match.start(), match.end()
    for match in _HASHTAG.finditer(text):
        if not match.group()[1:].isdigit():
            yield "hashtag", match.start(), match.end()


def detect_entities(text: str, existing: Sequence[Entity]) -> list[Entity]:
    """Commands, links, mentions and hashtags Telegram finds in plain text.

    Nothing is detected inside code, pre or an explicit link, nor over another detection.
    """
    prefix = utf16_prefix(text)
    blocked = [
        (entity.offset, entity.end)
        for entity in existing
        if entity.type not in SPLITTABLE_TYPES and entity.type not in QUOTE_TYPES
    ]
    found: list[Entity] = []
    for entity_type, start, end in sorted(_candidates(text), key=lambda item: item[1]):
        offset, stop = prefix[start], prefix[end]
        if any(offset < b_end and b_start < stop for b_start, b_end in blocked):
            continue
        found.append(Entity(entity_type, offset, stop - offset))
        blocked.append((offset, stop))
    return found
