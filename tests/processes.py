"""figbot as separate processes, the way an admin runs it: ``figbot run`` and the CLI commands.

Every process started here follows the test's clock (``models.types.follow_test_clock``): a
test that opens November's round at its 28 November sees a bot that also thinks it is
28 November, whatever day the suite runs on. The clock is a required argument, so no test can
start a process on the real date by leaving it out.

Processes still running when a test ends (a failure, or a timeout before its ``finally``) are
killed by the ``_no_process_left_behind`` fixture in conftest.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from models.types import TEST_CLOCK_VARIABLE, TEST_FLAG_VARIABLE
from services.lease import TEST_MACHINE_VARIABLE
from tests.conftest import EXAMPLE_CONFIG, TEST_TOKEN

ROOT = Path(__file__).resolve().parents[1]
TestClock = Callable[[], datetime]

started: list[asyncio.subprocess.Process] = []


def config_file(tmp_path: Path, db_url: str, *, base_url: str = "", token: str = "") -> Path:
    """The example config in ``tmp_path``, on ``db_url``, talking to ``base_url``."""
    text = EXAMPLE_CONFIG.read_text(encoding="utf-8")
    text = text.replace('url = "sqlite:///figbot.db"', f'url = "{db_url}"')
    if base_url:
        text = text.replace('base_url = "https://api.telegram.org/bot"', f'base_url = "{base_url}"')
    text = text.replace('\ntoken = ""', f'\ntoken = "{token}"', 1)
    text = text.replace("outbox_interval_seconds = 5", "outbox_interval_seconds = 1")
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def figbot_env(clock: TestClock, machine: str = "") -> dict[str, str]:
    """The environment of a figbot process: this one's without figbot's own variables, the
    test token, the test's clock, and the machine it plays when ``machine`` is given (see
    ``services.lease.holder_is_gone``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIGBOT_")}
    env["PYTHONPATH"] = str(ROOT)
    env["FIGBOT_TELEGRAM_TOKEN"] = TEST_TOKEN
    env[TEST_FLAG_VARIABLE] = "1"
    env[TEST_CLOCK_VARIABLE] = repr((clock() - datetime.now(UTC)).total_seconds())
    if machine:
        env[TEST_MACHINE_VARIABLE] = machine
    return env


async def spawn(
    *args: str, clock: TestClock, stdout: Any, stderr: Any, cwd: Path = ROOT, machine: str = ""
) -> asyncio.subprocess.Process:
    """``figbot <args>`` as a child process on the test's clock."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        *args,
        cwd=cwd,
        env=figbot_env(clock, machine),
        stdout=stdout,
        stderr=stderr,
    )
    started.append(process)
    return process


async def run_figbot(
    *args: str, clock: TestClock, timeout: float = 60, cwd: Path = ROOT
) -> tuple[int, str, str]:
    """Run one CLI command to its end: exit code, stdout, stderr."""
    process = await spawn(
        *args,
        clock=clock,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=cwd,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=timeout)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def start_bot(
    config: Path,
    *run_args: str,
    clock: TestClock,
    log: Path | None = None,
    machine: str = "",
) -> asyncio.subprocess.Process:
    """``figbot run`` (``run_args`` added, e.g. ``--webhook``); its log is appended to ``log``
    when given; ``machine`` names the machine it plays (processes of one test run on one)."""
    args = ("--config", str(config), "run", *run_args)
    if log is None:
        return await spawn(
            *args,
            clock=clock,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            machine=machine,
        )
    with log.open("ab") as stderr:  # the child keeps its own copy of the descriptor
        return await spawn(
            *args, clock=clock, stdout=asyncio.subprocess.DEVNULL, stderr=stderr, machine=machine
        )


def kill_leftovers() -> int:
    """SIGKILL every process started here that is still running; how many there were.

    By pid: the test's event loop, which owned the process objects, may be closed by now."""
    killed = 0
    while started:
        process = started.pop()
        if process.returncode is None:
            try:
                os.kill(process.pid, signal.SIGKILL)
                killed += 1
            except ProcessLookupError:
                pass
    return killed
