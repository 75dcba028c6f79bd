"""The pure pieces: callback data within 64 bytes, pages within 4096, parsing, rate windows."""

from __future__ import annotations

import pytest

from bot.telegram import keyboards
from bot.telegram.callback_data import MAX_CALLBACK_BYTES, Action, decode, encode
from bot.telegram.commands import ADMIN_BY_NAME, ADMIN_COMMANDS, ALL_NAMES, USER_COMMANDS
from bot.telegram.paging import TELEGRAM_TEXT_LIMIT, paginate, split_pages
from bot.telegram.parsing import ParseError, parse_args, parse_secret_command, split_command
from bot.telegram.rate_limit import SlidingWindow, TokenBucket
from bot.telegram.render import utf16_len

LONGEST_ID = "pr_" + "z" * 45  # longer than any id the store makes (`pr_` + 12)


def _all_callback_data() -> list[str]:
    markups = [
        keyboards.pairing_decision(LONGEST_ID),
        keyboards.pairing_try_again(LONGEST_ID),
        keyboards.restart_machine(LONGEST_ID),
        keyboards.retry_pairing(LONGEST_ID),
        keyboards.confirm("t" * 40, "deprovision"),
        keyboards.pick("t" * 40, [f"tenant-{i}/user-{i}" for i in range(20)]),
        keyboards.cancel_guide("t" * 40),
    ]
    pages = keyboards.pages("t" * 40, 5, 10_000)
    assert pages is not None
    markups.append(pages)
    return [
        button.callback_data  # type: ignore[misc]
        for markup in markups
        for row in markup.inline_keyboard
        for button in row
    ]


def test_every_button_carries_callback_data_of_at_most_64_bytes_that_decodes() -> None:
    for data in _all_callback_data():
        assert isinstance(data, str)
        assert 1 <= len(data.encode()) <= MAX_CALLBACK_BYTES
        assert decode(data) is not None


def test_callback_data_outside_the_scheme_is_refused_both_ways() -> None:
    with pytest.raises(ValueError, match="over 64 bytes"):
        encode(Action.PAGE, "t" * 48, "9" * 48)
    with pytest.raises(ValueError, match="do not fit"):
        encode(Action.APPROVE, "pr_1; rm -rf /")
    for data in ("", "zz:1", "pa", "pa:a:b", "pa:<b>", "pg:tok", "x" * 65, "pa:" + "é" * 10):
        assert decode(data) is None
    assert decode("pa:pr_abc") is not None


def test_pages_never_exceed_telegrams_limit_and_keep_every_line_once() -> None:
    lines = [f"line {i} " + "😀&<" * (i % 200) for i in range(400)]
    pages = split_pages(lines, header="<b>header</b>", max_lines=25)
    assert all(utf16_len(page.text) <= TELEGRAM_TEXT_LIMIT for page in pages)
    covered = [index for page in pages for index in range(page.start, page.end)]
    assert covered == list(range(len(lines)))
    assert all(page.end - page.start <= 25 for page in pages)
    assert len(paginate(["one"])) == 1 and "page" not in paginate(["one"])[0]


def test_a_line_too_long_for_any_page_is_left_out_not_cut() -> None:
    (page,) = paginate(["<b>" + "x" * 5000 + "</b>"])
    assert "<b>" not in page and "left out" in page


def test_the_command_table_matches_the_documented_names() -> None:
    assert [c.name for c in ADMIN_COMMANDS] == [
        "provision", "list", "status", "wake", "stop", "restart", "deprovision", "snapshot",
        "recreate", "model", "skills", "secret", "secrets", "clearsecrets", "pair", "pending",
        "invite", "unlink", "audit", "tenant", "help",
    ]  # fmt: skip
    assert [c.name for c in USER_COMMANDS] == ["pair", "status", "help"]
    assert "start" in ALL_NAMES
    destructive = {c.name for c in ADMIN_COMMANDS if c.destructive}
    assert destructive == {"deprovision", "recreate", "clearsecrets"}


def test_key_value_and_positional_values_fill_the_same_parameters() -> None:
    model = ADMIN_BY_NAME["model"]
    assert parse_args(model, "ag_1 openai/x").values == {"agent": "ag_1", "model": "openai/x"}
    assert parse_args(model, "model=openai/x agent=ag_1").values == {
        "agent": "ag_1",
        "model": "openai/x",
    }
    provision = ADMIN_BY_NAME["provision"]
    values = parse_args(provision, "tenant=acme user=alice skills=a,b REGION=ams").values
    assert values == {"tenant": "acme", "user": "alice", "skills": "a,b", "region": "ams"}
    skills = ADMIN_BY_NAME["skills"]
    assert parse_args(skills, "ag_1 a, b").values["skills"] == "a, b"
    for bad in ("tenant=a tenant=b", "colour=red", "acme", "tenant="):
        with pytest.raises(ParseError):
            parse_args(provision, bad)


def test_commands_are_recognised_with_a_bot_mention_and_otherwise_not() -> None:
    found = split_command("/List@some_bot tenant=acme")
    assert found is not None
    assert (found.name, found.rest, found.addressed_to) == ("list", "tenant=acme", "some_bot")
    assert split_command("list") is None
    assert split_command("/привет") is None


def test_secret_assignments_keep_values_hidden() -> None:
    agent, assignments = parse_secret_command("acme/alice llm_api_key=sk-secret=with=equals")
    assert agent == "acme/alice"
    (assignment,) = assignments
    assert assignment.name == "LLM_API_KEY"
    assert assignment.value.get_secret_value() == "sk-secret=with=equals"
    assert "sk-secret" not in repr(assignment)
    with pytest.raises(ParseError) as refused:
        parse_secret_command("acme/alice 1BAD=sk-secret-value")
    assert "sk-secret-value" not in str(refused.value)


def test_sliding_window_and_token_bucket_count_as_documented() -> None:
    now = [0.0]
    window = SlidingWindow(limit=3, period_s=60, clock=lambda: now[0])
    assert [window.try_take() for _ in range(4)] == [True, True, True, False]
    assert window.wait_s() == 60
    now[0] = 60.5
    assert window.remaining() == 3

    bucket = TokenBucket(rate=1.0, burst=2, clock=lambda: now[0])
    assert [bucket.reserve() for _ in range(4)] == [0.0, 0.0, 1.0, 2.0]
