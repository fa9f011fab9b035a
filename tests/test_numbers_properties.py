"""Property tests for reading counts: every way of writing n reads as n; nothing crashes."""

from __future__ import annotations

import unicodedata

import cn2an
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from domain.figures import Vocabulary, read_answer, read_figures
from domain.numbers import (
    MAX_COUNT,
    NUMERAL_CHARACTERS,
    WRAPPING_PREFIXES,
    CountRefused,
    RefusalReason,
    fold,
    parse_count,
)

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
    Vocabulary("disputes_mediated", "调解纠纷", "宗", ("调解",), other_measure_words=("件",)),
    Vocabulary("mediated_success", "调解成功", "宗", (), other_measure_words=("件",)),
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


DIGITS = "一二三四五六七八九"


def _adjacent_digits(text: str) -> bool:
    """Two Chinese digits side by side, neither of them a zero: "七八", "一二三"."""
    nonzero = set(DIGITS) | {"两"}
    return any(a in nonzero and b in nonzero for a, b in zip(text, text[1:], strict=False))


@settings(max_examples=500, deadline=None)
@given(
    text=st.text(alphabet="零〇一二两三四五六七八九十百千万亿", min_size=2, max_size=12),
    word=st.sampled_from(["", "宗", "次", "场"]),
)
def test_adjacent_numerals_are_never_read_as_a_number(text: str, word: str) -> None:
    """七八 is "seven or eight"; no string with two digits side by side is ever one number."""
    assume(_adjacent_digits(text))
    with pytest.raises(CountRefused) as refused:
        parse_count(text + word, word or None)
    assert refused.value.reason in (RefusalReason.RANGE, RefusalReason.NOT_A_NUMBER)


@settings(deadline=None)
@given(
    low=st.integers(min_value=1, max_value=8),
    tens=st.integers(min_value=0, max_value=9),
    unit=st.sampled_from([("", 1), ("十", 10), ("百", 100), ("千", 1000), ("万", 10_000)]),
)
def test_a_range_of_adjacent_numerals_offers_its_two_bounds(
    low: int, tens: int, unit: tuple[str, int]
) -> None:
    """七八 → 7 or 8; 三四十 → 30 or 40; 二十三四 → 23 or 24: the bounds, as the numerals say."""
    suffix, size = unit
    prefix, base = ("", 0)
    if not suffix and tens:  # "二十三四": a prefix in tens before the last two digits
        prefix, base = (cn2an.an2cn(tens * 10), tens * 10)
    text = prefix + cn2an.an2cn(low) + cn2an.an2cn(low + 1) + suffix
    with pytest.raises(CountRefused) as refused:
        parse_count(text, "宗")
    assert refused.value.reason is RefusalReason.RANGE, text
    assert refused.value.choices == (base + low * size, base + (low + 1) * size), text


def _looks_like_a_digit(character: str) -> bool:
    return character not in "0123456789０１２３４５６７８９" and character not in NUMERAL_CHARACTERS


@settings(max_examples=500, deadline=None)
@given(
    character=st.characters(categories=["Nd", "Nl", "No"]).filter(_looks_like_a_digit),
    n=st.integers(min_value=0, max_value=1000),
)
def test_no_digit_but_ascii_and_full_width_is_ever_read(character: str, n: int) -> None:
    """², ①, ½, ٣, 𝟏 …: refused on their own, beside digits, and in a message of figures."""
    for text in (character, f"{n}{character}", f"{character}{n}", f"{n}{character}宗"):
        with pytest.raises(CountRefused) as refused:
            parse_count(text, "宗")
        assert refused.value.reason is RefusalReason.LOOKALIKE, ascii(text)
        reading = read_figures(f"调解纠纷{text}", VOCABULARY)
        assert reading.figures == [], ascii(text)


def _separates(character: str) -> bool:
    """What may end a figure: a comma, a full stop, a space (the next figure follows), a
    Chinese word or a bracket ("5宗其中成功4宗", "12宗（其中3宗成功）")."""
    folded = unicodedata.normalize("NFKC", character)
    return (
        folded.isspace()
        or any(c in ",;。!?、" for c in folded)
        or unicodedata.category(folded[0]) == "Lo"
        or folded[0] in "(（[【《"
    )


@settings(max_examples=300, deadline=None)
@given(
    n=counts,
    glued=st.text(
        alphabet=st.characters(categories=["Lu", "Ll", "Nd", "Po", "Sm", "So", "Sc", "No"]),
        min_size=1,
        max_size=6,
    ).filter(
        lambda text: (
            text[0] not in "0123456789０１２３４５６７８９"
            and not any(_separates(c) for c in text)
            and not set(text) & set("*_~`<>")
        )  # markup (**讲座**, <b>调解</b>), which is read past
    ),
    word=st.sampled_from(["宗", ""]),
)
def test_a_number_glued_to_what_cannot_be_read_is_never_read_in_part(
    n: int, glued: str, word: str
) -> None:
    """ "调解纠纷1e309宗" is not 1: the figure is read whole or refused whole."""
    for text in (f"调解纠纷{n}{glued}{word}", f"更正 调解纠纷{n}{glued}{word}，原因：核实"):
        reading = read_figures(text, VOCABULARY)
        for figure in reading.figures:
            # As written, after the folding every message gets ("０" is 0, "․" a full stop).
            assert figure.key != "disputes_mediated" or figure.text.strip() in (
                fold(f"{n}{glued}{word}").strip(),
                fold(f"{n}{glued}").strip(),
            ), (text, figure)


@settings(deadline=None)
@given(
    n=counts,
    wrapping=st.lists(st.sampled_from(WRAPPING_PREFIXES), max_size=2),
    name=st.sampled_from(["", "调解", "调解纠纷"]),
    verb_suffix=st.sampled_from(["", "了"]),
    word=st.sampled_from(["", "宗", "件"]),
    chinese=st.booleans(),
)
def test_a_single_answer_and_a_message_of_figures_read_alike(
    n: int, wrapping: list[str], name: str, verb_suffix: str, word: str, chinese: bool
) -> None:
    """ "本月共调解了5宗" answers the 调解纠纷 question as the multi-figure reader reads it."""
    figure = cn2an.an2cn(n) if chinese else str(n)
    text = "".join(wrapping) + name + (verb_suffix if name else "") + figure + word
    entry = VOCABULARY[0]
    reading = read_figures(text, VOCABULARY)
    assert read_answer(text, entry, reading) == n, text
    if name:
        assert [(f.key, f.value) for f in reading.figures] == [("disputes_mediated", n)], text


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(
        alphabet="0123456789零〇一二两三四五六七八九十百千万亿点.,-负多约宗",
        min_size=30,
        max_size=400,
    )
)
def test_a_numeral_of_any_length_is_refused_or_read_never_raised(text: str) -> None:
    try:
        value = parse_count(text, "宗")
    except CountRefused:
        pass
    else:
        assert isinstance(value, int) and 0 <= value <= MAX_COUNT
    reading = read_figures("调解纠纷" + text, VOCABULARY)
    assert all(0 <= figure.value <= MAX_COUNT for figure in reading.figures)
