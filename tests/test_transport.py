"""bot.transport: PTB's requests over aiohttp keep PTB's error contract and hide the token."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputFile
from telegram.error import NetworkError, TimedOut

from bot.fakeapi import LocalBotApiServer
from bot.transport import AiohttpRequest
from tests.conftest import TEST_TOKEN


class _SlowApi:
    """A Bot API stand-in whose getMe answers after ``delay`` seconds, counting arrivals."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.arrived = 0
        self.url = ""

    async def get_me(self, request: web.Request) -> web.Response:
        self.arrived += 1
        await asyncio.sleep(self.delay)
        me = {"id": 1, "is_bot": True, "first_name": "figbot", "username": "figbot"}
        return web.json_response({"ok": True, "result": me})


@pytest.fixture
async def slow_api() -> AsyncIterator[_SlowApi]:
    api = _SlowApi(delay=1.0)
    app = web.Application()
    app.router.add_post(f"/bot{TEST_TOKEN}/getMe", api.get_me)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    api.url = f"http://127.0.0.1:{port}/bot"
    yield api
    await runner.cleanup()


async def test_a_request_waiting_too_long_for_a_connection_times_out_without_being_sent(
    slow_api: _SlowApi,
) -> None:
    request = AiohttpRequest(connections=1, pool_timeout=0.2)
    slow_api.delay = 0.0  # the bot's own getMe at start-up
    async with Bot(TEST_TOKEN, base_url=slow_api.url, request=request) as bot:
        slow_api.delay = 1.0
        before = slow_api.arrived
        first, second = await asyncio.gather(
            bot.get_me(), bot.get_me(pool_timeout=0.2), return_exceptions=True
        )
    outcomes = sorted(type(result).__name__ for result in (first, second))
    assert outcomes == ["TimedOut", "User"]
    assert slow_api.arrived == before + 1  # the one that timed out never went out


async def test_a_slow_answer_times_out(slow_api: _SlowApi) -> None:
    request = AiohttpRequest(connections=1, read_timeout=0.2)
    await request.initialize()
    try:
        with pytest.raises(TimedOut):
            await request.post(f"{slow_api.url}{TEST_TOKEN}/getMe")
    finally:
        await request.shutdown()


async def test_transport_failures_are_network_errors_that_do_not_name_the_token() -> None:
    request = AiohttpRequest(connections=1, connect_timeout=1.0)
    await request.initialize()
    try:
        with pytest.raises(NetworkError) as refused:  # nothing listens on port 9
            await request.post(f"http://127.0.0.1:9/bot{TEST_TOKEN}/getMe")
        with pytest.raises(NetworkError) as malformed:
            await request.post(f"http://127.0.0.1:bad/bot{TEST_TOKEN}/getMe")
    finally:
        await request.shutdown()
    for error in (refused.value, malformed.value):
        assert not isinstance(error, TimedOut)
        assert TEST_TOKEN not in str(error)
        assert TEST_TOKEN.split(":")[1] not in str(error)


async def test_messages_and_uploads_arrive_as_sent() -> None:
    """Parameters go as a JSON body, uploads as a form: Chinese text, HTML, buttons and a
    Chinese file name reach the Bot API unchanged."""
    user = 4242
    async with LocalBotApiServer(token=TEST_TOKEN) as server:
        server.add_user(user, "王")
        bot = Bot(
            TEST_TOKEN,
            base_url=server.base_url,
            base_file_url=server.base_file_url,
            request=AiohttpRequest(),
        )
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("确认", callback_data="REPORT:ok")]])
        async with bot:
            await bot.send_message(
                user, "<b>调解纠纷</b> 3 宗 &amp; 咨询", parse_mode="HTML", reply_markup=keyboard
            )
            await bot.send_document(user, InputFile(b"a,b\n", filename="汇总.csv"), caption="本周")
        message, document = server.messages(user)
    assert message.text == "调解纠纷 3 宗 & 咨询"
    assert message.entities[0]["type"] == "bold"
    assert message.buttons == [("确认", "REPORT:ok")]
    assert document.document is not None
    assert document.document["file_name"] == "汇总.csv"
    assert document.document["bytes"] == b"a,b\n"
    assert document.text == "本周"
