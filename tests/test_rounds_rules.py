from datetime import UTC, datetime, timedelta

from domain.rounds import Window, submission_window

DEADLINE = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)
LOCK = DEADLINE + timedelta(days=2)


def window(now: datetime, **kwargs: bool) -> Window:
    return submission_window(
        round_closed=kwargs.get("closed", False),
        deadline=DEADLINE,
        lock_at=LOCK,
        now=now,
        reopened=kwargs.get("reopened", False),
    )


def test_open_until_the_deadline() -> None:
    assert window(DEADLINE - timedelta(seconds=1)) is Window.OPEN


def test_late_from_the_deadline_until_the_lock() -> None:
    assert window(DEADLINE) is Window.LATE
    assert window(LOCK - timedelta(seconds=1)) is Window.LATE


def test_locked_from_the_lock_unless_reopened() -> None:
    assert window(LOCK) is Window.LOCKED
    assert window(LOCK + timedelta(days=30)) is Window.LOCKED
    assert window(LOCK + timedelta(days=30), reopened=True) is Window.LATE


def test_a_closed_round_is_closed_whatever_the_time() -> None:
    assert window(DEADLINE - timedelta(days=1), closed=True) is Window.CLOSED
    assert window(LOCK, closed=True, reopened=True) is Window.CLOSED
