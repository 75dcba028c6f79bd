"""`/tenant` through Telegram: profiles, their own Fly apps and tokens, secrets kept out of sight.

Everything runs for real: PTB over HTTP to the Telegram emulator, the fleet service against the
Fly emulator (two apps with a token each where it matters) and a SQLite file on disk.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from tg_harness import (
    ADMIN,
    END_USER,
    FLY_TOKEN,
    OPS_CHAT,
    STRANGER,
    BotHarness,
    start_bot,
    unpaced_options,
)

from bot.fleet.resolve import AgentOverrides
from bot.telegram.parsing import ParseError, parse_tenant_command, tenant_text_may_hold_secret
from bot.telegram.render import ADMIN_ONLY_LINE, STRANGER_LINE
from emulators.fly import FlyEmulator
from emulators.telegram import FloodLimits, TelegramEmulator
from storage.models import SecretScope

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

TOKEN_A = "tokA_fly_token_of_tenant_acme_000000"
TOKEN_B = "tokB_fly_token_of_tenant_beta_000000"
CANARY = "CANARYtn-5e1d9c3b7a2f4e6d8c0b1a2f3e4d5c6b"
CANARY_2 = "CANARYfm-9a8b7c6d5e4f30211203f4e5d6c7b8a9"
CANARY_3 = "CANARYxx-0f1e2d3c4b5a69788796a5b4c3d2e1f0"


# --- helpers ------------------------------------------------------------------------------------


async def _say(
    bot: BotHarness, text: str, *, user: dict[str, Any] = ADMIN, in_ops: bool = False
) -> dict[str, Any]:
    """Send `text` and return the bot's settled answer (a ✅/❌ line or a listing)."""
    sent = await (bot.send_in_ops(user, text) if in_ops else bot.send(user, text))
    chat = OPS_CHAT if in_ops else user["id"]
    return await bot.reply_to(chat, sent, lambda m: not m.get("text", "").startswith("⏳"))


def _database_bytes(db_path: Path) -> bytes:
    """The SQLite file and its -wal/-shm/-journal files, as stored on disk."""
    return b"".join(
        path.read_bytes() for path in db_path.parent.glob(db_path.name + "*") if path.is_file()
    )


def _everything_the_bot_sent(bot: BotHarness) -> str:
    sent = [
        str(request["params"])
        for request in bot.requests()
        if request["method"] not in ("getUpdates", "getMe")
    ]
    shown = [
        str(m.get("text"))
        for chat in (ADMIN["id"], OPS_CHAT, STRANGER["id"], END_USER["id"])
        for m in bot.bot_messages(chat)
    ]
    return "\n".join(sent + shown)


async def _tenant_state(bot: BotHarness) -> list[tuple[Any, ...]]:
    """Every profile with its plain overrides and its secrets' names and fingerprints."""
    rows = []
    for profile in await bot.store.tenants.all():
        metas = await bot.store.secrets.meta(SecretScope.tenant(profile.tenant_id))
        rows.append(
            (
                profile.tenant_id,
                profile.display_name,
                dict(profile.overrides),
                sorted((m.name, m.fingerprint) for m in metas),
            )
        )
    return rows


def _line_of(text: str, key: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(key + ":"))


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture
async def two_app_bot(
    fly_emulator_factory: Callable[..., Awaitable[FlyEmulator]],
    telegram_emulator_factory: Callable[..., Awaitable[TelegramEmulator]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[BotHarness]:
    """The bot against a Fly with apps `agents`, `app-a` and `app-b`, each taking only its token."""
    monkeypatch.chdir(tmp_path)
    fly = await fly_emulator_factory(
        apps=("agents", "app-a", "app-b"),
        app_tokens={"agents": FLY_TOKEN, "app-a": TOKEN_A, "app-b": TOKEN_B},
    )
    tg = await telegram_emulator_factory(flood_limits=FloodLimits(enabled=False))
    harness = await start_bot(
        tg, fly, tmp_path, options=unpaced_options(pairing_attempts_per_window=1000)
    )
    yield harness
    await harness.close()


# --- the happy paths ----------------------------------------------------------------------------


async def test_every_tenant_subcommand_works_in_one_line(fast_bot: BotHarness) -> None:
    bot = fast_bot

    added = await _say(bot, "/tenant add acme Acme Corp & Sons")
    assert "Added tenant" in added["text"] and "Acme Corp &amp; Sons" not in added["text"]
    assert "Acme Corp & Sons" in added["text"]
    await _say(bot, "/tenant add beta")
    stored = await _say(bot, "/tenant set acme fly_region=AMS LLM_MODEL=anthropic/claude-x")
    assert "Stored" in stored["text"] and "deleted" not in stored["text"]

    shown = (await _say(bot, "/tenant show acme"))["text"]
    assert "Acme Corp & Sons" in shown and "Live agents: 0" in shown
    assert _line_of(shown, "FLY_REGION") == "FLY_REGION: ams · in effect: ams (tenant)"
    assert _line_of(shown, "LLM_MODEL").endswith("in effect: anthropic/claude-x (tenant)")
    assert _line_of(shown, "FLY_APP_NAME") == "FLY_APP_NAME: not set · in effect: agents (fleet)"
    assert _line_of(shown, "LLM_API_KEY") == "LLM_API_KEY: not set · in effect: fleet"
    assert _line_of(shown, "OPENAI_API_KEY") == "OPENAI_API_KEY: not set · in effect: not set"

    listing = (await _say(bot, "/tenant list"))["text"]
    assert listing.splitlines()[0] == "2 tenants"
    assert "acme — Acme Corp & Sons · 0 live agents · FLY_REGION, LLM_MODEL" in listing
    assert "beta — beta · 0 live agents · fleet values only" in listing

    unset = (await _say(bot, "/tenant unset acme llm_model"))["text"]
    assert "Unset LLM_MODEL of tenant acme" in unset
    assert _line_of(unset, "LLM_MODEL").startswith("LLM_MODEL: not set · in effect: ")
    assert _line_of(unset, "LLM_MODEL").endswith("(fleet)")
    profile = await bot.store.tenants.get("acme")
    assert profile is not None and profile.overrides == {"FLY_REGION": "ams"}

    asked = await _say(bot, "/tenant remove beta")
    assert "deletes its profile" in asked["text"]
    cancel = bot.buttons(asked)[1]
    await bot.press(ADMIN, asked["message_id"], cancel)
    await bot.shows(ADMIN["id"], asked["message_id"], "nothing was done to tenant beta")
    assert await bot.store.tenants.get("beta") is not None

    asked = await _say(bot, "/tenant remove beta")
    await bot.press(ADMIN, asked["message_id"], bot.buttons(asked)[0])
    await bot.shows(ADMIN["id"], asked["message_id"], "Removed tenant beta")
    assert await bot.store.tenants.get("beta") is None
    assert [row[0] for row in await _tenant_state(bot)] == ["acme"]


async def test_tenant_appears_in_help_and_a_bare_tenant_lists_its_forms(
    fast_bot: BotHarness,
) -> None:
    bot = fast_bot
    forms = (
        "/tenant add ID [name]",
        "/tenant set ID KEY=VALUE …",
        "/tenant unset ID KEY",
        "/tenant show ID",
        "/tenant list",
        "/tenant remove ID",
    )
    helped = await _say(bot, "/help")
    bare = await _say(bot, "/tenant")
    for form in forms:
        assert form in helped["text"]
        assert form in bare["text"]
    unknown = await _say(bot, "/tenant frobnicate acme")
    assert unknown["text"].startswith("❌ /tenant can add, set, unset, show, list or remove")


async def test_two_tenants_provisioned_through_telegram_land_in_their_own_apps_with_their_tokens(
    two_app_bot: BotHarness,
) -> None:
    bot = two_app_bot
    await _say(bot, "/tenant add acme Acme")
    await _say(bot, "/tenant add beta Beta")
    await _say(bot, f"/tenant set acme FLY_APP_NAME=app-a FLY_API_TOKEN={TOKEN_A}")
    # The "FlyV1 …" form `fly tokens create` prints is taken as the token itself.
    await _say(
        bot,
        f"/tenant set beta fly_app_name=app-b FLY_API_TOKEN=FlyV1 {TOKEN_B} "
        "LLM_MODEL=anthropic/claude-x",
    )

    alice, _ = await bot.provision(tenant="acme", user="alice")
    bob, _ = await bot.provision(tenant="beta", user="bob")

    state = (await bot.fly_http.get("/_emulator/state")).json()
    machines = {
        app["name"]: [m["id"] for m in app["machines"] if m["state"] != "destroyed"]
        for app in state["apps"]
    }
    alice_agent, bob_agent = await bot.agent(alice), await bot.agent(bob)
    assert machines == {
        "agents": [],
        "app-a": [alice_agent.machine_id],
        "app-b": [bob_agent.machine_id],
    }
    assert (alice_agent.fly_app, bob_agent.fly_app) == ("app-a", "app-b")
    assert bob_agent.model == "anthropic/claude-x"
    tokens_by_app: dict[str, set[str]] = {"app-a": set(), "app-b": set()}
    for record in await bot.fly_requests():
        for app, seen in tokens_by_app.items():
            if f"/apps/{app}/" in record["path"]:
                seen.add(record["token"])
    assert tokens_by_app == {"app-a": {TOKEN_A[:4] + "…"}, "app-b": {TOKEN_B[:4] + "…"}}

    # /status names the level behind each value, and never a secret value.
    status = (await _say(bot, f"/status {bob}"))["text"]
    assert _line_of(status, "FLY_APP_NAME") == "FLY_APP_NAME: app-b · tenant"
    assert _line_of(status, "LLM_MODEL") == "LLM_MODEL: anthropic/claude-x · tenant"
    assert _line_of(status, "FLY_REGION").endswith("· fleet")
    assert _line_of(status, "FLY_API_TOKEN") == "FLY_API_TOKEN: set · tenant"
    assert _line_of(status, "LLM_API_KEY") == "LLM_API_KEY: set · fleet"
    assert _line_of(status, "TELEGRAM_BOT_TOKEN") == "TELEGRAM_BOT_TOKEN: set · agent"
    assert _line_of(status, "OPENAI_API_KEY") == "OPENAI_API_KEY: not set"
    assert "Command owners:" in status
    assert TOKEN_B not in _everything_the_bot_sent(bot)
    assert TOKEN_A not in _everything_the_bot_sent(bot)

    # The app of a tenant with live agents stays; a tenant with live agents stays.
    before = await _tenant_state(bot)
    moved = await _say(bot, "/tenant set acme FLY_APP_NAME=app-b")
    assert moved["text"].startswith("❌") and "live agent" in moved["text"]
    removal = await _say(bot, "/tenant remove beta")
    assert removal["text"].startswith("❌") and "live agent" in removal["text"]
    assert bot.buttons(removal) == []
    assert await _tenant_state(bot) == before

    shown = (await _say(bot, "/tenant show beta"))["text"]
    assert "Live agents: 1" in shown
    assert _line_of(shown, "FLY_API_TOKEN").startswith("FLY_API_TOKEN: set · fingerprint ")
    assert _line_of(shown, "FLY_API_TOKEN").endswith("in effect: tenant")


async def test_tenant_remove_is_refused_while_the_tenant_has_live_agents(
    fast_bot: BotHarness,
) -> None:
    bot = fast_bot
    await _say(bot, "/tenant add acme")
    await _say(bot, f"/tenant set acme LLM_API_KEY={CANARY}")
    agent_id, _ = await bot.provision(tenant="acme", user="alice")
    before = await _tenant_state(bot)

    refused = await _say(bot, "/tenant remove acme")

    assert refused["text"].startswith("❌ Tenant acme still has 1 live agent(s)")
    assert bot.buttons(refused) == []
    assert await _tenant_state(bot) == before

    # Once its agent is gone, the same command asks, and the button removes it all.
    asked = await _say(bot, f"/deprovision {agent_id}")
    await bot.press(ADMIN, asked["message_id"], bot.buttons(asked)[0])
    await bot.shows(ADMIN["id"], asked["message_id"], "Deprovisioned")
    asked = await _say(bot, "/tenant remove acme")
    await bot.press(ADMIN, asked["message_id"], bot.buttons(asked)[0])
    await bot.shows(ADMIN["id"], asked["message_id"], "Removed tenant acme")
    assert await _tenant_state(bot) == []
    assert await bot.store.secrets.meta(SecretScope.tenant("acme")) == []


# --- secrets ------------------------------------------------------------------------------------


async def test_a_tenant_secret_is_deleted_from_the_chat_and_never_echoed_logged_or_stored_plain(
    fast_bot: BotHarness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bot = fast_bot
    await _say(bot, "/tenant add acme")

    one_line = await bot.send(ADMIN, f"/tenant set acme LLM_API_KEY={CANARY} FLY_REGION=ams")
    stored = await bot.reply_to(ADMIN["id"], one_line, "Stored")
    fly_v1 = await bot.send(ADMIN, f"/tenant set acme fly_api_token=FlyV1 {CANARY_2}")
    await bot.reply_to(ADMIN["id"], fly_v1, "Stored")
    # A mistyped key may hold a secret too: deleted, refused, nothing stored.
    mistyped = await bot.send(ADMIN, f"/tenant set acme LLM_KEY={CANARY_3}")
    refused = await bot.reply_to(ADMIN["id"], mistyped, "❌")
    # A value refused by validation is deleted as well, and not repeated.
    spaced = await bot.send(ADMIN, f"/tenant set acme OPENAI_API_KEY={CANARY_3}\u0007")
    refused_too = await bot.reply_to(ADMIN["id"], spaced, "❌")
    shown = (await _say(bot, "/tenant show acme"))["text"]

    for message_id in (one_line, fly_v1, mistyped, spaced):
        assert bot.message(ADMIN["id"], message_id)["deleted"] is True
    assert "LLM_API_KEY" in stored["text"] and "was deleted" in stored["text"]
    assert "LLM_KEY" in refused["text"] and "Nothing was stored" in refused["text"]
    assert "Nothing was stored" in refused_too["text"]
    assert _line_of(shown, "LLM_API_KEY").startswith("LLM_API_KEY: set · fingerprint ")
    assert _line_of(shown, "OPENAI_API_KEY").startswith("OPENAI_API_KEY: not set")
    everything = _everything_the_bot_sent(bot)
    on_disk = _database_bytes(bot.db_path)
    for canary in (CANARY, CANARY_2, CANARY_3):
        assert canary not in everything
        assert canary not in caplog.text and canary[6:20] not in caplog.text
        assert canary.encode() not in on_disk and canary[6:20].encode() not in on_disk
    # Really stored (encrypted in the vault), as the tenant's values.
    service = bot.runtime.service
    assert service is not None
    config = await service.ctx.effective_config(
        "acme", overrides=AgentOverrides(), agent_secrets={}
    )
    assert config.secrets["LLM_API_KEY"].get_secret_value() == CANARY
    assert config.fly_token is not None and config.fly_token.get_secret_value() == CANARY_2
    assert "OPENAI_API_KEY" not in config.secrets
    assert config.sources["LLM_API_KEY"] == "tenant"


async def test_a_tenant_secret_sent_in_a_group_is_refused_and_not_stored(
    fast_bot: BotHarness,
) -> None:
    bot = fast_bot
    await _say(bot, "/tenant add acme")
    before = await _tenant_state(bot)

    sent = await bot.send_in_ops(ADMIN, f"/tenant set acme OPENAI_API_KEY={CANARY}")
    refused = await bot.reply_to(OPS_CHAT, sent, "❌")

    assert "private chat" in refused["text"] and "nothing was stored" in refused["text"]
    # It tried to delete at once; the emulated bot is no group admin, so it could not, and
    # says so.
    tried = [r for r in bot.requests("deleteMessage") if int(r["params"]["message_id"]) == sent]
    assert len(tried) == 1 and tried[0]["status"] == 400
    assert "could not delete" in refused["text"] and "rotate" in refused["text"]
    assert await _tenant_state(bot) == before
    assert CANARY not in _everything_the_bot_sent(bot)

    # Plain values are fine in the ops chat.
    plain = await _say(bot, "/tenant set acme FLY_REGION=ams", in_ops=True)
    assert plain["text"].startswith("✅ Stored")
    profile = await bot.store.tenants.get("acme")
    assert profile is not None and profile.overrides == {"FLY_REGION": "ams"}


# --- refusals -----------------------------------------------------------------------------------

HOSTILE_IDS = [
    ";",
    "$(reboot)",
    "`id`",
    "'quoted'",
    '"double"',
    "ＡＢＣＤ２３４５",
    "АВСЕНКМР",
    "<b>bold</b>",
    "<script>alert(1)</script>",
    "&amp;&lt;",
    "\u202eevil",
    "../../etc/passwd",
    "-flag",
    "a" * 65,
    "x" * 3900,
]
ID_POSITIONS = [
    "/tenant add {}",
    "/tenant add {} Some Name",
    "/tenant set {} FLY_REGION=ams",
    "/tenant unset {} FLY_REGION",
    "/tenant show {}",
    "/tenant remove {}",
]
BAD_SETTINGS = [
    "FLY_APP_NAME=App_A!",
    "FLY_APP_NAME=<b>x</b>",
    "FLY_REGION=amsterdam",
    "FLYAGENTS_AGENT_VM=huge-cpu-1x",
    "LLM_MODEL=gpt-5-mini",
    "LLM_MODEL=openai/GPT-5-MINI",
    "LLM_MODEL=$(reboot)",
    "ALLOWED_SKILLS_JSON=not-json",
    'ALLOWED_SKILLS_JSON={"a":1}',
    "AGENT_BRIDGE_URL=http://bridge.example.com",
    "AGENT_BRIDGE_URL=javascript:alert(1)",
    "AGENT_BRIDGE_URL=https://user:pw@bridge.example.com",
    "OPENCLAW_APP_KEY=;rm",
    "OPENCLAW_SERVICE_ID=<script>",
    "FLYAGENTS_AGENT_IMAGE=`id`",
    "LLM_API_KEY=\u202eevil",
    "FLY_API_TOKEN=",
    "COLOUR=red",
    "1BAD=bad-key-value-1",
    "FLY_REGION",
    "FLY_REGION=ams FLY_REGION=iad",
    # One bad value spoils the lot: the good one is not stored either.
    "FLY_REGION=ams LLM_MODEL=gpt-5-mini",
    "OPENCLAW_SERVICE_KEY=good-service-key AGENT_BRIDGE_URL=ftp://x",
]


async def _refused(bot: BotHarness, text: str) -> str:
    seq = len(bot.requests())
    answer = str((await _say(bot, text))["text"])
    assert answer.startswith("❌"), (text[:80], answer)
    assert "went wrong" not in answer
    for request in bot.requests()[seq:]:
        if request["method"] in ("sendMessage", "editMessageText"):
            assert request["status"] == 200, request["answer"]
            sent = str(request["params"].get("text", ""))
            assert "<b>bold</b>" not in sent and "<script>" not in sent, sent[:300]
    return answer


async def test_hostile_tenant_ids_and_values_are_refused_politely_and_nothing_is_stored(
    fast_bot: BotHarness,
) -> None:
    bot = fast_bot
    await _say(bot, "/tenant add acme")
    await _say(bot, "/tenant set acme FLY_REGION=iad")
    before = await _tenant_state(bot)

    for position in ID_POSITIONS:
        for hostile in HOSTILE_IDS:
            answer = await _refused(bot, position.replace("{}", hostile))
            assert hostile[:40] not in answer or hostile in ("-flag", ";")
    for setting in BAD_SETTINGS:
        answer = await _refused(bot, f"/tenant set acme {setting}")
        value = setting.partition("=")[2]
        if len(value) > 3 and value != "gpt-5-mini":
            assert value not in answer, (setting, answer)
    gpt = await _refused(bot, "/tenant set acme LLM_MODEL=gpt-5-mini")
    assert "gpt-5-mini must not be used" in gpt
    https = await _refused(bot, "/tenant set acme AGENT_BRIDGE_URL=http://bridge.example.com")
    assert "https://" in https
    unknown = await _refused(bot, "/tenant set acme COLOUR=red")
    assert "FLY_APP_NAME" in unknown and "OPENCLAW_SERVICE_KEY" in unknown
    for text in ("/tenant unset acme COLOUR", "/tenant show nobody", "/tenant add acme"):
        await _refused(bot, text)

    assert await _tenant_state(bot) == before


async def test_every_tenant_subcommand_from_a_non_admin_is_refused_and_changes_nothing(
    fast_bot: BotHarness,
) -> None:
    bot = fast_bot
    await _say(bot, "/tenant add acme")
    await _say(bot, f"/tenant set acme FLY_REGION=iad LLM_API_KEY={CANARY}")
    _, invite = await bot.provision(tenant="acme", user="alice")
    await bot.link(END_USER, invite)
    lines = [
        "/tenant add evil Evil Corp",
        "/tenant set acme FLY_REGION=ams",
        f"/tenant set acme LLM_API_KEY={CANARY_2}",
        "/tenant unset acme FLY_REGION",
        "/tenant show acme",
        "/tenant list",
        "/tenant remove acme",
        "/tenant",
    ]
    before = await _tenant_state(bot)
    audit_before = len(await bot.store.audit.entries(limit=100_000))

    for user, refusal in ((STRANGER, STRANGER_LINE), (END_USER, ADMIN_ONLY_LINE)):
        for line in lines:
            sent = await bot.send(user, line)
            reply = await bot.reply_to(user["id"], sent)
            assert reply["text"] == refusal, (line, reply["text"])
            assert bot.buttons(reply) == []
            if CANARY_2 in line:
                assert bot.message(user["id"], sent)["deleted"] is True

    assert await _tenant_state(bot) == before
    assert len(await bot.store.audit.entries(limit=100_000)) == audit_before
    assert CANARY not in _everything_the_bot_sent(bot)
    assert CANARY_2 not in _everything_the_bot_sent(bot)


# --- the parser on its own ----------------------------------------------------------------------


def test_tenant_set_pairs_keep_values_hidden_and_join_the_flyv1_form() -> None:
    request = parse_tenant_command(
        f"SET acme llm_api_key={CANARY}=x FLY_API_TOKEN=FlyV1 {CANARY_2} FLY_REGION=ams"
    )
    assert (request.action, request.tenant_id) == ("set", "acme")
    assert [(a.key, a.value.get_secret_value()) for a in request.assignments] == [
        ("LLM_API_KEY", f"{CANARY}=x"),
        ("FLY_API_TOKEN", CANARY_2),
        ("FLY_REGION", "ams"),
    ]
    assert request.sets_secret
    assert CANARY not in repr(request) and CANARY_2 not in repr(request)
    add = parse_tenant_command("add acme  Acme   Corp ")
    assert (add.tenant_id, add.name) == ("acme", "Acme   Corp")
    for bad in ("set acme", f"set LLM_API_KEY={CANARY}", "set acme A=1 a=2", "show", "list x"):
        with pytest.raises(ParseError) as refused:
            parse_tenant_command(bad)
        assert CANARY not in str(refused.value)


def test_only_plain_well_formed_settings_escape_deletion() -> None:
    kept = ["add acme Acme", "set acme FLY_REGION=ams LLM_MODEL=a/b", "show acme", "list", ""]
    deleted = [
        f"set acme LLM_API_KEY={CANARY}",
        f"set acme fly_api_token=FlyV1 {CANARY}",
        f"set acme FLY_REGION=ams LLM_KEY={CANARY}",
        f"set acme {CANARY}",
        f"set FLY_API_TOKEN={CANARY}",
        f"add acme OPENAI_API_KEY={CANARY}",
    ]
    assert [tenant_text_may_hold_secret(text) for text in kept] == [False] * len(kept)
    assert [tenant_text_may_hold_secret(text) for text in deleted] == [True] * len(deleted)
