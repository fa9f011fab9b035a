"""Leases on a real database: one holder at a time, taken over after expiry (or at once when
the holder was a process of this machine that has ended)."""

from __future__ import annotations

import socket
import subprocess
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from models.db import write_session
from services.lease import MACHINE, holder_is_gone, new_holder_id, release, try_acquire
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


@pytest.mark.skipif(not MACHINE, reason="needs Linux's boot id and pid namespaces")
def test_a_holder_on_this_machine_whose_process_ended_is_taken_over_at_once(
    engine: Engine, clock: Clock
) -> None:
    """figbot restarted after a crash polls at once; a holder that may still run is waited
    for: a live process of this machine, or one of another machine."""
    ended = subprocess.Popen(["sleep", "0"])
    ended.wait()
    running = subprocess.Popen(["sleep", "60"])
    try:
        host = socket.gethostname()
        alive_here = f"{host}:{running.pid}:0000000a@{MACHINE}"
        elsewhere = f"{host}:{ended.pid}:0000000b@another-machine"
        gone_here = f"cli:{host}:{ended.pid}:0000000c@{MACHINE}"
        for holder in (alive_here, elsewhere):
            with write_session(engine) as session:
                assert try_acquire(session, holder=holder, now=clock(), ttl=TTL)[0]
            with write_session(engine) as session:
                assert try_acquire(session, holder="b", now=clock(), ttl=TTL) == (False, holder)
            with write_session(engine) as session:
                release(session, holder=holder)
        with write_session(engine) as session:
            assert try_acquire(session, holder=gone_here, now=clock(), ttl=TTL)[0]
        with write_session(engine) as session:  # within its lease, but its process ended
            assert try_acquire(session, holder="b", now=clock(), ttl=TTL) == (True, "b")
        assert not holder_is_gone(new_holder_id())  # this very process
    finally:
        running.kill()
        running.wait()
