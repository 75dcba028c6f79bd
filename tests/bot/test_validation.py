"""Every value that can reach a machine is validated with a strict pattern first."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.fleet import validation
from bot.fleet.validation import InvalidInput

HOSTILE = [
    "",
    " ",
    "ABCD;EFG",
    "$(reboot)",
    "`id`",
    "AB'CD\"EF",
    "ABCD\nEFGH",
    "ABCD EFG",
    "АВСDEFGH",  # Cyrillic look-alikes
    "ABCDEFGß",  # upper-cases to ASCII "SS"
    "A" * 10_000,
    "ABCDEFG0",
    "ABCDEFGI",
    "ABCDEFGHJ",
]


@pytest.mark.parametrize("raw", HOSTILE)
def test_hostile_pairing_codes_are_refused(raw: str) -> None:
    with pytest.raises(InvalidInput):
        validation.pairing_code(raw)


@given(st.text(max_size=20))
def test_any_accepted_code_is_eight_chars_of_the_openclaw_alphabet(raw: str) -> None:
    try:
        code = validation.pairing_code(raw)
    except InvalidInput:
        return
    assert len(code) == 8 and set(code) <= set("ABCDEFGHJKLMNPQRSTUVWXYZ23456789")


@pytest.mark.parametrize(
    "model",
    [
        "gpt-5-mini",
        "GPT-5-MINI",
        "openai/gpt-5-mini",
        "OpenAI/Gpt-5-Mini",
        " gpt_5_mini ",
        "openrouter/openai/gpt-5-mini",
        "openai/gpt-5-mini-2025-08-07",
        "openai/gpt5mini",
        # Issue 14: decorated spellings that were accepted.
        "openai/gpt-5.0-mini",
        "gpt-5.0-mini",
        "x:gpt-5-mini",
        "openai:gpt-5-mini",
        "openai|gpt-5-mini",
        "openai.gpt-5-mini",
        "gpt 5 mini",
        "GPT-5-Mini",
        "openai/GPT_5_MINI",
        "openai/gpt-5-mini:free",
        "\tgpt-5-mini\n",
        "openai/gpt\u200b-5-mini",  # zero-width space
        "openai/gpt-5\u2060-mini",  # word joiner
        "openai/\u202egpt-5-mini",  # bidi override
        "openai/\uff47\uff50\uff54-\uff15-\uff4d\uff49\uff4e\uff49",  # full-width
    ],
)
def test_gpt_5_mini_is_refused_in_any_spelling(model: str) -> None:
    assert validation.is_forbidden_model(model)
    with pytest.raises(InvalidInput, match="gpt-5-mini"):
        validation.model_id(model)


_SEPARATORS = ["-", "_", ".", " ", "", ":", "/"]


@given(
    prefix=st.sampled_from(["", "openai", "x", "openrouter/openai", "OpenAI"]),
    joiner=st.sampled_from(["/", ":", "|", "."]),
    seps=st.tuples(*[st.sampled_from(_SEPARATORS)] * 2),
    minor=st.sampled_from(["", ".0", ".00"]),
    upper=st.lists(st.booleans(), min_size=8, max_size=8),
    suffix=st.sampled_from(["", "-2025-08-07", ":free", "-latest"]),
    pad=st.sampled_from(["", " ", "\u200b", "\ufeff"]),
)
def test_gpt_5_mini_is_refused_however_it_is_decorated(
    prefix: str,
    joiner: str,
    seps: tuple[str, str],
    minor: str,
    upper: list[bool],
    suffix: str,
    pad: str,
) -> None:
    name = f"gpt{seps[0]}5{minor}{seps[1]}mini"
    letters = iter(upper)
    name = "".join(c.upper() if c.isalpha() and next(letters, False) else c for c in name)
    model = f"{pad}{prefix}{joiner if prefix else ''}{name}{suffix}{pad}"
    assert validation.is_forbidden_model(model), model
    with pytest.raises(InvalidInput, match="gpt-5-mini must not be used"):
        validation.model_id(model)


@pytest.mark.parametrize(
    "model",
    [
        "moonshotai/kimi-k2.5",
        "openai/gpt-4.1-mini",
        "openrouter/moonshotai/kimi-k2.5",
        "openai/gpt-5",
        "openai/gpt-5.1-mini",
        "openai/gpt-5-nano",
        "openai/gpt-4o-mini",
        "openai/gpt-15-mini",
        "openai/o4-mini",
    ],
)
def test_provider_model_ids_are_accepted(model: str) -> None:
    assert validation.model_id(model) == model


@pytest.mark.parametrize(
    "model",
    [
        "kimi",
        "/x",
        "openai/",
        "Open AI/x",
        "openai/x;rm",
        "openai/$(x)",
        "openai/x y",
        "openai/`id`",
        "openai/x\ny",
        "openai/ｇpt",
        "a/" + "b" * 300,
    ],
)
def test_malformed_model_ids_are_refused(model: str) -> None:
    with pytest.raises(InvalidInput):
        validation.model_id(model)


def test_allowed_skills_json() -> None:
    assert validation.allowed_skills_json('["linkhub-bridge","a_b","linkhub-bridge"]') == [
        "linkhub-bridge",
        "a_b",
    ]
    for bad in ("linkhub", '{"a":1}', '["ok", 3]', '["Bad Skill"]', '["x;y"]'):
        with pytest.raises(InvalidInput):
            validation.allowed_skills_json(bad)


@pytest.mark.parametrize(
    "url",
    [
        "http://bridge.example.com",
        "ftp://x",
        "https://",
        "https://user:pw@x.com",
        "https://exa mple.com",
        "https://x.com:99999",
        "javascript:alert(1)",
        "https://-bad-.com",
    ],
)
def test_bridge_url_must_be_plain_https(url: str) -> None:
    with pytest.raises(InvalidInput):
        validation.https_url(url)


def test_good_bridge_url() -> None:
    assert (
        validation.https_url(" https://bridge.example.com/api ") == "https://bridge.example.com/api"
    )


def test_ids_regions_secret_names_and_vm_sizes() -> None:
    assert validation.entity_id("acme-1", "tenant") == "acme-1"
    for bad in ("", "-x", "a b", "a/b", "x" * 65, "ä"):
        with pytest.raises(InvalidInput):
            validation.entity_id(bad, "tenant")
    assert validation.region("IAD") == "iad"
    with pytest.raises(InvalidInput):
        validation.region("us-east")
    assert validation.secret_name("llm_api_key") == "LLM_API_KEY"
    with pytest.raises(InvalidInput):
        validation.secret_name("1X")
    assert validation.vm_size("shared-cpu-2x") == ("shared", 2)


def test_token_errors_never_echo_the_value() -> None:
    canary = "not-a-token-CANARY-1234"
    with pytest.raises(InvalidInput) as exc:
        validation.telegram_bot_token(canary)
    assert canary not in str(exc.value)
