"""`python -m bot rotate-keys`: re-encrypt every stored secret under the current vault key.

Run it after putting a new key first in `AGENT_SECRETS_ENCRYPTION_KEY` (`new:BASE64,old:BASE64`);
once it reports nothing left under old keys, the old key can be removed from the setting.
It may run while the bot runs (each batch is its own transaction) and can simply be re-run.
"""

from __future__ import annotations

from bot.settings import load_settings
from storage import Store
from storage.models import Actor, RotationReport


async def rotate_keys() -> RotationReport:
    settings = load_settings(require=("AGENT_SECRETS_ENCRYPTION_KEY",))
    store = await Store.open(settings.db_path, vault_keys=settings.secrets_key)
    try:
        return await store.secrets.rotate(actor=str(Actor.system("rotate-keys")))
    finally:
        await store.close()
