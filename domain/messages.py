"""Cutting a message that is too long for Telegram into parts."""

from __future__ import annotations

MESSAGE_LIMIT = 3500  # Telegram takes 4096 characters; markup and UTF-16 need room


def split_text(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Parts of at most ``limit`` characters, cut between lines so each line keeps its markup
    whole; only a single line longer than ``limit`` is cut inside."""
    if len(text) <= limit:
        return [text]
    parts: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            if current:
                parts.append(current)
                current = ""
            parts.append(line[:limit])
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            parts.append(current)
            current = line
        else:
            current = candidate
    if current:
        parts.append(current)
    return parts
