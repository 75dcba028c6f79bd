"""Texts about one agent or the list of agents: its view, settings, secrets, snapshot, audit."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from bot.fleet import AGENT_SECRET_KEYS, TENANT_PLAIN_KEYS, AgentView, ProvisionResult
from bot.telegram.render.common import (
    agent_label,
    code,
    done,
    esc,
    failed,
    setting_level,
    when,
    working,
)
from bot.telegram.render.invites import invite_lines
from storage.models import Agent, AuditEntry, PairingRequest, PairingState, SecretMeta, Snapshot

# --- agents -------------------------------------------------------------------------------------


def agent_line(agent: Agent) -> str:
    parts = [code(agent.id), esc(agent_label(agent)), esc(agent.status.value)]
    if agent.region:
        parts.append(esc(agent.region))
    if not agent.provisioned:
        # Its configured model was never confirmed on the machine: do not claim it.
        parts.append("<i>provisioning not finished</i>")
    elif agent.model:
        parts.append(esc(agent.model))
    if agent.telegram_user_id is None:
        parts.append("<i>not linked</i>")
    return " · ".join(parts)


def agent_list_header(count: int, tenant: str | None) -> str:
    scope = f" of tenant {esc(tenant)}" if tenant else ""
    return f"<b>{count} live agent{'s' if count != 1 else ''}{scope}</b>"


def pairing_state_line(request: PairingRequest) -> str:
    return (
        f"{code(request.id)} {code(request.code)} {esc(request.state.value)} · "
        f"{when(request.created_at)}"
    )


def agent_view(view: AgentView, requests: Sequence[PairingRequest]) -> str:
    agent = view.agent
    lines = [
        f"<b>Agent</b> {code(agent.id)} — {esc(agent_label(agent))}",
        f"Status: <b>{esc(agent.status.value)}</b>",
    ]
    if agent.machine_id:
        live = view.machine.state if view.machine is not None else None
        seen = esc(live) if live else f"unknown ({esc(view.machine_error or 'not read')})"
        lines.append(f"Machine: {code(agent.machine_id)} · {seen}")
    else:
        lines.append("Machine: none")
    if agent.volume_id:
        lines.append(f"Volume: {code(agent.volume_id)}")
    model = code(agent.model or "—") if agent.provisioned else "not set (provisioning not finished)"
    lines.append(f"Region: {esc(agent.region or '—')} · Model: {model}")
    lines.append(f"Skills: {esc(', '.join(agent.allowed_skills) or '—', 1000)}")
    linked = (
        f"Telegram user {agent.telegram_user_id}"
        if agent.telegram_user_id is not None
        else f"not linked (/invite {esc(agent.id)})"
    )
    lines.append(f"End user: {linked}")
    lines.append(f"Command owners: {esc(view.owner_policy)}")
    lines.extend(config_sources(view))
    if agent.last_error:
        lines.append(f"Last error: {esc(agent.last_error, 400)}")
    live_requests = [r for r in requests if not r.state.is_final][-5:]
    if live_requests:
        lines.append("<b>Pairing</b>")
        lines.extend(pairing_state_line(request) for request in live_requests)
    if any(r.state is PairingState.STUCK for r in requests):
        lines.append("⚠️ A pairing command is stuck: restart the machine before pairing again.")
    return "\n".join(lines)


def config_sources(view: AgentView) -> list[str]:
    """Which level (agent / tenant / fleet) supplied each setting; secrets as set/not set."""
    lines = ["<b>Settings</b> (value · the level that supplies it)"]
    for key in TENANT_PLAIN_KEYS:
        level = view.config_sources.get(key)
        if level is None:
            continue
        value = view.config_values.get(key)
        shown = f"{code(value, 120)} · " if value else ""
        lines.append(f"{code(key)}: {shown}{setting_level(level)}")
    for key in AGENT_SECRET_KEYS:
        level = view.config_sources.get(key)
        if level is None:
            continue
        state = "not set" if level == "unset" else f"set · {setting_level(level)}"
        lines.append(f"{code(key)}: {state}")
    return lines


def provisioned(result: ProvisionResult, invite_link: str | None) -> str:
    agent = result.agent
    lines = [
        done(
            f"{'Resumed and finished' if result.resumed else 'Provisioned'} {code(agent.id)} "
            f"({esc(agent_label(agent))})"
        ),
        f"Machine: {code(agent.machine_id or '—')} · region {esc(agent.region or '—')}",
        f"Model: {code(result.model)}",
    ]
    if invite_link:
        lines.append(invite_lines(invite_link))
    return "\n".join(lines)


def snapshot(record: Snapshot) -> str:
    return done(
        f"Snapshot {code(record.fly_snapshot_id or record.id)} of volume "
        f"{code(record.source_volume_id)} ({esc(record.status.value)})"
    )


def secrets_meta(label: str, metas: Sequence[SecretMeta]) -> str:
    if not metas:
        return f"No secrets stored for {esc(label)}."
    lines = [f"<b>Secrets of {esc(label)}</b> (names only)"]
    lines.extend(
        f"{code(meta.name)} · fingerprint {code(meta.fingerprint, 24)} · {when(meta.updated_at)}"
        for meta in metas
    )
    return "\n".join(lines)


def secrets_stored(label: str, names: Iterable[str]) -> str:
    listed = ", ".join(code(name) for name in names)
    return done(f"Stored {listed} for {esc(label)}. The message with the value was deleted.")


def secret_question_expired(*, deleted: bool) -> str:
    gone = (
        "I deleted your message"
        if deleted
        else "I could not delete your message, so please delete it yourself"
    )
    return (
        f"{gone}: it answered my question for a secret, which had expired, so the value was "
        "not stored. Run /secret again to store it."
    )


# --- audit and help -----------------------------------------------------------------------------


def audit_line(entry: AuditEntry) -> str:
    return (
        f"{when(entry.at)} · {esc(entry.actor, 60)} · {code(entry.action, 60)} · "
        f"{esc(entry.target or '—', 60)} · {esc(entry.outcome.value)}"
    )


def audit_header(label: str | None, count: int) -> str:
    scope = f" for {esc(label)}" if label else ""
    return f"<b>Audit{scope}</b> ({count} newest first)"


# --- one agent's commands (/wake, /stop, /restart, /model, /skills, /secret, destructive ones) ---

# What the "⏳ …" message says while a short operation runs (plain text, escaped when shown).
STOPPING = "Stopping…"
TAKING_SNAPSHOT = "Taking a snapshot…"
SETTING_MODEL = "Setting the model…"
UPDATING_SKILLS = "Updating skills…"
APPROVING_CODE = "Approving the pairing code…"
PROVISIONING_FAILED = "Provisioning failed."

# Per destructive command: the word on its Confirm button, and what confirming does.
DESTRUCTIVE_WORDS = {
    "deprovision": ("deprovision", "This destroys its machine and volume."),
    "recreate": (
        "recreate",
        "This replaces its machine and volume with new ones from the latest snapshot.",
    ),
    "clearsecrets": ("clear secrets", "This deletes every secret stored for it."),
}


def agent_running(agent: Agent) -> str:
    return done(f"{code(agent.id)} is running.")


def agent_stopped(agent: Agent) -> str:
    return done(f"{code(agent.id)} is stopped.")


def restart_taken(agent: Agent, holder: str) -> str:
    """Another admin is restarting this agent right now."""
    return f"{code(agent.id)} is being restarted by {esc(holder)}."


def model_set(effective: str) -> str:
    return done(f"The model is now {code(effective)} (verified on the machine).")


def skills_set(agent: Agent) -> str:
    listed = esc(", ".join(agent.allowed_skills) or "none", 1000)
    return done(f"Skills of {code(agent.id)}: {listed}.")


def secret_not_parsed(error: object) -> str:
    return failed(f"{esc(error, 600)} Your message was deleted.")


NAME_THE_AGENT_FIRST = (
    "Name the agent first: /secret AGENT NAME=VALUE. Your message was deleted; send it again."
)


def secrets_not_stored(explained: str) -> str:
    """`explained`: the refusal, already HTML (see `errors.explain`)."""
    return f"{failed(explained)}\nYour message was deleted; nothing was stored."


def destructive_question(command: str, agent: Agent, consequence: str) -> str:
    return (
        f"⚠️ <b>/{esc(command)}</b> {code(agent.id)} "
        f"({esc(agent_label(agent))})?\n{esc(consequence)}"
    )


def confirmed_working(command: str, agent_id: str) -> str:
    return working(f"/{esc(command)} {code(agent_id)}…")


def recreated(agent: Agent) -> str:
    return done(f"Recreated {code(agent.id)} on machine {code(agent.machine_id or '—')}.")


def deprovisioned(agent_id: str, label: str, removed: Sequence[str]) -> str:
    return done(
        f"Deprovisioned {code(agent_id)} ({esc(label)}). "
        f"Removed: {esc(', '.join(removed) or 'nothing', 1000)}."
    )


def secrets_cleared(agent_id: str, count: int) -> str:
    return done(f"Cleared {count} secret(s) of {code(agent_id)}.")


def audit_empty(label: str | None) -> str:
    return f"{audit_header(label, 0)}\nNothing recorded yet."
