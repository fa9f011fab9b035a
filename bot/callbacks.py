"""Callback-data names. One prefix per feature; the same function builds and parses them.

Callback data comes back from the client, and a modified client can send any string: parsing
is strict (ASCII only, every part of a known shape and size), so whatever figbot did not build
is refused before it reaches a query, however it looks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

REPORT = "REPORT"
MAX_DATA_BYTES = 64  # Telegram's limit for a button's callback data
MAX_ID = 2**31 - 1  # the largest id a row can have (an INTEGER column on PostgreSQL)

_REPORT_DATA = re.compile(
    rf"{REPORT}:(?P<action>[a-z]{{1,16}}):(?P<round_id>[0-9]{{1,10}})(?::(?P<key>[a-z0-9_=-]+))?",
    re.ASCII,
)


@dataclass(frozen=True)
class ReportCallback:
    action: str
    round_id: int
    key: str | None = None

    def encode(self) -> str:
        """``REPORT:<action>:<round_id>[:<indicator>]`` — at most 64 bytes, as Telegram requires."""
        parts = [REPORT, self.action, str(self.round_id)] + ([self.key] if self.key else [])
        data = ":".join(parts)
        if self.decode(data) != self:  # also what a button can carry: 64 bytes at most
            raise ValueError(f"cannot be callback data: {self!r}")
        return data

    @classmethod
    def decode(cls, data: str) -> ReportCallback:
        """The callback ``data`` stands for; ValueError for anything :meth:`encode` cannot
        have made (digits other than ASCII ones, an id no row can have, more than 64 bytes…)."""
        too_long = len(data.encode("utf-8", "replace")) > MAX_DATA_BYTES
        match = None if too_long else _REPORT_DATA.fullmatch(data)
        if match is None or int(match["round_id"]) > MAX_ID:
            raise ValueError(f"not report callback data: {data[:80]!r}")
        return cls(match["action"], int(match["round_id"]), match["key"])


def is_report_data(data: object) -> bool:
    """Whether a button's ``data`` is report callback data (the pattern of its handler)."""
    try:
        return isinstance(data, str) and bool(ReportCallback.decode(data))
    except ValueError:
        return False


REPORT_PATTERN = is_report_data
