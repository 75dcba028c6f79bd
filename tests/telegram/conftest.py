"""Fixtures of the Telegram layer tests (the harness lives in tg_harness.py)."""

from tg_harness import bot, bot_factory, fast_bot

__all__ = ["bot", "bot_factory", "fast_bot"]
