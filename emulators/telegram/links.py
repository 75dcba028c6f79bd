"""Link checks Telegram applies to text links and URL buttons.

`checked_link` normalises what Telegram accepts (`telegram.org` becomes
`http://telegram.org/`) and returns None for what it refuses; `mentioned_user_id` reads
`tg://user?id=N`. This module never raises Bot API errors: callers decide what a refused
link means in their context.
"""

from __future__ import annotations

import re

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
_USER_LINK = re.compile(r"^tg://user\?id=(\d{1,20})$", re.IGNORECASE)
_IPV4 = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")
_ASCII_LABEL_CHARS = re.compile(r"^[A-Za-z0-9\-_]+$")
_TLD = re.compile(r"^(?:[A-Za-z]{2,63}|xn--[A-Za-z0-9\-]{1,59})$")


def mentioned_user_id(link: str) -> int | None:
    match = _USER_LINK.match(link)
    return int(match.group(1)) if match else None


def _valid_host(host: str) -> bool:
    if _IPV4.match(host):
        return all(int(part) <= 255 for part in host.split("."))
    labels = host.split(".")
    if len(labels) < 2 or any(not label for label in labels):
        return False
    for label in labels:
        ascii_part = "".join(char for char in label if char.isascii())
        if ascii_part and not _ASCII_LABEL_CHARS.match(ascii_part):
            return False
    tld = labels[-1]
    return bool(_TLD.match(tld)) or not tld.isascii()


def checked_link(link: str) -> str | None:
    """Telegram's normalised form of a link, or None when Telegram would refuse it."""
    if not link or any(char.isspace() for char in link):
        return None
    match = _SCHEME.match(link)
    if match:
        scheme = match.group(1).lower()
        rest = link[match.end() :]
        if scheme in ("tg", "ton"):
            return f"{scheme}://{rest}" if rest else None
        if scheme not in ("http", "https"):
            return None
    else:
        if ":" in link.split("/", 1)[0] and not re.match(r"^[^:]+:\d+(?:[/?#]|$)", link):
            return None
        scheme, rest = "http", link
    authority_end = len(rest)
    for separator in "/?#":
        position = rest.find(separator)
        if position != -1:
            authority_end = min(authority_end, position)
    authority, tail = rest[:authority_end], rest[authority_end:]
    host = authority.rsplit("@", 1)[-1]
    if ":" in host:
        host, port = host.rsplit(":", 1)
        if not port.isdigit() or not 0 < int(port) < 65536:
            return None
    if not _valid_host(host):
        return None
    if not tail.startswith("/"):
        tail = "/" + tail
    return f"{scheme}://{authority}{tail}"
