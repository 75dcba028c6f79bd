"""The failure shared by every parse mode, and the byte offsets its messages quote.

Telegram reports markup errors with offsets in UTF-8 bytes of the submitted text; the
parsers work on Python strings, so they look offsets up here. Nothing else belongs here.
"""

from __future__ import annotations


class MarkupError(Exception):
    """Markup Telegram refuses; the message is what follows "can't parse entities: "."""


def byte_offsets(text: str) -> list[int]:
    """`offsets[i]` is the UTF-8 byte offset of `text[i]`; one extra entry for the end."""
    offsets = [0] * (len(text) + 1)
    for index, char in enumerate(text):
        offsets[index + 1] = offsets[index] + len(char.encode("utf-8", "surrogatepass"))
    return offsets
