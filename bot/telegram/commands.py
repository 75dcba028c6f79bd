"""The command table: every command's name, syntax, who may use it and the values it takes.

One source for the command menus (`setMyCommands`), `/help`, argument parsing and the guided
(question by question) mode. Names and syntax are a public contract that scripts rely on: they
change only together with the documentation. This module describes; it never handles anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Ask(StrEnum):
    """Conversation states of the guided mode: the value the bot is asking for."""

    AGENT = "agent"
    TENANT = "tenant"
    USER = "user"
    MODEL = "model"
    SKILLS = "skills"
    CODE = "code"
    SECRET = "secret"  # noqa: S105 - the name of a question, not a value


@dataclass(frozen=True)
class Param:
    name: str
    required: bool = True
    positional: bool = True
    # The last positional parameter may take the rest of the line (e.g. "a, b").
    greedy: bool = False

    @property
    def ask(self) -> Ask | None:
        return Ask(self.name) if self.required else None


AGENT = Param("agent")


@dataclass(frozen=True)
class Subcommand:
    """One form of a command that does several things (e.g. `/tenant add`)."""

    name: str
    usage: str
    description: str


@dataclass(frozen=True)
class Command:
    name: str
    usage: str
    description: str
    params: tuple[Param, ...] = ()
    destructive: bool = False
    private_only: bool = False
    # The command's forms, each listed in /help. `/tenant add|set|…` parses its own text and
    # `params` stays empty; `/stop AGENT | all [TENANT]` fills `params` unless its first word
    # is `ALL_AGENTS`.
    subcommands: tuple[Subcommand, ...] = ()

    @property
    def option_names(self) -> frozenset[str]:
        return frozenset(param.name for param in self.params)


TENANT_SUBCOMMANDS: tuple[Subcommand, ...] = (
    Subcommand("add", "/tenant add ID [name]", "Add a tenant profile"),
    Subcommand(
        "set",
        "/tenant set ID KEY=VALUE …",
        "Override fleet settings for the tenant (secret keys: private chat only)",
    ),
    Subcommand("unset", "/tenant unset ID KEY", "Drop one override; the fleet value applies"),
    Subcommand("show", "/tenant show ID", "Its values and which level supplies each"),
    Subcommand("list", "/tenant list", "Every tenant profile"),
    Subcommand("remove", "/tenant remove ID", "Delete a tenant without live agents"),
)

# `/stop all [TENANT]`, `/wake all …`, `/restart all …`: every agent the action applies to.
# "all" can never name one agent: agent ids are generated (`ag_` and 12 characters) and the
# other form, `tenant/user`, always holds a slash, so `/stop all` is never ambiguous.
ALL_AGENTS = "all"
BULK_COMMANDS = frozenset({"stop", "wake", "restart"})


def _lifecycle(name: str, one: str, every: str, short: str) -> Command:
    """A lifecycle command with its two forms: one agent, or all of them (of one tenant)."""
    return Command(
        name,
        f"/{name} AGENT | /{name} {ALL_AGENTS} [TENANT]",
        short,
        (AGENT,),
        subcommands=(
            Subcommand("agent", f"/{name} AGENT", one),
            Subcommand(ALL_AGENTS, f"/{name} {ALL_AGENTS} [TENANT]", every),
        ),
    )


ADMIN_COMMANDS: tuple[Command, ...] = (
    Command(
        "provision",
        "/provision tenant=T user=U [model=M] [skills=a,b] [region=R]",
        "Create an agent (volume, machine, gateway, model)",
        (
            Param("tenant", positional=False),
            Param("user", positional=False),
            Param("model", required=False, positional=False),
            Param("skills", required=False, positional=False),
            Param("region", required=False, positional=False),
        ),
    ),
    Command("list", "/list [tenant=T]", "List live agents", (Param("tenant", required=False),)),
    Command("status", "/status AGENT", "An agent's record and live machine", (AGENT,)),
    _lifecycle(
        "wake",
        "Start an agent's machine",
        "Start every stopped agent (of one tenant), after a confirmation",
        "Start an agent's machine, or all stopped ones",
    ),
    _lifecycle(
        "stop",
        "Stop an agent's machine",
        "Stop every running agent (of one tenant), after a confirmation",
        "Stop an agent's machine, or all running ones",
    ),
    _lifecycle(
        "restart",
        "Restart a machine and settle a stuck pairing",
        "Restart every running agent (of one tenant), after a confirmation",
        "Restart a machine and settle a stuck pairing, or all running ones",
    ),
    Command(
        "deprovision",
        "/deprovision AGENT",
        "Destroy an agent's machine and volume",
        (AGENT,),
        destructive=True,
    ),
    Command("snapshot", "/snapshot AGENT", "Snapshot an agent's volume", (AGENT,)),
    Command(
        "recreate",
        "/recreate AGENT",
        "Recreate an agent from its latest snapshot",
        (AGENT,),
        destructive=True,
    ),
    Command("model", "/model AGENT M", "Set and verify an agent's model", (AGENT, Param("model"))),
    Command(
        "skills",
        "/skills AGENT a,b",
        "Set an agent's allowed skills",
        (AGENT, Param("skills", greedy=True)),
    ),
    Command(
        "secret",
        "/secret AGENT NAME=VALUE",
        "Store an agent secret (private chat; the message is deleted)",
        (AGENT, Param("secret")),
        private_only=True,
    ),
    Command("secrets", "/secrets AGENT", "List an agent's secrets (names only)", (AGENT,)),
    Command(
        "clearsecrets",
        "/clearsecrets AGENT",
        "Delete all of an agent's secrets",
        (AGENT,),
        destructive=True,
    ),
    Command("pair", "/pair AGENT CODE", "Approve a pairing code directly", (AGENT, Param("code"))),
    Command("pending", "/pending", "Pairing requests awaiting a decision"),
    Command("invite", "/invite AGENT", "A one-time link for the agent's end user", (AGENT,)),
    Command(
        "unlink",
        "/unlink AGENT",
        "Release the agent from its end user (then /invite links someone else)",
        (AGENT,),
    ),
    Command("audit", "/audit [AGENT]", "Recent audit entries", (Param("agent", required=False),)),
    Command(
        "tenant",
        "/tenant add|set|unset|show|list|remove …",
        "Tenant profiles: each tenant's own Fly app, token and defaults",
        subcommands=TENANT_SUBCOMMANDS,
    ),
    Command("help", "/help", "This list"),
)

USER_COMMANDS: tuple[Command, ...] = (
    Command("pair", "/pair CODE", "Send the pairing code your agent gave you", (Param("code"),)),
    Command("status", "/status", "Your agent's status"),
    Command("help", "/help", "What this bot does for you"),
)

ADMIN_BY_NAME = {command.name: command for command in ADMIN_COMMANDS}
USER_BY_NAME = {command.name: command for command in USER_COMMANDS}
# `/start` is Telegram's own (deep links); it is handled but never listed in a menu.
ALL_NAMES: tuple[str, ...] = tuple(dict.fromkeys(("start", *ADMIN_BY_NAME, *USER_BY_NAME)).keys())
