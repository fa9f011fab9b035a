"""Benchmark: the 10-minute mixed run on SQLite (the test suite runs it for 10 seconds).

Prompts, answers and plain-word corrections from hundreds of reporters, coordinators asking
for summaries in chat, the .xlsx compiled from the command line and a live backup, all at once
against one SQLite file and the real ``figbot run`` process. Prints what was done and the
number of "database is locked" errors (the target is zero).

    python benchmarks/mixed_run.py                          # 600 s, 300 reporters
    python benchmarks/mixed_run.py --seconds 60 --reporters 100
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.fakeapi import LocalBotApiServer  # noqa: E402
from tests.conftest import TEST_TOKEN, Clock  # noqa: E402
from tests.test_mixed_load import mixed_run  # noqa: E402


async def main(seconds: float, reporters: int) -> int:
    started = time.perf_counter()
    async with LocalBotApiServer(token=TEST_TOKEN) as server:
        report = await mixed_run(
            server,
            Path(tempfile.mkdtemp(prefix="figbot-mixed-")),
            Clock(datetime.now(UTC)),
            seconds=seconds,
            reporters=reporters,
        )
    elapsed = time.perf_counter() - started
    print(
        f"{report.seconds:.0f} s of mixed load, {report.reporters} reporters "
        f"({elapsed:.0f} s with start-up and the first submissions):\n"
        f"  corrections stored          {report.corrections}\n"
        f"  summaries asked in chat     {report.summaries_in_chat}\n"
        f"  summaries compiled by CLI   {report.summaries_from_cli}\n"
        f"  live backups                {report.backups}\n"
        f"  'database is locked' errors {report.lock_errors}\n"
        f"  other errors in the log     {len(report.errors)}"
    )
    ok = report.lock_errors == 0 and not report.errors
    print("target met: zero lock errors, zero lost writes" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--reporters", type=int, default=300)
    args = parser.parse_args()
    raise SystemExit(asyncio.run(main(args.seconds, args.reporters)))
