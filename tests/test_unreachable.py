"""Telegram out of reach or the token wrong: the admin reads one line, never a traceback.

Real processes at DEBUG, as an admin runs them, against a Bot API address that times out,
refuses or resets connections (tests/network_faults.py), and against a Bot API that refuses
the token.
"""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.fakeapi import LocalBotApiServer
from domain.periods import Period, PeriodKind
from tests.conftest import TEST_TOKEN, Clock
from tests.network_faults import Fault, FaultyLink
from tests.processes import RunningFigbot, config_file, open_round, run_figbot

# What each fault looks like to the admin (the host is named, the token never).
REASONS: dict[Fault, tuple[str, ...]] = {
    "timeout": ("Timed out connecting",),
    "refused": ("connection refused",),
    "reset": ("connection reset", "the server closed the connection"),
}
FAULTS: list[Fault] = ["timeout", "refused", "reset"]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]  # processes, waiting out timeouts


def debug_config(tmp_path: Path, db_url: str, base_url: str, *, proxy: str = "") -> Path:
    """The example config at DEBUG, pointed at ``base_url`` (through ``proxy``)."""
    path = config_file(tmp_path, db_url, base_url=base_url)
    text = path.read_text(encoding="utf-8").replace('log_level = "INFO"', 'log_level = "DEBUG"')
    text = text.replace('\nproxy = ""', f'\nproxy = "{proxy}"', 1)
    path.write_text(text, encoding="utf-8")
    return path


def assert_no_traceback_nor_token(*outputs: str) -> None:
    for output in outputs:
        assert TEST_TOKEN not in output
        assert "Traceback" not in output, output
        assert "Unclosed client session" not in output, output


def next_month(clock: Clock) -> Period:
    """Next month in Shanghai at the test's now: a round whose deadline is weeks away."""
    return Period.containing(
        PeriodKind.MONTH, clock().astimezone(ZoneInfo("Asia/Shanghai")).date()
    ).next()


@pytest.mark.parametrize("fault", FAULTS)
async def test_the_cli_says_in_one_line_that_telegram_cannot_be_reached(
    fault: Fault, db_url: str, tmp_path: Path, clock: Clock
) -> None:
    async with FaultyLink(target_port=9) as link:
        await link.fail(fault)
        config = debug_config(tmp_path, db_url, link.base_url())
        where = f"figbot: cannot reach the Telegram Bot API at 127.0.0.1:{link.port}: "

        code, out, err = await run_figbot(
            "--config", str(config), "invite", "--unit", "jinhai", clock=clock
        )
        assert code == 1 and out == ""
        (line,) = [line for line in err.splitlines() if line.startswith("figbot:")]
        assert line.startswith(where) and line.endswith(REASONS[fault]), err

        period = next_month(clock).code
        code, out, err = await open_round(config, period, clock=clock)
        assert code == 1
        assert f"round monthly {period} opened" in out  # the round itself is open
        (line,) = [line for line in err.splitlines() if line.startswith("figbot:")]
        assert line.startswith(where) and "the round is open and its prompts stay queued" in line
    assert_no_traceback_nor_token(out, err)


@pytest.mark.parametrize("fault", FAULTS)
async def test_run_keeps_trying_to_start_one_line_per_attempt(
    fault: Fault, db_url: str, tmp_path: Path, server: LocalBotApiServer, clock: Clock
) -> None:
    async with FaultyLink(target_port=server.port) as link:
        await link.fail(fault)
        config = debug_config(tmp_path, db_url, link.base_url())
        async with RunningFigbot(config, clock=clock) as bot:
            await bot.wait_for("trying again in 2 s (attempt 2)")
            await link.heal()  # the network is back: figbot starts without a restart
            server.add_user(1001, "王芳")
            await server.send_text(1001, "/help")
            reply = await server.wait_for_message(1001, timeout=60)
            assert "请使用街道发给你的邀请链接" in reply.text  # a stranger, answered
            code, out, log = await bot.stop()
    assert code == 0
    attempts = [line for line in log.splitlines() if "trying again" in line]
    assert [line.split("ERROR bot.app: ")[1] for line in attempts[:2]] == [
        f"cannot reach the Telegram Bot API at 127.0.0.1:{link.port}: {reason}; "
        f"trying again in {pause} s (attempt {attempt})"
        for attempt, pause, reason in [
            (1, 1, _reason_in(attempts[0], fault)),
            (2, 2, _reason_in(attempts[1], fault)),
        ]
    ]
    assert_no_traceback_nor_token(out, log)


def _reason_in(line: str, fault: Fault) -> str:
    (reason,) = [reason for reason in REASONS[fault] if f": {reason};" in line]
    return reason


async def test_a_refused_token_is_one_line_and_run_stops_for_good(
    db_url: str, tmp_path: Path, clock: Clock
) -> None:
    async with LocalBotApiServer(token="654321:another-bots-token") as other:
        config = debug_config(tmp_path, db_url, other.base_url)
        refused = (
            f"figbot: the Telegram Bot API at 127.0.0.1:{other.port} refused the bot token "
            "(Unauthorized); check telegram.token or FIGBOT_TELEGRAM_TOKEN"
        )
        code, out, err = await run_figbot(
            "--config", str(config), "invite", "--unit", "jinhai", clock=clock
        )
        assert code == 2 and refused in err
        assert_no_traceback_nor_token(out, err)

        async with RunningFigbot(config, clock=clock) as bot:  # no retry can fix a wrong token
            code, out, log = await bot.wait()
        assert code == 2 and refused in log
        assert "trying again" not in log
        assert_no_traceback_nor_token(out, log)


async def test_a_token_revoked_while_running_stops_the_bot_in_one_line(
    db_url: str, tmp_path: Path, clock: Clock
) -> None:
    """The token is revoked (or replaced in @BotFather) while figbot runs: it stops with the
    one line and exit code 2 a service manager acts on, rather than running on deaf."""
    async with LocalBotApiServer(token=TEST_TOKEN) as telegram:
        port = telegram.port
        config = debug_config(tmp_path, db_url, telegram.base_url)
        async with RunningFigbot(config, clock=clock) as bot:
            await bot.wait_for("now polls Telegram for updates")
            await telegram.stop()  # the same address, from now on refusing this token
            async with LocalBotApiServer(token="654321:the-new-token", port=port) as renewed:
                code, out, log = await bot.wait()
    assert code == 2, log
    assert f"figbot: the Telegram Bot API at 127.0.0.1:{renewed.port} refused the bot token" in log
    assert_no_traceback_nor_token(out, log)
