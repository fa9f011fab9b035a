"""Tests of bot.fakeapi: the real python-telegram-bot client talks to the local server."""

from __future__ import annotations

import asyncio
import datetime as dtm
import html
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, RetryAfter
from telegram.ext import ApplicationBuilder, CommandHandler, ContextTypes

from bot.fakeapi import LocalBotApiServer, SentMessage, parse_html

USER = 10_001


@pytest.fixture
async def server() -> AsyncIterator[LocalBotApiServer]:
    async with LocalBotApiServer() as srv:
        srv.add_user(USER, "小明", last_name="王", username="xiaoming")
        yield srv


@pytest.fixture
async def bot(server: LocalBotApiServer) -> AsyncIterator[Bot]:
    client = Bot(server.token, base_url=server.base_url, base_file_url=server.base_file_url)
    async with client:
        yield client


def _keyboard(*pairs: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(text, callback_data=data)] for text, data in pairs]
    )


async def test_get_me(server: LocalBotApiServer, bot: Bot) -> None:
    me = await bot.get_me()
    assert me.username == "figbot_local_bot"
    assert me.is_bot is True
    assert me.id == 123456
    assert server.calls[0][0] == "getMe"
    assert all(server.token not in repr(params) for _, params in server.calls)


async def test_wrong_token_and_unknown_method(server: LocalBotApiServer) -> None:
    wrong = Bot("999:wrong", base_url=server.base_url, base_file_url=server.base_file_url)
    # `async with` (not a bare call) so PTB closes its HTTP clients when initialize() fails.
    with pytest.raises(InvalidToken):
        async with wrong:
            pass
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{server.base_url}{server.token}/noSuchMethod")
        assert response.status_code == 404
        assert response.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
        # Method names are case-insensitive; JSON bodies and query strings both work.
        response = await client.get(f"{server.base_url}{server.token}/GETME")
        assert response.json()["result"]["username"] == "figbot_local_bot"
        response = await client.post(
            f"{server.base_url}{server.token}/sendMessage", json={"chat_id": USER, "text": 42}
        )
        assert response.json()["result"]["text"] == "42"


async def test_inline_button_press_reaches_get_updates(server: LocalBotApiServer, bot: Bot) -> None:
    sent = await bot.send_message(
        USER, "确认提交？", reply_markup=_keyboard(("是", "yes"), ("否", "no"))
    )
    seen = server.last_message(USER)
    assert seen is not None
    assert seen.buttons == [("是", "yes"), ("否", "no")]
    assert seen.button_texts() == ["是", "否"]

    update_id = await server.press_button(USER, sent.message_id, "no")
    updates = await bot.get_updates()
    assert [u.update_id for u in updates] == [update_id]
    query = updates[0].callback_query
    assert query is not None
    assert query.data == "no"
    assert query.from_user.id == USER
    assert query.message is not None
    assert query.message.message_id == sent.message_id
    assert query.message.text == "确认提交？"
    assert query.message.reply_markup == sent.reply_markup

    assert await query.answer("已收到") is True
    assert server.answered_callbacks == [
        {"callback_query_id": query.id, "text": "已收到", "show_alert": False}
    ]


async def test_press_button_that_was_never_shown_raises(
    server: LocalBotApiServer, bot: Bot
) -> None:
    sent = await bot.send_message(USER, "选择", reply_markup=_keyboard(("提交数据", "submit")))
    with pytest.raises(ValueError, match="callback_data='delete'"):
        await server.press_button(USER, sent.message_id, "delete")
    with pytest.raises(ValueError, match="has no"):
        await server.press_button(USER, sent.message_id + 100, "submit")
    with pytest.raises(ValueError, match="取消"):
        await server.press_button_by_text(USER, sent.message_id, "取消")
    assert server.pending_update_count == 0

    await server.press_button_by_text(USER, sent.message_id, "提交")
    (update,) = await bot.get_updates()
    assert update.callback_query is not None
    assert update.callback_query.data == "submit"


async def test_html_visible_text_and_parse_errors(server: LocalBotApiServer, bot: Bot) -> None:
    user_input = '<5> "ok" it\'s'
    raw = f"<b>社区</b> &amp; <i>村</i>：{html.escape(user_input)}"
    message = await bot.send_message(USER, raw, parse_mode=ParseMode.HTML)
    seen = server.last_message(USER)
    assert seen is not None
    assert seen.text == '社区 & 村：<5> "ok" it\'s'
    assert seen.raw_text == raw
    assert seen.parse_mode == "HTML"
    assert message.text == seen.text
    assert [(e.type, e.offset, e.length) for e in message.entities] == [
        ("bold", 0, 2),
        ("italic", 5, 1),
    ]

    for bad in ("<b>未闭合", "a < b", "<div>x</div>", "<b>x</i>", "R&D"):
        with pytest.raises(BadRequest, match="parse entities"):
            await bot.send_message(USER, bad, parse_mode=ParseMode.HTML)
    assert server.message_count(USER) == 1


def test_parse_html_entities_use_utf16_offsets() -> None:
    text, entities = parse_html('😀<a href="https://example.org/?a=1&amp;b=2">链接</a>')
    assert text == "😀链接"
    assert entities == [
        {"offset": 2, "length": 2, "type": "text_link", "url": "https://example.org/?a=1&b=2"}
    ]


async def test_text_limits(server: LocalBotApiServer, bot: Bot) -> None:
    with pytest.raises(BadRequest, match="text is empty"):
        await bot.send_message(USER, "")
    with pytest.raises(BadRequest, match="too long"):
        await bot.send_message(USER, "字" * 4097)
    await bot.send_message(USER, "字" * 4096)
    # Counted after entity parsing, in characters as Telegram counts them (an emoji is one).
    await bot.send_message(USER, "<b>&amp;</b>" * 4096, parse_mode=ParseMode.HTML)
    await bot.send_message(USER, "😀" * 4096)
    with pytest.raises(BadRequest, match="too long"):
        await bot.send_message(USER, "😀" * 4097)
    with pytest.raises(BadRequest, match="(?i)chat not found"):
        await bot.send_message(424242, "hello")
    with pytest.raises(BadRequest, match="(?i)button_data_invalid"):
        await bot.send_message(USER, "x", reply_markup=_keyboard(("long", "x" * 65)))
    assert server.message_count(USER) == 3


async def test_answer_unknown_callback_query(bot: Bot) -> None:
    with pytest.raises(BadRequest, match="(?i)query is too old"):
        await bot.answer_callback_query("no-such-query", text="x")


async def test_blocked_user_gives_forbidden(server: LocalBotApiServer, bot: Bot) -> None:
    server.block_bot(USER)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(USER, "提醒")
    server.unblock_bot(USER)
    await bot.send_message(USER, "提醒")
    assert [m.text for m in server.messages(USER)] == ["提醒"]


async def test_fail_next_429_raises_retry_after(
    server: LocalBotApiServer, bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PTB 22 warns when RetryAfter.retry_after is an int unless this opt-in is set.
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    server.fail_next("sendMessage", 429, "Too Many Requests: retry after 7", retry_after=7)
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(USER, "第一次")
    assert caught.value.retry_after == dtm.timedelta(seconds=7)
    await bot.send_message(USER, "第二次")
    assert [m.text for m in server.messages(USER)] == ["第二次"]


async def test_fault_hook_can_replace_responses(server: LocalBotApiServer, bot: Bot) -> None:
    seen: list[str] = []

    async def hook(method: str, params: dict[str, object]) -> object:
        seen.append(method)
        if method == "sendmessage" and params.get("text") == "boom":
            return server.error_response(400, "Bad Request: injected")
        return None

    server.fault_hook = hook
    with pytest.raises(BadRequest, match="(?i)injected"):
        await bot.send_message(USER, "boom")
    await bot.send_message(USER, "fine")
    assert seen == ["sendmessage", "sendmessage"]
    assert server.message_count(USER) == 1


async def test_edit_message_text_history_and_not_modified(
    server: LocalBotApiServer, bot: Bot
) -> None:
    sent = await bot.send_message(USER, "第一版", reply_markup=_keyboard(("改", "edit")))
    edited = await bot.edit_message_text(
        "<b>第二版</b>",
        chat_id=USER,
        message_id=sent.message_id,
        parse_mode=ParseMode.HTML,
        reply_markup=_keyboard(("好", "ok")),
    )
    assert isinstance(edited, type(sent))
    seen = server.messages(USER)[0]
    assert seen.text == "第二版"
    assert seen.history == ["第一版"]
    assert seen.edited is True
    assert seen.buttons == [("好", "ok")]

    with pytest.raises(BadRequest, match="not modified"):
        await bot.edit_message_text(
            "<b>第二版</b>",
            chat_id=USER,
            message_id=sent.message_id,
            parse_mode=ParseMode.HTML,
            reply_markup=_keyboard(("好", "ok")),
        )
    # Editing without reply_markup removes the inline keyboard, like Telegram does.
    await bot.edit_message_text("第三版", chat_id=USER, message_id=sent.message_id)
    seen = server.messages(USER)[0]
    assert seen.history == ["第一版", "第二版"]
    assert seen.buttons == []
    with pytest.raises(ValueError):
        await server.press_button(USER, sent.message_id, "ok")


async def test_wait_for_message_sees_edits_and_times_out(
    server: LocalBotApiServer, bot: Bot
) -> None:
    sent = await bot.send_message(USER, "处理中")
    since = server.message_count(USER)

    async def edit_later() -> None:
        await asyncio.sleep(0.05)
        await bot.edit_message_text("完成", chat_id=USER, message_id=sent.message_id)

    task = asyncio.create_task(edit_later())
    seen = await server.wait_for_message(USER, since=since, timeout=5)
    await task
    assert seen.text == "完成"

    with pytest.raises(TimeoutError, match="完成"):
        await server.wait_for_message(USER, since=server.message_count(USER), timeout=0.1)


async def test_send_document_round_trip(server: LocalBotApiServer, bot: Bot) -> None:
    payload = "社区,人数\n东村,12\n".encode()
    message = await bot.send_document(
        USER, InputFile(payload, filename="汇总.csv"), caption="<b>本周</b>汇总", parse_mode="HTML"
    )
    assert message.document is not None
    assert message.document.file_name == "汇总.csv"
    assert message.document.file_size == len(payload)
    assert message.caption == "本周汇总"

    seen = server.last_message(USER)
    assert seen is not None
    assert seen.document is not None
    assert seen.document["file_name"] == "汇总.csv"
    assert seen.document["bytes"] == payload
    assert seen.document["mime_type"] == "text/csv"
    assert seen.text == "本周汇总"

    file = await bot.get_file(message.document.file_id)
    assert bytes(await file.download_as_bytearray()) == payload


async def test_offset_confirmation_and_prompt_long_poll(
    server: LocalBotApiServer, bot: Bot
) -> None:
    first = await server.send_text(USER, "/start@figbot_local_bot 你好")
    second = await server.send_text(USER, "第二条")
    updates = await bot.get_updates()
    assert [u.update_id for u in updates] == [first, second]
    entity = updates[0].message.entities[0]
    assert (entity.type, entity.offset, entity.length) == ("bot_command", 0, 23)
    # Without an offset nothing is confirmed; with one, older updates are dropped.
    assert len(await bot.get_updates()) == 2
    assert await bot.get_updates(offset=second + 1) == ()
    assert server.pending_update_count == 0
    assert server.confirmed_offset == second + 1

    async def send_soon() -> int:
        await asyncio.sleep(0.2)
        return await server.send_text(USER, "长轮询")

    task = asyncio.create_task(send_soon())
    started = time.monotonic()
    polled = await bot.get_updates(offset=second + 1, timeout=5)
    elapsed = time.monotonic() - started
    third = await task
    assert [u.update_id for u in polled] == [third]
    assert polled[0].message.text == "长轮询"
    assert elapsed < 3


async def test_a_second_poller_ends_the_first_with_conflict(server: LocalBotApiServer) -> None:
    """As Telegram does: a getUpdates arriving while another long poll of the token waits ends
    that older poll with 409 Conflict, and the newer one gets the update."""
    clients = [
        Bot(server.token, base_url=server.base_url, base_file_url=server.base_file_url)
        for _ in range(2)
    ]
    async with clients[0] as first, clients[1] as second:
        waiting = asyncio.create_task(first.get_updates(timeout=5))
        await asyncio.sleep(0.2)  # the first poll is waiting at the server
        newer = asyncio.create_task(second.get_updates(timeout=5))
        with pytest.raises(Conflict, match="terminated by other getUpdates request"):
            await waiting
        update_id = await server.send_text(USER, "谁收到")
        assert [u.update_id for u in await newer] == [update_id]
    assert server.stats.conflicts == 1


async def test_redeliver_repeats_update_id(server: LocalBotApiServer, bot: Bot) -> None:
    update_id = await server.send_text(USER, "/start")
    (update,) = await bot.get_updates()
    assert await bot.get_updates(offset=update_id + 1) == ()
    assert server.redeliver(update_id) == update_id
    (again,) = await bot.get_updates(offset=update_id + 1)
    assert again.update_id == update_id
    assert again.to_dict() == update.to_dict()
    assert await bot.get_updates(offset=update_id + 1) == ()


async def test_non_text_updates(server: LocalBotApiServer, bot: Bot) -> None:
    await server.send_sticker(USER)
    await server.send_photo_from_user(USER)
    sticker_update, photo_update = await bot.get_updates()
    assert sticker_update.message.sticker is not None
    assert sticker_update.message.text is None
    assert photo_update.message.photo
    photo_file = await photo_update.message.photo[-1].get_file()
    assert (await photo_file.download_as_bytearray())[:4] == b"\x89PNG"


async def test_application_polling_end_to_end(server: LocalBotApiServer) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text("hi " + " ".join(context.args or []))

    application = (
        ApplicationBuilder()
        .token(server.token)
        .base_url(server.base_url)
        .base_file_url(server.base_file_url)
        .build()
    )
    application.add_handler(CommandHandler("start", start))
    await application.initialize()
    await application.start()
    assert application.updater is not None
    await application.updater.start_polling(poll_interval=0, timeout=1)
    try:
        await server.send_text(USER, "/start abc")
        reply: SentMessage = await server.wait_for_message(USER, timeout=5)
        assert reply.text == "hi abc"
        await server.wait_until_idle(timeout=5)
        assert server.pending_update_count == 0
    finally:
        await application.updater.stop()
        await application.stop()
        await application.shutdown()
    assert server.calls_to("deleteWebhook")


# --------------------------------------------------------------------------- flood control


class ManualClock:
    """A clock for the rate limiter that only moves when told to."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
async def clocked() -> AsyncIterator[tuple[LocalBotApiServer, ManualClock, Bot]]:
    clock = ManualClock()
    async with LocalBotApiServer(clock=clock) as srv:
        for offset in range(3):
            srv.add_user(USER + offset, f"用户{offset}")
        client = Bot(srv.token, base_url=srv.base_url, base_file_url=srv.base_file_url)
        async with client:
            yield srv, clock, client


async def test_rate_limit_off_by_default(server: LocalBotApiServer, bot: Bot) -> None:
    for index in range(100):
        await bot.send_message(USER, f"第{index}条")
    assert server.message_count(USER) == 100
    assert server.sent_message_count() == 100
    assert server.stats.sent == 100
    assert server.stats.rate_limited == 0


async def test_overall_rate_limit(
    clocked: tuple[LocalBotApiServer, ManualClock, Bot],
) -> None:
    server, clock, bot = clocked
    server.set_rate_limit(overall_per_second=30)
    for index in range(30):
        await bot.send_message(USER + index % 3, f"第{index}条")
    assert server.sent_message_count() == 30

    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(USER, "第31条")
    assert caught.value.retry_after == dtm.timedelta(seconds=1)
    # Edits are flood-controlled too; getMe/getUpdates/answerCallbackQuery never are.
    first = server.messages(USER)[0]
    with pytest.raises(RetryAfter):
        await bot.edit_message_text("改", chat_id=USER, message_id=first.message_id)
    await bot.get_me()
    assert await bot.get_updates() == ()
    # The refused calls had no effect.
    assert server.sent_message_count() == 30
    assert [m.text for m in server.messages(USER)][-1] == "第27条"
    assert server.messages(USER)[0].text == "第0条"

    clock.advance(1.0)
    message = await bot.send_message(USER, "又可以了")
    # No message_id was consumed by the refused send.
    assert message.message_id == server.messages(USER)[-2].message_id + 1
    assert server.sent_message_count() == 31
    assert server.stats.sent == 31
    assert server.stats.rate_limited == 2
    assert server.stats.faults == 0


async def test_overall_rate_limit_refills_gradually(
    clocked: tuple[LocalBotApiServer, ManualClock, Bot],
) -> None:
    server, clock, bot = clocked
    server.set_rate_limit(overall_per_second=2)
    await bot.send_message(USER, "一")
    await bot.send_message(USER, "二")
    with pytest.raises(RetryAfter):
        await bot.send_message(USER, "三")
    clock.advance(0.5)  # one token back
    await bot.send_message(USER, "三")
    with pytest.raises(RetryAfter):
        await bot.send_message(USER, "四")
    assert server.stats.sent == 3
    assert server.stats.rate_limited == 2


async def test_per_chat_rate_limit(
    clocked: tuple[LocalBotApiServer, ManualClock, Bot],
) -> None:
    server, clock, bot = clocked
    server.set_rate_limit(per_chat_per_second=1)
    await bot.send_message(USER, "一")
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(USER, "二")
    assert caught.value.retry_after == dtm.timedelta(seconds=1)
    await bot.send_message(USER + 1, "别的会话")
    assert server.message_count(USER) == 1
    assert server.message_count(USER + 1) == 1

    clock.advance(0.5)
    with pytest.raises(RetryAfter):
        await bot.send_message(USER, "二")
    clock.advance(0.5)
    await bot.send_message(USER, "二")
    assert [m.text for m in server.messages(USER)] == ["一", "二"]
    assert server.stats.sent == 3
    assert server.stats.rate_limited == 2


async def test_rate_limit_fixed_retry_after_and_raw_response(
    clocked: tuple[LocalBotApiServer, ManualClock, Bot],
) -> None:
    server, _, bot = clocked
    server.set_rate_limit(per_chat_per_second=0.1, retry_after=42)
    await bot.send_message(USER, "一")
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{server.base_url}{server.token}/sendMessage", json={"chat_id": USER, "text": "二"}
        )
    assert response.status_code == 429
    assert response.json() == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 42",
        "parameters": {"retry_after": 42},
    }
    assert server.message_count(USER) == 1


async def test_rate_limit_computed_retry_after_rounds_up(
    clocked: tuple[LocalBotApiServer, ManualClock, Bot],
) -> None:
    server, clock, bot = clocked
    server.set_rate_limit(per_chat_per_second=0.2)  # one message per 5 s
    await bot.send_message(USER, "一")
    clock.advance(1.5)
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(USER, "二")
    assert caught.value.retry_after == dtm.timedelta(seconds=4)


async def test_failed_calls_do_not_use_up_the_limit(
    clocked: tuple[LocalBotApiServer, ManualClock, Bot],
) -> None:
    server, _, bot = clocked
    server.set_rate_limit(overall_per_second=1, per_chat_per_second=1)
    with pytest.raises(BadRequest, match="text is empty"):
        await bot.send_message(USER, "")
    await bot.send_message(USER, "一")
    assert server.stats.sent == 1
    assert server.stats.rate_limited == 0


async def test_stats_count_faults_and_disable_rate_limit(
    clocked: tuple[LocalBotApiServer, ManualClock, Bot],
) -> None:
    server, clock, bot = clocked
    server.set_rate_limit(overall_per_second=1)
    server.fail_next("sendMessage", 429, "Too Many Requests: retry after 3", retry_after=3)
    with pytest.raises(RetryAfter):
        await bot.send_message(USER, "一")

    async def hook(method: str, params: dict[str, object]) -> object:
        if params.get("text") == "boom":
            return server.error_response(400, "Bad Request: injected")
        return None

    server.fault_hook = hook
    with pytest.raises(BadRequest, match="(?i)injected"):
        await bot.send_message(USER, "boom")
    await bot.send_message(USER, "一")
    with pytest.raises(RetryAfter):
        await bot.send_document(USER, InputFile(b"x", filename="a.txt"))
    clock.advance(1.0)
    await bot.send_document(USER, InputFile(b"x", filename="a.txt"), caption="文件")
    assert server.stats.faults == 2
    assert server.stats.rate_limited == 1
    assert server.stats.sent == 2

    server.set_rate_limit()  # all None: off again
    for index in range(5):
        await bot.send_message(USER, f"{index}")
    assert server.stats.sent == 7
    assert server.stats.sent_by_method == {"sendMessage": 6, "sendDocument": 1}
    assert server.sent_message_count() == 7
