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

A proxy (``proxy``): an HTTP(S) proxy through aiohttp's own support, a SOCKS5 one through
aiohttp-socks' connector. Its credentials go in a header (HTTP) or the SOCKS handshake, never
in a message.

The bot token is part of every URL, and aiohttp's exceptions repeat the URL: a failure is
raised as ``NetworkError``/``TimedOut`` with a short description of its own (``connection
refused``, ``timed out connecting``), which is what logs and the admin's messages show.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
from collections.abc import AsyncIterator
from urllib.parse import unquote, urlsplit

import aiohttp
from aiohttp_socks import ProxyConnectionError as SocksConnectionError
from aiohttp_socks import ProxyConnector
from aiohttp_socks import ProxyError as SocksError
from aiohttp_socks import ProxyTimeoutError as SocksTimeoutError
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

from bot.logsetup import BOT_TOKEN, TOKEN_MARK

logger = logging.getLogger(__name__)


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
        "_proxy",
        "_proxy_headers",
        "_socks",
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
        proxy: str = "",
    ) -> None:
        """``proxy``: http://, https://, socks5:// or socks5h:// (DNS at the proxy) with
        ``user:password@`` if it asks for them; empty for none."""
        self._connections = connections
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._media_write_timeout = media_write_timeout
        self._session: aiohttp.ClientSession | None = None
        self._slots: asyncio.Semaphore | None = None
        self._socks = ""
        self._proxy: str | None = None
        self._proxy_headers: dict[str, str] | None = None
        parts = urlsplit(proxy)
        if parts.scheme.startswith("socks"):
            self._socks = proxy
        elif proxy:
            self._proxy = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
            if parts.username is not None:
                auth = aiohttp.BasicAuth(unquote(parts.username), unquote(parts.password or ""))
                self._proxy_headers = {"Proxy-Authorization": auth.encode()}

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            # The pool's bound, kept here rather than in aiohttp's connector: aiohttp counts the
            # wait for a free connection into its connect timeout; PTB has a pool timeout.
            self._slots = asyncio.Semaphore(self._connections)
            self._session = aiohttp.ClientSession(
                connector=self._connector(),
                headers={"User-Agent": self.USER_AGENT},
                # PTB reads the status and body itself (errors are Bot API JSON too).
                raise_for_status=False,
            )

    def _connector(self) -> aiohttp.TCPConnector:
        if not self._socks:
            return aiohttp.TCPConnector(limit=0, limit_per_host=0)
        # socks5h:// is curl's name for letting the proxy look the host name up.
        remote_dns = self._socks.startswith("socks5h:")
        url = "socks5:" + self._socks.partition(":")[2]
        return ProxyConnector.from_url(url, rdns=remote_dns, limit=0, limit_per_host=0)

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
        if self._proxy_headers and url.startswith("http:"):
            # Plain HTTP goes to the proxy as it is: the credentials ride on the request (over
            # https they go only in the CONNECT that opens the tunnel, never to Telegram).
            headers = {**(headers or {}), **self._proxy_headers}
        async with _slot(slots, pool):
            try:
                async with session.request(
                    method,
                    url,
                    data=data,
                    headers=headers,
                    timeout=timeout,
                    proxy=self._proxy,
                    proxy_headers=self._proxy_headers,
                ) as response:
                    body = await response.read()
                    if not 200 <= response.status <= 299 and not _is_json(body):
                        body = _error_answer(response.status, response.reason or "")
                    return response.status, body
            except (TimeoutError, SocksTimeoutError) as err:
                raise TimedOut(_timed_out(err)) from err
            except (aiohttp.ClientError, SocksConnectionError, SocksError, OSError) as err:
                raise NetworkError(_failure(err, url)) from err


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


def _is_json(body: bytes) -> bool:
    try:
        json.loads(body)
    except ValueError:
        return False
    return True


def _error_answer(status: int, reason: str) -> bytes:
    """A Bot API error answer for an HTTP error that is not one (a proxy's, a web server's
    page): python-telegram-bot raises its usual error for the status with this description,
    instead of logging a traceback for the unreadable body and quoting it whole."""
    if status == 407:
        description = f"the proxy answered 407 {reason}"
    else:
        description = f"HTTP {status} {reason} (not an answer of the Bot API)"
    return json.dumps({"ok": False, "error_code": status, "description": description}).encode()


def _timed_out(err: Exception) -> str:
    if isinstance(err, SocksTimeoutError):
        return "Timed out connecting through the proxy"
    if isinstance(err, aiohttp.ConnectionTimeoutError):
        return "Timed out connecting"
    if isinstance(err, aiohttp.SocketTimeoutError):
        return "Timed out waiting for the answer"
    return "Timed out"


def _failure(err: Exception, url: str) -> str:
    """What went wrong, in a few words an admin can act on; never the URL (it holds the
    token)."""
    if isinstance(err, aiohttp.ClientHttpProxyError):
        return f"the proxy answered {err.status} {err.message}"
    if isinstance(err, aiohttp.ClientProxyConnectionError | SocksConnectionError):
        return f"cannot connect to the proxy ({_os_reason(err)})"
    if isinstance(err, SocksError):
        return f"the proxy refused: {err}"
    if isinstance(err, aiohttp.ClientConnectorCertificateError):
        return "the server's TLS certificate is not trusted"
    if isinstance(err, aiohttp.ClientSSLError):
        return "TLS failed"
    if isinstance(err, aiohttp.ClientConnectorDNSError):
        return "host name not found"
    if isinstance(err, aiohttp.ClientConnectorError):
        return _os_reason(err)
    if isinstance(err, aiohttp.ServerDisconnectedError):
        return "the server closed the connection"
    if isinstance(err, OSError) and err.errno is not None:
        return _os_reason(err)
    message = BOT_TOKEN.sub(TOKEN_MARK, str(err).replace(url, "<Bot API URL>"))
    return f"{type(err).__name__}: {message}" if message else type(err).__name__


_OS_REASONS = {
    errno.ECONNREFUSED: "connection refused",
    errno.ECONNRESET: "connection reset",
    errno.EPIPE: "connection reset",
    errno.ETIMEDOUT: "timed out connecting",
    errno.EHOSTUNREACH: "host unreachable",
    errno.ENETUNREACH: "network unreachable",
}


def _os_reason(err: Exception) -> str:
    cause = getattr(err, "os_error", None) or err.__cause__ or err
    code = getattr(cause, "errno", None) or getattr(err, "errno", None)
    if code in _OS_REASONS:
        return _OS_REASONS[code]
    if isinstance(cause, ConnectionRefusedError):
        return "connection refused"
    return getattr(cause, "strerror", None) or "cannot connect"


def _given(value: _Timeout | object, default: _Timeout) -> _Timeout:
    """A timeout passed for one call, else this request object's default."""
    if isinstance(value, int | float) or value is None:
        return value
    return default
