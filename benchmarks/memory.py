"""Benchmark: resident memory of ``figbot run`` with 10,000 contacts and an open round.

Builds an office of 1,000 units with 10 reporters each (10,000 contacts) in SQLite, starts the
real ``figbot run`` process against the local Bot API server, opens a round (10,000 prompts
queued and being sent) and samples the process's resident set size (VmRSS) for a minute.

    python benchmarks/memory.py                 # 10,000 contacts, 60 s of sampling
    python benchmarks/memory.py --contacts 2000 --seconds 20

Target: under 200 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sqlite3
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.config import load_config  # noqa: E402
from bot.fakeapi import LocalBotApiServer  # noqa: E402
from domain.periods import Period, PeriodKind  # noqa: E402
from services.catalog import prepare_database  # noqa: E402
from tests.conftest import TEST_TOKEN, Clock  # noqa: E402
from tests.processes import open_round, start_bot  # noqa: E402
from tests.test_crash import _crash_config  # noqa: E402

PER_UNIT = 10


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def main(contacts: int, seconds: float) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="figbot-memory-"))
    units = max(1, contacts // PER_UNIT)
    async with LocalBotApiServer(token=TEST_TOKEN) as server:
        url = f"sqlite:///{workdir / 'memory.db'}"
        config_path = _crash_config(workdir, url, server.base_url, reporters=units)
        prepare_database(load_config(config_path, environ={})).dispose()
        db = sqlite3.connect(workdir / "memory.db")
        unit_ids = [row[0] for row in db.execute("SELECT id FROM unit WHERE code LIKE 'c%'")]
        rows = [
            (100_000 + n, 100_000 + n, f"填报员{n}", unit_ids[n % len(unit_ids)])
            for n in range(contacts)
        ]
        db.executemany(
            "INSERT INTO contact (telegram_user_id, chat_id, display_name, role, office_id, "
            "unit_id, language, active, created_at) VALUES (?, ?, ?, 'reporter', 1, ?, "
            "'zh-Hans', 1, '2026-11-01 00:00:00')",
            rows,
        )
        db.commit()
        db.close()
        for n in range(contacts):
            server.add_user(100_000 + n, f"填报员{n}")
        clock = Clock(datetime.now(UTC))  # a benchmark runs on the real date
        bot = await start_bot(config_path, clock=clock, log=workdir / "bot.log")
        try:
            await asyncio.sleep(3)
            idle = rss_mb(bot.pid)
            period = Period.containing(PeriodKind.MONTH, clock().date()).code
            code, out, err = await open_round(config_path, period, clock=clock)
            if code != 0:
                print(err)
                return 1
            peak = idle
            for _ in range(int(seconds)):
                await asyncio.sleep(1)
                peak = max(peak, rss_mb(bot.pid))
            sent = server.stats.sent
        finally:
            bot.send_signal(signal.SIGTERM)
            await bot.wait()
    print(
        f"{contacts:,} contacts in {units:,} units, a round open ({out.strip()}):\n"
        f"  resident memory 3 s after start-up {idle:.0f} MB, peak while prompting {peak:.0f} MB "
        f"over {seconds:.0f} s (messages accepted by the server: {sent})"
    )
    ok = peak < 200
    print("target met: under 200 MB" if ok else "TARGET MISSED: 200 MB")
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    raise SystemExit(asyncio.run(main(args.contacts, args.seconds)))
