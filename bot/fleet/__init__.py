"""The fleet service: lifecycle, provisioning, pairing executor, model control, monitor.

Knows nothing of Telegram: the bot, tests, a CLI and the benchmarks all drive it.
"""
