"""The offline demo and console: the real bot against the local Fly and Telegram emulators.

`python -m bot demo` plays the whole story (provision → invite → pairing → approval → model →
snapshot → recreate → stop → wake → an ops alert → deprovision, across two tenants) and prints
it as a transcript with a summary; `python -m bot console` is the same world, typed by hand.
`python -m bot demo --real-openclaw` tells the pairing story with the agent's machine running the
real OpenClaw runtime (installed by `scripts/install-openclaw.sh`), or says how to install it.
None needs an account or the network: the emulators run in this process on loopback, the bot
keeps its state in a temporary SQLite file under a freshly generated encryption key.

This package only drives the bot from the outside, the way people and the platform would; it
never reaches into the bot to change what it does, and never imports the test suite.
"""
