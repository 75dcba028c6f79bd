"""What every resource module of the client shares: the app, the URLs, the transport, parsing.

`ClientBase` is the common ancestor of the per-resource mixins (`apps`, `machines`, `wait`,
`leases`, `volumes`, `logs`) that `FlyClient` combines. It builds URLs, sends through the
transport and turns answers into models, wrapping unreadable answers in `FlyError` so that a
caller never has to catch pydantic or JSON exceptions. Answers that are long JSON arrays can
be read element by element as they arrive (`_send_streamed_items`), so neither the answer's
bytes nor its parsed document are ever held whole.

This module must never send requests except through `FlyTransport`.
"""

from __future__ import annotations

import json
from typing import Any, Final, Generic, TypeVar

import httpx
import ijson
import pydantic

from flyclient._http import REQUEST_ID_HEADER, ApiCall, FlyTransport, path_segment
from flyclient.errors import FlyError
from flyclient.models import FlyModel

ModelT = TypeVar("ModelT", bound=FlyModel)
ItemT = TypeVar("ItemT")

# JSON's insignificant whitespace, which may precede the opening bracket of an array.
_JSON_WHITESPACE: Final = b" \t\r\n"


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

    async def _send_streamed_items(self, call: ApiCall, item_type: type[ItemT]) -> list[ItemT]:
        """The JSON array answering `call`, each element read as `item_type` as soon as it has
        arrived and its parsed form dropped: memory holds the result, one element and one
        network chunk, whatever the answer's size. Retries, rate limits and errors as `_send`.
        """
        reader = _StreamedArray(call, pydantic.TypeAdapter(item_type), item_type.__name__)
        return await self._transport.send_streaming(call, reader.read)


class _StreamedArray(Generic[ItemT]):
    """Reads one answer's JSON array into a list of items, as the body arrives."""

    def __init__(self, call: ApiCall, adapter: pydantic.TypeAdapter[ItemT], name: str) -> None:
        self._call = call
        self._adapter = adapter
        self._name = name

    async def read(self, response: httpx.Response) -> list[ItemT]:
        items: list[ItemT] = []
        arrived = ijson.sendable_list()
        parser = ijson.items_coro(arrived, "item")
        opened = False
        async for chunk in response.aiter_bytes():
            if not opened:
                start = chunk.lstrip(_JSON_WHITESPACE)[:1]
                if not start:
                    continue
                if start != b"[":
                    raise _unreadable(response, self._call, "expected a JSON array")
                opened = True
            self._feed(parser, chunk, response)
            self._convert(arrived, items, response)
        if not opened:
            raise _unreadable(response, self._call, "expected a JSON array")
        self._feed(parser, None, response)
        self._convert(arrived, items, response)
        return items

    def _feed(self, parser: Any, chunk: bytes | None, response: httpx.Response) -> None:
        """Give the parser the next chunk, or tell it the body ended (`None`)."""
        try:
            if chunk is None:
                parser.close()
            else:
                parser.send(chunk)
        except (ijson.JSONError, ValueError):
            raise _unreadable(response, self._call, "the answer is not valid JSON") from None

    def _convert(self, arrived: list[Any], items: list[ItemT], response: httpx.Response) -> None:
        for element in arrived:
            try:
                items.append(self._adapter.validate_python(element))
            except pydantic.ValidationError as exc:
                why = f"unexpected {self._name} (element {len(items)}): {_problems(exc)}"
                raise _unreadable(response, self._call, why) from None
        arrived.clear()


def parse_model(
    model: type[ModelT], payload: Any, response: httpx.Response, call: ApiCall
) -> ModelT:
    """`payload` as `model`, or a `FlyError` naming the request when it does not fit."""
    try:
        return model.model_validate(payload)
    except pydantic.ValidationError as exc:
        raise _unreadable(
            response, call, f"unexpected {model.__name__}: {_problems(exc)}"
        ) from None


def _problems(exc: pydantic.ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc']) or 'body'}: {error['msg']}"
        for error in exc.errors()[:3]
    )


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
