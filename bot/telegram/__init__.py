"""The Telegram layer of the fly-agents bot: admins run the fleet, end users pair their agent.

`build_telegram` returns a `TelegramLayer` (a python-telegram-bot `Application` with every
handler, the alert worker and the housekeeping job) that `bot.runtime` starts and stops. The
layer parses, authorizes, calls `bot.fleet.FleetService` and formats; it holds no
business rules and never talks to Fly or touches machine state itself.
"""

from bot.telegram.app import TelegramLayer, build_telegram, quiet_library_loggers
from bot.telegram.options import BotOptions
from bot.telegram.webhook import WebhookConfig

__all__ = [
    "BotOptions",
    "TelegramLayer",
    "WebhookConfig",
    "build_telegram",
    "quiet_library_loggers",
]
