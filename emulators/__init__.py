"""Local stand-ins for the Fly Machines API and the Telegram Bot API.

Real HTTP servers on loopback, used by tests, the offline demo and benchmarks.
They import nothing from `bot`, `flyclient` or `storage`: an emulator that shared
the client's models would agree with the client's bugs.
"""
