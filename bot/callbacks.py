"""Callback-data names. One prefix per feature; the same function builds and parses them."""

from __future__ import annotations

from dataclasses import dataclass

REPORT = "REPORT"


@dataclass(frozen=True)
class ReportCallback:
    action: str
    round_id: int
    key: str | None = None

    def encode(self) -> str:
        """``REPORT:<action>:<round_id>[:<indicator>]`` — at most 64 bytes, as Telegram requires."""
        parts = [REPORT, self.action, str(self.round_id)] + ([self.key] if self.key else [])
        data = ":".join(parts)
        if len(data.encode()) > 64:
            raise ValueError(f"callback data too long: {data}")
        return data

    @classmethod
    def decode(cls, data: str) -> ReportCallback:
        parts = data.split(":")
        if len(parts) not in (3, 4) or parts[0] != REPORT or not parts[2].isdigit():
            raise ValueError(f"not report callback data: {data!r}")
        return cls(parts[1], int(parts[2]), parts[3] if len(parts) == 4 else None)


REPORT_PATTERN = rf"^{REPORT}:"
