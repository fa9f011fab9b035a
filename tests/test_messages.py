"""Messages too long for Telegram are cut into parts it takes."""

from __future__ import annotations

import pytest

from bot.fakeapi import parse_html, utf16_len
from domain.messages import MESSAGE_LIMIT, split_text, visible_length


def _shown(parts: list[str]) -> list[str]:
    """What Telegram shows of each part; parse_html raises for a part it would refuse."""
    return [parse_html(part)[0] for part in parts]


def test_a_long_message_is_cut_between_lines_into_parts_telegram_takes() -> None:
    lines = [f"<b>第{i}社区</b> — 未报" for i in range(400)]
    parts = split_text("\n".join(lines), limit=1000)
    assert len(parts) > 1 and all(visible_length(part) <= 1000 for part in parts)
    assert "\n".join(parts).split("\n") == lines  # nothing lost, no line cut
    assert split_text("short") == ["short"]
    assert split_text("x" * 2500, limit=1000) == ["x" * 1000, "x" * 1000, "x" * 500]


def test_the_limit_is_on_what_telegram_shows_not_on_the_markup() -> None:
    escaped = "<b>R&amp;D</b> " * 1000  # 15,000 characters of HTML, 4,000 shown
    assert split_text(escaped) == [escaped]
    assert visible_length(escaped) == 4000


def test_a_cut_never_falls_inside_a_reference_or_a_tag_and_keeps_the_formatting() -> None:
    reason = "&amp;😀核&lt;" * 2000  # 8,000 characters shown, 10,000 UTF-16 units
    text = f"原因：<b>{reason}</b>。"
    parts = split_text(text)
    shown = _shown(parts)
    assert len(parts) == 3
    assert all(utf16_len(part) <= MESSAGE_LIMIT for part in shown)
    assert "".join(shown) == parse_html(text)[0]  # nothing lost, nothing added
    for part in parts[:-1]:  # each part bold to its end, the next bold from its start
        text_of_part, entities = parse_html(part)
        assert entities[-1]["type"] == "bold"
        assert entities[-1]["offset"] + entities[-1]["length"] == utf16_len(text_of_part)


def test_emoji_count_two_and_are_never_cut_apart() -> None:
    coder = "👩‍💻"  # woman, zero-width joiner, laptop: one emoji on screen, 5 UTF-16 units
    parts = split_text(coder * 1000)
    assert [utf16_len(part) for part in parts] == [4095, 905]
    assert all(part == coder * (len(part) // 3) for part in parts)
    assert split_text("é" * 4096) == ["é" * 4096]
    accents = "e\u0301" * 2100  # a letter and its combining accent stay together
    assert [part.startswith("e") and part.endswith("\u0301") for part in split_text(accents)] == [
        True,
        True,
    ]


def test_a_long_line_is_cut_after_a_space_when_there_is_one() -> None:
    words = " ".join(f"第{i}条" for i in range(1200))
    parts = split_text(words, limit=1000)
    assert all(part.endswith(" ") for part in parts[:-1])
    assert "".join(parts) == words


def test_a_line_too_long_for_any_part_is_not_moved_to_a_part_of_its_own_first() -> None:
    text = "标题\n" + "字" * 5000
    assert split_text(text) == ["标题\n" + "字" * 4093, "字" * 907]
    fits = "标题\n" + "字" * 4000 + "\n" + "尾" * 200
    assert split_text(fits) == ["标题\n" + "字" * 4000, "尾" * 200]


@pytest.mark.parametrize("limit", [0, 1])
def test_a_limit_must_have_room_for_any_character(limit: int) -> None:
    with pytest.raises(ValueError):
        split_text("😀" * 10, limit=limit)
