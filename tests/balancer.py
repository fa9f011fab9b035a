"""A round-robin HTTP load balancer for webhook replicas in tests.

It stands where nginx or a cloud load balancer would: Telegram (the local Bot API server) posts
each update to the balancer, which passes it to the next replica in turn. A replica that cannot
be reached is skipped, as a balancer with health checks would; the status the replica answered
goes back to Telegram unchanged.
"""

from __future__ import annotations

import itertools

from aiohttp import ClientError, ClientSession, ClientTimeout, web


class RoundRobinBalancer:
    def __init__(self, backends: list[str], *, path: str = "/") -> None:
        """``backends``: base URLs such as ``http://127.0.0.1:8081``; ``path`` is kept."""
        self.backends = backends
        self.path = path
        self.port = 0
        self.passed: dict[str, int] = {backend: 0 for backend in backends}
        self._turn = itertools.cycle(range(len(backends)))
        self._runner: web.AppRunner | None = None
        self._client: ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    async def start(self) -> None:
        self._client = ClientSession(timeout=ClientTimeout(total=60))
        app = web.Application()
        app.router.add_post(self.path, self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._client is not None:
            await self._client.close()

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._client is not None
        body = await request.read()
        headers = {
            key: value
            for key, value in request.headers.items()
            if key.lower() in ("content-type", "x-telegram-bot-api-secret-token")
        }
        for _ in range(len(self.backends)):
            backend = self.backends[next(self._turn)]
            try:
                async with self._client.post(
                    backend + self.path, data=body, headers=headers
                ) as response:
                    text = await response.text()
                    self.passed[backend] += 1
                    return web.Response(status=response.status, text=text)
            except (ClientError, OSError):
                continue  # that replica is down: the next one takes the update
        return web.Response(status=502, text="no replica reachable")
