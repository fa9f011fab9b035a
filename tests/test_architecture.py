"""Rules of the code base that the runtime relies on, checked on the source.

Updates of different chats are handled side by side (``bot.ordering``). That is safe only
because database sessions are synchronous and never held across an ``await``: a handler that
awaited with a session open would let another update's transaction start in between (and, on
SQLite, wait for a lock its own event loop holds).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ["bot", "handlers", "services", "scheduler", "models", "reports", "domain"]
SESSION_OPENERS = {
    "reading",
    "reading_once",
    "update_transaction",
    "write_session",
    "read_session",
    "single_read_session",
    "single_statement",
    "Session",
}


def _opener(item: ast.withitem) -> str | None:
    call = item.context_expr
    if not isinstance(call, ast.Call):
        return None
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    return name if name in SESSION_OPENERS else None


def sessions_held_across_await(source: str) -> list[tuple[int, str, int]]:
    """(line of the ``with``, what opened the session, line of the ``await``) for each case."""
    found: list[tuple[int, str, int]] = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.With):
            continue
        for item in node.items:
            name = _opener(item)
            if name is None:
                continue
            for statement in node.body:
                found.extend(
                    (node.lineno, name, inner.lineno)
                    for inner in ast.walk(statement)
                    if isinstance(inner, ast.Await)
                )
    return found


def test_the_check_finds_an_await_inside_a_session() -> None:
    source = (
        "async def handler(rt, send):\n"
        "    with rt.reading() as session:\n"
        "        rows = session.exec(query)\n"
        "        await send(rows)\n"
    )
    assert sessions_held_across_await(source) == [(2, "reading", 4)]
    fixed = (
        "async def handler(rt, send):\n"
        "    with rt.reading() as session:\n"
        "        rows = session.exec(query)\n"
        "    await send(rows)\n"
    )
    assert sessions_held_across_await(fixed) == []


def test_no_database_session_is_held_across_an_await() -> None:
    offenders = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for opened, name, awaited in sessions_held_across_await(path.read_text("utf-8")):
                offenders.append(
                    f"{path.relative_to(ROOT)}:{awaited} awaits inside {name}() "
                    f"opened at line {opened}"
                )
    assert offenders == []


# Tests run on their own clock (the ``clock`` fixture), and so does every figbot process they
# start (tests/processes.py passes the clock on): a test that read the real date would pass
# or fail by the day it runs on. Only the conftest's Clock reads the real time: a running
# reading of the test's clock is its offset from the real time.
REAL_CLOCK_READS = {
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
    ("time", "time"),
    ("time", "time_ns"),
}
REAL_CLOCK_ALLOWED = {"tests/conftest.py"}
PROCESS_STARTERS = {"create_subprocess_exec", "create_subprocess_shell", "run", "Popen"}


def real_clock_reads(source: str) -> list[int]:
    """Lines that read the real date or time (``datetime.now()``, ``date.today()``, …)."""
    return [
        node.lineno
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and (node.func.value.id, node.func.attr) in REAL_CLOCK_READS
    ] + [
        node.lineno
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "utcnow"
    ]


def processes_started(source: str) -> list[int]:
    """Lines that start a figbot process (``python -m bot.cli``) with ``subprocess`` or
    ``asyncio`` (other programs a test runs, such as a proxy, follow no clock of figbot's)."""
    return [
        node.lineno
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in PROCESS_STARTERS
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id in {"subprocess", "asyncio"}
        and any(
            isinstance(inner, ast.Constant) and inner.value in {"bot.cli", "figbot"}
            for inner in ast.walk(node)
        )
    ]


def test_the_checks_find_a_real_clock_and_a_process() -> None:
    source = (
        "import asyncio, datetime, subprocess\n"
        "def test_x():\n"
        "    today = datetime.date.today()\n"
        "    now = datetime.now(UTC)\n"
        "    moment = utcnow()\n"
        "    subprocess.run(['figbot'])\n"
        "    asyncio.create_subprocess_exec(sys.executable, '-m', 'bot.cli')\n"
        "    asyncio.create_subprocess_exec(sys.executable, '-m', 'pproxy')\n"
    )
    assert sorted(real_clock_reads(source)) == [4, 5]  # datetime.date.today: a chained name
    assert processes_started(source) == [6, 7]
    assert real_clock_reads("def test_x(clock):\n    now = clock()\n") == []


def test_tests_read_no_real_clock_and_start_processes_on_theirs() -> None:
    clock_reads, processes = [], []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        name = path.relative_to(ROOT).as_posix()
        source = path.read_text("utf-8")
        if name not in REAL_CLOCK_ALLOWED:
            clock_reads += [f"{name}:{line}" for line in real_clock_reads(source)]
        if name != "tests/processes.py":
            processes += [f"{name}:{line}" for line in processes_started(source)]
    assert clock_reads == [], "use the clock fixture"
    assert processes == [], "start figbot processes with tests/processes.py"
