"""The fleet's public surface and the import rules around it, checked in a fresh interpreter.

`bot.fleet.__all__` is the surface: every name in it exists, and the Telegram layer imports
from `bot.fleet` only (never a submodule), and only names in `__all__`. Two layering rules are
checked by importing the packages in a separate interpreter: the fleet never imports Telegram
(importing every module of `bot.fleet` loads neither `telegram` nor `bot.telegram`), and the
Telegram layer never imports `flyclient` (every import statement its modules run is recorded:
`flyclient` is loaded, by the fleet, so `sys.modules` alone cannot tell). The source of every
module is scanned too, for imports that only run inside a function.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
TELEGRAM_LAYER = REPO_ROOT / "bot" / "telegram"


def _run(probe: str) -> None:
    completed = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "ok"


FLEET_PROBE = """
import pkgutil, importlib, sys
import bot.fleet
missing = [name for name in bot.fleet.__all__ if not hasattr(bot.fleet, name)]
assert not missing, missing
# Every module of the package, not only those the surface loads.
for module in pkgutil.iter_modules(bot.fleet.__path__):
    importlib.import_module(f"bot.fleet.{module.name}")
forbidden = sorted(
    m for m in sys.modules
    if m.split(".")[0] == "telegram" or m == "bot.telegram" or m.startswith("bot.telegram.")
)
assert not forbidden, forbidden[:5]
print("ok")
"""


def test_every_name_in_the_fleet_surface_exists_and_fleet_never_imports_telegram() -> None:
    _run(FLEET_PROBE)


TELEGRAM_PROBE = """
import builtins, importlib, pkgutil
seen = []
real_import = builtins.__import__

def recording_import(name, globals=None, locals=None, fromlist=(), level=0):
    importer = (globals or {}).get("__name__", "")
    if importer == "bot.telegram" or importer.startswith("bot.telegram."):
        seen.append((importer, name if level == 0 else "." * level + name))
    return real_import(name, globals, locals, fromlist, level)

builtins.__import__ = recording_import
import bot.telegram
for module in pkgutil.walk_packages(bot.telegram.__path__, "bot.telegram."):
    importlib.import_module(module.name)
builtins.__import__ = real_import
assert seen, "no import statement of the Telegram layer was seen"
offenders = sorted(
    f"{importer} imports {name}"
    for importer, name in seen
    if name.split(".")[0] == "flyclient" or name.startswith("bot.fleet.")
)
assert not offenders, offenders
print("ok")
"""


def test_the_telegram_layer_never_imports_flyclient_nor_a_fleet_submodule() -> None:
    _run(TELEGRAM_PROBE)


def _imports(path: Path) -> list[tuple[str, list[str], int]]:
    """(module, names, line) of every import statement in a file, nested ones included."""
    found: list[tuple[str, list[str], int]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.extend((alias.name, [], node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, [alias.name for alias in node.names], node.lineno))
    return found


def test_the_telegram_layer_imports_only_the_fleet_surface_and_never_flyclient() -> None:
    import bot.fleet

    surface = set(bot.fleet.__all__)
    problems = []
    modules = sorted(TELEGRAM_LAYER.rglob("*.py"))
    assert len(modules) > 20, "the Telegram layer's modules were not found"
    for path in modules:
        where = path.relative_to(REPO_ROOT)
        for module, names, line in _imports(path):
            top = module.split(".")[0]
            if top == "flyclient":
                problems.append(f"{where}:{line} imports {module}")
            elif module.startswith("bot.fleet."):
                problems.append(f"{where}:{line} imports the submodule {module}")
            elif module == "bot.fleet":
                outside = sorted(set(names) - surface) if names else ["bot.fleet (the module)"]
                problems.extend(
                    f"{where}:{line} imports {name}, not in __all__" for name in outside
                )
    assert not problems, "\n".join(problems)
