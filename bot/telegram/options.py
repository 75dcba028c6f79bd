"""Tunables of the Telegram layer: poll and retry timings, rate limits, time-to-live of state.

Defaults suit production; tests pass tiny values so a whole flow settles in milliseconds.
This module holds values only: it never reads the environment (settings do) and never acts.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BotOptions:
    # Long-poll time of getUpdates; shutdown waits for at most this long.
    poll_timeout_s: float = 10.0
    # Updates handled at once: long operations (provisioning) must not block other admins.
    concurrent_updates: int = 32
    # Admins' updates run in a lane of their own, so nobody else's updates can delay them.
    admin_concurrent_updates: int = 32
    # A stranger (or an end user asking for what they may not do) is told so once per window
    # per person and refusal; further messages in the window get no answer, so a flood costs
    # no sends. 0 answers every time.
    refusal_window_s: float = 300.0
    # At most one progress edit per interval (Telegram also rate-limits edits).
    progress_edit_interval_s: float = 1.0
    # Alert delivery.
    alert_poll_interval_s: float = 2.0
    alert_lease_s: float = 60.0
    alert_backoff_base_s: float = 2.0
    alert_backoff_max_s: float = 300.0
    # Telegram's limit for one group is 20 messages a minute; the ops chat never gets more.
    ops_messages_per_window: int = 20
    ops_window_s: float = 60.0
    # Telegram allows about one message a second in a private chat, with short bursts.
    private_messages_per_second: float = 1.0
    private_burst: int = 4
    # End users: pairing codes accepted per user per window (valid or not).
    pairing_attempts_per_window: int = 5
    pairing_window_s: float = 600.0
    # In-memory conversation state.
    confirmation_ttl_s: float = 300.0
    flow_ttl_s: float = 600.0
    page_ttl_s: float = 3600.0
    housekeeping_interval_s: float = 300.0
    # How long a Bot API call waits for Telegram's answer (PTB's default is 5 s). Telegram
    # answers in well under a second as a rule, but answers of 5-20 s happen under load (a busy
    # group, a data-centre hiccup) for calls it carried out; waiting only 5 s turned those into
    # "failures" that were resent, so alerts arrived three times. 30 s covers the slow answers
    # seen in practice, and still notices a dead connection well within the alert lease, which
    # must exceed a whole exchange (pool 1 s + connect 5 s + write 5 s + read 30 s = 41 s < 60 s)
    # so that no other process re-claims an alert whose send is still in flight. A call that
    # gets no answer even then has an unknown outcome: alerts are resent at most once
    # (`alerts_worker`), other sends are not resent.
    bot_api_read_timeout_s: float = 30.0
    # A press on a pairing card holds the request for its presser (others are told who is on
    # it) until the decision ends; a hold older than this is void whatever path forgot it.
    # Longer than one decision (gateway check, pairing list, owners, the approve's exec
    # timeout); the ledger keeps it exactly-once after the bound.
    decision_hold_ttl_s: float = 300.0
    # How often PTB's rate limiter resends a request Telegram answered with 429.
    rate_limiter_max_retries: int = 1
    # PTB's rate limiter: all requests (Telegram allows about 30 messages a second in total).
    overall_requests_per_second: float = 30.0
    # Webhook mode: how often the bot asks Telegram (getWebhookInfo) whether its updates still
    # come to this bot's URL and arrive there.
    webhook_check_interval_s: float = 300.0

    @classmethod
    def for_tests(cls) -> BotOptions:
        """Tiny delays; limits as in production so tests see the real behaviour, except
        that the ops budget's window is a tenth as long (the same 20 messages in 6 s, so
        the worker's pacing is 0.3 s between ops messages instead of 3 s)."""
        return cls(
            poll_timeout_s=1.0,
            ops_window_s=6.0,
            progress_edit_interval_s=0.0,
            alert_poll_interval_s=0.05,
            alert_lease_s=5.0,
            alert_backoff_base_s=0.05,
            alert_backoff_max_s=0.5,
            housekeeping_interval_s=60.0,
        )
