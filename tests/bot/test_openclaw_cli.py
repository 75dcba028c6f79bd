"""The OpenClaw CLI contract: argv shapes and parsing of the real runtime's outputs."""

from __future__ import annotations

import pytest

from bot.fleet import openclaw
from bot.fleet.gateway_signals import (
    GatewaySignal,
    VersionMismatch,
    classify,
    parse_version_mismatch,
    summarize,
)
from bot.fleet.validation import InvalidInput

REAL_PAIRING_MESSAGE = (
    "OpenClaw: access not configured.\n\nYour Telegram user id: 2002\nPairing code:\n\n"
    "F864XLAV\n\nAsk the bot owner to approve with:\n\n"
    "openclaw pairing approve telegram F864XLAV\n"
)


def test_approve_passes_the_code_as_a_separate_argument_of_a_fixed_script() -> None:
    cmd = openclaw.approve_pairing("/app", " f864xlav ")
    assert cmd.argv == (
        "sh",
        "-lc",
        'cd /app && exec node ./openclaw.mjs pairing approve telegram "$1"',
        "openclaw",
        "F864XLAV",
    )
    assert "F864XLAV" not in cmd.argv[2]
    assert "F864XLAV" not in cmd.label


def test_cli_folder_is_configurable_and_validated() -> None:
    assert openclaw.model_status("/opt/openclaw/").argv[2].startswith("cd /opt/openclaw && ")
    for bad in ("app", "/app; rm -rf /", "/a b", "/app/../etc", "/app$(x)"):
        with pytest.raises(InvalidInput):
            openclaw.model_status(bad)


def test_owner_list_is_json_in_one_argument() -> None:
    cmd = openclaw.set_owner_allow_from("/app", ["telegram:1", "telegram:22"])
    assert cmd.argv[-1] == '["telegram:1","telegram:22"]'
    with pytest.raises(InvalidInput):
        openclaw.set_owner_allow_from("/app", ["telegram:1; x"])


def test_first_approval_reports_sender_and_the_owner_it_configured() -> None:
    out = (
        "Approved telegram sender 2002.\n"
        "Command owner configured telegram:2002 (commands.ownerAllowFrom was empty).\n"
    )
    result = openclaw.parse_approve(0, out, "")
    assert result.outcome is openclaw.ApproveOutcome.APPROVED
    assert result.sender_id == 2002
    assert result.owner_configured == "telegram:2002"


def test_real_refusal_means_not_pending_and_older_wording_too() -> None:
    real = (
        "[openclaw] The CLI command failed.\n"
        '[openclaw] Reason: No pending pairing request found for code "F864XLAV". '
        "Run openclaw pairing list --channel telegram to list pending requests.\n"
    )
    assert openclaw.parse_approve(1, "", real).outcome is openclaw.ApproveOutcome.NOT_PENDING
    old = "Error: No pending pairing request found for code: F864XLAV"
    assert openclaw.parse_approve(1, "", old).outcome is openclaw.ApproveOutcome.NOT_PENDING


def test_other_failures_keep_openclaws_reason() -> None:
    err = "[openclaw] The CLI command failed.\n[openclaw] Reason: gateway unreachable\n"
    result = openclaw.parse_approve(78, "", err)
    assert result.outcome is openclaw.ApproveOutcome.FAILED
    assert result.reason == "gateway unreachable"


def test_pairing_list_json_is_parsed() -> None:
    out = (
        '{"channel":"telegram","requests":[{"id":"2002","code":"F864XLAV",'
        '"createdAt":"2026-11-25T13:43:47.658Z","lastSeenAt":"x",'
        '"meta":{"firstName":"u","accountId":"default"}}]}'
    )
    listing = openclaw.parse_pairing_list(0, out, "")
    assert listing.ok
    found = listing.find("F864XLAV")
    assert found is not None and found.sender_id == "2002"
    assert openclaw.parse_pairing_list(0, "not json", "").ok is False
    assert openclaw.parse_pairing_list(1, "", "boom").reason == "boom"


def test_models_set_reads_the_last_default_model_line_after_warning_boxes() -> None:
    out = (
        "Updated config: /data/openclaw/config.json\n"
        "┌ Doctor warnings ┐\n│ something │\n└─────────────────┘\n"
        "Default model: moonshotai/kimi-k2.5\n"
    )
    result = openclaw.parse_models_set(0, out, "")
    assert result.ok and result.model == "moonshotai/kimi-k2.5"


def test_unknown_provider_surfaces_openclaws_own_reason() -> None:
    err = (
        'Unknown model provider "moonshot". Install a plugin that declares it or configure '
        'it under models.providers before selecting "moonshot/kimi-k2.5". Config was not changed.'
    )
    result = openclaw.parse_models_set(1, "", err)
    assert not result.ok
    assert result.reason.startswith('Unknown model provider "moonshot"')


def test_models_status_plain_takes_the_last_line() -> None:
    assert openclaw.parse_models_status(
        0, "\x1b[33mwarn\x1b[0m\nopenai/gpt-4.1-mini\n", ""
    ).model == ("openai/gpt-4.1-mini")
    assert not openclaw.parse_models_status(0, "nothing useful", "").ok


@pytest.mark.parametrize(
    ("line", "signal"),
    [
        ("2026-11-25T13:43:47.658Z \x1b[36m[gateway]\x1b[39m ready", GatewaySignal.READY),
        ("[gateway] listening on ws://0.0.0.0:3000 (PID 12)", GatewaySignal.READY),
        ("Refusing to bind gateway to lan without auth.", GatewaySignal.AUTH_REFUSED),
        (
            "Refusing to run automatic gateway startup migrations because this OpenClaw binary "
            "(2026.6.11) is older than the config last written by OpenClaw 2026.9.6.",
            GatewaySignal.VERSION_MISMATCH,
        ),
        # The docs' wording, which OpenClaw never prints, is not a signal.
        ("Config was last written by a newer OpenClaw (2026.10.1); current version is x.", None),
        ("[gateway] http server listening (15 plugins: a; 2.5s)", None),
    ],
)
def test_gateway_lines_are_classified(line: str, signal: GatewaySignal | None) -> None:
    assert classify(line) is signal


def test_a_restart_loop_of_refusals_is_not_ready() -> None:
    lines = [
        "[gateway] agent model: openai/gpt-4.1-mini (thinking=medium, fast=off)",
        "[gateway] ready",
        "Refusing to bind gateway to lan without auth.",
    ]
    report = summarize(lines)
    assert not report.ready and report.auth_refused
    assert report.agent_model == "openai/gpt-4.1-mini"


def test_forwarded_pairing_message_yields_its_code() -> None:
    assert openclaw.find_pairing_code(REAL_PAIRING_MESSAGE) == "F864XLAV"
    assert openclaw.find_pairing_code("  f864xlav ") == "F864XLAV"
    assert openclaw.find_pairing_code("hello there") is None
    assert openclaw.find_pairing_code("ABCDEFGH and JKLMNPQR") is None


def test_the_real_clis_trailing_hints_are_not_taken_for_the_reason() -> None:
    err = (
        "[openclaw] The CLI command failed.\n"
        "Gateway unreachable at ws://127.0.0.1:3000\n"
        "[openclaw] Debug: set OPENCLAW_DEBUG=1 for the stack trace.\n"
        "[openclaw] Try: openclaw doctor\n"
        "[openclaw] Help: openclaw --help\n"
    )
    assert openclaw.failure_reason("", err) == "Gateway unreachable at ws://127.0.0.1:3000"


@pytest.mark.parametrize(
    "line",
    [
        # As the real 2026.6.11 printed it on stderr (seen), and as it may reach the bot
        # through Fly's logs: with a timestamp, colours, a trailing newline.
        "Refusing to run automatic gateway startup migrations because this OpenClaw binary "
        "(2026.6.11) is older than the config last written by OpenClaw 2026.9.6.",
        "2026-12-07T22:58:01.123Z \x1b[31mRefusing to run automatic gateway startup migrations "
        "because this OpenClaw binary (2026.6.11) is older than the config last written by "
        "OpenClaw 2026.9.6.\x1b[39m\n",
    ],
)
def test_a_version_mismatch_names_the_binary_and_the_config_version(line: str) -> None:
    report = summarize(
        [
            line,
            "Run the newer openclaw binary on PATH, or reinstall the intended gateway service "
            "from the newer install.",
        ]
    )
    assert report.version_mismatch and not report.ready
    assert report.versions == VersionMismatch(binary="2026.6.11", config="2026.9.6")
    assert parse_version_mismatch(line) == VersionMismatch("2026.6.11", "2026.9.6")


def test_the_allow_list_reader_is_a_fixed_script_without_arguments_from_users() -> None:
    command = openclaw.read_allow_list("/app")
    assert command.argv == (
        "sh",
        "-lc",
        'cd /app && exec node -e "$1"',
        "openclaw",
        openclaw.ALLOW_LIST_SCRIPT,
    )
    assert "readOnly:true" in openclaw.ALLOW_LIST_SCRIPT
    with pytest.raises(InvalidInput):
        openclaw.read_allow_list("/app; rm -rf /")


def test_the_allow_list_is_parsed_and_compared_as_text() -> None:
    parsed = openclaw.parse_allow_list(0, '{"channel":"telegram","allowFrom":["2002"]}\n', "")
    assert parsed.ok
    assert parsed.allows("2002")
    assert not parsed.allows("3003")
    empty = openclaw.parse_allow_list(0, '{"channel":"telegram","allowFrom":[]}\n', "")
    assert empty.ok and not empty.allows("2002")


@pytest.mark.parametrize(
    ("exit_code", "stdout", "stderr"),
    [
        (1, "", "[eval]:1\nError: database is locked\n"),
        (0, "", ""),
        (0, "not json\n", ""),
        (0, '{"channel":"telegram"}\n', ""),
        (0, '{"channel":"telegram","allowFrom":[{"id":1}]}\n', ""),
    ],
)
def test_an_unreadable_allow_list_is_not_taken_for_an_empty_one(
    exit_code: int, stdout: str, stderr: str
) -> None:
    parsed = openclaw.parse_allow_list(exit_code, stdout, stderr)
    assert not parsed.ok
    assert parsed.reason
