"""The per-user flood limit as a plain function of time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.flood import FloodGuard, FloodLimit, FloodVerdict

T0 = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)


def test_a_burst_is_cut_warned_once_and_the_window_slides() -> None:
    guard = FloodGuard(limit=3, window=timedelta(seconds=10))
    verdicts = [guard.check(1, T0 + timedelta(seconds=i)) for i in range(5)]
    assert verdicts == [FloodVerdict.ALLOW] * 3 + [FloodVerdict.WARN, FloodVerdict.DROP]
    assert guard.check(2, T0 + timedelta(seconds=4)) is FloodVerdict.ALLOW  # others unaffected
    assert guard.check(1, T0 + timedelta(seconds=10)) is FloodVerdict.ALLOW  # the first expired
    assert guard.check(1, T0 + timedelta(seconds=10)) is FloodVerdict.WARN  # warned again, later


def test_idle_users_are_forgotten() -> None:
    guard = FloodGuard(limit=3, window=timedelta(seconds=10))
    guard.check(1, T0)
    guard.check(2, T0 + timedelta(seconds=9))
    guard.forget_idle(T0 + timedelta(seconds=12))
    assert set(guard._seen) == {2}


def test_a_clock_set_back_does_not_count_the_future() -> None:
    guard = FloodGuard(limit=2, window=timedelta(seconds=10))
    guard.check(1, T0)
    guard.check(1, T0)
    earlier = T0 - timedelta(days=30)
    assert guard.check(1, earlier) is FloodVerdict.ALLOW


def test_messages_and_presses_together_are_cut_at_the_limit() -> None:
    """Messages are dated in whole seconds, presses are not dated: a message must not make the
    presses handled in its second look like the future (and forget them)."""
    limit = FloodLimit(limit=4, window=timedelta(seconds=10), started=T0)
    verdicts = []
    for i in range(8):
        handled = T0 + timedelta(seconds=5, milliseconds=100 * i)
        dated = handled.replace(microsecond=0) if i % 2 else None  # a message, a press
        verdicts.append(limit.check(1, now=handled, sent=dated))
    assert verdicts == [FloodVerdict.ALLOW] * 4 + [FloodVerdict.WARN] + [FloodVerdict.DROP] * 3


def test_a_backlog_found_at_start_is_counted_by_when_it_was_sent() -> None:
    started = T0 + timedelta(hours=2, milliseconds=300)
    limit = FloodLimit(limit=3, window=timedelta(seconds=10), started=started)
    slow = [limit.check(1, now=started, sent=T0 + timedelta(minutes=i)) for i in range(10)]
    assert slow == [FloodVerdict.ALLOW] * 10  # one a minute while the bot was down
    burst = [limit.check(2, now=started, sent=T0) for _ in range(5)]  # all in one second
    assert burst == [FloodVerdict.ALLOW] * 3 + [FloodVerdict.WARN, FloodVerdict.DROP]
    in_its_second = started.replace(microsecond=0)  # maybe sent after the start: not backlog
    live = [limit.check(1, now=started, sent=in_its_second) for _ in range(4)]
    assert live == [FloodVerdict.ALLOW] * 3 + [FloodVerdict.WARN]
