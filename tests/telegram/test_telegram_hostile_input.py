"""Hostile input in every argument position: a polite refusal, nothing run, nothing unescaped."""

from __future__ import annotations

import pytest
from tg_harness import ADMIN, END_USER, BotHarness

from bot.telegram.commands import ADMIN_BY_NAME
from bot.telegram.parsing import ParseError, parse_args, parse_secret_command, split_command
from bot.telegram.render import esc

HOSTILE = [
    "; rm -rf /",
    "$(reboot)",
    "`id`",
    "'quoted'",
    '"double"',
    "two\nlines",
    "ＡＢＣＤ２３４５",  # full-width look-alikes of a valid code
    "АВСЕНКМР",  # Cyrillic look-alikes of Latin capitals
    "ag_ｘｙｚ",
    "<b>bold</b>",
    "<script>alert(1)</script>",
    "&amp;&lt;",
    "\u202eevil",
    "../../etc/passwd",
    "x" * 3900,  # about as long as a Telegram message can be
]

# Every position a value can take; `{}` is replaced by the hostile value.
ADMIN_POSITIONS = [
    "/provision tenant={} user=u",
    "/provision tenant=t user={}",
    "/provision tenant=t user=u model={}",
    "/provision tenant=t user=u skills={}",
    "/provision tenant=t user=u region={}",
    "/list tenant={}",
    "/status {}",
    "/wake {}",
    "/stop {}",
    "/restart {}",
    "/deprovision {}",
    "/snapshot {}",
    "/recreate {}",
    "/model acme/alice {}",
    "/model {} openai/gpt-4.1-mini",
    "/skills acme/alice {}",
    "/skills {} calendar",
    "/secret acme/alice {}=value",
    "/secret {} LLM_API_KEY=value",
    "/secrets {}",
    "/clearsecrets {}",
    "/pair acme/alice {}",
    "/pair {} F864XLAV",
    "/invite {}",
    "/audit {}",
]
USER_POSITIONS = ["/pair {}", "{}", "/status {}"]

# Admin refusals start with ❌; end users get a plain sentence about codes or their agent.
REFUSAL_MARKERS = ("❌", "pairing code", "own agent", "too long", "Send just", "may only contain")


def _markup_leaks(hostile: str, sent_html: str) -> bool:
    """True when a value with markup characters reached Telegram unescaped."""
    return any(ch in hostile for ch in "<>&") and hostile[:200] in sent_html


async def _assert_refused(bot: BotHarness, user: dict[str, object], text: str) -> None:
    uid = int(str(user["id"]))
    seq = len(bot.requests())
    sent = await bot.send(user, text)
    reply = await bot.reply_to(uid, sent, lambda m: not m.get("text", "").startswith("⏳"))
    shown = reply["text"]
    assert "went wrong" not in shown, (text[:80], shown)
    assert any(marker in shown for marker in REFUSAL_MARKERS), (text[:80], shown)
    assert len(shown) <= 4096
    for request in bot.requests()[seq:]:
        if request["method"] in ("sendMessage", "editMessageText"):
            assert request["status"] == 200, request["answer"]
            html = str(request["params"].get("text", ""))
            for hostile in HOSTILE:
                assert not _markup_leaks(hostile, html), (text[:80], html[:300])


async def test_hostile_values_in_admin_commands_are_refused_politely(fast_bot: BotHarness) -> None:
    bot = fast_bot
    agent_id, _ = await bot.provision()
    agent_before = await bot.agent(agent_id)
    execs_before = len(await bot.execs())

    for position in ADMIN_POSITIONS:
        for hostile in HOSTILE:
            await _assert_refused(bot, ADMIN, position.replace("{}", hostile))

    assert len(await bot.execs()) == execs_before
    assert await bot.agent(agent_id) == agent_before
    assert [a.id for a in await bot.store.agents.live()] == [agent_id]


async def test_hostile_values_from_an_end_user_are_refused_politely(fast_bot: BotHarness) -> None:
    bot = fast_bot
    agent_id, invite = await bot.provision()
    await bot.link(END_USER, invite)
    execs_before = len(await bot.execs())

    for position in USER_POSITIONS:
        for hostile in HOSTILE:
            await _assert_refused(bot, END_USER, position.replace("{}", hostile))

    assert len(await bot.execs()) == execs_before
    assert await bot.store.pairing.for_agent(agent_id) == []


def _parse_problem(text: str) -> str | None:
    """What the parser says about `text`: None when it accepts it (validation comes later)."""
    parsed = split_command(text)
    assert parsed is not None
    try:
        if parsed.name == "secret":
            parse_secret_command(parsed.rest)
        else:
            values = parse_args(ADMIN_BY_NAME[parsed.name], parsed.rest).values
            assert all(len(value) <= 256 or " " in value for value in values.values())
    except ParseError as error:
        return str(error)
    return None


@pytest.mark.parametrize("hostile", [*HOSTILE, "y" * 10_000, "z=" + "q" * 10_000])
def test_the_parser_never_echoes_or_accepts_oversized_or_hostile_words(hostile: str) -> None:
    for position in ADMIN_POSITIONS:
        problem = _parse_problem(position.replace("{}", hostile))
        if problem is not None:
            assert hostile[:20] not in problem or hostile[:20].isidentifier()
            assert len(problem) < 400
    assert _parse_problem(f"/status {hostile}") is not None or len(hostile) <= 256


@pytest.mark.parametrize("hostile", [*HOSTILE, "&" * 10000, "😀" * 5000])
def test_escaping_bounds_every_value_and_leaves_no_markup(hostile: str) -> None:
    shown = esc(hostile, 200)
    assert len(shown.encode("utf-16-le")) // 2 <= 200
    assert "<" not in shown and ">" not in shown
    assert "&" not in shown.replace("&amp;", "").replace("&lt;", "").replace("&gt;", "")
