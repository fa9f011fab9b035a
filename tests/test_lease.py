"""The scheduler lease on a real database: one holder at a time, taken over after expiry."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine

from models.db import write_session
from services.lease import release, try_acquire
from tests.conftest import Clock

TTL = timedelta(seconds=60)


def test_one_holder_at_a_time_and_takeover_after_expiry(engine: Engine, clock: Clock) -> None:
    with write_session(engine) as session:
        assert try_acquire(session, holder="a", now=clock(), ttl=TTL) == (True, "a")
    with write_session(engine) as session:
        assert try_acquire(session, holder="b", now=clock(), ttl=TTL) == (False, "a")
    clock.advance(seconds=30)
    with write_session(engine) as session:  # a renews
        assert try_acquire(session, holder="a", now=clock(), ttl=TTL) == (True, "a")
    clock.advance(seconds=59)
    with write_session(engine) as session:  # still within a's renewed lease
        assert try_acquire(session, holder="b", now=clock(), ttl=TTL) == (False, "a")
    clock.advance(seconds=1)
    with write_session(engine) as session:  # a stopped renewing: b takes over
        assert try_acquire(session, holder="b", now=clock(), ttl=TTL) == (True, "b")
    with write_session(engine) as session:
        assert try_acquire(session, holder="a", now=clock(), ttl=TTL) == (False, "b")


def test_release_hands_over_at_once(engine: Engine, clock: Clock) -> None:
    with write_session(engine) as session:
        try_acquire(session, holder="a", now=clock(), ttl=TTL)
    with write_session(engine) as session:
        release(session, holder="b")  # not b's to release
    with write_session(engine) as session:
        assert try_acquire(session, holder="b", now=clock(), ttl=TTL) == (False, "a")
    with write_session(engine) as session:
        release(session, holder="a")
    with write_session(engine) as session:
        assert try_acquire(session, holder="b", now=clock(), ttl=TTL) == (True, "b")
