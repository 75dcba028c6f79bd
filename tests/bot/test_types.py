"""The typed values that cross layers: alert kinds, actors, the pairing-code pattern.

An alert's kind is stored in the outbox and grouped by in digests, so its values must never
change; every alert the code queues names an `AlertKind` member (never a string built on the
spot), and the renderer shows each. An actor is stored in the audit log as `admin:<id>` and
read back from stored rows; `Actor` must write and read exactly those strings. The emulator
keeps its own copy of OpenClaw's pairing alphabet (it imports none of the product): the copy
must agree with the product's.
"""

from __future__ import annotations

import ast
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.fleet import validation
from bot.fleet.errors import GatewayFailure, GatewayProblem
from bot.fleet.monitor import TRANSIENT_STATES
from bot.telegram import render
from emulators.fly import openclaw_sim
from storage.models import THE_BOT, Actor, Alert, AlertKind, AlertSeverity, AlertStatus
from storage.pairing import PAIRING_CODE_ALPHABET, PAIRING_CODE_LENGTH, PAIRING_CODE_PATTERN

ROOT = Path(__file__).resolve().parents[2]

# The values stored in `alert_outbox.kind` before the enum existed: they stay as they are.
STORED_KINDS = {
    "pairing_submitted",
    "pairing_stuck",
    "pairing_foreign_code",
    "owner_policy_failed",
    "owner_bootstrap",
    "agent_provisioned",
    "provision_failed",
    "agent_recreated",
    "recreate_failed",
    "deprovision_incomplete",
    "start_refused",
    "model_mismatch",
    "gateway_auth_refused",
    "gateway_version_mismatch",
    "gateway_never_listening",
    "fly_token_refused",
    "machine_gone",
    "machine_check_critical",
    "machine_unexpected_stopped",
    "machine_unexpected_failed",
    "machine_unexpected_suspended",
    *(f"machine_wedged_{state}" for state in TRANSIENT_STATES),
    "invite_redeemed",
    "invite_agent_taken",
    "bot_error",
    "ops_chat_migrated",
    "webhook_url",
    "webhook_error",
}


def _product_sources() -> list[Path]:
    return sorted([*(ROOT / "bot").rglob("*.py"), *(ROOT / "storage").rglob("*.py")])


def test_alert_kind_values_are_the_stored_strings() -> None:
    assert {kind.value for kind in AlertKind} == STORED_KINDS
    assert all(str(kind) == kind.value and f"{kind}" == kind.value for kind in AlertKind)


def test_every_alert_is_queued_with_an_alert_kind_member() -> None:
    """No call that queues an alert (`outbox.enqueue`, `ctx.alert`) passes a string literal or
    an f-string as its kind: the kind is an `AlertKind` member (mypy checks the type)."""
    built_on_the_spot = []
    for path in _product_sources():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if node.func.attr not in ("enqueue", "alert") or not node.args:
                continue
            kind = node.args[0]
            if isinstance(kind, ast.JoinedStr) or (
                isinstance(kind, ast.Constant) and isinstance(kind.value, str)
            ):
                built_on_the_spot.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert built_on_the_spot == []


def test_every_alert_kind_is_raised_somewhere() -> None:
    """Each member is named by the code that queues it (no member nothing stores)."""
    text = "\n".join(
        path.read_text(encoding="utf-8")
        for path in _product_sources()
        if path != ROOT / "storage" / "models.py"
    )
    assert [kind.name for kind in AlertKind if f"AlertKind.{kind.name}" not in text] == []


def test_each_gateway_failure_has_its_alert_kind() -> None:
    for failure in GatewayFailure:
        problem = GatewayProblem(failure, "words")
        assert problem.kind == failure.value
        assert problem.alert_kind == f"gateway_{failure.value}"


def _alert(kind: AlertKind, alert_id: int) -> Alert:
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    return Alert(
        id=alert_id,
        kind=kind,
        severity=AlertSeverity.WARNING,
        text=f"Agent ag_0000000000001 needs a look ({kind.name}).",
        payload={"agent_id": "ag_0000000000001"},
        dedupe_key=None,
        status=AlertStatus.PENDING,
        attempts=0,
        occurrences=1,
        next_attempt_at=moment,
        last_error=None,
        created_at=moment,
        last_seen_at=moment,
        sent_at=None,
    )


@pytest.mark.parametrize("kind", list(AlertKind))
def test_the_renderer_has_a_sentence_for_each_kind(kind: AlertKind) -> None:
    item = _alert(kind, 7)
    alone = render.alert(item)
    assert f"<b>{kind.value}</b>" in alone and f"needs a look ({kind.name})" in alone
    title = render.digest_kind_line(kind, [item, _alert(kind, 8)], 1)
    assert f"<b>{kind.value}</b> ×2" in title and f"needs a look ({kind.name})" in title


def test_the_emulator_pairing_alphabet_is_the_products() -> None:
    assert openclaw_sim.PAIRING_ALPHABET == PAIRING_CODE_ALPHABET
    assert openclaw_sim.PAIRING_CODE_LENGTH == PAIRING_CODE_LENGTH
    for _ in range(50):
        code = openclaw_sim._new_code()
        assert PAIRING_CODE_PATTERN.fullmatch(code)
        assert validation.pairing_code(code.lower()) == code


def test_an_actor_is_stored_as_the_text_the_audit_log_always_had() -> None:
    assert str(Actor.admin(11)) == "admin:11"
    assert str(Actor.user(2002)) == "user:2002"
    assert str(Actor.system("monitor")) == "system:monitor"
    assert str(Actor.system()) == str(THE_BOT) == "system"
    assert f"by {Actor.admin(11)}" == "by admin:11"


@pytest.mark.parametrize(
    "actor", [Actor.admin(11), Actor.user(2002), Actor.system("resume"), Actor.system()]
)
def test_a_stored_actor_reads_back_as_itself(actor: Actor) -> None:
    assert Actor.parse(str(actor)) == actor


def test_telegram_ids_come_only_from_people() -> None:
    assert Actor.admin(11).telegram_user_id == 11
    assert Actor.user(2002).telegram_user_id == 2002
    assert Actor.system("monitor").telegram_user_id is None


@pytest.mark.parametrize("text", ["admin:", "user:x1", "tester", "admin:1:2", "system:", ""])
def test_a_text_no_actor_writes_reads_as_none(text: str) -> None:
    assert Actor.parse(text) is None
