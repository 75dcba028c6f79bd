"""Recognise the exec command shapes that run the OpenClaw CLI — without any real shell.

Fly's exec runs an argv inside the machine. The clients we emulate send
exactly these shapes:

- `["node", "./openclaw.mjs", ARGS…]` (run from the image's workdir, `/app`
  unless the caller names another app dir), also `openclaw.mjs` and the
  absolute `/app/openclaw.mjs`;
- `["sh", "-lc", SCRIPT]` and `["sh", "-lc", SCRIPT, NAME, ARG1…]` where SCRIPT
  is `cd DIR && [exec] node ./openclaw.mjs ARGS…` and may use `"$1"`… for the
  positional arguments (the safe way to pass a pairing code);
- `node -e JS` (directly or as the last command of such a SCRIPT, JS usually `"$1"`):
  returned as `NodeEval`; the emulator evaluates only the scripts it models (reading
  OpenClaw's allow list from its state database), never the JavaScript itself.

`interpret` tokenises SCRIPT with a tiny POSIX-quoting reader (single and
double quotes, backslashes, `$N`/`${N}`/`$NAME` expansion, `&&` and `;`) and
returns either the OpenClaw arguments (with the directory they run from) or
the error a real `sh` would print. It
never executes anything and never calls a shell; any other construct (pipes,
redirections, substitutions) is refused as a syntax error.
"""

from __future__ import annotations

from dataclasses import dataclass

WORKDIR = "/app"
SCRIPT_NAME = "openclaw.mjs"
_SHELLS = frozenset({"sh", "/bin/sh", "bash", "/bin/bash", "/usr/bin/sh", "/usr/bin/bash"})
_SHELL_FLAGS = frozenset({"-c", "-lc", "-cl", "-ec", "-lec"})
_NODES = frozenset({"node", "/usr/local/bin/node", "/usr/bin/node"})
# Directories of the simulated machine's filesystem (never the host's).
_EXISTING_DIRS = frozenset({"/", "/app", "/data", "/tmp", "/root", "/home"})  # noqa: S108
_UNSUPPORTED = frozenset("|&<>()`")


@dataclass(frozen=True)
class OpenClawInvocation:
    """The command runs `openclaw.mjs` with these arguments, from directory `cwd`."""

    args: list[str]
    cwd: str = WORKDIR


@dataclass(frozen=True)
class Unrunnable:
    """The command fails before OpenClaw runs; this is what the shell or node prints."""

    stderr: str
    exit_code: int
    stdout: str = ""


@dataclass(frozen=True)
class NodeEval:
    """The command is `node -e SCRIPT`, run from directory `cwd`."""

    script: str
    cwd: str = WORKDIR


Interpretation = OpenClawInvocation | Unrunnable | NodeEval


class _ShellSyntaxError(Exception):
    pass


_SEPARATOR = "\x00sep"


def _expand(name: str, positionals: list[str], env: dict[str, str]) -> str:
    if name.isdigit():
        index = int(name)
        return positionals[index] if index < len(positionals) else ""
    return env.get(name, "")


def _read_variable(script: str, index: int) -> tuple[str, int]:
    """Name of the variable after a `$` at `index - 1`; returns (name, next index)."""
    if index < len(script) and script[index] == "{":
        end = script.find("}", index)
        if end == -1:
            raise _ShellSyntaxError("Syntax error: bad substitution")
        return script[index + 1 : end], end + 1
    if index < len(script) and script[index].isdigit():
        return script[index], index + 1
    end = index
    while end < len(script) and (script[end].isalnum() or script[end] == "_"):
        end += 1
    if end == index:
        if index < len(script) and script[index] == "(":
            raise _ShellSyntaxError('Syntax error: "(" unexpected')
        return "", index
    return script[index:end], end


class _Words:
    """The words of a script as they are read: those finished, and the one being built."""

    def __init__(self) -> None:
        self.finished: list[str] = []
        self._current: list[str] = []
        self._in_word = False

    def add(self, text: str) -> None:
        """TEXT joins the current word (an empty quoted string still makes a word)."""
        self._current.append(text)
        self._in_word = True

    def add_fields(self, value: str) -> None:
        """An unquoted expansion, split into fields as sh does; the first joins the current word."""
        for position, piece in enumerate(value.split()):
            if position > 0:
                self.finish()
            self.add(piece)

    def finish(self) -> None:
        if self._in_word:
            self.finished.append("".join(self._current))
        self._current = []
        self._in_word = False

    def separate(self) -> None:
        """`&&` or `;`: the end of one command."""
        self.finish()
        self.finished.append(_SEPARATOR)


def _read_single_quoted(script: str, index: int) -> tuple[str, int]:
    """The text of the '...' opening at INDEX, and the index after its closing quote."""
    end = script.find("'", index + 1)
    if end == -1:
        raise _ShellSyntaxError("Syntax error: Unterminated quoted string")
    return script[index + 1 : end], end + 1


def _read_double_quoted(
    script: str, index: int, positionals: list[str], env: dict[str, str]
) -> tuple[str, int]:
    """The expanded text of the "..." whose content starts at INDEX, and the index after it."""
    text: list[str] = []
    while True:
        if index >= len(script):
            raise _ShellSyntaxError("Syntax error: Unterminated quoted string")
        inner = script[index]
        if inner == '"':
            return "".join(text), index + 1
        if inner == "\\" and index + 1 < len(script) and script[index + 1] in '"\\$`':
            text.append(script[index + 1])
            index += 2
        elif inner == "$":
            name, index = _read_variable(script, index + 1)
            text.append(_expand(name, positionals, env) if name else "$")
        elif inner == "`":
            raise _ShellSyntaxError('Syntax error: "`" unexpected')
        else:
            text.append(inner)
            index += 1


def tokenize(script: str, positionals: list[str], env: dict[str, str]) -> list[str]:
    """Words of SCRIPT after quote removal and expansion; `_SEPARATOR` marks `&&` and `;`."""
    words = _Words()
    index = 0
    while index < len(script):
        char = script[index]
        if char in " \t\n":
            words.finish()
            index += 1
        elif char == "'":
            text, index = _read_single_quoted(script, index)
            words.add(text)
        elif char == '"':
            text, index = _read_double_quoted(script, index + 1, positionals, env)
            words.add(text)
        elif char == "\\":
            if index + 1 < len(script):
                words.add(script[index + 1])
            index += 2
        elif char == "$":
            name, index = _read_variable(script, index + 1)
            if name:
                words.add_fields(_expand(name, positionals, env))
            else:
                words.add("$")
        elif char == ";":
            words.separate()
            index += 1
        elif char == "&" and script.startswith("&&", index):
            words.separate()
            index += 2
        elif char in _UNSUPPORTED:
            raise _ShellSyntaxError(f'Syntax error: "{char}" unexpected')
        else:
            words.add(char)
            index += 1
    words.finish()
    return words.finished


def _split_commands(words: list[str]) -> list[list[str]]:
    commands: list[list[str]] = [[]]
    for word in words:
        if word == _SEPARATOR:
            commands.append([])
        else:
            commands[-1].append(word)
    return [command for command in commands if command]


def _resolve(path: str, cwd: str) -> str:
    joined = path if path.startswith("/") else f"{cwd.rstrip('/')}/{path}"
    parts: list[str] = []
    for part in joined.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return "/" + "/".join(parts)


def _module_not_found(path: str) -> Unrunnable:
    return Unrunnable(
        stderr=(
            "node:internal/modules/cjs/loader:1386\n"
            "  throw err;\n"
            "  ^\n\n"
            f"Error: Cannot find module '{path}'\n"
            "    at Function._resolveFilename (node:internal/modules/cjs/loader:1383:15)\n"
            "    at node:internal/main/run_main_module:36:49 {\n"
            "  code: 'MODULE_NOT_FOUND',\n"
            "  requireStack: []\n"
            "}\n\n"
            "Node.js v24.16.0\n"
        ),
        exit_code=1,
    )


def _node(argv: list[str], cwd: str, app_dir: str) -> Interpretation:
    if len(argv) < 2:
        return Unrunnable(stderr="", exit_code=0)
    if argv[1] in ("-e", "--eval"):
        if len(argv) < 3:
            return Unrunnable(stderr=f"{argv[0]}: {argv[1]} requires an argument\n", exit_code=9)
        return NodeEval(script=argv[2], cwd=cwd)
    script = _resolve(argv[1], cwd)
    if script != _resolve(SCRIPT_NAME, app_dir):
        return _module_not_found(script)
    return OpenClawInvocation(args=list(argv[2:]), cwd=cwd)


def _not_found(word: str) -> Unrunnable:
    return Unrunnable(stderr=f"sh: 1: {word}: not found\n", exit_code=127)


def _shell(
    script: str, positionals: list[str], env: dict[str, str], app_dir: str
) -> Interpretation:
    try:
        words = tokenize(script, positionals, env)
    except _ShellSyntaxError as error:
        return Unrunnable(stderr=f"sh: 1: {error}\n", exit_code=2)
    commands = _split_commands(words)
    if not commands:
        return Unrunnable(stderr="", exit_code=0)
    cwd = "/"
    for position, command in enumerate(commands):
        if command[0] == "exec":
            command = command[1:]
            if not command:
                continue
        name = command[0]
        if name == "cd":
            target = _resolve(command[1] if len(command) > 1 else "/root", cwd)
            if target not in _EXISTING_DIRS and target != app_dir:
                return Unrunnable(stderr=f"sh: 1: cd: can't cd to {command[1]}\n", exit_code=2)
            cwd = target
            continue
        if name in _NODES and position == len(commands) - 1:
            return _node(command, cwd, app_dir)
        return _not_found(name)
    return Unrunnable(stderr="", exit_code=0)


def interpret(argv: list[str], env: dict[str, str], app_dir: str = WORKDIR) -> Interpretation:
    """What running ARGV inside the machine amounts to; APP_DIR holds `openclaw.mjs`."""
    app_dir = _resolve(app_dir, "/")
    if not argv:
        return Unrunnable(stderr="", exit_code=0)
    if argv[0] in _SHELLS:
        if len(argv) >= 3 and argv[1] in _SHELL_FLAGS:
            name = argv[3] if len(argv) > 3 else argv[0]
            return _shell(argv[2], [name, *argv[4:]], env, app_dir)
        return Unrunnable(stderr=f"{argv[0]}: unsupported invocation\n", exit_code=2)
    if argv[0] in _NODES:
        return _node(argv, app_dir, app_dir)
    return _not_found(argv[0])


def is_pairing_command(invocation: Interpretation) -> bool:
    return (
        isinstance(invocation, OpenClawInvocation)
        and bool(invocation.args)
        and (invocation.args[0] == "pairing")
    )
