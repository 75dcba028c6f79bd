"""The Telegram emulator's parsers and entity rules, checked directly on inputs whose answers
Telegram's own parser documents (byte offsets in errors, UTF-16 offsets in entities)."""

from __future__ import annotations

import pytest

from emulators.telegram.entities import Entity, detect_entities, normalise, utf16_len
from emulators.telegram.links import checked_link
from emulators.telegram.markup_errors import MarkupError
from emulators.telegram.markup_html import parse_html
from emulators.telegram.markup_markdown import parse_markdown, parse_markdown_v2

Parsed = tuple[str, list[tuple[str, int, int]]]


def shape(parsed: tuple[str, list[Entity]]) -> Parsed:
    text, entities = parsed
    ordered = normalise(utf16_len(text), entities)
    return text, [(e.type, e.offset, e.length) for e in ordered]


@pytest.mark.parametrize(
    ("html", "error"),
    [
        ("🏟 🏟&lt;<abacaba", "Unclosed start tag at byte offset 13"),
        ("🏟 🏟&lt;<abac aba>", 'Unsupported start tag "abac" at byte offset 13'),
        ("🏟 🏟&lt;<i   =aba>", 'Empty attribute name in the tag "i" at byte offset 13'),
        ("🏟 🏟&lt;<i    aba  =  ", 'Unclosed start tag "i" at byte offset 13'),
        ("🏟 🏟&lt;<i    aba  =  190azAz-.,", "Unexpected end of name token at byte offset 27"),
        ('🏟 🏟&lt;<i    aba  =  "&lt;&gt;&quot;>', "Unclosed start tag at byte offset 13"),
        ("🏟 🏟&lt;</", "Unexpected end tag at byte offset 13"),
        ("🏟 🏟&lt;<b></b></", "Unexpected end tag at byte offset 20"),
        ("🏟 🏟&lt;<i>a</i   ", "Unclosed end tag at byte offset 17"),
        (
            "🏟 🏟&lt;<i>a</em   >",
            'Unmatched end tag at byte offset 17, expected "</i>", found "</em>"',
        ),
        (
            "&#xDFDF;",
            "Text contains invalid Unicode characters after decoding HTML entities, "
            "check for unmatched surrogate code units",
        ),
        ('<tg-emoji emoji-id="abc">x</tg-emoji>', "Invalid custom emoji identifier specified"),
    ],
)
def test_html_errors_quote_utf8_byte_offsets(html: str, error: str) -> None:
    with pytest.raises(MarkupError) as raised:
        parse_html(html)

    assert str(raised.value) == error


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("&ge;&lt;&gt;&amp;&quot;&laquo;&#12345678;", ('&ge;<>&"&laquo;&#12345678;', [])),
        ("🏟 🏟<i>🏟 &lt🏟</i>", ("🏟 🏟🏟 <🏟", [("italic", 5, 6)])),
        ("🏟 🏟&lt;<i>a</    >", ("🏟 🏟<a", [("italic", 6, 1)])),
        ("<i    aba  =  '&lt;'>a</i>", ("a", [("italic", 0, 1)])),
        ("<a>telegram.org </a>", ("telegram.org ", [])),
        ("<b>a</b><b>b</b>", ("ab", [("bold", 0, 2)])),
        ("<code><b>x</b></code>y", ("xy", [("code", 0, 1)])),
        ("<b>a<code>b</code>c</b>", ("abc", [("bold", 0, 1), ("code", 1, 1), ("bold", 2, 1)])),
        ("<pre><code>x</code></pre>", ("x", [("pre", 0, 1)])),
        ("<blockquote expandable=false>q</blockquote>", ("q", [("expandable_blockquote", 0, 1)])),
        ("&#128077;", ("👍", [])),
    ],
)
def test_html_parses_like_telegram(html: str, expected: Parsed) -> None:
    assert shape(parse_html(html)) == expected


def test_html_links_are_normalised_and_invalid_ones_dropped() -> None:
    _, entities = parse_html(
        "<a href=telegram.org>a</a><a href='https://t.me?x=&lt;'>b</a><a href=localhost>c</a>"
    )

    assert [(e.offset, e.url) for e in entities] == [
        (0, "http://telegram.org/"),
        (1, "https://t.me/?x=<"),
    ]


@pytest.mark.parametrize(
    ("markdown", "error"),
    [
        ("🏟 🏟_abacaba", "Can't find end of Italic entity at byte offset 9"),
        ("🏟 🏟_abac * asd ", "Can't find end of Bold entity at byte offset 15"),
        ("🏟 🏟`", "Can't find end of Code entity at byte offset 9"),
        ("🏟 🏟```a", "Can't find end of Pre entity at byte offset 9"),
        ("🏟 🏟```a ", "Can't find end of PreCode entity at byte offset 9"),
        ("🏟 🏟__🏟 _🏟___", "Can't find end of Italic entity at byte offset 23"),
        ("[telegram\\.org](asd\\)", "Can't find end of a URL at byte offset 16"),
        ("🏟 🏟!", "Character '!' is reserved and must be escaped with the preceding '\\'"),
        (">\n*a*>2", "Character '>' is reserved and must be escaped with the preceding '\\'"),
        (">*b\n>ld \n>bo\nld*\nasd\ndef", "Can't find end of Bold entity at byte offset 1"),
        (">asd\n>q||ew\n||asdad", "Can't find end of Spoiler entity at byte offset 7"),
        ("🏟 🏟||test\\|", "Can't find end of Spoiler entity at byte offset 9"),
    ],
)
def test_markdown_v2_errors_quote_utf8_byte_offsets(markdown: str, error: str) -> None:
    with pytest.raises(MarkupError) as raised:
        parse_markdown_v2(markdown)

    assert str(raised.value) == error


# ">" is left out: opening a line it starts a quote (mid-line it is refused, see above).
@pytest.mark.parametrize("reserved", list("]()#+-=|{}.!"))
def test_markdown_v2_reserved_characters_must_be_escaped(reserved: str) -> None:
    with pytest.raises(MarkupError):
        parse_markdown_v2(reserved)

    assert parse_markdown_v2("\\" + reserved) == (reserved, [])


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("🏟 🏟_abac \\* asd _", ("🏟 🏟abac * asd ", [("italic", 5, 11)])),
        ("🏟 🏟```🏟\n🏟```", ("🏟 🏟🏟", [("pre", 5, 2)])),
        ("`_* *_`__*` `*__", ("_* *_ ", [("code", 0, 5), ("code", 5, 1)])),
        ("[ ](telegram.org)", (" ", [("text_link", 0, 1)])),
        ("abc\n> \n> \n>\ndef", ("abc\n \n \n\ndef", [("blockquote", 4, 5)])),
        (
            ">asd\n>q||e||w||\nasdad",
            ("asd\nqew\nasdad", [("expandable_blockquote", 0, 8), ("spoiler", 5, 1)]),
        ),
        ("*a\n>b\n>ld\nasd*", ("a\nb\nld\nasd", [("bold", 0, 10), ("blockquote", 2, 5)])),
        ("*>abcd\n*", ("abcd\n", [("blockquote", 0, 5), ("bold", 0, 5)])),
    ],
)
def test_markdown_v2_parses_like_telegram(markdown: str, expected: Parsed) -> None:
    assert shape(parse_markdown_v2(markdown)) == expected


def test_markdown_v2_pre_keeps_its_language() -> None:
    _, entities = parse_markdown_v2("```python\nprint(1)\n```")

    assert entities == [Entity("pre", 0, 9, language="python")]


def test_legacy_markdown_parses_and_reports_unclosed_entities() -> None:
    assert shape(parse_markdown("*b* _i_ `c` ```x```")) == (
        "b i c x",
        [("bold", 0, 1), ("italic", 2, 1), ("code", 4, 1), ("pre", 6, 1)],
    )
    assert parse_markdown("a\\_b.") == ("a_b.", [])
    with pytest.raises(MarkupError, match="Can't find end of the entity starting at byte offset 2"):
        parse_markdown("é*x")


@pytest.mark.parametrize(
    ("link", "checked"),
    [
        ("telegram.org", "http://telegram.org/"),
        ("https://telegram.dog?", "https://telegram.dog/?"),
        ("HTTPS://example.com/a#b", "https://example.com/a#b"),
        ("tg://resolve?domain=x", "tg://resolve?domain=x"),
        ("http://127.0.0.1:8080/x", "http://127.0.0.1:8080/x"),
        ("localhost", None),
        ("asdasd", None),
        ("ftp://example.com", None),
        ("has space.com", None),
    ],
)
def test_links_are_checked_and_normalised_like_telegram(link: str, checked: str | None) -> None:
    assert checked_link(link) == checked


def test_detection_finds_commands_links_mentions_and_hashtags_outside_code() -> None:
    text = "/start@x_bot see https://ex.com/a. @someone #tag `/not`"
    code = Entity("code", utf16_len(text) - 6, 6)

    found = detect_entities(text, [code])

    assert [(e.type, text[e.offset : e.offset + e.length]) for e in found] == [
        ("bot_command", "/start@x_bot"),
        ("url", "https://ex.com/a"),
        ("mention", "@someone"),
        ("hashtag", "#tag"),
    ]
