"""Contract validators: check recorded emulator traffic against the real services' published specs.

``fly_spec`` checks Fly Machines API exchanges (``fly_deviations`` lists where the real API and its
spec differ), ``telegram_spec`` checks Telegram Bot API calls, ``specs_dir`` finds the spec files
and decides skip-or-fail when they are absent, ``traffic`` turns an emulator's request log into
failures. Nothing here imports the emulators or holds a copy of a spec; the fixtures in
``tests/conftest.py`` feed the recorded traffic in.
"""
