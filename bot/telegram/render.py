"""Every text the bot sends, as Telegram HTML with each dynamic value escaped.

Only `<`, `>` and `&` need escaping in HTML text; `esc` does that and also shortens a value so
that no single line can outgrow a message. Fixed markup (`<b>`, `<code>`, `<i>`) is written
here and nowhere else. Renderers take records and return strings; they never send anything,
and they never receive a secret value (secrets are shown as names and fingerprints only).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from datetime import datetime

from bot.fleet.pairing_executor import PairingOutcome, PairingResult
from bot.fleet.pairing_recovery import RecoveryResult
from bot.fleet.progress import Progress
from bot.fleet.provisioning import ProvisionResult
from bot.fleet.resolve import AGENT_SECRET_KEYS, TENANT_PLAIN_KEYS
from bot.fleet.service import AgentView
from bot.fleet.tenants import TenantSetting, TenantView
from bot.telegram.commands import Command
from bot.telegram.paging import utf16_len
from storage.models import (
    Agent,
    Alert,
    AlertSeverity,
    AuditEntry,
    PairingRequest,
    PairingState,
    SecretMeta,
    Snapshot,
    StuckResolution,
    TenantProfile,
)

VALUE_CHARS = 200
LINE_CHARS = 600

_SEVERITY_MARK = {
    AlertSeverity.INFO: "ℹ️",
    AlertSeverity.WARNING: "⚠️",
    AlertSeverity.CRITICAL: "🚨",
}
_OUTCOME_MARK = {
    PairingOutcome.SUCCEEDED: "✅",
    PairingOutcome.FAILED: "❌",
    PairingOutcome.REFUSED: "⛔",
    PairingOutcome.STUCK: "⏳",
    PairingOutcome.ALREADY_HANDLED: "ℹ️",
    PairingOutcome.NOT_READY: "⏸",
}


def esc(value: object, limit: int = VALUE_CHARS) -> str:
    """`value` as safe HTML text of at most `limit` UTF-16 units, cut with "…" if longer.

    The limit applies to the escaped text, so `&&&…` cannot grow a line fivefold.
    """
    text = str(value)
    if len(text) * 2 <= limit and utf16_len(escaped := html.escape(text, quote=False)) <= limit:
        return escaped
    pieces: list[str] = []
    used = 0
    for char in text:
        piece = html.escape(char, quote=False)
        size = utf16_len(piece)
        if used + size > limit - 1:
            pieces.append("…")
            break
        pieces.append(piece)
        used += size
    return "".join(pieces)


def code(value: object, limit: int = VALUE_CHARS) -> str:
    return f"<code>{esc(value, limit)}</code>"


def when(moment: datetime | None) -> str:
    return "—" if moment is None else moment.strftime("%Y-%m-%d %H:%M UTC")


def agent_label(agent: Agent) -> str:
    """`tenant/user`: what admins type and read; plain text (ids are validated)."""
    return f"{agent.tenant_id}/{agent.user_id}"


def done(text: str) -> str:
    return f"✅ {text}"


def failed(text: str) -> str:
    return f"❌ {text}"


def working(text: str) -> str:
    return f"⏳ {text}"


# --- progress -----------------------------------------------------------------------------------


def progress(state: Progress) -> str:
    return esc(state.render(), 1500)


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


_LEVEL_WORDS = {
    "agent": "agent",
    "tenant": "tenant",
    "fleet": "fleet",
    "generated": "generated",
    "unset": "not set",
}


def _level(level: str) -> str:
    return f"<i>{esc(_LEVEL_WORDS.get(level, level), 20)}</i>"


def config_sources(view: AgentView) -> list[str]:
    """Which level (agent / tenant / fleet) supplied each setting; secrets as set/not set."""
    lines = ["<b>Settings</b> (value · the level that supplies it)"]
    for key in TENANT_PLAIN_KEYS:
        level = view.config_sources.get(key)
        if level is None:
            continue
        value = view.config_values.get(key)
        shown = f"{code(value, 120)} · " if value else ""
        lines.append(f"{code(key)}: {shown}{_level(level)}")
    for key in AGENT_SECRET_KEYS:
        level = view.config_sources.get(key)
        if level is None:
            continue
        state = "not set" if level == "unset" else f"set · {_level(level)}"
        lines.append(f"{code(key)}: {state}")
    return lines


def user_pairing_words(request: PairingRequest) -> str:
    words = {
        PairingState.SUBMITTED: "your code is waiting for an operator's approval",
        PairingState.APPROVED: "approved, being applied",
        PairingState.RUNNING: "being applied right now",
        PairingState.STUCK: "taking longer than expected; an operator is on it",
        PairingState.SUCCEEDED: "paired — you can talk to your agent",
        PairingState.FAILED: "did not go through; send your agent a message for a new code",
        PairingState.REJECTED: "declined by an operator",
        PairingState.EXPIRED: "the code expired; send your agent a message for a new one",
        PairingState.SUPERSEDED: "replaced by a newer code",
    }
    return words[request.state]


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


def invite_lines(link: str) -> str:
    return (
        f"One-time invite for the end user (valid 7 days):\n{esc(link, 300)}\n"
        "<i>Send it to them privately; it links their Telegram account to this agent.</i>"
    )


def invite(agent: Agent, link: str) -> str:
    return f"🔗 Invite for {code(agent.id)} ({esc(agent_label(agent))})\n{invite_lines(link)}"


def invite_sent_privately(agent: Agent) -> str:
    return (
        f"🔗 The one-time invite for {code(agent.id)} was sent to you in our private chat "
        "(never shown here: in a group whoever clicks a link first is linked)."
    )


def invite_not_delivered(agent: Agent, bot_username: str) -> str:
    return (
        f"⚠️ I could not send you the invite for {code(agent.id)} privately: Telegram lets me "
        f"write to you only once you have started a chat with me. Open a private chat with "
        f"@{esc(bot_username)}, press Start, then run /invite {code(agent.id)} there."
    )


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


# --- tenants ------------------------------------------------------------------------------------


def _tenant_setting(setting: TenantSetting) -> str:
    if setting.secret:
        own = (
            f"set · fingerprint {code(setting.fingerprint, 24)}"
            if setting.fingerprint
            else "not set"
        )
        return f"{code(setting.key)}: {own} · in effect: {_level(setting.effective_level)}"
    own = code(setting.value, 300) if setting.value else "not set"
    effective = (
        f"{code(setting.effective_value, 300)} ({_level(setting.effective_level)})"
        if setting.effective_value
        else _level(setting.effective_level)
    )
    return f"{code(setting.key)}: {own} · in effect: {effective}"


def tenant_view(view: TenantView) -> str:
    profile = view.profile
    live = view.live_agents
    lines = [
        f"<b>Tenant</b> {code(profile.tenant_id)} — {esc(profile.display_name)}",
        f"Live agents: {live}",
        "<i>KEY: the tenant's own value · in effect: the value used and the level it comes "
        "from. Secret values are never shown.</i>",
    ]
    lines.extend(_tenant_setting(setting) for setting in view.settings)
    return "\n".join(lines)


def tenant_line(view: TenantView) -> str:
    profile = view.profile
    own = [s.key for s in view.settings if s.value or s.fingerprint]
    settings = esc(", ".join(own), 1000) if own else "<i>fleet values only</i>"
    live = f"{view.live_agents} live agent{'s' if view.live_agents != 1 else ''}"
    return f"{code(profile.tenant_id)} — {esc(profile.display_name)} · {live} · {settings}"


def tenant_list_header(count: int) -> str:
    return f"<b>{count} tenant{'s' if count != 1 else ''}</b>"


def tenant_added(profile: TenantProfile) -> str:
    return done(
        f"Added tenant {code(profile.tenant_id)} ({esc(profile.display_name)}). "
        f"Set its values with /tenant set {esc(profile.tenant_id)} KEY=VALUE."
    )


def tenant_stored(tenant_id: str, keys: Iterable[str], deleted: bool | None) -> str:
    listed = ", ".join(code(key) for key in keys)
    text = done(f"Stored {listed} for tenant {code(tenant_id)}.")
    return text + deleted_note(deleted)


def deleted_note(deleted: bool | None) -> str:
    """What became of a message that held a secret value."""
    if deleted is None:
        return ""
    if deleted:
        return " The message with the value was deleted."
    return (
        " I could not delete the message with the value: delete it yourself, and consider "
        "the value exposed (rotate it)."
    )


# --- pairing ------------------------------------------------------------------------------------


def pairing_card(
    request: PairingRequest, agent: Agent | None, submitter: str, footer: str | None = None
) -> str:
    target = f"{code(agent.id)} ({esc(agent_label(agent))})" if agent else code(request.agent_id)
    lines = [
        "🔑 <b>Pairing request</b>",
        f"Agent: {target}",
        f"User: {esc(submitter)}",
        f"Code: {code(request.code)}",
        f"Time: {when(request.created_at)}",
        f"Request: {code(request.id)}",
    ]
    if footer:
        lines.append("")
        lines.append(footer)
    return "\n".join(lines)


def pairing_outcome(result: PairingResult, admin: str) -> str:
    mark = _OUTCOME_MARK[result.outcome]
    by = "" if result.outcome is PairingOutcome.ALREADY_HANDLED else f" (approved by {esc(admin)})"
    return f"{mark} <b>{esc(result.outcome.value)}</b>{by}\n{esc(result.message, 600)}"


def rejected(admin: str) -> str:
    return f"✖️ <b>rejected</b> by {esc(admin)}"


def already_decided(request: PairingRequest) -> str:
    by = f" by {esc(request.decided_by)}" if request.decided_by else ""
    return f"ℹ️ Already {esc(request.state.value)}{by}."


def recovery(result: RecoveryResult) -> str:
    if result.resolution is StuckResolution.APPLIED:
        return done(f"Pairing recovered: applied. {esc(result.message, 400)}")
    if result.resolution is StuckResolution.RETRY:
        return f"🔁 Pairing can be retried once. {esc(result.message, 400)}"
    if result.resolution is StuckResolution.ABANDONED:
        return failed(f"Pairing failed. {esc(result.message, 400)}")
    return f"ℹ️ {esc(result.message, 400)}"


def pending_header(waiting: int, stuck: int) -> str:
    if not waiting and not stuck:
        return "No pairing requests await a decision, and no machine is blocked."
    return f"<b>{waiting} pairing request{'s' if waiting != 1 else ''} awaiting a decision</b>" + (
        f", {stuck} blocked machine{'s' if stuck != 1 else ''}" if stuck else ""
    )


def stuck_card(request: PairingRequest, agent: Agent | None) -> str:
    target = f"{code(agent.id)} ({esc(agent_label(agent))})" if agent else code(request.agent_id)
    return (
        f"⏳ <b>Stuck pairing</b> on {target}\n"
        f"Machine {code(request.machine_id)} · request {code(request.id)} · code "
        f"{code(request.code)}\nRestart the machine; pairing is offered again once its gateway "
        "is healthy."
    )


# --- alerts -------------------------------------------------------------------------------------


# Added to an alert message sent again after Telegram's answer to the first send was lost.
RESENT_NOTE = (
    "\n<i>↻ Sent again: Telegram did not confirm an earlier copy, so this may be a duplicate.</i>"
)


def alert(item: Alert) -> str:
    times = f" ×{item.occurrences}" if item.occurrences > 1 else ""
    return (
        f"{_SEVERITY_MARK[item.severity]} <b>{esc(item.kind, 64)}</b>{times} "
        f"<i>#{item.id}</i>\n{esc(item.text, 3500)}\n<i>{when(item.created_at)}</i>"
    )


# What a digest names for each alert, first found wins. The agent id comes first because it is
# what an operator acts with (/wake, /restart, /agent and /logs take it) and it is short and
# fixed-size (15 characters); the machine id only for alerts about a machine without a known
# agent, the app for token refusals, the ref for bot errors (it is what the log is searched for).
SUBJECT_KEYS = (("agent_id", "AGENT"), ("machine_id", "MACHINE"), ("app", "APP"), ("ref", "REF"))
# Ids that a digest's example sentence shows as placeholders, so that one sentence reads right
# for every subject listed under it. Only random ids: a word-like value (an app name) could
# also occur as an ordinary word in the sentence.
_PLACEHOLDER_KEYS = (
    ("agent_id", "AGENT"),
    ("machine_id", "MACHINE"),
    ("request_id", "REQUEST"),
    ("ref", "REF"),
)
_SEVERITY_RANK = {AlertSeverity.INFO: 0, AlertSeverity.WARNING: 1, AlertSeverity.CRITICAL: 2}
SUBJECT_CHARS = 40
EXAMPLE_CHARS = 400


def alert_subject(item: Alert) -> tuple[str, str]:
    """(placeholder, value): what the alert is about, e.g. ("AGENT", "ag_…"); else its own id."""
    for key, placeholder in SUBJECT_KEYS:
        value = item.payload.get(key)
        if isinstance(value, str) and value:
            return placeholder, value
    return "ALERT", f"#{item.id}"


def worst_severity(items: Iterable[Alert]) -> AlertSeverity:
    return max((item.severity for item in items), key=_SEVERITY_RANK.__getitem__)


def _as_template(item: Alert) -> str:
    text = item.text
    for key, placeholder in _PLACEHOLDER_KEYS:
        value = item.payload.get(key)
        if isinstance(value, str) and len(value) >= 4:
            text = re.sub(rf"(?<!\w){re.escape(value)}(?!\w)", placeholder, text)
    return text


def digest_kind_line(kind: str, items: Sequence[Alert], subjects: int) -> str:
    """The title of one kind in a digest: worst severity, count, and what happened.

    With more than one subject, the newest alert's sentence is shown with its ids replaced by
    placeholders (`/wake AGENT`), and the lines below list the values; with one, as it is.
    """
    newest = max(items, key=lambda item: item.id)
    example = _as_template(newest) if subjects > 1 else newest.text
    return (
        f"{_SEVERITY_MARK[worst_severity(items)]} <b>{esc(kind, 64)}</b> ×{len(items)}: "
        f"<i>{esc(example, EXAMPLE_CHARS)}</i>"
    )


def digest_subjects_line(label: str, groups: Sequence[Sequence[Alert]]) -> str:
    """`LABEL: id id …`, one id per group (alerts with one dedupe key), ×N when it recurred."""
    names = []
    for group in groups:
        occurrences = sum(item.occurrences for item in group)
        times = f"×{occurrences}" if occurrences > 1 else ""
        names.append(esc(alert_subject(group[-1])[1], SUBJECT_CHARS) + times)
    return f"{esc(label, 16)}: {' '.join(names)}"


def digest_kind_continued(kind: str, items: Sequence[Alert]) -> str:
    return f"{_SEVERITY_MARK[worst_severity(items)]} <b>{esc(kind, 64)}</b> (continued)"


def digest_header(count: int, *, lists_pairing: bool = False) -> str:
    header = f"🔔 <b>{count} alerts</b> in one digest: each kind once, then whom each is about"
    if lists_pairing:
        header += "\n<i>It lists pairing requests: decide them with /pending.</i>"
    return header


# --- audit and help -----------------------------------------------------------------------------


def audit_line(entry: AuditEntry) -> str:
    return (
        f"{when(entry.at)} · {esc(entry.actor, 60)} · {code(entry.action, 60)} · "
        f"{esc(entry.target or '—', 60)} · {esc(entry.outcome.value)}"
    )


def audit_header(label: str | None, count: int) -> str:
    scope = f" for {esc(label)}" if label else ""
    return f"<b>Audit{scope}</b> ({count} newest first)"


def help_text(title: str, commands: Sequence[Command], footer: str = "") -> str:
    lines = [f"<b>{esc(title)}</b>"]
    for command in commands:
        if not command.subcommands:
            lines.append(f"{code(command.usage)} — {esc(command.description)}")
            continue
        lines.append(f"<b>/{esc(command.name)}</b> — {esc(command.description)}:")
        lines.extend(f"  {code(s.usage)} — {esc(s.description)}" for s in command.subcommands)
    if footer:
        lines.extend(("", footer))
    return "\n".join(lines)


ADMIN_HELP_FOOTER = (
    "AGENT is the id shown by /list (e.g. <code>ag_…</code>) or <code>tenant/user</code>. "
    "Every command works in one line with key=value values; leave values out and I ask for "
    "them. /deprovision, /recreate, /clearsecrets, /tenant remove and the fleet-wide "
    "/stop all, /wake all and /restart all ask for confirmation. "
    "KEY of /tenant set is a fleet setting name (e.g. FLY_APP_NAME, FLY_API_TOKEN, LLM_MODEL); "
    "secret ones only in a private chat, where I delete the message at once."
)
USER_HELP_FOOTER = (
    "Your agent answers you in its own Telegram chat. The first time, it sends you a pairing "
    "code: send that code here (or forward its whole message) and an operator approves it."
)


# --- many agents at once (/stop all, /wake all, /restart all) -----------------------------------

# Room for the summary's failure lines in the one edited message (Telegram's limit is 4096,
# counted after parsing; raw HTML is never shorter). Lines that do not fit follow as a list.
BULK_SUMMARY_BUDGET = 3500


def _agents(count: int) -> str:
    return f"{count} agent{'s' if count != 1 else ''}"


def bulk_scope(tenant: str | None) -> str:
    return f" of tenant {code(tenant, 80)}" if tenant else ""


def bulk_title(command: str, tenant: str | None) -> str:
    """Plain text (it is escaped with the progress line): `/stop all` or `/stop all acme`."""
    return f"/{command} all" + (f" {tenant}" if tenant else "")


def bulk_target_label(count: int, tenant: str | None) -> str:
    """Plain text for the confirmation store ("Cancelled: nothing was done to …")."""
    return _agents(count) + (f" of tenant {tenant}" if tenant else "")


def bulk_question(
    command: str, count: int, tenant: str | None, qualifying: str, effect: str, concurrency: int
) -> str:
    """`command` is also the verb: stop, wake, restart."""
    return (
        f"⚠️ <b>/{esc(command)} all</b>{bulk_scope(tenant)}: {esc(command)} <b>{count}</b> "
        f"agent{'s' if count != 1 else ''} ({esc(qualifying)})?\n"
        f"{esc(effect)} Agents busy with another operation are left alone; at most "
        f"{concurrency} at a time, with the progress shown here."
    )


def bulk_nothing(verb: str, tenant: str | None, qualifying: str, *, now: bool = False) -> str:
    still = " now" if now else ""
    return (
        f"Nothing to {esc(verb)}{still}: no agent{bulk_scope(tenant)} is {esc(qualifying)}. "
        f"/list{f' tenant={esc(tenant, 80)}' if tenant else ''} shows them all."
    )


def bulk_failure_line(agent_id: str, label: str | None, reason: str) -> str:
    who = f"{code(agent_id, 40)} {esc(label, 80)}" if label else code(agent_id, 40)
    return f"✗ {who} — {esc(reason, 300)}"


def bulk_summary(
    command: str,
    tenant: str | None,
    done_word: str,
    succeeded: int,
    failure_lines: Sequence[str],
    skipped_lines: Sequence[str] = (),
    budget: int = BULK_SUMMARY_BUDGET,
) -> tuple[str, int]:
    """The outcome of a bulk action, and how many of its agent lines did not fit in it.

    Lines about agents the action did not succeed on (failed first, then left alone) are
    shown while the text stays within `budget`; the caller sends the rest as a list.
    """
    counts = f"{succeeded} {esc(done_word)}, {len(failure_lines)} failed"
    if skipped_lines:
        counts += f", {len(skipped_lines)} left alone"
    head = f"<b>/{esc(command)} all</b>{bulk_scope(tenant)}: {counts}."
    notes = [*failure_lines, *skipped_lines]
    if not notes:
        head = done(head)
    elif succeeded:
        head = partly_done(head)
    else:
        head = failed(head)
    lines = [head]
    used = utf16_len(head)
    for line in notes:
        size = utf16_len(line) + 1
        # Room is kept for the closing "…and N more" line.
        if used + size > budget - 80:
            break
        lines.append(line)
        used += size
    hidden = len(notes) - (len(lines) - 1)
    if hidden:
        lines.append(f"…and {hidden} more: the full list follows.")
    return "\n".join(lines), hidden


def partly_done(text: str) -> str:
    return f"⚠️ {text}"


def bulk_full_list_header(command: str, tenant: str | None, count: int) -> str:
    return f"<b>/{esc(command)} all</b>{bulk_scope(tenant)}: {_agents(count)} not done"


# --- end users' links ---------------------------------------------------------------------------


def unlinked(agent: Agent, previous: int | None) -> str:
    if previous is None:
        return f"ℹ️ {code(agent.id)} had no linked end user. /invite {esc(agent.id)} makes a link."
    return done(
        f"Telegram user {code(str(previous))} is no longer linked to {code(agent.id)} "
        f"({esc(agent_label(agent))}) and was told. /invite {esc(agent.id)} makes a new link; "
        "someone whose invite was refused because the agent was taken can open it again now."
    )


def unlinked_user(agent: Agent) -> str:
    return (
        f"An operator released your link to the agent {esc(agent_label(agent))}: you can no "
        "longer pair or check it from here. Ask your operator if this is unexpected."
    )


def invite_taken(agent: Agent) -> str:
    """To the redeemer: polite, and without naming who holds the agent."""
    return (
        f"Sorry, the agent {esc(agent_label(agent))} is already linked to another Telegram "
        "account, so this invite did not link you. The operators have been told; once they "
        "release it, open the same invite link again."
    )


def invite_taken_holder(agent: Agent) -> str:
    """To the user who stays linked."""
    return (
        f"Someone else opened an invite link for your agent {esc(agent_label(agent))}. You are "
        "still linked to it; the operators have been told and decide."
    )


def invite_taken_alert(agent: Agent, redeemer: str, holder: str) -> str:
    """Plain text for the ops alert: names both people and what the admin can do."""
    return (
        f"Invite refused: {redeemer} opened an invite for agent {agent.id} "
        f"({agent_label(agent)}), which is linked to {holder}. {holder} stays linked and both "
        f"were told. To hand the agent over: /unlink {agent.id}, then {redeemer} opens the same "
        "link again."
    )
