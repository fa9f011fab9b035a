"""Telegram out of reach or the token wrong: the admin reads one line, never a traceback.

Real processes at DEBUG, as an admin runs them, against a Bot API address that times out,
refuses or resets connections (tests/network_faults.py), and against a Bot API that refuses
the token.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from datetime import date
from pathlib import Path

import pytest

from bot.fakeapi import LocalBotApiServer
from domain.periods import Period, PeriodKind
from tests.conftest import TEST_TOKEN
from tests.network_faults import Fault, FaultyLink
from tests.test_cli import ROOT, _config_file, _env, _figbot

# What each fault looks like to the admin (the host is named, the token never).
REASONS: dict[Fault, tuple[str, ...]] = {
    "timeout": ("Timed out connecting",),
    "refused": ("connection refused",),
    "reset": ("connection reset", "the server closed the connection"),
}
FAULTS: list[Fault] = ["timeout", "refused", "reset"]


def debug_config(tmp_path: Path, db_url: str, base_url: str, *, proxy: str = "") -> Path:
    """The example config at DEBUG, pointed at ``base_url`` (through ``proxy``)."""
    path = _config_file(tmp_path, db_url, base_url=base_url)
    text = path.read_text(encoding="utf-8").replace('log_level = "INFO"', 'log_level = "DEBUG"')
    text = text.replace('\nproxy = ""', f'\nproxy = "{proxy}"', 1)
    path.write_text(text, encoding="utf-8")
    return path


class RunningFigbot:
    """``figbot run`` as a child process; its log (stderr) is read as it comes."""

    def __init__(self, config: Path, *, env: dict[str, str] | None = None) -> None:
        self.config = config
        self.env = {**_env(), **(env or {})}
        self.log: list[str] = []
        self._process: asyncio.subprocess.Process | None = None
        self._reading: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.cli",
            "--config",
            str(self.config),
            "run",
            cwd=ROOT,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        self._reading = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self._process is not None and self._process.stderr is not None
        while line := await self._process.stderr.readline():
            self.log.append(line.decode())

    def text(self) -> str:
        return "".join(self.log)

    async def wait_for(self, needle: str, *, count: int = 1, timeout: float = 60) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.text().count(needle) < count:
            assert self._process is not None
            if self._process.returncode is not None or loop.time() > deadline:
                raise AssertionError(f"{needle!r} ×{count} not logged; the log:\n{self.text()}")
            await asyncio.sleep(0.1)

    async def wait(self, timeout: float = 60) -> tuple[int, str, str]:
        """The exit code, stdout and the whole log, once the process has ended."""
        assert self._process is not None and self._reading is not None
        out = await asyncio.wait_for(self._process.stdout.read(), timeout)  # type: ignore[union-attr]
        await asyncio.wait_for(self._reading, timeout)
        code = await asyncio.wait_for(self._process.wait(), timeout)
        return code, out.decode(), self.text()

    async def stop(self) -> tuple[int, str, str]:
        assert self._process is not None
        if self._process.returncode is None:
            self._process.send_signal(signal.SIGINT)
        return await self.wait()

    async def __aenter__(self) -> RunningFigbot:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._process is not None and self._process.returncode is None:
            self._process.kill()
            await self._process.wait()


def assert_no_traceback_nor_token(*outputs: str) -> None:
    for output in outputs:
        assert TEST_TOKEN not in output
        assert "Traceback" not in output, output
        assert "Unclosed client session" not in output, output


def next_month() -> Period:
    # Next month: its deadline is in the future whenever the suite runs.
    return Period.containing(PeriodKind.MONTH, date.today()).next()


@pytest.mark.parametrize("fault", FAULTS)
async def test_the_cli_says_in_one_line_that_telegram_cannot_be_reached(
    fault: Fault, db_url: str, tmp_path: Path
) -> None:
    async with FaultyLink(target_port=9) as link:
        await link.fail(fault)
        config = debug_config(tmp_path, db_url, link.base_url())
        where = f"figbot: cannot reach the Telegram Bot API at 127.0.0.1:{link.port}: "

        code, out, err = await _figbot("--config", str(config), "invite", "--unit", "jinhai")
        assert code == 1 and out == ""
        (line,) = [line for line in err.splitlines() if line.startswith("figbot:")]
        assert line.startswith(where) and line.endswith(REASONS[fault]), err

        period = next_month().code
        code, out, err = await _figbot(
            "--config", str(config), "open-round", "--form", "monthly", "--period", period
        )
        assert code == 1
        assert f"round monthly {period} opened" in out  # the round itself is open
        (line,) = [line for line in err.splitlines() if line.startswith("figbot:")]
        assert line.startswith(where) and "the round is open and its prompts stay queued" in line
    assert_no_traceback_nor_token(out, err)


@pytest.mark.parametrize("fault", FAULTS)
async def test_run_keeps_trying_to_start_one_line_per_attempt(
    fault: Fault, db_url: str, tmp_path: Path, server: LocalBotApiServer
) -> None:
    async with FaultyLink(target_port=server.port) as link:
        await link.fail(fault)
        config = debug_config(tmp_path, db_url, link.base_url())
        async with RunningFigbot(config) as bot:
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
    db_url: str, tmp_path: Path
) -> None:
    async with LocalBotApiServer(token="654321:another-bots-token") as other:
        config = debug_config(tmp_path, db_url, other.base_url)
        refused = (
            f"figbot: the Telegram Bot API at 127.0.0.1:{other.port} refused the bot token "
            "(Unauthorized); check telegram.token or FIGBOT_TELEGRAM_TOKEN"
        )
        code, out, err = await _figbot("--config", str(config), "invite", "--unit", "jinhai")
        assert code == 2 and refused in err
        assert_no_traceback_nor_token(out, err)

        async with RunningFigbot(config) as bot:  # no retry can fix a wrong token
            code, out, log = await bot.wait()
        assert code == 2 and refused in log
        assert "trying again" not in log
        assert_no_traceback_nor_token(out, log)
