import pytest

from domain.numbers import MAX_COUNT, CountRefused, RefusalReason, parse_count


@pytest.mark.parametrize(
    ("text", "measure_word", "expected"),
    [
        ("15", "宗", 15),
        ("１５", "宗", 15),
        ("15宗", "宗", 15),
        ("１５宗", "宗", 15),
        (" 15 宗 ", "宗", 15),
        ("0", "场", 0),
        ("０", "场", 0),
        ("718人次", "人次", 718),
        ("+3", "次", 3),
        ("3.0", "次", 3),
        ("007", "份", 7),
        (str(MAX_COUNT), "份", MAX_COUNT),
        ("1,543", "次", 1543),
        ("１,５４３次", "次", 1543),
        ("十二", "宗", 12),
        ("十五宗", "宗", 15),
        ("两", "场", 2),
        ("两场", "场", 2),
        ("一百零五人次", "人次", 105),
        ("两千零三十", "份", 2030),
        ("〇", "次", 0),
        ("无", "次", 0),
        ("没有", "场", 0),
        ("零", "场", 0),
        ("12宗。", "宗", 12),
        ("3次", "次", 3),
    ],
)
def test_accepts(text: str, measure_word: str, expected: int) -> None:
    assert parse_count(text, measure_word) == expected


@pytest.mark.parametrize(
    ("text", "measure_word", "reason"),
    [
        ("", "宗", RefusalReason.EMPTY),
        ("   ", "宗", RefusalReason.EMPTY),
        ("abc", "宗", RefusalReason.NOT_A_NUMBER),
        ("l5", "宗", RefusalReason.NOT_A_NUMBER),
        ("15x", "宗", RefusalReason.NOT_A_NUMBER),
        ("第3次", "次", RefusalReason.NOT_A_NUMBER),
        ("10月", "次", RefusalReason.NOT_A_NUMBER),
        ("13800138000", "次", RefusalReason.TOO_LARGE),
        ("3o", "宗", RefusalReason.NOT_A_NUMBER),
        ("两场", "宗", RefusalReason.WRONG_MEASURE_WORD),
        ("-3", "宗", RefusalReason.NEGATIVE),
        ("－３", "宗", RefusalReason.NEGATIVE),
        ("2.5", "宗", RefusalReason.DECIMAL),
        ("15场", "宗", RefusalReason.WRONG_MEASURE_WORD),
        (str(MAX_COUNT + 1), "宗", RefusalReason.TOO_LARGE),
        ("1 5", "宗", RefusalReason.NOT_A_NUMBER),
    ],
)
def test_refuses_with_a_reason(text: str, measure_word: str, reason: RefusalReason) -> None:
    with pytest.raises(CountRefused) as refused:
        parse_count(text, measure_word)
    assert refused.value.reason is reason


@pytest.mark.parametrize(
    ("text", "suggestion"),
    [
        ("190多", 190),
        ("约50", 50),
        ("4千余", 4000),
        ("大约30次", 30),
        ("190宗左右", 190),
        ("近百", 100),
    ],
)
def test_approximate_answers_are_refused_with_the_stated_figure(text: str, suggestion: int) -> None:
    with pytest.raises(CountRefused) as refused:
        parse_count(text, "宗" if "宗" in text else "次")
    assert refused.value.reason is RefusalReason.APPROXIMATE
    assert refused.value.suggestion == suggestion


def test_a_vague_answer_offers_no_figure() -> None:
    """ "十几" (ten-something) states no figure the bot could offer to record."""
    with pytest.raises(CountRefused) as refused:
        parse_count("十几宗", "宗")
    assert refused.value.reason is RefusalReason.APPROXIMATE
    assert refused.value.suggestion is None
