"""Durable aiosqlite store: agents, pairing ledger, secrets vault, journal, audit, outbox.

Never imports `bot` or `flyclient`. Never stores or logs a secret in plain text.
"""
