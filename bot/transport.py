"""python-telegram-bot's HTTP requests sent with aiohttp instead of httpx.

Why: under load figbot spent more CPU in httpx than in its own answer handling. httpcore checks
every pooled connection's socket on each request (several syscalls and a fresh attribute dict
per connection). With aiohttp's client, which figbot already ships for its webhook server, a
reply costs about half the CPU: in the throughput benchmark, figbot with a canned reply
instead of its answer handling went from about 6 to about 2.8 ms per answer, the bare echo
bot's own figure. Parameters go as JSON, not as a form (uploads excepted). PTB supports a
networking backend of one's own through :class:`telegram.request.BaseRequest`; this one keeps
HTTPXRequest's behaviour: the same timeouts and defaults, a bounded pool with PTB's pool
timeout, ``TimedOut`` for any timeout and ``NetworkError`` for any other transport failure.

The bot token is part of every URL: it is removed from error messages, which end up in logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

logger = logging.getLogger(__name__)

_TOKEN = re.compile(r"\d+:[A-Za-z0-9_-]{20,}")  # a bot token, wherever an error repeats it

_Timeout = float | None
# Every Bot API method but an upload takes its parameters as a JSON body: PTB's own encoding of
# them, cheaper than a form to build and to read (about 0.1 ms of CPU per answer in the
# throughput benchmark, where the local server shares the process).
_JSON_BODY = {"Content-Type": "application/json"}


class AiohttpRequest(BaseRequest):
    __slots__ = (
        "_connections",
        "_connect_timeout",
        "_media_write_timeout",
        "_pool_timeout",
        "_read_timeout",
        "_session",
        "_slots",
        "_write_timeout",
    )

    def __init__(
        self,
        *,
        connections: int = 1,
        read_timeout: _Timeout = 5.0,
        write_timeout: _Timeout = 5.0,
        connect_timeout: _Timeout = 5.0,
        pool_timeout: _Timeout = 1.0,
        media_write_timeout: _Timeout = 20.0,
    ) -> None:
        self._connections = connections
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._media_write_timeout = media_write_timeout
        self._session: aiohttp.ClientSession | None = None
        self._slots: asyncio.Semaphore | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            # The pool's bound, kept here rather than in aiohttp's connector: aiohttp counts the
            # wait for a free connection into its connect timeout; PTB has a pool timeout.
            self._slots = asyncio.Semaphore(self._connections)
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, limit_per_host=0),
                headers={"User-Agent": self.USER_AGENT},
                # PTB reads the status and body itself (errors are Bot API JSON too).
                raise_for_status=False,
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
        read_timeout: _Timeout | object = BaseRequest.DEFAULT_NONE,
        write_timeout: _Timeout | object = BaseRequest.DEFAULT_NONE,
        connect_timeout: _Timeout | object = BaseRequest.DEFAULT_NONE,
        pool_timeout: _Timeout | object = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        session, slots = self._session, self._slots
        if session is None or session.closed or slots is None:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = request_data.multipart_data if request_data else None
        read = _given(read_timeout, self._read_timeout)
        write = _given(write_timeout, self._media_write_timeout if files else self._write_timeout)
        connect = _given(connect_timeout, self._connect_timeout)
        pool = _given(pool_timeout, self._pool_timeout)
        # aiohttp has no write timeout of its own: the whole exchange is bounded by the sum.
        parts = (connect, write, read)
        timeout = aiohttp.ClientTimeout(
            total=None if None in parts else sum(p for p in parts if p is not None),
            sock_connect=connect,
            sock_read=read,
        )
        data: aiohttp.FormData | bytes | None = None
        headers: dict[str, str] | None = None
        if request_data is not None and files:
            # File names go as UTF-8, as with httpx: percent-encoded, Telegram would show them so.
            data = aiohttp.FormData(request_data.json_parameters, quote_fields=False)
            for name, (filename, content, mimetype) in files.items():
                data.add_field(name, content, filename=filename, content_type=mimetype)
        elif request_data is not None:
            data, headers = request_data.json_payload, _JSON_BODY
        async with _slot(slots, pool):
            try:
                async with session.request(
                    method, url, data=data, headers=headers, timeout=timeout
                ) as response:
                    return response.status, await response.read()
            except TimeoutError as err:
                raise TimedOut from err
            except aiohttp.ClientError as err:
                message = _TOKEN.sub("<token>", str(err).replace(url, "<Bot API URL>"))
                raise NetworkError(f"aiohttp.{type(err).__name__}: {message}") from err


@contextlib.asynccontextmanager
async def _slot(slots: asyncio.Semaphore, wait: float | None) -> AsyncIterator[None]:
    """A free connection, waited for at most ``wait`` seconds."""
    try:
        if slots.locked():
            await asyncio.wait_for(slots.acquire(), timeout=wait)
        else:
            await slots.acquire()  # returns at once: no timer, no extra task
    except TimeoutError as err:
        raise TimedOut(
            "Pool timeout: every connection is busy; the request was *not* sent to Telegram."
        ) from err
    try:
        yield
    finally:
        slots.release()


def _given(value: _Timeout | object, default: _Timeout) -> _Timeout:
    """A timeout passed for one call, else this request object's default."""
    if isinstance(value, int | float) or value is None:
        return value
    return default
