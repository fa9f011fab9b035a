"""A TCP relay in front of the local Bot API server that fails on demand the way a network does.

``FaultyLink`` passes bytes to the server until told to fail:

- ``"timeout"``: nothing answers a new connection (a listening socket whose queue is full, so
  the kernel drops the handshake): the client's connect times out, as with a firewall that
  drops packets;
- ``"refused"``: nothing listens: the connection is refused at once;
- ``"reset"``: a new connection is accepted and reset at once.

Failing closes the connections the client holds open (its next request needs a new one),
except, with ``spare_busy``, those waiting for an answer — a long poll in flight keeps going,
so updates still arrive while the bot's replies cannot leave. ``heal`` makes the link pass
again on the same port.

Written here with asyncio and sockets: the fault proxies that do this (toxiproxy and its
kin) are separate server programs, not Python packages a test can start.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from typing import Literal

Fault = Literal["timeout", "refused", "reset"]


class _Relayed:
    def __init__(self, client: asyncio.StreamWriter, server: asyncio.StreamWriter) -> None:
        self.client = client
        self.server = server
        self.waiting = False  # the client's last bytes are a request not answered yet

    def close(self) -> None:
        for writer in (self.client, self.server):
            writer.transport.abort()


class FaultyLink:
    def __init__(self, target_port: int, *, host: str = "127.0.0.1") -> None:
        self.host = host
        self.target_port = target_port
        self.port = 0
        self.mode: Fault | None = None
        self._server: asyncio.Server | None = None
        self._blackhole: list[socket.socket] = []
        self._relayed: set[_Relayed] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/bot"

    def waiting(self) -> int:
        """Connections whose request has not been answered yet (a long poll, say)."""
        return sum(1 for relayed in self._relayed if relayed.waiting)

    async def start(self, mode: Fault | None = None) -> None:
        await self._listen()
        if mode is not None:
            await self.fail(mode)

    async def fail(self, mode: Fault, *, spare_busy: bool = False) -> None:
        self.mode = mode
        for relayed in list(self._relayed):
            if not (spare_busy and relayed.waiting):
                relayed.close()
                self._relayed.discard(relayed)
        if mode == "reset":
            return
        await self._close_listener()
        if mode == "timeout":
            self._blackhole = _full_queue(self.host, self.port)

    async def heal(self) -> None:
        self.mode = None
        if self._server is None:
            for sock in self._blackhole:
                sock.close()
            self._blackhole = []
            await self._listen()

    async def stop(self) -> None:
        await self._close_listener()
        for sock in self._blackhole:
            sock.close()
        for relayed in self._relayed:
            relayed.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def __aenter__(self) -> FaultyLink:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _close_listener(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode == "reset":
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()  # closed with a zero linger: the peer gets a reset
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.target_port)
        except OSError:
            writer.transport.abort()
            return
        relayed = _Relayed(writer, up_writer)
        self._relayed.add(relayed)
        for task in (
            asyncio.create_task(self._pump(reader, up_writer, relayed, request=True)),
            asyncio.create_task(self._pump(up_reader, writer, relayed, request=False)),
        ):
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        relayed: _Relayed,
        *,
        request: bool,
    ) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while chunk := await reader.read(65536):
                relayed.waiting = request
                writer.write(chunk)
                await writer.drain()
        relayed.close()
        self._relayed.discard(relayed)


def _full_queue(host: str, port: int) -> list[socket.socket]:
    """A socket listening on ``port`` that never accepts, its queue filled by connections of
    its own: further handshakes get no answer."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(0)
    held = [listener]
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect((host, port))
        held.append(filler)
    return held
