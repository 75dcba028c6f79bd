"""The ordered list of schema migrations and the runner that applies them.

Add a migration by writing a new `mNNNN_<what>.py` module with a `MIGRATION` and appending it
here. Never edit or reorder a released one: databases in the field already ran it.
"""

from __future__ import annotations

from storage.migrations import (
    m0001_core,
    m0002_tenant_profiles,
    m0003_staged_secrets,
    m0004_provisioned,
    m0005_secret_questions,
    m0006_machine_exec_marks,
)
from storage.migrations.runner import Migration, check_sequence, current_version, migrate

MIGRATIONS: tuple[Migration, ...] = (
    m0001_core.MIGRATION,
    m0002_tenant_profiles.MIGRATION,
    m0003_staged_secrets.MIGRATION,
    m0004_provisioned.MIGRATION,
    m0005_secret_questions.MIGRATION,
    m0006_machine_exec_marks.MIGRATION,
)
LATEST_VERSION = len(MIGRATIONS)

check_sequence(MIGRATIONS)

__all__ = [
    "LATEST_VERSION",
    "MIGRATIONS",
    "Migration",
    "current_version",
    "migrate",
]
