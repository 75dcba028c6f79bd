"""How the bot's Bot API requests travel: PTB's request interface implemented on aiohttp.

PTB's own request class runs on httpx, whose connection pool re-examines every pooled
connection on each request (a `select()` per idle one, and a count of idle ones per idle one);
at a few hundred updates a second that bookkeeping cost more CPU than everything the bot itself
does per update (bench/RESULTS.md, scenario 5). aiohttp, already a dependency, keeps idle
connections in a queue and learns of a closed one from the event loop instead of asking.
This module only moves bytes: PTB builds the requests and reads the answers. It never logs a
URL, since every Bot API URL carries the bot token. Every parameter it sends is cut of the
secret values the process knows (`storage.redaction.KNOWN_SECRETS`) — the one place every text
the bot sends to Telegram passes, whoever rendered it — except `secret_token`, which
`setWebhook` must carry as it is.
"""

from __future__ import annotations

import re
import ssl
from urllib.parse import urlencode

import aiohttp
import certifi
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

from storage.redaction import redact_known

# The certificate authorities PTB's httpx-based class trusted (certifi's bundle), rather than
# whatever the host's store holds: the same trust wherever the bot runs, slim images included.
_TRUSTED_ROOTS = ssl.create_default_context(cafile=certifi.where())

# Bot API URLs are `{root}/bot{token}/{method}` and `{root}/file/bot{token}/{path}`.
_TOKEN_IN_URL = re.compile(r"/bot[^/\s'\"]+")


class NotSent(NetworkError):
    """The request never reached Telegram (no connection could be had or opened), so Telegram
    cannot have carried it out: resending it cannot make a duplicate. Any other failure after
    the request went out (`TimedOut` waiting for the answer, a dropped connection) leaves the
    outcome unknown."""


class AiohttpRequest(BaseRequest):
    """One aiohttp session holding at most `connection_pool_size` connections.

    The timeouts have the defaults of PTB's httpx-based class and nearly its meaning: aiohttp
    bounds getting a connection (waiting for a free one, then opening it) as a whole, by
    `pool_timeout` + `connect_timeout`, and opening it alone by `connect_timeout`;
    `read_timeout` bounds each wait for data. aiohttp has no timeout for writing, so
    `write_timeout` (`media_write_timeout` with files) only adds to the bound on the whole
    exchange, the sum of all four.
    """

    __slots__ = (
        "_connect_timeout",
        "_media_write_timeout",
        "_pool_size",
        "_pool_timeout",
        "_read_timeout",
        "_session",
        "_write_timeout",
    )

    def __init__(
        self,
        connection_pool_size: int,
        *,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        if connection_pool_size < 1:
            raise ValueError("connection_pool_size must be at least 1")
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._media_write_timeout = media_write_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        # The session binds to the running event loop, so it is made here, not in __init__.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size, ssl=_TRUSTED_ROOTS),
                headers={"User-Agent": self.USER_AGENT},
                # As httpx under PTB's class: proxies from HTTPS_PROXY and friends are honoured.
                trust_env=True,
            )

    async def shutdown(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        # PTB passes `BaseRequest.DEFAULT_NONE` for "not given", else seconds or None.
        read_timeout: object = BaseRequest.DEFAULT_NONE,
        write_timeout: object = BaseRequest.DEFAULT_NONE,
        connect_timeout: object = BaseRequest.DEFAULT_NONE,
        pool_timeout: object = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        session = self._session
        if session is None or session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized")
        has_files = request_data is not None and request_data.contains_files
        read = _seconds(read_timeout, self._read_timeout)
        connect = _seconds(connect_timeout, self._connect_timeout)
        pool = _seconds(pool_timeout, self._pool_timeout)
        write = _seconds(
            write_timeout, self._media_write_timeout if has_files else self._write_timeout
        )
        timeout = aiohttp.ClientTimeout(
            total=_sum_or_none(pool, connect, write, read),
            connect=_sum_or_none(pool, connect),
            sock_connect=connect,
            sock_read=read,
        )
        try:
            async with session.request(
                method,
                url,
                data=_body(request_data),
                timeout=timeout,
                # As httpx under PTB's class: a redirect is an answer, not followed.
                allow_redirects=False,
            ) as response:
                return response.status, await response.read()
        except aiohttp.ConnectionTimeoutError as error:
            # Waiting for a pooled connection or opening one: nothing was sent yet.
            raise NotSent(f"not sent: aiohttp.{type(error).__name__}") from error
        except TimeoutError as error:
            raise TimedOut from error
        except aiohttp.ClientConnectorError as error:
            raise NotSent(
                f"not sent: aiohttp.{type(error).__name__}: {_without_token(str(error))}"
            ) from error
        except aiohttp.ClientError as error:
            # The class name helps when the message is empty; some messages quote the URL,
            # which carries the bot token.
            raise NetworkError(
                f"aiohttp.{type(error).__name__}: {_without_token(str(error))}"
            ) from error


def _without_token(text: str) -> str:
    return _TOKEN_IN_URL.sub("/bot[redacted]", text)


def _seconds(given: object, default: float | None) -> float | None:
    if given is BaseRequest.DEFAULT_NONE:
        return default
    if given is None or isinstance(given, int | float):
        return given
    raise TypeError(f"a timeout is seconds or None, not {type(given).__name__}")


def _sum_or_none(*limits: float | None) -> float | None:
    """The bound on stages taken together; none if any one of them is unbounded."""
    total = 0.0
    for limit in limits:
        if limit is None:
            return None
        total += limit
    return total


def _body(request_data: RequestData | None) -> aiohttp.FormData | aiohttp.BytesPayload | None:
    """Form fields as PTB's own class sends them: url-encoded, or multipart with files."""
    if request_data is None:
        return None
    parameters = _without_secrets(request_data.json_parameters)
    if not request_data.contains_files:
        # Encoded here rather than by aiohttp's FormData, which costs more per request.
        return aiohttp.BytesPayload(
            urlencode(parameters).encode(),
            content_type="application/x-www-form-urlencoded",
        )
    form = aiohttp.FormData()
    for name, value in parameters.items():
        form.add_field(name, value)
    for name, (filename, content, mime_type) in request_data.multipart_data.items():
        form.add_field(name, content, filename=filename, content_type=mime_type)
    return form


# The one parameter that must carry a secret to Telegram: the webhook's own header secret.
_SECRET_PARAMETERS = frozenset({"secret_token"})


def _without_secrets(parameters: dict[str, str]) -> dict[str, str]:
    return {
        name: value if name in _SECRET_PARAMETERS else redact_known(value)
        for name, value in parameters.items()
    }
