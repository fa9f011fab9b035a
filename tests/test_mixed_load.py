"""No "database is locked": prompts, answers, corrections and summaries at once on SQLite.

The real ``figbot run`` process serves hundreds of reporters (answering, then correcting in
plain words again and again) while coordinators ask for summaries in chat, an admin compiles
the .xlsx from the command line and takes a live backup — all on one SQLite file. Kept short
here (``FIGBOT_MIXED_SECONDS``, default 10); ``benchmarks/mixed_run.py`` runs it for 10 minutes.
"""

from __future__ import annotations

import asyncio
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from bot.config import load_config
from bot.fakeapi import LocalBotApiServer
from models.crud import submission_values
from models.tables import Role, Submission, Unit, ValueRevision
from services.catalog import prepare_database
from tests.conftest import Clock
from tests.processes import open_round, run_figbot, start_bot
from tests.store_helpers import bind
from tests.test_crash import KEYS, _answers, _crash_config, _reporter

SECONDS = float(os.environ.get("FIGBOT_MIXED_SECONDS", "10"))
REPORTERS = int(os.environ.get("FIGBOT_MIXED_REPORTERS", "150"))
COORDINATORS = (90_001, 90_002)
REPLY_WITHIN = 120.0  # the first burst of hundreds of reporters queues ahead of everyone


@dataclass
class MixedReport:
    seconds: float
    reporters: int
    corrections: int = 0
    summaries_in_chat: int = 0
    summaries_from_cli: int = 0
    backups: int = 0
    lock_errors: int = 0
    errors: list[str] = field(default_factory=list)


async def _wait_for(
    server: LocalBotApiServer, chat_id: int, since: int, *needles: str
) -> tuple[int, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + REPLY_WITHIN
    while loop.time() < deadline:
        for index, message in enumerate(server.messages(chat_id, since=since), start=since):
            if any(n in message.text or n in message.button_texts() for n in needles):
                return index + 1, message
        await asyncio.sleep(0.05)
    recent = [m.text[:60] for m in server.messages(chat_id)[-4:]]
    raise AssertionError(f"chat {chat_id}: no {needles} within {REPLY_WITHIN} s; last: {recent}")


async def _corrections(
    server: LocalBotApiServer, user_id: int, until: float, expected: dict[int, int]
) -> int:
    """Correct 法治讲座 in plain words, confirm the read-back, wait for the saved changes."""
    loop = asyncio.get_running_loop()
    done = 0
    while done == 0 or loop.time() < until:  # at least once, then until the time is up
        value = (expected[user_id] + 1) % 6
        since = server.message_count(user_id)
        await server.send_text(user_id, f"更正 讲座{value}场")
        since, readback = await _wait_for(server, user_id, since, "✅ 确认")
        await server.press_button_by_text(user_id, readback.message_id, "✅ 确认")
        since, shown = await _wait_for(server, user_id, since, "✅ 已保存", "✅ 提交")
        if "✅ 提交" in shown.button_texts():  # the reporter had the review open: submit it
            await server.press_button_by_text(user_id, shown.message_id, "✅ 提交")
            await _wait_for(server, user_id, since, "✅ 已保存")
        expected[user_id] = value
        done += 1
        # a person correcting now and then, not a script
        await asyncio.sleep(min(20.0, max(0.0, until - loop.time())))
    return done


async def mixed_run(
    server: LocalBotApiServer, tmp_path: Path, clock: Clock, *, seconds: float, reporters: int
) -> MixedReport:
    report = MixedReport(seconds=seconds, reporters=reporters)
    url = f"sqlite:///{tmp_path / 'mixed.db'}"
    config_path = _crash_config(tmp_path, url, server.base_url, reporters=reporters)
    config = load_config(config_path, environ={})
    engine = prepare_database(config)
    with Session(engine, expire_on_commit=False) as session:
        for i in range(reporters):
            bind(session, user_id=10_000 + i, name=f"填报员{i}", unit=f"c{i:03d}", now=clock())
        for user_id in COORDINATORS:
            bind(session, user_id=user_id, name="协调员", role=Role.COORDINATOR, now=clock())
        session.commit()
    for user_id in [*(10_000 + i for i in range(reporters)), *COORDINATORS]:
        server.add_user(user_id, f"用户{user_id}")
    log = tmp_path / "bot.log"
    bot = await start_bot(config_path, clock=clock, log=log)
    period = clock().strftime("%Y-%m")  # 28 Nov: November's round is open
    loop = asyncio.get_running_loop()
    until = 0.0  # set once the round is open
    expected = {10_000 + i: _answers(i)[3] for i in range(reporters)}

    async def reporter(i: int) -> int:
        await _reporter(server, 10_000 + i, _answers(i))
        return await _corrections(server, 10_000 + i, until, expected)

    async def coordinator(user_id: int) -> int:
        asked = 0
        while loop.time() < until:
            for command in ("/summary", "/status"):
                since = server.message_count(user_id)
                await server.send_text(user_id, command)
                await _wait_for(server, user_id, since, "")
                asked += command == "/summary"
            await asyncio.sleep(5.0)  # a busy coordinator; each compile holds the queue
        return asked

    async def admin() -> tuple[int, int]:
        compiled = backups = 0
        while loop.time() < until:
            out = tmp_path / f"summary-{compiled}.xlsx"
            code, _, err = await run_figbot(
                "--config",
                str(config_path),
                "summary",
                "--period",
                period,
                "--out",
                str(out),
                "--quiet",
                clock=clock,
            )
            assert code == 0, err
            compiled += 1
            if backups == 0:
                code, _, err = await run_figbot(
                    "--config",
                    str(config_path),
                    "backup",
                    "--out",
                    str(tmp_path / "live.bak"),
                    clock=clock,
                )
                assert code == 0, err
                backups += 1
        return compiled, backups

    try:  # from here on, whatever fails, the bot is stopped
        code, _, err = await open_round(config_path, period, clock=clock)
        assert code == 0, err
        until = loop.time() + seconds
        results = await asyncio.wait_for(
            asyncio.gather(
                asyncio.gather(*(reporter(i) for i in range(reporters))),
                asyncio.gather(*(coordinator(u) for u in COORDINATORS)),
                admin(),
            ),
            timeout=seconds + 240,
        )
    finally:
        bot.send_signal(signal.SIGTERM)
        await asyncio.wait_for(bot.wait(), timeout=60)
    corrections, summaries, (compiled, backups) = results
    report.corrections = sum(corrections)
    report.summaries_in_chat = sum(summaries)
    report.summaries_from_cli = compiled
    report.backups = backups
    text = log.read_text(encoding="utf-8", errors="replace")
    report.lock_errors = text.count("database is locked")
    report.errors = [line for line in text.splitlines() if " ERROR " in line]

    with Session(engine) as session:
        codes = {u.id: u.code for u in session.exec(select(Unit))}
        submissions = session.exec(select(Submission)).all()
        assert len(submissions) == reporters
        for submission in submissions:
            n = int(codes[submission.unit_id][1:])
            want = dict(zip(KEYS, _answers(n), strict=True)) | {
                "legal_lectures": expected[10_000 + n]
            }
            assert submission_values(session, submission_id=submission.id or 0) == want
        revisions = len(session.exec(select(ValueRevision)).all())
    engine.dispose()
    # Every answer and every correction is one revision: nothing lost, nothing written twice.
    assert revisions == reporters * len(KEYS) + report.corrections
    return report


@pytest.mark.slow
@pytest.mark.timeout(90)
async def test_a_mixed_load_on_sqlite_has_no_lock_errors(
    server: LocalBotApiServer, tmp_path: Path, clock: Clock
) -> None:
    report = await mixed_run(server, tmp_path, clock, seconds=SECONDS, reporters=REPORTERS)
    assert report.lock_errors == 0 and report.errors == []
    assert report.corrections >= REPORTERS  # everyone corrected at least once
    assert report.summaries_in_chat > 0 and report.summaries_from_cli > 0 and report.backups == 1
    print(f"\n{report}")
