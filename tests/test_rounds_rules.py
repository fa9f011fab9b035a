from datetime import UTC, datetime, timedelta

from domain.periods import Period
from domain.rounds import Window, deadline_for, submission_window


def test_deadline_is_in_the_office_time_zone() -> None:
    deadline = deadline_for(
        Period.parse("2026-10"), days_after_end=3, at="18:00", timezone="Asia/Shanghai"
    )
    assert deadline == datetime(2026, 11, 3, 10, 0, tzinfo=UTC)


def test_quarter_deadline_follows_the_quarter_end() -> None:
    deadline = deadline_for(
        Period.parse("2026Q4"), days_after_end=10, at="09:30", timezone="Asia/Shanghai"
    )
    assert deadline == datetime(2027, 1, 10, 1, 30, tzinfo=UTC)


def test_window_transitions() -> None:
    deadline = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)
    before, after = deadline - timedelta(seconds=1), deadline + timedelta(seconds=1)
    assert (
        submission_window(round_open=True, deadline=deadline, now=before, already_submitted=False)
        is Window.OPEN
    )
    assert (
        submission_window(round_open=True, deadline=deadline, now=before, already_submitted=True)
        is Window.OPEN
    )
    assert (
        submission_window(round_open=True, deadline=deadline, now=after, already_submitted=False)
        is Window.LATE
    )
    assert (
        submission_window(round_open=True, deadline=deadline, now=after, already_submitted=True)
        is Window.LOCKED
    )
    assert (
        submission_window(round_open=False, deadline=deadline, now=before, already_submitted=False)
        is Window.CLOSED
    )
    # The deadline itself is already past.
    assert (
        submission_window(round_open=True, deadline=deadline, now=deadline, already_submitted=True)
        is Window.LOCKED
    )
