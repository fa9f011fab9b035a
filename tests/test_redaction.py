"""The token never leaves the process; an invite code never reaches a log.

The formatter on its own, then a day of ``figbot run`` at DEBUG — a user joining with an
invite code, an outage in the middle — whose every output is searched for the token and the
code.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
from pathlib import Path

import pytest

from bot.fakeapi import LocalBotApiServer
from bot.logsetup import RedactingFormatter, Redactor, configure_logging
from tests.conftest import TEST_TOKEN, Clock
from tests.network_faults import FaultyLink
from tests.processes import RunningFigbot, open_round, run_figbot
from tests.test_unreachable import debug_config, next_month

REAL_LOOKING_TOKEN = "7412369850:AAHx0_kq9Zr-Tn3VbWm8pLc2dYs5fGj1uE4"
INVITE = "Qm9vZ3lfY29kZV9mb3JfamluaGFp"


def _log_through(formatter: logging.Formatter, emit: object) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    logger = logging.getLogger("tests.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    try:
        emit(logger)  # type: ignore[operator]
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
        logger.setLevel(logging.NOTSET)
    return stream.getvalue()


def test_a_token_in_a_chained_cause_is_hidden_with_the_rest_of_the_traceback() -> None:
    def fail() -> None:
        try:
            try:
                raise TimeoutError()
            except TimeoutError as inner:
                url = f"http://127.0.0.1:8081/bot{TEST_TOKEN}/sendMessage"
                raise ConnectionError(f"Connection timeout to host {url}") from inner
        except ConnectionError as cause:
            try:
                raise RuntimeError("Timed out") from cause
            except RuntimeError:  # a context, not a cause: printed as well
                raise ValueError(f"while handling {REAL_LOOKING_TOKEN}")  # noqa: B904

    def emit(logger: logging.Logger) -> None:
        try:
            fail()
        except ValueError:
            logger.error("sending failed for %s", TEST_TOKEN, exc_info=True, stack_info=True)

    text = _log_through(RedactingFormatter(Redactor(token=TEST_TOKEN)), emit)
    assert "The above exception was the direct cause" in text
    assert "During handling of the above exception" in text
    assert "Connection timeout to host http://127.0.0.1:8081/bot<token>/sendMessage" in text
    assert "ValueError: while handling <token>" in text
    assert "sending failed for <token>" in text and "Stack (most recent call last)" in text
    assert TEST_TOKEN not in text and REAL_LOOKING_TOKEN not in text


def test_invite_codes_and_other_secrets_are_hidden_wherever_they_are_printed() -> None:
    redact = Redactor(token=TEST_TOKEN, secrets=["pr0xy-pa:ss", "webhook-secret-1"])
    update = {"message": {"text": f"/start {INVITE}", "entities": [{"type": "bot_command"}]}}

    def emit(logger: logging.Logger) -> None:
        logger.debug("Call to Bot API endpoint `getUpdates` finished with `%s`", [update])
        logger.debug('{"update_id":7,"message":{"text":"/start@figbot_bot %s"}}', INVITE)
        logger.info("link: https://t.me/figbot_bot?start=%s", INVITE)
        logger.info("proxy socks5://figbot:pr0xy-pa%%3Ass@10.0.0.1:1080 refused; %s", "/start")
        logger.info("database postgresql+psycopg://figbot:hunter2@db/figbot, webhook-secret-1")

        logger.warning("GET http://10.0.0.9/bot%s/getMe failed", REAL_LOOKING_TOKEN)

    text = _log_through(RedactingFormatter(redact), emit)
    assert INVITE not in text and REAL_LOOKING_TOKEN not in text
    assert "http://10.0.0.9/bot<token>/getMe" in text  # another bot's token, in its URL
    assert text.count("<invite code>") == 3
    assert "'text': '/start <invite code>'" in text  # the rest of the line stays readable
    assert "pr0xy" not in text and "hunter2" not in text and "webhook-secret-1" not in text
    assert "/start\n" in text  # a bare /start is nothing to hide


def test_figbot_formats_every_handler_it_installs_with_the_redaction() -> None:
    configure_logging("INFO", token=TEST_TOKEN)
    handlers = logging.getLogger().handlers
    ours = [handler for handler in handlers if type(handler) is logging.StreamHandler]
    assert ours and all(isinstance(h.formatter, RedactingFormatter) for h in ours)


@pytest.mark.slow
@pytest.mark.timeout(90)
async def test_a_debug_log_with_a_join_and_an_outage_holds_no_token_and_no_invite_code(
    server: LocalBotApiServer, db_url: str, tmp_path: Path, clock: Clock
) -> None:
    async with FaultyLink(target_port=server.port) as link:
        config = debug_config(tmp_path, db_url, link.base_url())
        outputs: list[str] = []

        code, link_out, err = await run_figbot(
            "--config", str(config), "invite", "--unit", "jinhai", clock=clock
        )
        assert code == 0, err
        match = re.search(r"\?start=([A-Za-z0-9_-]+)", link_out)
        assert match
        invite = match[1]
        outputs.append(err)  # its stdout is the link itself, for the admin to hand over

        async with RunningFigbot(config, clock=clock) as bot:
            server.add_user(1001, "王芳")
            await server.send_text(1001, f"/start {invite}")
            assert "金海社区" in (await server.wait_for_message(1001, timeout=60)).text
            # Telegram drops out while the long poll is waiting: the update still comes in,
            # the reply cannot go out (its connection times out) and the failure is logged
            # with its chain of causes, the request URL among them.
            while not link.waiting():  # the next long poll has reached the server
                await asyncio.sleep(0.05)
            await link.fail("timeout", spare_busy=True)
            since = server.message_count(1001)
            await server.send_text(1001, "/help")
            await bot.wait_for("error while handling an update", timeout=90)
            await link.heal()
            await server.wait_for_message(1001, since=since, timeout=60)  # the apology
            period = next_month(clock).code
            result = await open_round(config, period, clock=clock)
            assert result[0] == 0, result
            outputs += result[1:]
            code, out, log = await bot.stop()
        assert code == 0
        outputs += [out, log]

    assert "/start <invite code>" in log  # the update was logged, the code taken out of it
    assert "Connection timeout to host" in log and "/bot<token>/sendMessage" in log
    for output in outputs:
        assert TEST_TOKEN not in output
        assert invite not in output
