"""Benchmark: compile summaries on a large database, next to the same aggregation in raw SQL.

Generates 5,000 units × 20 indicators × 52 monthly periods (5.2 million values) in SQLite,
then times, in the same run:
  - the compile for one period (load + pandas; it reads the period, the previous one and the
    same period last year) against a plain SQL GROUP BY over the same three periods;
  - the 同比 for one year (the year rolled up from 12 months, against the 12 months before);
  - writing the one-period .xlsx.

    python benchmarks/summary_compile.py                # the full size (a few minutes)
    python benchmarks/summary_compile.py --units 500    # a quick look

Targets: compile within 3× of the raw SQL, one-period .xlsx under 1 s.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.config import parse_config  # noqa: E402
from domain.periods import Period  # noqa: E402
from models.db import make_engine, read_session, upgrade, write_session  # noqa: E402
from reports.compile import compile_summary  # noqa: E402
from reports.xlsx import write_xlsx  # noqa: E402
from services.catalog import sync_config  # noqa: E402
from services.summary import load_summary_input, target_for  # noqa: E402

PERIODS = 52
INDICATORS = 20


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def build(units: int, path: Path) -> Any:
    data = tomllib.loads((ROOT / "config.example.toml").read_text(encoding="utf-8"))
    extra = [
        {"key": f"extra_{i:02d}", "label": f"其他工作{i:02d}", "measure_word": "次"}
        for i in range(INDICATORS - len(data["indicators"]))
    ]
    data["indicators"] += extra
    data["forms"][0]["indicators"] += [e["key"] for e in extra]
    data["offices"][0]["units"] = [
        {
            "code": f"u{i:05d}",
            "name": f"第{i}社区" if i % 5 else f"第{i}村",
            "kind": "社区" if i % 5 else "村",
        }
        for i in range(units)
    ]
    url = f"sqlite:///{path}"
    data["database"] = {"url": url}
    config = parse_config(data, source=path, environ={})
    upgrade(url)
    engine = make_engine(url)
    with write_session(engine) as session:
        sync_config(session, config=config)
    keys = list(config.forms[0].indicators)
    last = Period.parse("2026-12")
    periods = [last.shift(-i).code for i in range(PERIODS - 1, -1, -1)]
    now = "2026-11-28 00:00:00"
    db = sqlite3.connect(path)
    db.execute(
        "INSERT INTO contact (telegram_user_id, chat_id, display_name, role, office_id, "
        "language, active, created_at) VALUES (1, 1, '填报员', 'reporter', 1, 'zh-Hans', 1, ?)",
        (now,),
    )
    unit_ids = [row[0] for row in db.execute("SELECT id FROM unit ORDER BY id")]
    random.seed(7)
    for period in periods:
        round_id = db.execute(
            "INSERT INTO round (form_id, office_id, period, indicator_keys, opens_at, deadline, "
            "lock_at, status) VALUES (1, 1, ?, '[]', ?, ?, ?, 'locked')",
            (period, now, now, now),
        ).lastrowid
        db.executemany(
            "INSERT INTO submission (round_id, unit_id, submitted_by_contact_id, submitted_at, "
            "updated_at, late, version) VALUES (?, ?, 1, ?, ?, 0, 1)",
            [(round_id, unit_id, now, now) for unit_id in unit_ids],
        )
        first = db.execute(
            "SELECT min(id) FROM submission WHERE round_id = ?", (round_id,)
        ).fetchone()[0]
        db.executemany(
            "INSERT INTO value (submission_id, indicator_key, value, updated_at, "
            "updated_by_contact_id) VALUES (?, ?, ?, ?, 1)",
            [
                (first + n, key, random.randint(0, 50), now)
                for n in range(len(unit_ids))
                for key in keys
            ],
        )
        db.commit()
    db.close()
    return config, engine


def raw_sql(path: Path, periods: list[str]) -> int:
    db = sqlite3.connect(path)
    marks = ",".join("?" * len(periods))
    rows = db.execute(
        "SELECT s.unit_id, v.indicator_key, SUM(v.value) FROM value v "
        "JOIN submission s ON v.submission_id = s.id JOIN round r ON s.round_id = r.id "
        f"WHERE r.period IN ({marks}) GROUP BY s.unit_id, v.indicator_key",
        periods,
    ).fetchall()
    db.close()
    return len(rows)


def compile_for(config: Any, engine: Any, period: str) -> Any:
    with read_session(engine) as session:
        target = target_for(session, office_id=1, period_text=period)
        data = load_summary_input(session, config=config, target=target)
    return compile_summary(data)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=5000)
    units = parser.parse_args().units
    path = Path(tempfile.mkdtemp(prefix="figbot-bench-")) / "bench.db"
    generation, (config, engine) = timed(lambda: build(units, path))
    values = units * INDICATORS * PERIODS
    print(
        f"generated {units} units × {INDICATORS} indicators × {PERIODS} periods "
        f"= {values:,} values in {generation:.1f} s"
    )

    month = ["2026-10", "2026-09", "2025-10"]
    year = [Period.parse("2026").shift(-y).months()[m].code for y in (0, 1) for m in range(12)]
    sql_month, _ = timed(lambda: raw_sql(path, month))
    compile_month, summary = timed(lambda: compile_for(config, engine, "2026-10"))
    sql_year, _ = timed(lambda: raw_sql(path, year))
    compile_year, _ = timed(lambda: compile_for(config, engine, "2026"))
    xlsx, workbook = timed(lambda: write_xlsx(summary))
    engine.dispose()

    print(
        f"one period  : compile {compile_month:.2f} s, raw SQL GROUP BY {sql_month:.2f} s "
        f"→ {compile_month / sql_month:.1f}× (target ≤ 3×)"
    )
    print(
        f"year 同比   : compile {compile_year:.2f} s, raw SQL GROUP BY {sql_year:.2f} s "
        f"→ {compile_year / sql_year:.1f}×"
    )
    print(f"xlsx        : {xlsx:.2f} s for one period, {len(workbook) / 1e6:.1f} MB (target < 1 s)")
    ok = compile_month <= 3 * sql_month and xlsx < 1.0
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
