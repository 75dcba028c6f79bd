"""Machine logs from Fly's logs API (a different host from the Machines API).

`GET {logs_url}/api/v1/apps/{app}/logs?instance=<machine id>&next_token=...&region=...` is what
`fly logs --no-tail` reads. The answer is JSON:API shaped:
`{"data": [{"id", "type", "attributes": {"timestamp", "message", "level", "instance", "region",
"meta"}}], "meta": {"next_token": "..."}}`; it holds the latest entries (about 100 per page, some
7 days kept). Pass a page's `next_token` back to read what came after it.

401 and 404 are final answers; every other failure is retried, as Fly's own CLI does.

This module must never log the content of log entries: they can contain user data.
"""

from __future__ import annotations

from typing import Any, Final

from flyclient._base import ClientBase, json_of, parse_model
from flyclient._http import ApiCall, path_segment
from flyclient.actions import Action
from flyclient.models import LogEntry, LogPage

_FINAL_STATUSES: Final = frozenset({401, 404})


class LogsMixin(ClientBase):
    async def get_logs(
        self, machine_id: str, *, next_token: str | None = None, region: str | None = None
    ) -> LogPage:
        """One page of the machine's logs, oldest first, and the token for the next page."""
        params = {"instance": machine_id}
        if next_token:
            params["next_token"] = next_token
        if region:
            params["region"] = region
        url = f"{self._logs_url}/api/v1/apps/{path_segment(self._app)}/logs"
        call = ApiCall(
            Action.LOGS_GET,
            self._machine_key(machine_id),
            "GET",
            url,
            params=params,
            final_statuses=_FINAL_STATUSES,
        )
        response = await self._send(call)
        payload = json_of(response, call)
        if not isinstance(payload, dict):
            payload = {}
        entries = [
            parse_model(LogEntry, _flatten(item), response, call)
            for item in payload.get("data") or []
            if isinstance(item, dict)
        ]
        meta = payload.get("meta")
        token = meta.get("next_token") if isinstance(meta, dict) else None
        return LogPage(
            entries=entries, next_token=token if isinstance(token, str) and token else None
        )


def _flatten(item: dict[str, Any]) -> dict[str, Any]:
    """A JSON:API resource object as one flat dict: the id plus the attributes."""
    attributes = item.get("attributes")
    flat: dict[str, Any] = dict(attributes) if isinstance(attributes, dict) else {}
    if item.get("id") is not None:
        flat["id"] = str(item["id"])
    return flat
