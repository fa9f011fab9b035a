"""Messages too long for Telegram are cut into parts it takes."""

from __future__ import annotations

from domain.messages import split_text


def test_a_long_message_is_cut_between_lines_into_parts_telegram_takes() -> None:
    lines = [f"<b>第{i}社区</b> — 未报" for i in range(400)]
    parts = split_text("\n".join(lines), limit=1000)
    assert len(parts) > 1 and all(len(part) <= 1000 for part in parts)
    assert "\n".join(parts).split("\n") == lines  # nothing lost, no line cut
    assert split_text("short") == ["short"]
    assert split_text("x" * 2500, limit=1000) == ["x" * 1000, "x" * 1000, "x" * 500]
