"""Benchmarks of the fly-agents bot at fleet scale: `python -m bench [--size ...] [--scenario ...]`.

Each scenario drives the real bot code (fleet service, monitor, Telegram layer, SQLite store)
against the Fly and Telegram emulators on loopback, measures our figure and a baseline in the
same run, and reports one row per metric; `bench.runner` prints them as one table. What each
scenario measures, its baseline and its target are written in `bench/RESULTS.md`.

The bench package never changes the code of the bot, the client, the store or the emulators.
It drives them through their entry points, with two deliberate exceptions, each explained where
it is made: `fleet_seed` writes a pre-existing fleet's agent rows straight into the agents
table, and `telegram_watch` gives the in-process Telegram emulator a request log that also
reports each call as it happens. It is not a test suite: it asserts nothing about timing.
"""
