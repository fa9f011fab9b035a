"""The per-user flood limit as a plain function of time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.flood import FloodGuard, FloodVerdict

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
