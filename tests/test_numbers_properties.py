"""Property tests for reading counts: every way of writing n reads as n; nothing crashes."""

from __future__ import annotations

import cn2an
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.figures import Vocabulary, read_figures
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


VOCABULARY = [
    Vocabulary("disputes_mediated", "调解纠纷", "宗", ("调解",)),
    Vocabulary("mediated_success", "调解成功", "宗", ()),
    Vocabulary("legal_lectures", "法治讲座", "场", ("讲座",)),
    Vocabulary("inspections", "行政检查", "次", ("检查",)),
]
message_parts = st.lists(
    st.one_of(
        st.sampled_from(["调解", "调解纠纷", "调解成功", "讲座", "检查", "，", "、", " ", "更正"]),
        st.sampled_from(["宗", "场", "次", "多", "约", "第", "月", "改为", "原因："]),
        st.integers(min_value=-5, max_value=10**12).map(str),
        st.text(max_size=5),
    ),
    max_size=12,
)


@settings(max_examples=400)
@given(parts=message_parts)
def test_any_message_reads_without_crashing_and_every_figure_is_a_plain_count(
    parts: list[str],
) -> None:
    """Figures only ever come out as exact counts of known indicators; the rest is named."""
    reading = read_figures("".join(parts), VOCABULARY)
    keys = {v.key for v in VOCABULARY}
    for figure in reading.figures:
        assert figure.key in keys and 0 <= figure.value <= MAX_COUNT
    assert len({f.key for f in reading.figures}) == len(reading.figures)


@given(n=counts, m=counts)
def test_two_figures_in_one_message_read_as_written(n: int, m: int) -> None:
    text = f"调解纠纷{cn2an.an2cn(n)}宗，讲座{n if m % 2 else f'{m:,}'}场"
    reading = read_figures(text, VOCABULARY)
    assert {f.key: f.value for f in reading.figures} == {
        "disputes_mediated": n,
        "legal_lectures": n if m % 2 else m,
    }
    assert reading.problems == []
