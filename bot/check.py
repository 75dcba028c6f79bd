"""`python -m bot check`: are the settings usable, and do Telegram and Fly answer?

Reports every problem at once, each in words an operator can act on: settings first (all of
them), then Telegram's `getMe` with this bot's token, then Fly's `get app` with the Fly token.
Never prints a secret value.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from bot.runtime import load_run_settings
from bot.settings import Settings, SettingsError
from flyclient import FlyClient, FlyError, ForbiddenError, NotFoundError, UnauthorizedError


@dataclass(frozen=True)
class CheckLine:
    ok: bool
    what: str
    detail: str

    def render(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'} {self.what}: {self.detail}"


async def check_telegram(settings: Settings) -> CheckLine:
    if settings.telegram_token is None:
        return CheckLine(False, "Telegram", "FLYAGENTS_TELEGRAM_TOKEN is not set")
    root = settings.telegram_api_url.rstrip("/")
    url = f"{root}/bot{settings.telegram_token.get_secret_value()}/getMe"
    try:
        async with httpx.AsyncClient(timeout=15) as http:
            answer = await http.post(url)
    except httpx.HTTPError as error:
        # The exception text would contain the URL, and so the token: name the host only.
        return CheckLine(False, "Telegram", f"cannot reach {root} ({type(error).__name__})")
    try:
        body = answer.json()
    except ValueError:
        return CheckLine(
            False, "Telegram", f"{root} did not answer like the Bot API ({answer.status_code})"
        )
    if answer.status_code == 401 or (isinstance(body, dict) and body.get("error_code") == 401):
        return CheckLine(False, "Telegram", "the bot token was refused (401 Unauthorized)")
    if not isinstance(body, dict) or not body.get("ok"):
        description = body.get("description") if isinstance(body, dict) else None
        return CheckLine(False, "Telegram", f"getMe failed: {description or answer.status_code}")
    me = body.get("result") or {}
    return CheckLine(True, "Telegram", f"bot @{me.get('username')} (id {me.get('id')})")


async def check_fly(settings: Settings) -> CheckLine:
    if settings.fly_api_token is None or not settings.fly_app_name:
        # `load_run_settings` refused half of the pair, so here neither is set.
        return CheckLine(
            True,
            "Fly",
            "no fleet-wide app: each tenant needs its own (/tenant set ID FLY_APP_NAME=… "
            "FLY_API_TOKEN=…) before its agents can be provisioned",
        )
    try:
        async with FlyClient(
            token=settings.fly_api_token.get_secret_value(),
            app=settings.fly_app_name,
            machines_url=settings.fly_api_url,
            logs_url=settings.fly_logs_url,
        ) as fly:
            app = await fly.get_app()
    except UnauthorizedError:
        return CheckLine(False, "Fly", "the Fly API token was refused (401)")
    except ForbiddenError:
        return CheckLine(
            False, "Fly", f"app {settings.fly_app_name} belongs to another organization (403)"
        )
    except NotFoundError:
        return CheckLine(False, "Fly", f"app {settings.fly_app_name} does not exist (404)")
    except FlyError as error:
        return CheckLine(False, "Fly", f"get app failed: {error.message}")
    return CheckLine(True, "Fly", f"app {app.name} reachable at {settings.fly_api_url}")


async def run_checks() -> list[CheckLine]:
    try:
        settings = load_run_settings()
    except SettingsError as error:
        return [CheckLine(False, "settings", problem) for problem in error.problems]
    lines = [CheckLine(True, "settings", "all present and well-formed")]
    lines.append(await check_telegram(settings))
    lines.append(await check_fly(settings))
    return lines
