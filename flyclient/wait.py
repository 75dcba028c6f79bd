"""Waiting for a machine to reach a state, as a first-class operation.

`wait` is one long poll of Fly's wait endpoint (at most 60 s, Fly's cap): True when the state
was reached, False when Fly answered 408 ("not yet"). `wait_for_state` chains long polls until
a deadline and raises `WaitTimeoutError` when it passes. Waiting for `stopped` needs the
machine's current `instance_id` (Fly answers 400 without it), so `wait_for_state` reads it first
when the caller did not pass one. Waiting for `destroyed` also accepts the machine vanishing
(404), which is how a destroyed machine ends up.

This module must never sleep in a loop to poll: the server does the waiting.
"""

from __future__ import annotations

import math
import time
from typing import Final

from flyclient._http import ApiCall
from flyclient.actions import Action
from flyclient.errors import NotFoundError, WaitTimeoutError
from flyclient.machines import MachinesMixin

WAIT_MAX_TIMEOUT_S: Final = 60
_ANSWER_GRACE_S: Final = 10.0


def clamp_wait_timeout(timeout_s: float) -> int:
    """Whole seconds in 1..60, the range Fly's wait endpoint accepts."""
    return max(1, min(WAIT_MAX_TIMEOUT_S, math.floor(timeout_s)))


class WaitMixin(MachinesMixin):
    async def wait(
        self,
        machine_id: str,
        state: str = "started",
        *,
        timeout_s: float = WAIT_MAX_TIMEOUT_S,
        instance_id: str | None = None,
        version: str | None = None,
    ) -> bool:
        """One long poll: True once the machine is in `state`, False if Fly said 408 (not yet).

        `timeout_s` is clamped to 1..60. For `state="stopped"` pass the current `instance_id`
        (or `version`, its newer name).
        """
        seconds = clamp_wait_timeout(timeout_s)
        params = {"state": state, "timeout": str(seconds)}
        if instance_id:
            params["instance_id"] = instance_id
        if version:
            params["version"] = version
        call = ApiCall(
            Action.MACHINE_WAIT,
            self._machine_key(machine_id),
            "GET",
            self._machine_url(machine_id, "wait"),
            params=params,
            timeout_s=seconds + _ANSWER_GRACE_S,
            answers=frozenset({408}),
        )
        response = await self._send(call)
        return response.status_code != 408

    async def wait_for_state(
        self,
        machine_id: str,
        state: str,
        deadline_s: float,
        *,
        instance_id: str | None = None,
    ) -> None:
        """Wait up to `deadline_s` seconds for `state`; `WaitTimeoutError` when time runs out.

        The last poll is at least one second long (Fly's minimum) and a poll may first wait for
        the rate limiter, so the deadline can be overrun by about a second.
        """
        started = time.monotonic()
        if state == "stopped" and instance_id is None:
            instance_id = (await self.get_machine(machine_id)).instance_id
        while True:
            remaining = deadline_s - (time.monotonic() - started)
            if remaining <= 0:
                raise WaitTimeoutError(
                    f"machine {machine_id} did not reach {state!r} within {deadline_s:g}s",
                    method="GET",
                    path=f"/apps/{self._app}/machines/{machine_id}/wait",
                )
            try:
                if await self.wait(machine_id, state, timeout_s=remaining, instance_id=instance_id):
                    return
            except NotFoundError:
                if state == "destroyed":
                    return
                raise
