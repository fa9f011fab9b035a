"""Two ``figbot run --webhook`` processes behind a load balancer, on one database.

Real processes, so their transactions really overlap (on PostgreSQL in CI, and on the SQLite
file by default). One replica is killed with SIGKILL in the middle of the answers and started
again; Telegram (the local Bot API server) posts what was not answered again, the balancer
passes it to the replica still up. At the end: every prompt and reminder sent once, every answer
stored once, every reporter holding a receipt.
"""

from __future__ import annotations

import asyncio
import random
import signal
from pathlib import Path

import pytest
from aiohttp import ClientError, ClientSession
from sqlmodel import Session

from bot.config import load_config
from bot.fakeapi import LocalBotApiServer
from models.tables import Role
from services.catalog import prepare_database
from tests.balancer import RoundRobinBalancer
from tests.conftest import Clock
from tests.processes import open_round, start_bot
from tests.store_helpers import bind
from tests.test_crash import (
    KEYS,
    _answers,
    _crash_config,
    _reporter,
    assert_each_answer_stored_once,
)
from tests.test_webhook import PATH, SECRET, free_port

REPORTERS = 40  # units; the first SUBMITTERS of them answer, the rest are chased by /remind
SUBMITTERS = 30
COORDINATOR = 90_000


def _replica_configs(
    tmp_path: Path, db_url: str, base_url: str, balancer_url: str, ports: list[int]
) -> list[Path]:
    text = _crash_config(tmp_path, db_url, base_url, reporters=REPORTERS).read_text("utf-8")
    text = text[: text.index("  # When rounds open by themselves")]  # rounds open by hand only
    text = text.replace("lease_seconds = 60", "lease_seconds = 6")  # quick takeover after a kill
    text = text.replace("remind_cooldown_minutes = 60", "remind_cooldown_minutes = 0")
    head, webhook = text.split("[webhook]", 1)
    text = head + "[webhook]" + webhook.replace('url = ""', f'url = "{balancer_url}"', 1)
    text = text.replace('secret_token = ""', f'secret_token = "{SECRET}"', 1)
    paths = []
    for number, port in enumerate(ports):
        path = tmp_path / f"replica-{number}.toml"
        path.write_text(text.replace("port = 8080", f"port = {port}", 1), encoding="utf-8")
        paths.append(path)
    return paths


async def _healthy(port: int, timeout: float = 30.0) -> None:
    async with ClientSession() as client, asyncio.timeout(timeout):
        while True:
            try:
                async with client.get(f"http://127.0.0.1:{port}/healthz") as response:
                    if response.status == 200:
                        return
            except (ClientError, OSError):
                pass
            await asyncio.sleep(0.1)


@pytest.mark.slow
@pytest.mark.timeout(90)
async def test_two_replicas_with_a_kill_lose_and_double_nothing(
    server: LocalBotApiServer, db_url: str, tmp_path: Path, clock: Clock
) -> None:
    ports = [free_port(), free_port()]
    balancer = RoundRobinBalancer([f"http://127.0.0.1:{port}" for port in ports], path=PATH)
    await balancer.start()
    configs = _replica_configs(tmp_path, db_url, server.base_url, balancer.url, ports)
    engine = prepare_database(load_config(configs[0], environ={}))
    with Session(engine, expire_on_commit=False) as session:
        for i in range(REPORTERS):
            bind(session, user_id=10_000 + i, name=f"填报员{i}", unit=f"c{i:03d}", now=clock())
        bind(session, user_id=COORDINATOR, name="赵主任", role=Role.COORDINATOR, now=clock())
        session.commit()
    for user_id in [*range(10_000, 10_000 + REPORTERS), COORDINATOR]:
        server.add_user(user_id, f"U{user_id}")
    logs = [tmp_path / f"replica-{n}.log" for n in range(2)]
    replicas = [
        await start_bot(config, "--webhook", clock=clock, log=log)
        for config, log in zip(configs, logs, strict=True)
    ]
    # Bound before the try, so a failure before the reporters start still stops the replicas.
    reporters: list[asyncio.Task[None]] = []
    try:
        for port in ports:
            await _healthy(port)
        assert server.webhook_url == balancer.url and server.webhook_secret == SECRET
        # A round opened by hand: the replica holding the scheduler lease sends the prompts.
        code, out, err = await open_round(configs[0], clock().strftime("%Y-%m"), clock=clock)
        assert code == 0 and f"{REPORTERS} new prompt(s) queued" in out, out + err
        for i in range(REPORTERS):
            await server.wait_for_message(
                10_000 + i, predicate=lambda m: "请填报" in m.text, timeout=60
            )

        reporters = [
            asyncio.create_task(_reporter(server, 10_000 + i, _answers(i)))
            for i in range(SUBMITTERS)
        ]
        await asyncio.sleep(random.Random(6).uniform(1.0, 2.0))  # mid-burst
        victim = random.Random(6).randrange(2)
        replicas[victim].send_signal(signal.SIGKILL)
        await replicas[victim].wait()
        replicas[victim] = await start_bot(
            configs[victim], "--webhook", clock=clock, log=logs[victim]
        )
        await _healthy(ports[victim])
        done, pending = await asyncio.wait(reporters, timeout=120)
        stuck = [10_000 + i for i, task in enumerate(reporters) if task in pending]
        assert not stuck, "\n".join(server.dump_chat(user_id) for user_id in stuck)
        for task in done:
            task.result()

        # The coordinator chases the rest: each pending unit is reminded once.
        await server.send_text(COORDINATOR, "/remind")
        for i in range(SUBMITTERS, REPORTERS):
            await server.wait_for_message(
                10_000 + i, predicate=lambda m: "提醒" in m.text, timeout=60
            )
        await server.wait_until_idle(timeout=30)
    finally:
        for task in reporters:
            task.cancel()
        for process in replicas:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        for process in replicas:
            await asyncio.wait_for(process.wait(), timeout=60)
        await balancer.stop()

    assert all(process.returncode == 0 for process in replicas), [p.returncode for p in replicas]
    assert all(count > 0 for count in balancer.passed.values()), balancer.passed
    for i in range(REPORTERS):
        texts = [m.text for m in server.messages(10_000 + i)]
        assert sum("请填报" in t for t in texts) == 1, texts  # one prompt each
        assert sum("⏰ 提醒" in t for t in texts) == (0 if i < SUBMITTERS else 1), texts
    assert_each_answer_stored_once(engine, submitters=SUBMITTERS)
    engine.dispose()
    receipts = [
        sum("✅ 已提交" in m.text for m in server.messages(10_000 + i)) for i in range(SUBMITTERS)
    ]
    assert min(receipts) >= 1, receipts
    repeated = sum(receipts) - SUBMITTERS
    logs_text = "".join(log.read_text("utf-8", errors="replace") for log in logs)
    assert "Traceback" not in logs_text, logs_text[-3000:]
    print(
        f"\n2 replicas, {SUBMITTERS} reporters × {len(KEYS)} answers, replica {victim} killed: "
        f"0 lost, 0 doubled; updates passed {balancer.passed}; receipts repeated by the kill: "
        f"{repeated}"
    )
