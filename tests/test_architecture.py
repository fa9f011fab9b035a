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
