"""The OpenClaw CLI contract: argv builders for every command the bot runs, and parsers
for what the real runtime prints (see OpenClaw 2026.9.6's observed outputs).

Commands are argv arrays. User-supplied values (codes, model ids, owner lists) are
validated before they get here and are passed as separate positional arguments of a
fixed script, never spliced into it. Parsers never raise on odd output: they return a
typed result that says what is known.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from enum import StrEnum

from bot.fleet import validation
from storage.pairing import PAIRING_CODE_CHAR, PAIRING_CODE_LENGTH

ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
# ISO timestamps (`2026-11-25T13:43:47.658Z`), with or without a leading level tag.
TIMESTAMP_PREFIX_RE = re.compile(
    r"^\s*(?:\d{4}-\d{2}-\d{2}[T ])?\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?\s*"
)
NOT_PENDING_MARKER = "no pending pairing request found"
APPROVED_RE = re.compile(r"Approved telegram sender (\d+)", re.IGNORECASE)
OWNER_RE = re.compile(r"Command owner configured (telegram:\d+)", re.IGNORECASE)
DEFAULT_MODEL_RE = re.compile(r"^Default model:\s*(\S+)\s*$")
PLAIN_MODEL_RE = re.compile(r"^[^/\s]+/\S+$")
REASON_RE = re.compile(r"^\[openclaw\]\s*Reason:\s*(.+)$")
AGENT_MODEL_RE = re.compile(r"\[gateway\] agent model:\s*(\S+)")
MAX_REASON = 400

# Fixed words of each command; user values are only ever positional parameters.
_FIXED_WORD_RE = re.compile(r"[a-zA-Z][a-zA-Z.-]*|--[a-z][a-z-]*")


@dataclass(frozen=True)
class CliCommand:
    """One CLI invocation, ready for Fly's exec: `argv` plus a human label for logs."""

    argv: tuple[str, ...]
    label: str


def _command(openclaw_dir: str, words: tuple[str, ...], values: tuple[str, ...]) -> CliCommand:
    folder = validation.machine_dir(openclaw_dir)
    for word in words:
        if not _FIXED_WORD_RE.fullmatch(word):
            raise ValueError(f"not a fixed CLI word: {word!r}")
    placeholders = " ".join(f'"${i}"' for i in range(1, len(values) + 1))
    script = f"cd {folder} && exec node ./openclaw.mjs {' '.join(words)}"
    if placeholders:
        script = f"{script} {placeholders}"
    label = " ".join(("openclaw", *words, *("…" for _ in values)))
    return CliCommand(argv=("sh", "-lc", script, "openclaw", *values), label=label)


def approve_pairing(openclaw_dir: str, code: str) -> CliCommand:
    return _command(
        openclaw_dir, ("pairing", "approve", "telegram"), (validation.pairing_code(code),)
    )


def list_pairing(openclaw_dir: str) -> CliCommand:
    return _command(openclaw_dir, ("pairing", "list", "telegram", "--json"), ())


def set_model(openclaw_dir: str, model: str) -> CliCommand:
    return _command(openclaw_dir, ("models", "set"), (validation.model_id(model),))


def model_status(openclaw_dir: str) -> CliCommand:
    return _command(openclaw_dir, ("models", "status", "--plain"), ())


def set_owner_allow_from(openclaw_dir: str, owners: list[str]) -> CliCommand:
    for owner in owners:
        if not validation.OWNER_ENTRY_RE.fullmatch(owner):
            raise validation.InvalidInput("Owners must be written telegram:<numeric id>.")
    return _command(
        openclaw_dir,
        ("config", "set", "commands.ownerAllowFrom"),
        (json.dumps(owners, separators=(",", ":")),),
    )


# OpenClaw has no CLI command that lists the senders a pairing approved (2026.9.6: `pairing`
# has list and approve only). It keeps them in its state database
# (`$OPENCLAW_STATE_DIR/state/openclaw.sqlite`, table `channel_pairing_allow_entries`, one row
# per channel, account and sender id). This fixed script reads that table read-only with
# Node's built-in SQLite and prints one JSON line. It takes no argument: no user value ever
# reaches it; the bot compares the sender id itself.
ALLOW_LIST_SCRIPT = (
    'const fs=require("node:fs"),path=require("node:path"),os=require("node:os");'
    "const env=process.env;"
    "const dir=(env.OPENCLAW_STATE_DIR||'').trim()"
    '||path.join((env.OPENCLAW_HOME||"").trim()||os.homedir(),".openclaw");'
    'const file=path.join(dir,"state","openclaw.sqlite");'
    "let allowFrom=[];"
    "if(fs.existsSync(file)){"
    'const {DatabaseSync}=require("node:sqlite");'
    "const db=new DatabaseSync(file,{readOnly:true});"
    'try{allowFrom=db.prepare("SELECT entry FROM channel_pairing_allow_entries '
    "WHERE channel_key='telegram' ORDER BY account_id, sort_order, entry\")"
    ".all().map((row)=>String(row.entry));}"
    "catch(error){if(!/no such table/.test(String(error)))throw error;}"
    "finally{db.close();}}"
    'process.stdout.write(JSON.stringify({channel:"telegram",allowFrom})+"\\n");'
)


def read_allow_list(openclaw_dir: str) -> CliCommand:
    """Telegram senders OpenClaw allows to DM the agent (those a pairing approved)."""
    folder = validation.machine_dir(openclaw_dir)
    return CliCommand(
        argv=("sh", "-lc", f'cd {folder} && exec node -e "$1"', "openclaw", ALLOW_LIST_SCRIPT),
        label="openclaw allow list (telegram)",
    )


@dataclass(frozen=True)
class AllowList:
    ok: bool
    senders: frozenset[str] = frozenset()
    reason: str = ""

    def allows(self, sender_id: str) -> bool:
        return sender_id in self.senders


def parse_allow_list(exit_code: int, stdout: str, stderr: str) -> AllowList:
    if exit_code != 0:
        return AllowList(ok=False, reason=failure_reason(stdout, stderr))
    for line in reversed(_lines(stdout)):
        if not line.startswith("{"):
            continue
        try:
            parsed = json.loads(line)
        except ValueError:
            break
        entries = parsed.get("allowFrom") if isinstance(parsed, dict) else None
        if isinstance(entries, list) and all(isinstance(e, str | int) for e in entries):
            return AllowList(ok=True, senders=frozenset(str(e).strip() for e in entries))
        break
    return AllowList(ok=False, reason="the allow list was not printed as expected")


def clean_line(line: str) -> str:
    """A log or CLI line without ANSI colours and without a leading timestamp."""
    return TIMESTAMP_PREFIX_RE.sub("", ANSI_RE.sub("", line), count=1).strip()


def _lines(text: str) -> list[str]:
    return [cleaned for raw in text.splitlines() if (cleaned := clean_line(raw))]


# Lines the CLI adds to every failure; they never explain it.
_BOILERPLATE_RE = re.compile(r"^\[openclaw\] (?:The CLI command failed|Debug:|Try:|Help:)")


def failure_reason(stdout: str, stderr: str) -> str:
    """OpenClaw's own explanation of a failure, shortened for a message."""
    lines = _lines(stderr) or _lines(stdout)
    for line in lines:
        match = REASON_RE.match(line)
        if match:
            return match.group(1)[:MAX_REASON]
    meaningful = [ln for ln in lines if not _BOILERPLATE_RE.match(ln)]
    chosen = meaningful[-1] if meaningful else (lines[-1] if lines else "no output")
    return chosen[:MAX_REASON]


class ApproveOutcome(StrEnum):
    APPROVED = "approved"
    NOT_PENDING = "not_pending"  # unknown, expired or already used: never retried
    FAILED = "failed"


@dataclass(frozen=True)
class ApproveResult:
    outcome: ApproveOutcome
    sender_id: int | None = None
    owner_configured: str | None = None
    reason: str = ""


def parse_approve(exit_code: int, stdout: str, stderr: str) -> ApproveResult:
    combined = f"{stdout}\n{stderr}"
    if exit_code == 0:
        approved = APPROVED_RE.search(combined)
        owner = OWNER_RE.search(combined)
        return ApproveResult(
            outcome=ApproveOutcome.APPROVED,
            sender_id=int(approved.group(1)) if approved else None,
            owner_configured=owner.group(1) if owner else None,
        )
    if NOT_PENDING_MARKER in combined.lower():
        return ApproveResult(
            outcome=ApproveOutcome.NOT_PENDING,
            reason="No pending pairing request: the code is unknown, expired or already used.",
        )
    return ApproveResult(outcome=ApproveOutcome.FAILED, reason=failure_reason(stdout, stderr))


@dataclass(frozen=True)
class PendingPairing:
    sender_id: str
    code: str
    created_at: str


@dataclass(frozen=True)
class PairingList:
    ok: bool
    requests: list[PendingPairing] = field(default_factory=list)
    reason: str = ""

    def find(self, code: str) -> PendingPairing | None:
        return next((r for r in self.requests if r.code == code), None)


def parse_pairing_list(exit_code: int, stdout: str, stderr: str) -> PairingList:
    if exit_code != 0:
        return PairingList(ok=False, reason=failure_reason(stdout, stderr))
    # Warnings may precede the JSON object: take the first line that starts one.
    text = stdout.strip()
    start = text.find("{")
    try:
        parsed = json.loads(text[start:]) if start >= 0 else None
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("requests"), list):
        return PairingList(ok=False, reason="pairing list did not print the expected JSON")
    requests = []
    for item in parsed["requests"]:
        if not isinstance(item, dict):
            continue
        code, sender = item.get("code"), item.get("id")
        if isinstance(code, str) and isinstance(sender, (str, int)):
            requests.append(
                PendingPairing(
                    sender_id=str(sender), code=code, created_at=str(item.get("createdAt", ""))
                )
            )
    return PairingList(ok=True, requests=requests)


@dataclass(frozen=True)
class ModelResult:
    ok: bool
    model: str | None = None
    reason: str = ""


def parse_models_set(exit_code: int, stdout: str, stderr: str) -> ModelResult:
    if exit_code != 0:
        return ModelResult(ok=False, reason=failure_reason(stdout, stderr))
    for line in reversed(_lines(stdout)):
        match = DEFAULT_MODEL_RE.match(line)
        if match:
            return ModelResult(ok=True, model=match.group(1))
    return ModelResult(ok=False, reason="models set did not print the default model")


def parse_models_status(exit_code: int, stdout: str, stderr: str) -> ModelResult:
    if exit_code != 0:
        return ModelResult(ok=False, reason=failure_reason(stdout, stderr))
    lines = _lines(stdout)
    if lines and PLAIN_MODEL_RE.match(lines[-1]):
        return ModelResult(ok=True, model=lines[-1])
    return ModelResult(ok=False, reason="models status printed no model id")


def parse_config_set(exit_code: int, stdout: str, stderr: str) -> ModelResult:
    if exit_code == 0:
        return ModelResult(ok=True)
    return ModelResult(ok=False, reason=failure_reason(stdout, stderr))


# Loose on purpose (any letter or digit, either case): what follows a marker is then validated,
# so a lower-cased code still reads and a wrong one is refused with the reason.
_CODE_MARKERS = (
    re.compile(rf"pairing approve telegram\s+([A-Za-z0-9]{{{PAIRING_CODE_LENGTH}}})\b", re.I),
    re.compile(rf"pairing code:\s*([A-Za-z0-9]{{{PAIRING_CODE_LENGTH}}})\b", re.I),
)
_BARE_CODE_RE = re.compile(
    rf"(?<![A-Za-z0-9])({PAIRING_CODE_CHAR}{{{PAIRING_CODE_LENGTH}}})(?![A-Za-z0-9])"
)


def find_pairing_code(text: str) -> str | None:
    """The pairing code in what a user sent: a bare code, or OpenClaw's whole pairing
    message forwarded (its code sits after "Pairing code:" and in the approve line)."""
    if len(text) > 4096:
        return None
    stripped = text.strip()
    try:
        return validation.pairing_code(stripped)
    except validation.InvalidInput:
        pass
    for marker in _CODE_MARKERS:
        match = marker.search(text)
        if match:
            try:
                return validation.pairing_code(match.group(1))
            except validation.InvalidInput:
                continue
    candidates = set(_BARE_CODE_RE.findall(text))
    return candidates.pop() if len(candidates) == 1 else None
