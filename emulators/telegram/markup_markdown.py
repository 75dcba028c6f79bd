"""Telegram's MarkdownV2 and legacy Markdown parse modes.

MarkdownV2 follows Telegram's rules: `*bold* _italic_ __underline__ ~strike~ ||spoiler||`,
`` `code` ``, fenced pre with a language, `[text](url)`, `![emoji](tg://emoji?id=N)`,
`>` block quotes (expandable when a quote line ends with `||`), and every one of
`_*[]()~`>#+-=|{}.!` outside an entity must be escaped with a backslash. Legacy Markdown
knows bold, italic, code, pre and links only. Error texts quote UTF-8 byte offsets.
Neither parser normalises entities: `formatting` does that for every mode.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .entities import Entity, utf16_units
from .links import checked_link, mentioned_user_id
from .markup_errors import MarkupError, byte_offsets

_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")
_MARKERS = frozenset("_*~|[]`!")
_TYPE_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "code": "Code",
    "pre": "Pre",
    "pre_code": "PreCode",
    "text_link": "TextUrl",
    "custom_emoji": "CustomEmoji",
}
_EMOJI_ID = re.compile(r"(?:^|&)id=(\d+)(?:&|$)")
_TDLIB_SPACES = frozenset(" \t\r\n\v\0")


def _reserved(char: str) -> MarkupError:
    return MarkupError(
        f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
    )


@dataclass
class _Open:
    kind: str
    offset: int
    text_start: int
    byte: int
    language: str = ""
    in_quote: bool = False


@dataclass
class _Quote:
    offset: int
    expandable: bool = False


def _skip_fence_language(src: str, index: int) -> tuple[str, int]:
    """Language of a fenced block starting at `index` and where its content begins."""
    end = index
    while end < len(src) and src[end] not in _TDLIB_SPACES and src[end] != "`":
        end += 1
    language = ""
    if end != index and end < len(src) and src[end] != "`":
        language = src[index:end]
        index = end
    if index < len(src) and src[index] in "\r\n":
        following = src[index + 1] if index + 1 < len(src) else ""
        index += 2 if following in ("\r", "\n") and following != src[index] else 1
    return language, index


class _MarkdownV2Parser:
    def __init__(self, src: str) -> None:
        self.src = src
        self.size = len(src)
        self.byte = byte_offsets(src)
        self.out: list[str] = []
        self.utf16 = 0
        self.entities: list[Entity] = []
        self.stack: list[_Open] = []
        self.quote: _Quote | None = None
        self.line_has_text = False

    def _emit(self, char: str) -> None:
        self.out.append(char)
        self.utf16 += utf16_units(char)
        if char == "\n":
            self.line_has_text = False
        elif char != "\r":
            self.line_has_text = True

    def _char(self, index: int) -> str:
        return self.src[index] if index < self.size else ""

    def parse(self) -> tuple[str, list[Entity]]:
        index = 0
        while index < self.size:
            in_code = bool(self.stack) and self.stack[-1].kind in ("code", "pre", "pre_code")
            if not in_code:
                quote_start = self._quote_marker(index)
                # A quote ends at the first source line that does not continue it.
                if (index == 0 or self.src[index - 1] == "\n") and not quote_start:
                    self._close_quote()
                if quote_start and not self.line_has_text:
                    if quote_start == 3:
                        self._close_quote()
                    if self.quote is None:
                        self.quote = _Quote(self.utf16)
                    index += quote_start
                    continue
            index = self._step(index)
        self._close_quote()
        if self.stack:
            self._fail_unclosed(self.stack[-1])
        return "".join(self.out), self.entities

    def _quote_marker(self, index: int) -> int:
        """Length of the quote marker at `index` (`**>` or `>`), 0 when there is none."""
        if self.src.startswith("**>", index):
            return 3
        return 1 if self.src[index] == ">" else 0

    def _close_quote(self) -> None:
        if self.quote is None:
            return
        for opened in self.stack:
            if opened.in_quote:
                self._fail_unclosed(opened)
        length = self.utf16 - self.quote.offset
        if length > 0:
            kind = "expandable_blockquote" if self.quote.expandable else "blockquote"
            self.entities.append(Entity(kind, self.quote.offset, length))
        self.quote = None

    def _fail_unclosed(self, opened: _Open) -> None:
        raise MarkupError(
            f"Can't find end of {_TYPE_NAMES[opened.kind]} entity at byte offset {opened.byte}"
        )

    def _step(self, index: int) -> int:
        src = self.src
        char = src[index]
        following = self._char(index + 1)
        if char == "\\" and following and 0 < ord(following) < 127:
            self._emit(following)
            return index + 2
        top = self.stack[-1].kind if self.stack else None
        in_code = top in ("code", "pre", "pre_code")
        if in_code and char != "`":
            self._emit(char)
            return index + 1
        if not in_code:
            if char not in _MARKERS:
                if char in _RESERVED:
                    raise _reserved(char)
                self._emit(char)
                return index + 1
            if char == "]" and top not in ("text_link", "custom_emoji"):
                raise _reserved(char)
            if char == "!" and following != "[":
                raise _reserved(char)
        if self._ends_top(index, top):
            return self._end_entity(index)
        return self._begin_entity(index)

    def _ends_top(self, index: int, top: str | None) -> bool:
        char, following = self.src[index], self._char(index + 1)
        if top == "bold":
            return char == "*"
        if top == "italic":
            return char == "_" and following != "_"
        if top == "underline":
            return char == "_" and following == "_"
        if top == "strikethrough":
            return char == "~"
        if top == "spoiler":
            return char == "|" and following == "|"
        if top == "code":
            return char == "`"
        if top in ("pre", "pre_code"):
            return self.src.startswith("```", index)
        if top in ("text_link", "custom_emoji"):
            return char == "]"
        return False

    def _begin_entity(self, index: int) -> int:
        src = self.src
        char, following = src[index], self._char(index + 1)
        language = ""
        if char == "|":
            if following != "|":
                raise _reserved(char)
            if self.quote is not None and self._char(index + 2) in ("", "\n", "\r"):
                self.quote.expandable = True
                return index + 2
            kind, next_index = "spoiler", index + 2
        elif char == "_":
            kind, next_index = (
                ("underline", index + 2) if following == "_" else ("italic", index + 1)
            )
        elif char == "*":
            kind, next_index = "bold", index + 1
        elif char == "~":
            kind, next_index = "strikethrough", index + 1
        elif char == "[":
            kind, next_index = "text_link", index + 1
        elif char == "!":
            kind, next_index = "custom_emoji", index + 2
        elif src.startswith("```", index):
            language, next_index = _skip_fence_language(src, index + 3)
            kind = "pre_code" if language else "pre"
        else:
            kind, next_index = "code", index + 1
        self.stack.append(
            _Open(
                kind, self.utf16, len(self.out), self.byte[index], language, self.quote is not None
            )
        )
        return next_index

    def _end_entity(self, index: int) -> int:
        opened = self.stack.pop()
        kind = opened.kind
        offset, length = opened.offset, self.utf16 - opened.offset
        if kind in ("underline", "spoiler"):
            index += 2
        elif kind in ("pre", "pre_code"):
            index += 3
        else:
            index += 1
        if kind == "text_link":
            return self._end_link(opened, index, length)
        if kind == "custom_emoji":
            return self._end_custom_emoji(opened, index, length)
        if length > 0:
            if kind == "pre_code":
                self.entities.append(Entity("pre", offset, length, language=opened.language))
            else:
                self.entities.append(Entity(kind, offset, length))
        return index

    def _read_parenthesised(self, index: int, what: str) -> tuple[str | None, int]:
        if self._char(index) != "(":
            return None, index
        start = index + 1
        index = start
        chars: list[str] = []
        while index < self.size and self.src[index] != ")":
            char, following = self.src[index], self._char(index + 1)
            if char == "\\" and following and 0 < ord(following) < 127:
                chars.append(following)
                index += 2
                continue
            chars.append(char)
            index += 1
        if index >= self.size:
            raise MarkupError(f"Can't find end of {what} at byte offset {self.byte[start]}")
        return "".join(chars), index + 1

    def _end_link(self, opened: _Open, index: int, length: int) -> int:
        target, index = self._read_parenthesised(index, "a URL")
        if target is None:
            target = "".join(self.out[opened.text_start :])
        if length > 0:
            user_id = mentioned_user_id(target)
            if user_id is not None:
                self.entities.append(
                    Entity("text_mention", opened.offset, length, user={"id": user_id})
                )
            else:
                url = checked_link(target)
                if url is not None:
                    self.entities.append(Entity("text_link", opened.offset, length, url=url))
        return index

    def _end_custom_emoji(self, opened: _Open, index: int, length: int) -> int:
        target, index = self._read_parenthesised(index, "a custom emoji URL")
        if target is None:
            raise MarkupError("Custom emoji entity must contain a tg://emoji URL")
        lowered = target.lower()
        if not lowered.startswith("tg:"):
            raise MarkupError("Custom emoji URL must have scheme tg")
        if not lowered.startswith("tg://emoji"):
            raise MarkupError('Custom emoji URL must have host "emoji"')
        query = target.split("?", 1)[1].split("#", 1)[0] if "?" in target else ""
        match = _EMOJI_ID.search(query)
        if match is None:
            raise MarkupError("Custom emoji URL must have an emoji identifier")
        if match.group(1).startswith("0"):
            raise MarkupError("Invalid custom emoji identifier specified")
        if length > 0:
            self.entities.append(
                Entity("custom_emoji", opened.offset, length, custom_emoji_id=match.group(1))
            )
        return index


def parse_markdown_v2(src: str) -> tuple[str, list[Entity]]:
    """Plain text and entities of a MarkdownV2-formatted message, or MarkupError."""
    return _MarkdownV2Parser(src).parse()


def parse_markdown(src: str) -> tuple[str, list[Entity]]:
    """Plain text and entities of a legacy Markdown message, or MarkupError."""
    size = len(src)
    byte = byte_offsets(src)
    out: list[str] = []
    utf16 = 0
    entities: list[Entity] = []
    index = 0
    while index < size:
        char = src[index]
        following = src[index + 1] if index + 1 < size else ""
        if char == "\\" and following in ("_", "*", "`", "["):
            out.append(following)
            utf16 += 1
            index += 2
            continue
        if char not in "_*`[":
            out.append(char)
            utf16 += utf16_units(char)
            index += 1
            continue
        begin = index
        end_char = "]" if char == "[" else char
        index += 1
        is_pre = False
        language = ""
        if src.startswith("```", begin):
            is_pre = True
            language, index = _skip_fence_language(src, begin + 3)
        offset = utf16
        text_start = len(out)
        while index < size and (
            src[index] != end_char or (is_pre and not src.startswith("```", index))
        ):
            out.append(src[index])
            utf16 += utf16_units(src[index])
            index += 1
        if index >= size:
            raise MarkupError(f"Can't find end of the entity starting at byte offset {byte[begin]}")
        length = utf16 - offset
        if length > 0:
            if char == "[":
                target, index = _link_target(src, index, "".join(out[text_start:]))
                entity = _link_entity(target, offset, length)
            else:
                entity = _styled_entity(char, offset, length, is_pre, language)
            if entity is not None:
                entities.append(entity)
        index += 3 if is_pre else 1
    return "".join(out), entities


def _styled_entity(char: str, offset: int, length: int, is_pre: bool, language: str) -> Entity:
    """The entity that `_`, `*` or a backtick (fence) opened."""
    if char == "_":
        return Entity("italic", offset, length)
    if char == "*":
        return Entity("bold", offset, length)
    return Entity("pre" if is_pre else "code", offset, length, language=language or None)


def _link_target(src: str, close_bracket: int, text: str) -> tuple[str, int]:
    """A `[text](target)` link's target and the index of its `)`, or `[text]`'s own text."""
    size = len(src)
    if close_bracket + 1 < size and src[close_bracket + 1] == "(":
        close = src.find(")", close_bracket + 2)
        target = src[close_bracket + 2 : close if close != -1 else size]
        return target, close if close != -1 else size - 1
    return text, close_bracket


def _link_entity(target: str, offset: int, length: int) -> Entity | None:
    """A mention of a user by id, a link, or nothing when the target is neither."""
    user_id = mentioned_user_id(target)
    if user_id is not None:
        return Entity("text_mention", offset, length, user={"id": user_id})
    url = checked_link(target)
    if url is not None:
        return Entity("text_link", offset, length, url=url)
    return None
