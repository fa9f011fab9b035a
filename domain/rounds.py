"""Round rules: what a reporter may still do at a given moment.

Pure functions of plain values so the rules are tested without a database or a bot.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum


class Window(StrEnum):
    OPEN = "open"  # before the deadline: submit and change freely
    LATE = "late"  # between deadline and lock: accepted; a first submission is flagged late
    LOCKED = "locked"  # after the lock: changes go through a coordinator (who may reopen)
    CLOSED = "closed"  # the round was closed for good


def is_late(*, deadline: datetime, now: datetime) -> bool:
    """Whether figures first given at ``now`` are late: the deadline has come."""
    return now >= deadline


def submission_window(
    *,
    round_closed: bool,
    deadline: datetime,
    lock_at: datetime,
    now: datetime,
    reopened: bool = False,
) -> Window:
    """``reopened``: a coordinator reopened this unit after the lock (until they lock it again)."""
    if round_closed:
        return Window.CLOSED
    if not is_late(deadline=deadline, now=now):
        return Window.OPEN
    if now < lock_at or reopened:
        return Window.LATE
    return Window.LOCKED
