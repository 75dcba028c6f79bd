"""What every resource module of the client shares: the app, the URLs, the transport, parsing.

`ClientBase` is the common ancestor of the per-resource mixins (`apps`, `machines`, `wait`,
`leases`, `volumes`, `logs`) that `FlyClient` combines. It builds URLs, sends through the
transport and turns answers into models, wrapping unreadable answers in `FlyError` so that a
caller never has to catch pydantic or JSON exceptions.

This module must never send requests except through `FlyTransport`.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

import httpx
import pydantic

from flyclient._http import REQUEST_ID_HEADER, ApiCall, FlyTransport, path_segment
from flyclient.errors import FlyError
from flyclient.models import FlyModel

ModelT = TypeVar("ModelT", bound=FlyModel)


class ClientBase:
    """State and helpers shared by every resource mixin."""

    _transport: FlyTransport
    _machines_url: str
    _logs_url: str
    _app: str
    _op_id_metadata_key: str

    @property
    def app(self) -> str:
        """The Fly app every call of this client addresses."""
        return self._app

    def _api_url(self, *segments: str) -> str:
        """A Machines API URL from raw path segments (each is quoted)."""
        return "/".join([self._machines_url, *(path_segment(s) for s in segments)])

    def _app_url(self, *segments: str) -> str:
        return self._api_url("apps", self._app, *segments)

    def _machine_url(self, machine_id: str, *segments: str) -> str:
        return self._app_url("machines", machine_id, *segments)

    def _machine_key(self, machine_id: str) -> str:
        return f"{self._app}/{machine_id}"

    def _volume_key(self, volume_id: str) -> str:
        return f"{self._app}/{volume_id}"

    async def _send(self, call: ApiCall) -> httpx.Response:
        return await self._transport.send(call)

    async def _send_json(self, call: ApiCall) -> Any:
        return json_of(await self._transport.send(call), call)

    async def _send_model(self, call: ApiCall, model: type[ModelT]) -> ModelT:
        response = await self._transport.send(call)
        return parse_model(model, json_of(response, call), response, call)

    async def _send_models(self, call: ApiCall, model: type[ModelT]) -> list[ModelT]:
        response = await self._transport.send(call)
        payload = json_of(response, call)
        if not isinstance(payload, list):
            raise _unreadable(response, call, "expected a JSON array")
        return [parse_model(model, item, response, call) for item in payload]


def parse_model(
    model: type[ModelT], payload: Any, response: httpx.Response, call: ApiCall
) -> ModelT:
    """`payload` as `model`, or a `FlyError` naming the request when it does not fit."""
    try:
        return model.model_validate(payload)
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'body'}: {error['msg']}"
            for error in exc.errors()[:3]
        )
        raise _unreadable(response, call, f"unexpected {model.__name__}: {problems}") from None


def json_of(response: httpx.Response, call: ApiCall) -> Any:
    if not response.content.strip():
        return None
    try:
        return json.loads(response.content)
    except ValueError:
        raise _unreadable(response, call, "the answer is not JSON") from None


def _unreadable(response: httpx.Response, call: ApiCall, why: str) -> FlyError:
    return FlyError(
        f"unreadable answer from Fly: {why}",
        status_code=response.status_code,
        request_id=response.headers.get(REQUEST_ID_HEADER),
        method=call.method,
        path=call.path,
    )
