"""Leases: exactly one figbot process does a job that must not be done twice at once.

Two jobs have one: running the schedules and sending the outbox (``scheduler``), and long
polling Telegram for updates (``polling``, see ``bot.polling.LeasedPolling``). A row in the
database names the holder and an expiry. The holder renews it well before it expires; another
process takes it over only once it has expired (the holder died) or was released — or at once
when the holder was a process of the same machine that has ended (``holder_is_gone``): figbot
restarted after a crash need not wait out its predecessor's lease. This works the same on
SQLite and PostgreSQL and moves with the injected clock in tests.
"""

from __future__ import annotations

import hashlib
import os
import socket
import uuid
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from models.tables import SchedulerLease
from models.types import TEST_FLAG_VARIABLE

SCHEDULER_LEASE = "scheduler"
POLLING_LEASE = "polling"


# In a test run (FIGBOT_TESTING=1) this stands in for the machine key, so that two processes
# of one test can play two machines (tests/processes.py).
TEST_MACHINE_VARIABLE = "FIGBOT_TEST_MACHINE"


def _machine() -> str:
    """This boot of this machine and this process's pid namespace, in short: within both, a
    pid names one process. Empty where that cannot be told (not Linux)."""
    if os.environ.get(TEST_FLAG_VARIABLE) == "1" and os.environ.get(TEST_MACHINE_VARIABLE):
        return os.environ[TEST_MACHINE_VARIABLE]
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as boot:
            boot_id = boot.read().strip()
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""
    return hashlib.sha256(f"{boot_id}|{namespace}".encode()).hexdigest()[:8]


MACHINE = _machine()


def new_holder_id() -> str:
    """This process, as the log and the lease row name it: host, pid, a random tag and (after
    an @) the machine key that lets ``holder_is_gone`` check the pid."""
    holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    return f"{holder}@{MACHINE}" if MACHINE else holder


def holder_is_gone(holder: str) -> bool:
    """True when ``holder`` was a process of this machine and pid namespace that has ended.

    Anything else counts as alive and its lease runs out as usual: another machine, a process
    still there (or a new one under the same pid), a holder id from elsewhere.
    """
    name, _, machine = holder.rpartition("@")
    if not MACHINE or machine != MACHINE:
        return False
    pid = name.rsplit(":", 2)[-2] if name.count(":") >= 2 else ""
    if not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError):  # someone else's process (or no pid at all)
        return False
    return False


def try_acquire(
    session: Session,
    *,
    holder: str,
    now: datetime,
    ttl: timedelta,
    name: str = SCHEDULER_LEASE,
) -> tuple[bool, str]:
    """Take or renew the lease; returns (held by us, current holder). A lease whose holder
    :func:`holder_is_gone` is taken as if it had run out."""
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
    if lease.holder == holder or lease.expires_at <= now or holder_is_gone(lease.holder):
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
