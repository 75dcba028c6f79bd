"""Schema version 5: the secret question last asked in each private chat.

The bot's guided `/secret` question is answered with a message that holds a secret. Flows live
in memory and expire, so an answer that comes after the flow's timeout, a restart or another
command would otherwise be read as ordinary text and left in the chat. The bot remembers here
which chat's last question was a secret one (only ids: never any text), so such an answer is
recognised and deleted whatever became of the conversation.
"""

from __future__ import annotations

from storage.migrations.runner import Migration

MIGRATION = Migration(
    version=5,
    name="secret questions awaiting an answer",
    statements=(
        """
        CREATE TABLE secret_questions (
            chat_id INTEGER PRIMARY KEY,
            message_id INTEGER NOT NULL,
            asked_at TEXT NOT NULL
        )
        """,
    ),
)
