"""figbot as separate processes, the way an admin runs it: ``figbot run`` and the CLI commands.

Every process started here follows the test's clock (``models.types.follow_test_clock``), read
running (``Clock.running``): a test that opens November's round at its 28 November sees a bot
that also thinks it is 28 November, whatever day the suite runs on. The clock is a required
argument, so no test can start a process on the real date by leaving it out.

Processes still running when a test ends (a failure, or a timeout before its ``finally``) are
killed by the ``_no_process_left_behind`` fixture in conftest.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path
from typing import Any

from models.types import TEST_CLOCK_VARIABLE, TEST_FLAG_VARIABLE
from services.lease import TEST_MACHINE_VARIABLE
from tests.conftest import EXAMPLE_CONFIG, TEST_TOKEN, Clock

ROOT = Path(__file__).resolve().parents[1]

started: list[asyncio.subprocess.Process] = []


def config_file(tmp_path: Path, db_url: str, *, base_url: str = "", token: str = "") -> Path:
    """The example config in ``tmp_path``, on ``db_url``, talking to ``base_url``."""
    text = EXAMPLE_CONFIG.read_text(encoding="utf-8")
    text = _replace(text, 'url = "sqlite:///figbot.db"', f'url = "{db_url}"')
    if base_url:
        text = _replace(
            text, 'base_url = "https://api.telegram.org/bot"', f'base_url = "{base_url}"'
        )
    text = _replace(text, '\ntoken = ""', f'\ntoken = "{token}"')
    text = _replace(text, "outbox_interval_seconds = 5", "outbox_interval_seconds = 1")
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _replace(text: str, old: str, new: str) -> str:
    """``old`` (its first time) replaced: a reworded example config must fail here, not send
    a test's figbot to the real Telegram or the repository's database."""
    assert old in text, f"config.example.toml no longer says {old!r}"
    return text.replace(old, new, 1)


def figbot_env(
    clock: Clock, extra: dict[str, str] | None = None, *, machine: str = ""
) -> dict[str, str]:
    """The environment of a figbot process: this one's without figbot's own variables and the
    machine's proxies (a test names its own), the test token, the test's clock, the machine it
    plays when ``machine`` is given (see ``services.lease.holder_is_gone``), and ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("FIGBOT_") and not k.lower().endswith("_proxy")
    }
    env["PYTHONPATH"] = str(ROOT)
    env["FIGBOT_TELEGRAM_TOKEN"] = TEST_TOKEN
    env[TEST_FLAG_VARIABLE] = "1"
    env[TEST_CLOCK_VARIABLE] = repr(clock.offset.total_seconds())  # it runs: Clock.running
    if machine:
        env[TEST_MACHINE_VARIABLE] = machine
    return {**env, **(extra or {})}


async def spawn(
    *args: str,
    clock: Clock,
    stdout: Any,
    stderr: Any,
    cwd: Path = ROOT,
    env: dict[str, str] | None = None,
    machine: str = "",
) -> asyncio.subprocess.Process:
    """``figbot <args>`` as a child process on the test's clock; ``env`` adds variables,
    ``machine`` names the machine it plays (by default, the one every process runs on)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        *args,
        cwd=cwd,
        env=figbot_env(clock, env, machine=machine),
        stdout=stdout,
        stderr=stderr,
        start_new_session=True,  # a group of its own: kill_leftovers takes its children too
    )
    started.append(process)
    return process


async def run_figbot(
    *args: str,
    clock: Clock,
    timeout: float = 60,
    cwd: Path = ROOT,
    env: dict[str, str] | None = None,
) -> tuple[int, str, str]:
    """Run one CLI command to its end: exit code, stdout, stderr."""
    process = await spawn(
        *args,
        clock=clock,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=cwd,
        env=env,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=timeout)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def open_round(
    config: Path, period: str, *, clock: Clock, form: str = "monthly"
) -> tuple[int, str, str]:
    """``figbot open-round`` for ``period``: exit code, stdout, stderr."""
    return await run_figbot(
        "--config", str(config), "open-round", "--form", form, "--period", period, clock=clock
    )


async def start_bot(
    config: Path,
    *run_args: str,
    clock: Clock,
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


class RunningFigbot:
    """``figbot run`` as a child process whose log (stderr) is read as it comes."""

    def __init__(self, config: Path, *, clock: Clock, env: dict[str, str] | None = None) -> None:
        self.config = config
        self.clock = clock
        self.env = env
        self.log: list[str] = []
        self._process: asyncio.subprocess.Process | None = None
        self._reading: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._process = await spawn(
            "--config",
            str(self.config),
            "run",
            clock=self.clock,
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


def kill_leftovers() -> int:
    """SIGKILL every process group started here (a figbot process and what it started, such as
    the report template's renderer); how many figbot processes were still running.

    By group id: the test's event loop, which owned the process objects, may be closed by now.
    """
    running = 0
    while started:
        process = started.pop()
        running += process.returncode is None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    return running
