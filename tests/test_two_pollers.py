"""Two ``figbot run`` (long polling) on one database and one token, as the README allows.

Real processes against the local Bot API server, which ends an older long poll with
409 Conflict when a newer one comes, as Telegram does. Only the process holding the polling
lease may poll: two pollers would each be handed the updates the other has not confirmed yet,
and a reporter would see a question twice. Then the active process is killed with SIGKILL: the
passive one, playing another machine, takes over within about ``lease_seconds`` and the answers
go on. Last, a holder killed and restarted on its own machine polls again at once.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest
from sqlmodel import Session

from bot.config import load_config
from bot.fakeapi import LocalBotApiServer
from handlers.common import RESENT_AFTER_RESTART, SENT_AGAIN_AFTER_TIMEOUT
from scheduler.outbox import MAYBE_DELIVERED, REQUEUED_AFTER_CRASH
from services.catalog import prepare_database
from tests.conftest import Clock
from tests.processes import start_bot
from tests.store_helpers import bind, open_
from tests.test_crash import (
    _answers,
    _crash_config,
    _logged_count,
    _reporter,
    _seen_twice,
    assert_each_answer_stored_once,
)

ROUNDS = 3  # the first reporters answer in this many waves with both processes up
PER_ROUND = 20
LATE = 20  # reporters answering around each kill
REPORTERS = ROUNDS * PER_ROUND + 2 * LATE
LEASE_SECONDS = 10
ACTIVE = "now polls Telegram for updates"  # the log line of the process that polls
PASSIVE = "does not poll Telegram"  # the log line of one that waits for the lease


def _config(tmp_path: Path, db_url: str, base_url: str) -> Path:
    path = _crash_config(tmp_path, db_url, base_url, reporters=REPORTERS)
    text = path.read_text(encoding="utf-8")
    text = text[: text.index("  # When rounds open by themselves")]  # rounds open by hand only
    text = text.replace("lease_seconds = 60", f"lease_seconds = {LEASE_SECONDS}")
    path.write_text(text, encoding="utf-8")
    return path


async def _answer(
    server: LocalBotApiServer, first: int, count: int, nudges: list[list[int]]
) -> None:
    reporters = [
        _reporter(server, 10_000 + i, _answers(i), nudges[i]) for i in range(first, first + count)
    ]
    await asyncio.wait_for(asyncio.gather(*reporters), timeout=60)


def _read(log: Path, since: int = 0) -> str:
    return log.read_bytes()[since:].decode("utf-8", errors="replace")


async def _first_to_log(logs: list[Path], since: list[int], line: str, timeout: float) -> int:
    """Which of ``logs`` writes ``line`` first after the offsets ``since``."""
    async with asyncio.timeout(timeout):
        while True:
            for n, log in enumerate(logs):
                if line in _read(log, since[n]):
                    return n
            await asyncio.sleep(0.05)


@pytest.mark.slow
@pytest.mark.timeout(100)
async def test_only_the_lease_holder_polls_and_another_takes_over_after_a_kill(
    server: LocalBotApiServer, db_url: str, tmp_path: Path, clock: Clock
) -> None:
    config_path = _config(tmp_path, db_url, server.base_url)
    engine = prepare_database(load_config(config_path, environ={}))
    with Session(engine, expire_on_commit=False) as session:
        for i in range(REPORTERS):
            bind(session, user_id=10_000 + i, name=f"填报员{i}", unit=f"c{i:03d}", now=clock())
        open_(session, clock().strftime("%Y-%m"), now=clock())
        session.commit()
    for i in range(REPORTERS):
        server.add_user(10_000 + i, f"填报员{i}")

    # Two machines, one process on each.
    logs = [tmp_path / f"bot-{n}.log" for n in range(2)]
    machines = ["machine-0", "machine-1"]
    bots = [
        await start_bot(config_path, clock=clock, log=log, machine=machine)
        for log, machine in zip(logs, machines, strict=True)
    ]
    nudges: list[list[int]] = [[] for _ in range(REPORTERS)]
    loop = asyncio.get_running_loop()
    try:
        # Waves of reporters with both processes up: none may see a question twice.
        for wave in range(ROUNDS):
            await _answer(server, wave * PER_ROUND, PER_ROUND, nudges)
        seen_twice = {
            10_000 + i: server.dump_chat(10_000 + i)
            for i in range(ROUNDS * PER_ROUND)
            if _seen_twice(server.messages(10_000 + i), nudges[i])
        }
        assert not seen_twice, f"{len(seen_twice)} reporters saw a message twice:\n" + "\n".join(
            list(seen_twice.values())[:3]
        )
        assert server.stats.conflicts == 0  # never two long polls at once
        texts = [_read(log) for log in logs]
        (active,) = [n for n, text in enumerate(texts) if ACTIVE in text]
        passive = 1 - active
        assert PASSIVE in texts[passive] and ACTIVE not in texts[passive], texts[passive]
        assert texts[active].count(ACTIVE) == 1, texts[active]

        # The active process dies mid-burst. The other machine cannot tell a dead process from
        # a cut-off one: it takes over when the lease has run out, and answers the rest.
        late = asyncio.create_task(_answer(server, ROUNDS * PER_ROUND, LATE, nudges))
        await asyncio.sleep(0.5)
        since = [log.stat().st_size for log in logs]
        bots[active].send_signal(signal.SIGKILL)
        await bots[active].wait()
        killed_at = loop.time()
        assert await _first_to_log(logs, since, ACTIVE, 3 * LEASE_SECONDS) == passive
        expiry_takeover = loop.time() - killed_at
        await late
        bots[active] = await start_bot(
            config_path, clock=clock, log=logs[active], machine=machines[active]
        )

        # Now the new holder dies and is restarted on its machine at once: the restart sees
        # that its predecessor there is gone and polls without waiting out the lease; the
        # process on the other machine stays passive.
        await _first_to_log([logs[active]], [since[active]], PASSIVE, 30)
        late = asyncio.create_task(_answer(server, ROUNDS * PER_ROUND + LATE, LATE, nudges))
        await asyncio.sleep(0.5)
        since = [log.stat().st_size for log in logs]
        bots[passive].send_signal(signal.SIGKILL)
        await bots[passive].wait()
        killed_at = loop.time()
        bots[passive] = await start_bot(
            config_path, clock=clock, log=logs[passive], machine=machines[passive]
        )
        assert await _first_to_log(logs, since, ACTIVE, 3 * LEASE_SECONDS) == passive
        restart_takeover = loop.time() - killed_at
        await late
    finally:
        for bot in bots:
            if bot.returncode is None:
                bot.send_signal(signal.SIGTERM)
        for bot in bots:
            await asyncio.wait_for(bot.wait(), timeout=60)

    assert [bot.returncode for bot in bots] == [0, 0]
    # The lease runs out between 3/4 of it and all of it after the last renewal.
    assert 0.5 * LEASE_SECONDS <= expiry_takeover <= 1.5 * LEASE_SECONDS, expiry_takeover
    assert restart_takeover < 0.75 * LEASE_SECONDS, restart_takeover
    assert_each_answer_stored_once(engine, submitters=REPORTERS)
    engine.dispose()
    log_text = "".join(_read(log) for log in logs)
    assert "Traceback" not in log_text, log_text[-3000:]
    # Only a kill can repeat a message, and each such message is logged as a possible repeat.
    possible_repeats = sum(
        _logged_count(line, log_text)
        for line in (
            RESENT_AFTER_RESTART,
            SENT_AGAIN_AFTER_TIMEOUT,
            REQUEUED_AFTER_CRASH,
            MAYBE_DELIVERED,
        )
    )
    seen_twice_in_all = sum(
        _seen_twice(server.messages(10_000 + i), nudges[i]) for i in range(REPORTERS)
    )
    assert seen_twice_in_all <= possible_repeats, (seen_twice_in_all, possible_repeats)
    receipts = [
        sum("✅ 已提交" in m.text for m in server.messages(10_000 + i)) for i in range(REPORTERS)
    ]
    assert min(receipts) >= 1, receipts
    print(
        f"\n2 pollers, {REPORTERS} reporters: 0 conflicts while both ran; after a SIGKILL the "
        f"other machine took over in {expiry_takeover:.1f} s (lease {LEASE_SECONDS} s), a "
        f"restart on the same machine in {restart_takeover:.1f} s; {seen_twice_in_all} "
        f"messages seen twice after the kills ({possible_repeats} logged as possible repeats)"
    )
