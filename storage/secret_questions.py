"""Which private chat's last guided question asked for a secret (ids only, never text).

The Telegram layer records its `/secret` question here when it asks it and forgets it when the
question is answered or replaced by another question. The record outlives the in-memory flow
(its timeout, a restart, another command), so the next text in that chat is known to hold a
secret and is deleted before anything else.
"""

from __future__ import annotations

from storage.clock import Clock, to_db_time
from storage.db import Database


class SecretQuestions:
    """Repository for `secret_questions`."""

    def __init__(self, database: Database, clock: Clock) -> None:
        self._db = database
        self._clock = clock

    async def asked(self, chat_id: int, message_id: int) -> None:
        """The bot asked for a secret in `chat_id` with message `message_id`."""
        async with self._db.transaction() as transaction:
            await transaction.execute(
                "INSERT INTO secret_questions (chat_id, message_id, asked_at) VALUES (?, ?, ?) "
                "ON CONFLICT (chat_id) DO UPDATE SET message_id = excluded.message_id, "
                "asked_at = excluded.asked_at",
                (chat_id, message_id, to_db_time(self._clock())),
            )

    async def pending(self, chat_id: int) -> int | None:
        """The message id of the secret question still awaiting an answer in `chat_id`."""
        row = await self._db.fetch_one(
            "SELECT message_id FROM secret_questions WHERE chat_id = ?", (chat_id,)
        )
        return None if row is None else int(row["message_id"])

    async def forget(self, chat_id: int) -> bool:
        """The question was answered or replaced; True when one was pending."""
        async with self._db.transaction() as transaction:
            removed = await transaction.execute(
                "DELETE FROM secret_questions WHERE chat_id = ?", (chat_id,)
            )
        return removed > 0
