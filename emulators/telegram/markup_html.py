"""Telegram's HTML parse mode: markup in, plain text plus entities out.

Follows the rules of Telegram's own parser: the supported tags only, attribute values
quoted or bare, `&lt; &gt; &amp; &quot;` and numeric references decoded (anything else
left as written), offsets in UTF-16 code units and error texts with UTF-8 byte offsets.
It never validates lengths nor normalises entities: `formatting` does that for every mode.
"""

from __future__ import annotations

from dataclasses import dataclass

from .entities import Entity, utf16_units
from .links import checked_link, mentioned_user_id
from .markup_errors import MarkupError, byte_offsets

_SPACES = frozenset(" \t\r\n\v\0")
_SUPPORTED_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "s",
        "strike",
        "del",
        "u",
        "ins",
        "tg-spoiler",
        "tg-emoji",
        "tg-time",
        "span",
        "pre",
        "code",
        "blockquote",
    }
)
_STYLE_OF_TAG = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "u": "underline",
    "ins": "underline",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
}
_NAMED_REFERENCES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_SURROGATE_ERROR = (
    "Text contains invalid Unicode characters after decoding HTML entities, "
    "check for unmatched surrogate code units"
)


@dataclass
class _OpenTag:
    name: str
    argument: str
    expandable: bool
    unix_time: str | None
    time_format: str | None
    offset: int
    text_start: int


def _ascii_lower(value: str) -> str:
    return "".join(char.lower() if char.isascii() else char for char in value)


def decode_reference(src: str, start: int) -> tuple[int, int] | None:
    """The code point of the character reference at `src[start] == '&'` and where it ends."""
    index = start + 1
    size = len(src)
    if index < size and src[index] == "#":
        index += 1
        if index < size and src[index] == "x":
            index += 1
            digits_start = index
            while index < size and src[index] in "0123456789abcdefABCDEF":
                index += 1
            digits = src[digits_start:index]
            code = int(digits, 16) if digits else 0
        else:
            digits_start = index
            while index < size and src[index] in "0123456789":
                index += 1
            digits = src[digits_start:index]
            code = int(digits) if digits else 0
        if code == 0 or code >= 0x10FFFF or index - start >= 10:
            return None
    else:
        name_start = index
        while index < size and src[index].isascii() and src[index].isalpha():
            index += 1
        replacement = _NAMED_REFERENCES.get(src[name_start:index])
        if replacement is None:
            return None
        code = ord(replacement)
    if index < size and src[index] == ";":
        index += 1
    return code, index


def _decoded_char(code: int) -> str:
    if 0xD800 <= code <= 0xDFFF:
        raise MarkupError(_SURROGATE_ERROR)
    return chr(code)


class _HtmlParser:
    def __init__(self, src: str) -> None:
        self.src = src
        self.size = len(src)
        self.byte = byte_offsets(src)
        self.out: list[str] = []
        self.utf16 = 0
        self.entities: list[Entity] = []
        self.code_languages: dict[int, str] = {}
        self.stack: list[_OpenTag] = []

    def parse(self) -> tuple[str, list[Entity]]:
        index = 0
        while index < self.size:
            char = self.src[index]
            if char == "&":
                reference = decode_reference(self.src, index)
                if reference is not None:
                    code, index = reference
                    self._emit(_decoded_char(code))
                    continue
            if char != "<":
                self._emit(char)
                index += 1
                continue
            if index + 1 < self.size and self.src[index + 1] == "/":
                index = self._end_tag(index)
            else:
                index = self._start_tag(index)
        if self.stack:
            raise MarkupError(
                f'Can\'t find end tag corresponding to start tag "{self.stack[-1].name}"'
            )
        return "".join(self.out), self.entities

    def _emit(self, char: str) -> None:
        self.out.append(char)
        self.utf16 += utf16_units(char)

    def _skip_spaces(self, index: int) -> int:
        while index < self.size and self.src[index] in _SPACES:
            index += 1
        return index

    def _start_tag(self, begin: int) -> int:
        src, size = self.src, self.size
        at = self.byte[begin]
        index = begin + 1
        while index < size and src[index] not in _SPACES and src[index] != ">":
            index += 1
        if index >= size:
            raise MarkupError(f"Unclosed start tag at byte offset {at}")
        name = _ascii_lower(src[begin + 1 : index])
        if name not in _SUPPORTED_TAGS:
            raise MarkupError(f'Unsupported start tag "{name}" at byte offset {at}')
        tag = _OpenTag(name, "", False, None, None, self.utf16, len(self.out))
        index = self._attributes(tag, index, at)
        if name == "span" and tag.argument != "spoiler":
            raise MarkupError(f'Tag "span" must have class "tg-spoiler" at byte offset {at}')
        self.stack.append(tag)
        return index + 1

    def _attributes(self, tag: _OpenTag, index: int, at: int) -> int:
        """Read TAG's attributes from INDEX up to its `>`, whose index it returns."""
        src, size, name = self.src, self.size, tag.name
        while True:
            index = self._skip_spaces(index)
            if index >= size:
                raise MarkupError(f"Unclosed start tag at byte offset {at}")
            if src[index] == ">":
                break
            attribute_start = index
            while index < size and src[index] not in _SPACES and src[index] not in "=>":
                index += 1
            attribute = _ascii_lower(src[attribute_start:index])
            if not attribute:
                raise MarkupError(f'Empty attribute name in the tag "{name}" at byte offset {at}')
            index = self._skip_spaces(index)
            if index >= size or src[index] != "=":
                if name == "blockquote" and attribute == "expandable":
                    tag.expandable = True
                continue
            index = self._skip_spaces(index + 1)
            if index >= size:
                raise MarkupError(f'Unclosed start tag "{name}" at byte offset {at}')
            value, index = self._attribute_value(index)
            if index >= size:
                raise MarkupError(f"Unclosed start tag at byte offset {at}")
            self._apply_attribute(tag, attribute, value)
        return index

    def _attribute_value(self, index: int) -> tuple[str, int]:
        src, size = self.src, self.size
        if src[index] not in "'\"":
            token_start = index
            while index < size and (
                (src[index].isascii() and src[index].isalnum()) or src[index] in ".-"
            ):
                index += 1
            if index < size and src[index] not in _SPACES and src[index] != ">":
                raise MarkupError(
                    f"Unexpected end of name token at byte offset {self.byte[token_start]}"
                )
            return _ascii_lower(src[token_start:index]), index
        quote = src[index]
        index += 1
        value: list[str] = []
        while index < size and src[index] != quote:
            if src[index] == "&":
                reference = decode_reference(src, index)
                if reference is not None:
                    code, index = reference
                    value.append(_decoded_char(code))
                    continue
            value.append(src[index])
            index += 1
        if index < size:
            index += 1
        return "".join(value), index

    @staticmethod
    def _apply_attribute(tag: _OpenTag, attribute: str, value: str) -> None:
        if tag.name == "a" and attribute == "href":
            tag.argument = value
        elif tag.name == "code" and attribute == "class" and value.startswith("language-"):
            tag.argument = value[len("language-") :]
        elif tag.name == "span" and attribute == "class" and value.startswith("tg-"):
            tag.argument = value[len("tg-") :]
        elif tag.name == "tg-emoji" and attribute == "emoji-id":
            tag.argument = value
        elif tag.name == "blockquote" and attribute == "expandable":
            tag.expandable = True
        elif tag.name == "tg-time" and attribute == "unix":
            tag.unix_time = value
        elif tag.name == "tg-time" and attribute == "format":
            tag.time_format = value

    def _end_tag(self, begin: int) -> int:
        src, size = self.src, self.size
        at = self.byte[begin]
        if not self.stack:
            raise MarkupError(f"Unexpected end tag at byte offset {at}")
        index = begin + 2
        while index < size and src[index] not in _SPACES and src[index] != ">":
            index += 1
        end_name = _ascii_lower(src[begin + 2 : index])
        index = self._skip_spaces(index)
        if index >= size or src[index] != ">":
            raise MarkupError(f"Unclosed end tag at byte offset {at}")
        tag = self.stack[-1]
        if end_name and end_name != tag.name:
            raise MarkupError(
                f'Unmatched end tag at byte offset {at}, expected "</{tag.name}>", '
                f'found "</{end_name}>"'
            )
        if self.utf16 > tag.offset:
            self._close(tag)
        self.stack.pop()
        return index + 1

    def _close(self, tag: _OpenTag) -> None:
        offset, length = tag.offset, self.utf16 - tag.offset
        style = _STYLE_OF_TAG.get(tag.name)
        if style is not None:
            self.entities.append(Entity(style, offset, length))
        elif tag.name == "blockquote":
            kind = "expandable_blockquote" if tag.expandable else "blockquote"
            self.entities.append(Entity(kind, offset, length))
        elif tag.name == "tg-emoji":
            if not tag.argument.isdigit() or int(tag.argument) == 0:
                raise MarkupError("Invalid custom emoji identifier specified")
            self.entities.append(
                Entity("custom_emoji", offset, length, custom_emoji_id=tag.argument)
            )
        elif tag.name == "tg-time":
            if tag.unix_time is None or not tag.unix_time.isdigit():
                raise MarkupError("Invalid Unix time specified")
            self.entities.append(
                Entity(
                    "date_time",
                    offset,
                    length,
                    unix_time=int(tag.unix_time),
                    date_time_format=tag.time_format,
                )
            )
        elif tag.name == "a":
            self._close_link(tag, offset, length)
        elif tag.name == "pre":
            self._close_pre(offset, length)
        else:
            self._close_code(tag, offset, length)

    def _close_link(self, tag: _OpenTag, offset: int, length: int) -> None:
        link = tag.argument or "".join(self.out[tag.text_start :])
        user_id = mentioned_user_id(link)
        if user_id is not None:
            self.entities.append(Entity("text_mention", offset, length, user={"id": user_id}))
            return
        url = checked_link(link)
        if url is not None:
            self.entities.append(Entity("text_link", offset, length, url=url))

    def _close_pre(self, offset: int, length: int) -> None:
        last = self.entities[-1] if self.entities else None
        if (
            last is not None
            and last.type == "code"
            and (last.offset, last.length) == (offset, length)
            and self.code_languages.get(len(self.entities) - 1)
        ):
            language = self.code_languages.pop(len(self.entities) - 1)
            self.entities[-1] = Entity("pre", offset, length, language=language)
            return
        self.entities.append(Entity("pre", offset, length))

    def _close_code(self, tag: _OpenTag, offset: int, length: int) -> None:
        last = self.entities[-1] if self.entities else None
        if (
            last is not None
            and last.type == "pre"
            and (last.offset, last.length) == (offset, length)
            and tag.argument
        ):
            self.entities[-1] = Entity("pre", offset, length, language=tag.argument)
            return
        self.entities.append(Entity("code", offset, length))
        if tag.argument:
            self.code_languages[len(self.entities) - 1] = tag.argument


def parse_html(src: str) -> tuple[str, list[Entity]]:
    """Plain text and entities of an HTML-formatted message, or MarkupError."""
    return _HtmlParser(src).parse()
