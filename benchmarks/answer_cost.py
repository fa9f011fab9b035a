"""Benchmark: where the database time of one answer goes, without Telegram.

Runs the database side of figbot's answer handling in-process — the access gate's contact read,
the update's write transaction (processed mark, conversation step, kept replies, commit) and the
"reply sent" mark — for 200 reporters × 3 answers on SQLite, timing each part.

    python benchmarks/answer_cost.py                  # --reporters N
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from telegram import Chat, Message, Update, User  # noqa: E402

from benchmarks.answer_throughput import reporters_database  # noqa: E402
from bot import views  # noqa: E402
from bot.runtime import Runtime  # noqa: E402
from handlers.common import keep_replies  # noqa: E402
from models.crud import get_contact  # noqa: E402
from services import reporting  # noqa: E402
from tests.test_crash import _answers  # noqa: E402

ANSWERS = 3
PARTS = [
    "contact read (access gate)",
    "transaction start + processed mark",  # and the user's lock (PostgreSQL only)
    "conversation step",
    "replies rendered",
    "replies kept",
    "commit (with the step's flush)",
    "'reply sent' mark",
]


def main(reporters: int) -> None:
    users = [300_000 + n for n in range(reporters)]
    config, engine, clock = reporters_database(users, "http://127.0.0.1:9/bot")
    runtime = Runtime(config=config, engine=engine, clock=clock)
    next_id = iter(range(1, 10**9))

    def update(user: int, text: str) -> Update:
        update_id = next(next_id)
        chat = Chat(user, "private")
        message = Message(update_id, clock(), chat, from_user=User(user, "x", False), text=text)
        return Update(update_id, message=message)

    spent: Counter[str] = Counter()

    def answer(user: int, text: str, *, first: bool = False) -> None:
        incoming = update(user, text)
        marks = [time.perf_counter()]
        with runtime.reading() as session:
            contact = get_contact(session, telegram_user_id=user)
        assert contact is not None
        marks.append(time.perf_counter())
        with runtime.update_transaction(incoming) as session:
            assert session is not None  # a new update
            marks.append(time.perf_counter())
            if first:
                screens = reporting.start(session, contact=contact, round_id=None, now=clock())
            else:
                screens = reporting.answer_text(session, contact=contact, text=text, now=clock())
            marks.append(time.perf_counter())
            replies = views.render_screens(screens, contact.language)
            marks.append(time.perf_counter())
            keep_replies(session, incoming, replies)
            marks.append(time.perf_counter())
        marks.append(time.perf_counter())
        runtime.take_committed_replies(incoming.update_id)  # as handlers.common.send_kept does
        runtime.note_replies_sent(incoming.update_id)
        marks.append(time.perf_counter())
        if not first:
            for part, start, end in zip(PARTS, marks[:-1], marks[1:], strict=True):
                spent[part] += end - start

    for user in users:  # each reporter opens the questions first (not measured)
        answer(user, "/report", first=True)
    for step in range(ANSWERS):
        for n, user in enumerate(users):
            answer(user, str(_answers(n)[step]))
    count = reporters * ANSWERS
    print(f"{count} answers of {reporters} reporters on SQLite; per answer:")
    for part in PARTS:
        print(f"  {part:38s} {spent[part] / count * 1000:6.3f} ms")
    print(f"  {'total':38s} {sum(spent.values()) / count * 1000:6.3f} ms")
    engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reporters", type=int, default=200)
    args = parser.parse_args()
    main(args.reporters)
