"""The scheduler lease: exactly one figbot process runs schedules and sends the outbox.

A row in the database names the holder and an expiry. The holder renews it well before it
expires; another process takes it over only once it has expired (the holder died). This works
the same on SQLite and PostgreSQL and moves with the injected clock in tests.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from models.tables import SchedulerLease

SCHEDULER_LEASE = "scheduler"


def try_acquire(
    session: Session, *, holder: str, now: datetime, ttl: timedelta, name: str = SCHEDULER_LEASE
) -> tuple[bool, str]:
    """Take or renew the lease; returns (held by us, current holder)."""
    lease = session.exec(
        select(SchedulerLease).where(SchedulerLease.name == name).with_for_update()
    ).first()
    if lease is None:
        try:
            with session.begin_nested():
                session.add(
                    SchedulerLease(name=name, holder=holder, expires_at=now + ttl, acquired_at=now)
                )
        except IntegrityError:  # another process created it first
            return False, "?"
        return True, holder
    if lease.holder == holder or lease.expires_at <= now:
        if lease.holder != holder:
            lease.acquired_at = now
        lease.holder = holder
        lease.expires_at = now + ttl
        session.add(lease)
        return True, holder
    return False, lease.holder


def release(session: Session, *, holder: str, name: str = SCHEDULER_LEASE) -> None:
    lease = session.get(SchedulerLease, name)
    if lease is not None and lease.holder == holder:
        session.delete(lease)
