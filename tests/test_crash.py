"""No answer lost, none doubled, when the bot process is killed with SIGKILL mid-burst.

200 reporters answer 5 questions each (1,000 answers) through the local Bot API server while
the real ``figbot run`` process is killed at random points of the burst and restarted.
Reporters behave like people: when the bot does not answer for a while they send /report to see
where they are.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.config import load_config
from bot.fakeapi import LocalBotApiServer, SentMessage
from handlers.common import RESENT_AFTER_RESTART, SENT_AGAIN_AFTER_TIMEOUT
from models.crud import submission_values
from models.tables import ConversationState, Submission, Unit, ValueRevision
from scheduler.outbox import MAYBE_DELIVERED, REQUEUED_AFTER_CRASH
from services.catalog import prepare_database
from tests.conftest import Clock
from tests.processes import config_file, start_bot
from tests.store_helpers import bind, open_

REPORTERS = int(os.environ.get("FIGBOT_CRASH_REPORTERS", "200"))
KILLS = 4
PATIENCE = 30.0  # seconds a reporter waits for the bot before sending /report again
KEYS = [
    "dispute_screenings",
    "disputes_mediated",
    "mediated_success",
    "legal_lectures",
    "legal_consultations",
]
QUESTION = re.compile(r"^（(\d)/5）")


def _answers(n: int) -> list[int]:
    mediated = n % 9 + 2
    return [n % 13 + 1, mediated, n % mediated, n % 4, n % 50 + 10]


def _crash_config(
    tmp_path: Path, db_url: str, base_url: str, *, reporters: int = REPORTERS
) -> Path:
    path = config_file(tmp_path, db_url, base_url=base_url)
    text = path.read_text(encoding="utf-8")
    units = "".join(
        f'\n[[offices.units]]\ncode = "c{i:03d}"\nname = "第{i}社区"\nkind = "社区"\n'
        for i in range(reporters)
    )
    text = text.replace("\n# Indicators:", units + "\n# Indicators:", 1)
    text = re.sub(
        r'indicators = \[\n  "dispute_screenings",.*?\]',
        "indicators = [" + ", ".join(f'"{k}"' for k in KEYS) + "]",
        text,
        count=1,
        flags=re.S,
    )
    text = text.replace("poll_timeout = 30", "poll_timeout = 1")
    # The local server has no flood control: do not wait for Telegram's 30 messages/s here.
    text = text.replace("max_messages_per_second = 30", "max_messages_per_second = 1000")
    path.write_text(text, encoding="utf-8")
    return path


def assert_each_answer_stored_once(engine: Engine, *, submitters: int) -> None:
    """Every submitting unit holds exactly what its reporter sent, and each value was written
    once (one revision per value): nothing lost, nothing doubled."""
    with Session(engine) as session:
        submissions = session.exec(select(Submission)).all()
        assert len(submissions) == submitters
        codes = {u.id: u.code for u in session.exec(select(Unit))}
        for submission in submissions:
            n = int(codes[submission.unit_id][1:])
            stored = submission_values(session, submission_id=submission.id or 0)
            assert stored == dict(zip(KEYS, _answers(n), strict=True)), codes[submission.unit_id]
        revisions = session.exec(select(ValueRevision).order_by(col(ValueRevision.id))).all()
        assert len(revisions) == submitters * len(KEYS)


async def _reporter(
    server: LocalBotApiServer,
    user_id: int,
    answers: list[int],
    nudged_at: list[int] | None = None,
) -> None:
    """Answer whatever the bot shows; nudge with /report when it has gone quiet (noting in
    ``nudged_at`` how many messages the chat had then). Like a person, the reporter does not
    answer the same question twice in a row when the bot repeats it (a reply sent again after
    a crash)."""
    nudged_at = [] if nudged_at is None else nudged_at
    seen = server.message_count(user_id)
    await server.send_text(user_id, "/report")
    loop = asyncio.get_running_loop()
    quiet_since = loop.time()
    acted_on = ""
    while True:
        messages = server.messages(user_id, since=seen)
        if not messages:
            await asyncio.sleep(0.05)
            if loop.time() - quiet_since > PATIENCE:
                seen = server.message_count(user_id)
                nudged_at.append(seen)
                acted_on = ""
                await server.send_text(user_id, "/report")
                quiet_since = loop.time()
            continue
        seen += len(messages)
        quiet_since = loop.time()
        # The round's prompt ([开始填报]) can come after the questions the first /report
        # brought; the reporter has those already and goes on with the newest of them.
        shown = [m for m in messages if "开始填报" not in m.button_texts()]
        if not shown:
            continue
        latest = shown[-1]
        if "✅ 已提交" in latest.text or "没有变化" in latest.text:
            return
        if latest.text == acted_on:
            continue
        question = QUESTION.match(latest.text)
        if question:
            acted_on = latest.text
            await server.send_text(user_id, str(answers[int(question[1]) - 1]))
        elif "✅ 提交" in latest.button_texts():
            acted_on = latest.text
            await server.press_button_by_text(user_id, latest.message_id, "✅ 提交")


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_sigkill_mid_burst_loses_and_doubles_nothing(
    server: LocalBotApiServer, db_url: str, tmp_path: Path, clock: Clock
) -> None:
    config_path = _crash_config(tmp_path, db_url, server.base_url)
    config = load_config(config_path, environ={})
    engine = prepare_database(config)
    with Session(engine, expire_on_commit=False) as session:
        for i in range(REPORTERS):
            bind(session, user_id=10_000 + i, name=f"填报员{i}", unit=f"c{i:03d}", now=clock())
        session.commit()
    with Session(engine, expire_on_commit=False) as session:
        open_(session, clock().strftime("%Y-%m"), now=clock())
        session.commit()
    for i in range(REPORTERS):
        server.add_user(10_000 + i, f"填报员{i}")

    rng = random.Random(20261128)
    log = tmp_path / "bot.log"
    bot = await start_bot(config_path, clock=clock, log=log)
    nudges: list[list[int]] = [[] for _ in range(REPORTERS)]
    reporters = [
        asyncio.create_task(_reporter(server, 10_000 + i, _answers(i), nudges[i]))
        for i in range(REPORTERS)
    ]
    kills = 0
    in_flight: list[int] = []  # updates not yet confirmed when each kill struck
    expected = REPORTERS * (len(KEYS) + 2)  # replies: the questions, the review, the receipt
    try:
        for n in range(KILLS):
            # Mid-burst on any machine: each kill waits for the next stretch of progress (a
            # random point in it), not for a time, which a fast machine would outrun.
            share = (n + rng.uniform(0.4, 0.9)) / (KILLS + 1)
            await asyncio.wait_for(_progress(server, share * expected), timeout=120)
            in_flight.append(server.pending_update_count)
            bot.send_signal(signal.SIGKILL)
            await bot.wait()
            kills += 1
            bot = await start_bot(config_path, clock=clock, log=log)
        await asyncio.wait_for(asyncio.gather(*reporters), timeout=240)
    finally:
        for task in reporters:
            task.cancel()
        bot.send_signal(signal.SIGTERM)
        await asyncio.wait_for(bot.wait(), timeout=60)

    assert kills == KILLS and sum(n > 0 for n in in_flight) >= 2, in_flight  # mid-burst kills
    assert_each_answer_stored_once(engine, submitters=REPORTERS)
    with Session(engine) as session:
        assert session.exec(select(ConversationState)).all() == []
    engine.dispose()
    receipts = [
        sum("✅ 已提交" in m.text for m in server.messages(10_000 + i)) for i in range(REPORTERS)
    ]
    # Every receipt arrives (a reply a crash kept from being sent is sent when the update comes
    # again). Only a kill between Telegram taking a reply and figbot noting it can repeat one:
    # Telegram has no way to send a message once only, so such a reply is sent again — and
    # figbot logs every message it sends again as a possible repeat: counted, never hidden.
    # (Replies whose send timed out and prompts are logged too; there are no faults here.)
    repeated = sum(n - 1 for n in receipts)
    log_text = log.read_text("utf-8", errors="replace")
    resent = _logged_count(RESENT_AFTER_RESTART, log_text)
    possible_repeats = resent + sum(
        _logged_count(line, log_text)
        for line in (SENT_AGAIN_AFTER_TIMEOUT, REQUEUED_AFTER_CRASH, MAYBE_DELIVERED)
    )
    assert min(receipts) == 1, receipts
    assert repeated <= possible_repeats, (repeated, possible_repeats)
    # Every message, questions and round prompts included: what a user saw twice in a row,
    # unless they had asked again (/report), is one of those logged as possibly sent twice.
    seen_twice = sum(_seen_twice(server.messages(10_000 + i), nudges[i]) for i in range(REPORTERS))
    assert seen_twice <= possible_repeats, (seen_twice, possible_repeats)
    print(
        f"\n{REPORTERS} reporters, {REPORTERS * len(KEYS)} answers, {kills} SIGKILLs: "
        f"0 lost, 0 doubled; every receipt delivered, {repeated} repeated by a kill; "
        f"{seen_twice} messages seen twice in all ({possible_repeats} logged as possibly sent "
        f"twice, {resent} of them replies of updates that came again); "
        f"{sum(map(len, nudges))} nudges; unconfirmed updates at each kill: {in_flight}"
    )


def _seen_twice(messages: list[SentMessage], nudged_at: list[int]) -> int:
    """Messages that came right after the same message, not asked for by a /report in between
    (a nudge sent when the chat had ``n`` messages makes message ``n`` the answer to it)."""
    return sum(
        1
        for n in range(1, len(messages))
        if messages[n].text == messages[n - 1].text and n not in nudged_at
    )


async def _progress(server: LocalBotApiServer, replies: float) -> None:
    """Until the reporters have been sent ``replies`` replies in all."""
    while sum(server.message_count(10_000 + i) for i in range(REPORTERS)) < replies:
        await asyncio.sleep(0.01)


def _logged_count(message: str, log: str) -> int:
    """How many messages the log's lines of ``message`` (a logging format) speak of: the sum of
    their counts (``%d``), or one per line without one."""
    line = re.escape(message).replace("%s", r"\d+").replace("%d", r"(\d+)")
    found = re.findall(line, log)
    return sum(int(n) for n in found) if "%d" in message else len(found)
