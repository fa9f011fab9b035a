"""Property tests for reading counts: every way of writing n reads as n; nothing crashes."""

from __future__ import annotations

import cn2an
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.numbers import MAX_COUNT, CountRefused, parse_count

FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
counts = st.integers(min_value=0, max_value=10_000_000)
measure_words = st.sampled_from(["宗", "场", "次", "人次", "份", "件"])


@given(n=counts, word=measure_words, with_word=st.booleans())
def test_every_way_of_writing_n_reads_as_n(n: int, word: str, with_word: bool) -> None:
    suffix = word if with_word else ""
    writings = [str(n), str(n).translate(FULL_WIDTH), f"{n:,}", cn2an.an2cn(n)]
    for written in writings:
        assert parse_count(written + suffix, word) == n, written + suffix


@settings(max_examples=300)
@given(text=st.text(max_size=40))
def test_random_text_never_crashes_and_only_plain_counts_pass(text: str) -> None:
    try:
        value = parse_count(text, "宗")
    except CountRefused:
        return
    assert isinstance(value, int) and 0 <= value <= MAX_COUNT


@settings(max_examples=500)
@given(
    text=st.text(
        alphabet="0123456789零〇一二两三四五六七八九十百千万亿点,.-负多余约宗次场", max_size=12
    )
)
def test_numeral_soup_never_crashes(text: str) -> None:
    try:
        value = parse_count(text, "宗")
    except CountRefused:
        return
    assert isinstance(value, int) and 0 <= value <= MAX_COUNT
