"""Per-user flood limit: one user sending a burst must not stall everyone else.

A user pasting hundreds of messages would take database time and a handling slot from everyone
else. Past ``limit`` updates within ``window`` a user's further updates are dropped until the
window has room again; the first dropped update is answered once ("too fast"), the rest
silently.

Every update a running bot takes is counted when it is handled, on one clock: a button press
carries no time of its own, and a message's date is Telegram's, in whole seconds — counted on
the two clocks side by side, a message dated the whole second before would look like a clock
set back and wipe the presses of that second. The one exception is the backlog: messages
Telegram queued while figbot was not running (dated before it started) all arrive at once but
were not sent at once. They are counted by their dates, on a limit of their own, so a backlog
sent slowly is served and a burst sent while figbot was down is still cut.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta
from enum import StrEnum


class FloodVerdict(StrEnum):
    ALLOW = "allow"
    WARN = "warn"  # the first update over the limit: tell the user once
    DROP = "drop"


class FloodGuard:
    """The limit on one clock: every ``check`` of a guard must be given times of one source."""

    def __init__(self, *, limit: int, window: timedelta) -> None:
        self.limit = limit
        self.window = window
        self._seen: dict[int, deque[datetime]] = {}
        self._warned: set[int] = set()
        self._checks = 0

    def check(self, user_id: int, now: datetime) -> FloodVerdict:
        self._checks += 1
        if self._checks % 1000 == 0:
            self.forget_idle(now)
        # Keep what falls in the window before now; a clock set back forgets the "future" too.
        times = deque(t for t in self._seen.get(user_id, ()) if self._recent(t, now))
        self._seen[user_id] = times
        if len(times) < self.limit:
            times.append(now)
            self._warned.discard(user_id)
            return FloodVerdict.ALLOW
        if user_id in self._warned:
            return FloodVerdict.DROP
        self._warned.add(user_id)
        return FloodVerdict.WARN

    def _recent(self, moment: datetime, now: datetime) -> bool:
        return timedelta(0) <= now - moment < self.window

    def forget_idle(self, now: datetime) -> None:
        """Drop users with nothing in the window (keeps memory flat over months)."""
        idle = [
            u for u, times in self._seen.items() if not any(self._recent(t, now) for t in times)
        ]
        for user_id in idle:
            del self._seen[user_id]
            self._warned.discard(user_id)


class FloodLimit:
    """The limit a running bot applies: updates on the handling clock, the backlog found at
    start-up on Telegram's dates (see the module docstring)."""

    def __init__(self, *, limit: int, window: timedelta, started: datetime) -> None:
        self.live = FloodGuard(limit=limit, window=window)
        self.backlog = FloodGuard(limit=limit, window=window)
        # Telegram's dates are whole seconds: a message of the second the bot started in may
        # have been sent after it, and is not taken for the backlog.
        self.started = started.replace(microsecond=0)

    def check(self, user_id: int, *, now: datetime, sent: datetime | None) -> FloodVerdict:
        """``now``: when the update is handled; ``sent``: a message's date (None for a press)."""
        if sent is not None and sent < self.started:
            return self.backlog.check(user_id, sent)
        return self.live.check(user_id, now)
