"""The simulated OpenClaw CLI and its state (pairing requests, model, command owners).

`OpenClawState` is what OpenClaw keeps under `$OPENCLAW_STATE_DIR` on the
machine's volume: pending DM-pairing requests, approved senders,
`commands.ownerAllowFrom` and the default model. It travels with the volume
(snapshots copy it, a volume restored from a snapshot carries it), so
recreate-from-snapshot keeps a machine's pairings and model.

`run_cli` runs one `node ./openclaw.mjs …` command against a state and returns
stdout, stderr and the exit code with the exact texts OpenClaw 2026.9.6
prints. It is a pure function: it never sleeps (the caller simulates the
1.5-4.5 s a real run takes) and never runs anything.
"""

from __future__ import annotations

import copy
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

OPENCLAW_VERSION = "2026.9.6"
OPENCLAW_BUILD = "eb377ac"
DEFAULT_MODEL = "openai/gpt-6-astra"
# A copy of the product's `storage.pairing.PAIRING_CODE_ALPHABET`: the emulators import none of
# the product, so the alphabet is spelled out here too (the tests check codes from both agree).
PAIRING_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
PAIRING_CODE_LENGTH = 8
PAIRING_TTL_S = 3600.0
MAX_PENDING_REQUESTS = 3
DEFAULT_CONFIG_PATH = "/root/.openclaw/openclaw.json"
OWNER_ALLOW_FROM = "commands.ownerAllowFrom"
MODEL_PRIMARY = "agents.defaults.model.primary"

# Providers this build knows out of the box. "moonshot" is deliberately absent:
# OpenClaw refuses it (the provider id is "moonshotai").
KNOWN_PROVIDERS = frozenset(
    {
        "openai",
        "anthropic",
        "openrouter",
        "google",
        "moonshotai",
        "mistral",
        "groq",
        "xai",
        "deepseek",
        "ollama",
        "together",
        "fireworks",
        "cerebras",
        "amazon-bedrock",
        "github-copilot",
        "vercel-ai-gateway",
        "huggingface",
        "lmstudio",
        "zai",
        "minimax",
    }
)

_VALUE_OPTIONS = frozenset({"--channel", "--account"})
_FLAG_OPTIONS = frozenset({"--json", "--plain", "--notify", "--verbose"})


@dataclass
class PairingRequest:
    sender_id: str
    code: str
    created_at: float
    last_seen_at: float
    first_name: str = "u"
    username: str | None = None


@dataclass
class OpenClawState:
    """What a machine's OpenClaw installation remembers between runs."""

    model: str = DEFAULT_MODEL
    owner_allow_from: list[str] | None = None
    """`commands.ownerAllowFrom`; None until something sets it."""
    allow_from: list[str] = field(default_factory=list)
    """Telegram sender ids approved for DM access."""
    pending: list[PairingRequest] = field(default_factory=list)
    extra_config: dict[str, Any] = field(default_factory=dict)

    def clone(self) -> OpenClawState:
        return copy.deepcopy(self)

    def prune_expired(self, now: float) -> None:
        self.pending = [r for r in self.pending if now - r.created_at < PAIRING_TTL_S]

    def as_json(self, iso: Callable[[float], str]) -> dict[str, Any]:
        return {
            "model": self.model,
            "owner_allow_from": self.owner_allow_from,
            "allow_from": list(self.allow_from),
            "pending": [
                {
                    "sender_id": r.sender_id,
                    "code": r.code,
                    "created_at": iso(r.created_at),
                    "last_seen_at": iso(r.last_seen_at),
                }
                for r in self.pending
            ],
        }


@dataclass(frozen=True)
class PairingIssue:
    """The outcome of a DM from an unknown sender: a code, or why none was issued."""

    code: str | None
    created: bool
    refusal: str | None = None


def request_pairing(
    state: OpenClawState,
    sender_id: str,
    now: float,
    *,
    first_name: str = "u",
    username: str | None = None,
) -> PairingIssue:
    """Record a pairing request as the gateway does when an unknown sender writes.

    The same sender already pending gets the same code back; a fourth distinct
    sender while three are pending is ignored (OpenClaw drops it silently).
    """
    state.prune_expired(now)
    if sender_id in state.allow_from:
        return PairingIssue(None, False, f"sender {sender_id} is already approved")
    for existing in state.pending:
        if existing.sender_id == sender_id:
            existing.last_seen_at = now
            return PairingIssue(existing.code, False)
    if len(state.pending) >= MAX_PENDING_REQUESTS:
        return PairingIssue(
            None,
            False,
            f"{MAX_PENDING_REQUESTS} pairing requests are already pending on this channel "
            "account; OpenClaw ignores further requests until one expires or is approved",
        )
    taken = {r.code for r in state.pending}
    code = _new_code()
    while code in taken:
        code = _new_code()
    state.pending.append(
        PairingRequest(
            sender_id=sender_id,
            code=code,
            created_at=now,
            last_seen_at=now,
            first_name=first_name,
            username=username,
        )
    )
    return PairingIssue(code, True)


def read_allow_list(state: OpenClawState) -> list[str]:
    """The Telegram senders approved for DM access, as OpenClaw's state database lists them
    (table `channel_pairing_allow_entries`, in approval order)."""
    return list(state.allow_from)


def expire_pairing_codes(state: OpenClawState, code: str | None = None) -> list[str]:
    """Let pending codes (all, or just `code`) expire now, as an hour passing would."""
    expired = [r.code for r in state.pending if code is None or r.code == code]
    state.pending = [r for r in state.pending if r.code not in expired]
    return expired


def _new_code() -> str:
    return "".join(secrets.choice(PAIRING_ALPHABET) for _ in range(PAIRING_CODE_LENGTH))


@dataclass(frozen=True)
class CliResult:
    stdout: str
    stderr: str
    exit_code: int


def _ok(stdout: str) -> CliResult:
    return CliResult(stdout=stdout, stderr="", exit_code=0)


def _fail(stderr: str, code: int = 1) -> CliResult:
    return CliResult(stdout="", stderr=stderr, exit_code=code)


def _command_failed(reason: str) -> CliResult:
    # The real 2026.9.6 ends every failure with these hint lines; parsers must skip them.
    return _fail(
        f"[openclaw] The CLI command failed.\n[openclaw] Reason: {reason}\n"
        "[openclaw] Debug: set OPENCLAW_DEBUG=1 to include the stack trace.\n"
        "[openclaw] Try: openclaw doctor\n"
        "[openclaw] Help: openclaw --help\n"
    )


class _UsageError(Exception):
    pass


@dataclass
class _Parsed:
    positionals: list[str]
    options: dict[str, str]
    flags: set[str]


def _parse(tokens: list[str]) -> _Parsed:
    parsed = _Parsed(positionals=[], options={}, flags=set())
    index = 0
    while index < len(tokens):
        item = tokens[index]
        if item.startswith("--") and "=" in item:
            name, value = item.split("=", 1)
            if name not in _VALUE_OPTIONS:
                raise _UsageError(f"error: unknown option '{name}'")
            parsed.options[name] = value
        elif item in _VALUE_OPTIONS:
            if index + 1 >= len(tokens):
                raise _UsageError(f"error: option '{item} <value>' argument missing")
            parsed.options[item] = tokens[index + 1]
            index += 1
        elif item in _FLAG_OPTIONS:
            parsed.flags.add(item)
        elif item.startswith("-") and item != "-":
            raise _UsageError(f"error: unknown option '{item}'")
        else:
            parsed.positionals.append(item)
        index += 1
    return parsed


def run_cli(
    state: OpenClawState,
    args: list[str],
    *,
    env: dict[str, str],
    now: float,
    iso: Callable[[float], str],
) -> CliResult:
    """Run `openclaw ARGS…` against `state` (mutating it as OpenClaw would)."""
    if not args or args[0] in ("--help", "-h", "help"):
        return _ok(_usage())
    if args[0] in ("--version", "-V", "version"):
        return _ok(f"OpenClaw {OPENCLAW_VERSION} ({OPENCLAW_BUILD})\n")
    command, rest = args[0], args[1:]
    try:
        if command == "pairing":
            return _pairing(state, rest, now=now, iso=iso)
        if command == "models":
            return _models(state, rest, env=env)
        if command == "config":
            return _config(state, rest)
    except _UsageError as error:
        return _fail(f"{error}\n")
    return _fail(
        f'OpenClaw does not know the command "{command}".\nTry: openclaw --help\n'
        "Plugin command? openclaw plugins list\nDocs: https://docs.openclaw.ai/cli\n"
    )


def _usage() -> str:
    return (
        f"OpenClaw {OPENCLAW_VERSION}\n\n"
        "Usage: openclaw [options] [command]\n\n"
        "Commands:\n"
        "  pairing   Manage DM pairing requests\n"
        "  models    Show and set the default model\n"
        "  config    Read and write configuration values\n"
        "  gateway   Run the gateway\n"
    )


def _channel(parsed: _Parsed, *, needs_code: bool) -> tuple[str, str]:
    positionals = list(parsed.positionals)
    channel = parsed.options.get("--channel")
    if channel is None:
        if not positionals:
            raise _UsageError("error: missing required argument 'channel'")
        channel = positionals.pop(0)
    code = ""
    if needs_code:
        if not positionals:
            raise _UsageError("error: missing required argument 'code'")
        code = positionals.pop(0)
    if positionals:
        raise _UsageError(f"error: too many arguments. Got: {' '.join(parsed.positionals)}")
    return channel, code


def _pairing(
    state: OpenClawState, args: list[str], *, now: float, iso: Callable[[float], str]
) -> CliResult:
    if not args:
        raise _UsageError("error: missing required argument 'command' (list | approve)")
    sub, parsed = args[0], _parse(args[1:])
    if sub == "list":
        channel, _ = _channel(parsed, needs_code=False)
        if channel != "telegram":
            return _command_failed(f'Channel "{channel}" does not support pairing.')
        state.prune_expired(now)
        requests = sorted(state.pending, key=lambda r: r.created_at)
        if "--json" in parsed.flags:
            payload = {
                "channel": "telegram",
                "requests": [
                    {
                        "id": r.sender_id,
                        "code": r.code,
                        "createdAt": iso(r.created_at),
                        "lastSeenAt": iso(r.last_seen_at),
                        "meta": _meta(r),
                    }
                    for r in requests
                ],
            }
            return _ok(json.dumps(payload, indent=2) + "\n")
        if not requests:
            return _ok("No pending telegram pairing requests.\n")
        lines = [f"Pending telegram pairing requests ({len(requests)}):"]
        lines.append(f"{'CODE':<10}{'SENDER':<14}{'NAME':<12}CREATED")
        for r in requests:
            lines.append(f"{r.code:<10}{r.sender_id:<14}{r.first_name:<12}{iso(r.created_at)}")
        return _ok("\n".join(lines) + "\n")
    if sub == "approve":
        channel, raw_code = _channel(parsed, needs_code=True)
        if channel != "telegram":
            return _command_failed(f'Channel "{channel}" does not support pairing.')
        state.prune_expired(now)
        wanted = raw_code.strip().upper()
        match = next((r for r in state.pending if r.code == wanted), None)
        if match is None:
            return _command_failed(
                f'No pending pairing request found for code "{raw_code}". '
                "Run openclaw pairing list --channel telegram to list pending requests."
            )
        state.pending.remove(match)
        if match.sender_id not in state.allow_from:
            state.allow_from.append(match.sender_id)
        lines = [f"Approved telegram sender {match.sender_id}."]
        if not state.owner_allow_from:
            state.owner_allow_from = [f"telegram:{match.sender_id}"]
            lines.append(
                f"Command owner configured telegram:{match.sender_id} "
                "(commands.ownerAllowFrom was empty)."
            )
        return _ok("\n".join(lines) + "\n")
    raise _UsageError(f"error: unknown command '{sub}'")


def _meta(request: PairingRequest) -> dict[str, str]:
    meta = {"firstName": request.first_name, "accountId": "default"}
    if request.username:
        meta["username"] = request.username
    return meta


def _models(state: OpenClawState, args: list[str], *, env: dict[str, str]) -> CliResult:
    if not args:
        raise _UsageError("error: missing required argument 'command' (set | status)")
    sub, parsed = args[0], _parse(args[1:])
    config_path = env.get("OPENCLAW_CONFIG_PATH") or DEFAULT_CONFIG_PATH
    if sub == "set":
        if len(parsed.positionals) != 1:
            raise _UsageError("error: missing required argument 'model'")
        wanted = parsed.positionals[0].strip()
        model_id = wanted if "/" in wanted else f"openai/{wanted}"
        provider, _, model = model_id.partition("/")
        if not model:
            return _fail(f'Invalid model reference "{wanted}". Use provider/model.\n')
        if provider.lower() not in KNOWN_PROVIDERS:
            return _fail(
                f'Unknown model provider "{provider}". Install a plugin that declares it or '
                f'configure it under models.providers before selecting "{wanted}". '
                "Config was not changed.\n"
            )
        state.model = model_id
        return _ok(f"Updated config: {config_path}\nDefault model: {model_id}\n")
    if sub == "status":
        if "--plain" in parsed.flags:
            return _ok(f"{state.model}\n")
        if "--json" in parsed.flags:
            return _ok(json.dumps({"defaultModel": state.model, "fallbacks": []}) + "\n")
        return _ok(
            f"Config        : {config_path}\nDefault       : {state.model}\nFallbacks (0) : -\n"
        )
    raise _UsageError(f"error: unknown command '{sub}'")


def _config(state: OpenClawState, args: list[str]) -> CliResult:
    if not args:
        raise _UsageError("error: missing required argument 'command' (get | set)")
    sub, parsed = args[0], _parse(args[1:])
    if sub == "get":
        if len(parsed.positionals) != 1:
            raise _UsageError("error: missing required argument 'path'")
        return _config_get(state, parsed.positionals[0])
    if sub == "set":
        if len(parsed.positionals) != 2:
            raise _UsageError("error: missing required argument 'value'")
        path, raw = parsed.positionals
        return _config_set(state, path, raw)
    raise _UsageError(f"error: unknown command '{sub}'")


def _config_get(state: OpenClawState, path: str) -> CliResult:
    """`openclaw config get PATH`."""
    if path == OWNER_ALLOW_FROM:
        if state.owner_allow_from is None:
            return _fail(f"Config path not found: {path}\n")
        return _ok(json.dumps(state.owner_allow_from, indent=2) + "\n")
    if path == MODEL_PRIMARY:
        return _ok(f"{state.model}\n")
    if path in state.extra_config:
        value = state.extra_config[path]
        return _ok((value if isinstance(value, str) else json.dumps(value, indent=2)) + "\n")
    return _fail(f"Config path not found: {path}\n")


def _config_set(state: OpenClawState, path: str, raw: str) -> CliResult:
    """`openclaw config set PATH VALUE`: VALUE is JSON where it parses, else the raw text."""
    if path == OWNER_ALLOW_FROM:
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = None
        if not isinstance(value, list) or not all(
            isinstance(v, str | int) and not isinstance(v, bool) for v in value
        ):
            return _command_failed(f"Invalid value for {path}: expected a JSON array of strings.")
        state.owner_allow_from = [str(v) for v in value]
    elif path == MODEL_PRIMARY:
        state.model = raw
    else:
        try:
            state.extra_config[path] = json.loads(raw)
        except json.JSONDecodeError:
            state.extra_config[path] = raw
    return _ok(f"Updated {path}. No gateway restart needed.\n")
